import { z } from 'zod';

/**
 * The OTLP/JSON encoding of `ExportTraceServiceRequest` and `ExportLogsServiceRequest` (opentelemetry-proto, JSON
 * mapping): ids are hex strings, 64-bit integers may be strings or numbers, enums may be integers or their names.
 * Unknown fields are allowed, as the protocol requires of receivers.
 */

/** 64-bit integers: decimal strings (exact) or JSON numbers (which lose precision beyond 2^53, hence not `.int()`). */
const INT64_STRING = /^-?\d+$/;
const Int64 = z.union([z.string().regex(INT64_STRING), z.number().refine(Number.isFinite)]);

/** Enums as integers or as their names (`SEVERITY_NUMBER_INFO`), as the JSON mapping allows both. */
const Enum = z.union([z.number().int(), z.string()]);

export type AnyValue =
  | { stringValue?: string | undefined }
  | { boolValue?: boolean | undefined }
  | { intValue?: string | number | undefined }
  | { doubleValue?: number | string | undefined }
  | { bytesValue?: string | undefined }
  | { arrayValue?: { values?: AnyValue[] | undefined } | undefined }
  | { kvlistValue?: { values?: KeyValue[] | undefined } | undefined };
export interface KeyValue {
  key: string;
  value?: AnyValue | undefined;
}

/**
 * One object with every variant optional rather than a union of variants: a union makes zod try each branch and build
 * issues for the misses, which cost more than the rest of the decode on attribute-heavy spans.
 */
export const AnyValue: z.ZodType<AnyValue, AnyValue> = z.lazy(() =>
  z.looseObject({
    stringValue: z.string().optional(),
    boolValue: z.boolean().optional(),
    intValue: Int64.optional(),
    doubleValue: z.union([z.number(), z.string()]).optional(),
    bytesValue: z.string().optional(),
    arrayValue: z.looseObject({ values: z.array(AnyValue).optional() }).optional(),
    kvlistValue: z.looseObject({ values: z.array(KeyValue).optional() }).optional(),
  }),
);
export const KeyValue: z.ZodType<KeyValue, KeyValue> = z.lazy(() =>
  z.looseObject({ key: z.string(), value: AnyValue.optional() }),
);

/** A JSON object (zod's `looseObject` input): not null, not an array. */
function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `{ values?: T[] }` where every value passes `isItem`. */
function isValuesOf(value: unknown, isItem: (item: unknown) => boolean): boolean {
  return isObject(value) && optional(value.values, (values) => isArrayOf(values, isItem));
}

/**
 * Exactly what {@link AnyValue} accepts, checked by hand: zod walking every attribute of every span cost more than
 * the whole mapping.
 */
export function isAnyValue(value: unknown): value is AnyValue {
  if (!isObject(value)) return false;
  const { stringValue, boolValue, intValue, doubleValue, bytesValue, arrayValue, kvlistValue } = value;
  return (
    (stringValue === undefined || typeof stringValue === 'string') &&
    (boolValue === undefined || typeof boolValue === 'boolean') &&
    (intValue === undefined ||
      (typeof intValue === 'string' ? INT64_STRING.test(intValue) : Number.isFinite(intValue))) &&
    (doubleValue === undefined || typeof doubleValue === 'string' || Number.isFinite(doubleValue)) &&
    (bytesValue === undefined || typeof bytesValue === 'string') &&
    (arrayValue === undefined || isValuesOf(arrayValue, isAnyValue)) &&
    (kvlistValue === undefined || isValuesOf(kvlistValue, isKeyValue))
  );
}

/** Exactly what {@link KeyValue} accepts, checked by hand like {@link isAnyValue}. */
export function isKeyValue(value: unknown): value is KeyValue {
  return isObject(value) && typeof value.key === 'string' && (value.value === undefined || isAnyValue(value.value));
}

/** Exactly what `z.array(KeyValue)` accepts. */
export function isKeyValueList(value: unknown): value is KeyValue[] {
  return isArrayOf(value, isKeyValue);
}

/** What {@link Int64} accepts. */
function isInt64(value: unknown): boolean {
  return typeof value === 'string' ? INT64_STRING.test(value) : Number.isFinite(value);
}

/** What {@link Enum} accepts. */
function isEnum(value: unknown): boolean {
  return typeof value === 'string' || Number.isSafeInteger(value);
}

/** Absent, or present and accepted by `check`: zod's `.optional()` (JSON has no `undefined`, so absent). */
function optional(value: unknown, check: (value: unknown) => boolean): boolean {
  return value === undefined || check(value);
}

const isString = (value: unknown): value is string => typeof value === 'string';

/** An array whose every item passes `isItem`. */
function isArrayOf(value: unknown, isItem: (item: unknown) => boolean): boolean {
  if (!Array.isArray(value)) return false;
  for (const item of value) if (!isItem(item)) return false;
  return true;
}

function isResource(value: unknown): boolean {
  return isObject(value) && optional(value.attributes, isKeyValueList);
}

function isScope(value: unknown): boolean {
  return isObject(value) && optional(value.name, isString) && optional(value.version, isString);
}

function isEvent(value: unknown): boolean {
  return (
    isObject(value) &&
    optional(value.timeUnixNano, isInt64) &&
    optional(value.name, isString) &&
    optional(value.attributes, isKeyValueList)
  );
}

function isLink(value: unknown): boolean {
  return (
    isObject(value) &&
    isString(value.traceId) &&
    isString(value.spanId) &&
    optional(value.traceState, isString) &&
    optional(value.attributes, isKeyValueList)
  );
}

function isStatus(value: unknown): boolean {
  return isObject(value) && optional(value.code, isEnum) && optional(value.message, isString);
}

function isSpan(value: unknown): boolean {
  return (
    isObject(value) &&
    isString(value.traceId) &&
    isString(value.spanId) &&
    optional(value.traceState, isString) &&
    optional(value.parentSpanId, isString) &&
    optional(value.name, isString) &&
    optional(value.kind, isEnum) &&
    isInt64(value.startTimeUnixNano) &&
    isInt64(value.endTimeUnixNano) &&
    optional(value.attributes, isKeyValueList) &&
    optional(value.events, (events) => isArrayOf(events, isEvent)) &&
    optional(value.links, (links) => isArrayOf(links, isLink)) &&
    optional(value.status, isStatus)
  );
}

function isLogRecord(value: unknown): boolean {
  return (
    isObject(value) &&
    optional(value.timeUnixNano, isInt64) &&
    optional(value.observedTimeUnixNano, isInt64) &&
    optional(value.severityNumber, isEnum) &&
    optional(value.severityText, isString) &&
    optional(value.body, isAnyValue) &&
    optional(value.attributes, isKeyValueList) &&
    optional(value.traceId, isString) &&
    optional(value.spanId, isString)
  );
}

/** `resourceX: [{ resource?, scopeX?: [{ scope?, items?: [item…] }] }]`, the nesting both requests share. */
function isRequestOf(
  value: unknown,
  resourcesKey: string,
  scopesKey: string,
  itemsKey: string,
  isItem: (item: unknown) => boolean,
): boolean {
  if (!isObject(value)) return false;
  const isScopeEntry = (entry: unknown) =>
    isObject(entry) && optional(entry.scope, isScope) && optional(entry[itemsKey], (items) => isArrayOf(items, isItem));
  const isResourceEntry = (entry: unknown) =>
    isObject(entry) &&
    optional(entry.resource, isResource) &&
    optional(entry[scopesKey], (scopes) => isArrayOf(scopes, isScopeEntry));
  return isArrayOf(value[resourcesKey], isResourceEntry);
}

/**
 * The two export requests as zod schemas: what the OTLP/JSON decoder accepts, and on a rejected request the path
 * and message of what is wrong. The decoder checks a request with the hand-written guards first
 * ({@link isExportTraceServiceRequest}, {@link isExportLogsServiceRequest}: zod copies every object it parses, which
 * cost a tenth of the whole OTLP/JSON ingest); only a rejected one is parsed here.
 */
function otlpRequests() {
  const Attributes = z.array(KeyValue).optional();
  const Scope = z.looseObject({ name: z.string().optional(), version: z.string().optional() }).optional();
  const Resource = z.looseObject({ attributes: Attributes }).optional();

  const Span = z.looseObject({
    traceId: z.string(),
    spanId: z.string(),
    traceState: z.string().optional(),
    parentSpanId: z.string().optional(),
    name: z.string().default(''),
    kind: Enum.optional(),
    startTimeUnixNano: Int64,
    endTimeUnixNano: Int64,
    attributes: Attributes,
    events: z
      .array(z.looseObject({ timeUnixNano: Int64.optional(), name: z.string().default(''), attributes: Attributes }))
      .optional(),
    links: z
      .array(
        z.looseObject({
          traceId: z.string(),
          spanId: z.string(),
          traceState: z.string().optional(),
          attributes: Attributes,
        }),
      )
      .optional(),
    status: z.looseObject({ code: Enum.optional(), message: z.string().optional() }).optional(),
  });

  const LogRecord = z.looseObject({
    timeUnixNano: Int64.optional(),
    observedTimeUnixNano: Int64.optional(),
    severityNumber: Enum.optional(),
    severityText: z.string().optional(),
    body: AnyValue.optional(),
    attributes: Attributes,
    traceId: z.string().optional(),
    spanId: z.string().optional(),
  });

  return {
    traces: z.looseObject({
      resourceSpans: z.array(
        z.looseObject({
          resource: Resource,
          scopeSpans: z.array(z.looseObject({ scope: Scope, spans: z.array(Span).default([]) })).default([]),
        }),
      ),
    }),
    logs: z.looseObject({
      resourceLogs: z.array(
        z.looseObject({
          resource: Resource,
          scopeLogs: z.array(z.looseObject({ scope: Scope, logRecords: z.array(LogRecord).default([]) })).default([]),
        }),
      ),
    }),
  };
}

const schemas = otlpRequests();

/** `ExportTraceServiceRequest` in OTLP/JSON, as zod: for the message of a rejected request, and for tests. */
export const ExportTraceServiceRequest = schemas.traces;
/** A request {@link isExportTraceServiceRequest} accepted: the JSON as it was parsed, defaults not filled in. */
export type ExportTraceServiceRequest = z.input<typeof ExportTraceServiceRequest>;
/** `ExportLogsServiceRequest` in OTLP/JSON, as zod, like {@link ExportTraceServiceRequest}. */
export const ExportLogsServiceRequest = schemas.logs;
export type ExportLogsServiceRequest = z.input<typeof ExportLogsServiceRequest>;

/**
 * Exactly what {@link ExportTraceServiceRequest} accepts, checked in place without copying (a property test holds
 * the two to the same answer).
 */
export function isExportTraceServiceRequest(value: unknown): value is ExportTraceServiceRequest {
  return isRequestOf(value, 'resourceSpans', 'scopeSpans', 'spans', isSpan);
}

/** Exactly what {@link ExportLogsServiceRequest} accepts, checked like {@link isExportTraceServiceRequest}. */
export function isExportLogsServiceRequest(value: unknown): value is ExportLogsServiceRequest {
  return isRequestOf(value, 'resourceLogs', 'scopeLogs', 'logRecords', isLogRecord);
}
