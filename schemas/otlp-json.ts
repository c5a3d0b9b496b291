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
export const AnyValue: z.ZodType<AnyValue> = z.lazy(() =>
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
export const KeyValue: z.ZodType<KeyValue> = z.lazy(() =>
  z.looseObject({ key: z.string(), value: AnyValue.optional() }),
);

/** A JSON object (zod's `looseObject` input): not null, not an array. */
function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `{ values?: T[] }` where every value passes `isItem`. */
function isValuesOf(value: unknown, isItem: (item: unknown) => boolean): boolean {
  if (!isObject(value)) return false;
  const values = value.values;
  if (values === undefined) return true;
  if (!Array.isArray(values)) return false;
  for (const item of values) if (!isItem(item)) return false;
  return true;
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
  if (!Array.isArray(value)) return false;
  for (const item of value) if (!isKeyValue(item)) return false;
  return true;
}

/**
 * The two export requests, built around a schema for attribute lists and one for AnyValue. The checked requests use
 * the hand-written guards (one zod step per list); the detailed ones the zod schemas above, which say where a list
 * is wrong: decoders parse with the first and explain a failure with the second.
 */
function otlpRequests(attributeList: z.ZodType<KeyValue[]>, anyValue: z.ZodType<AnyValue>) {
  const Attributes = attributeList.optional();
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
    body: anyValue.optional(),
    attributes: Attributes,
    traceId: z.string().optional(),
    spanId: z.string().optional(),
  });

  return {
    span: Span,
    logRecord: LogRecord,
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

const checked = otlpRequests(z.custom<KeyValue[]>(isKeyValueList), z.custom<AnyValue>(isAnyValue));
const detailed = otlpRequests(z.array(KeyValue), AnyValue);

export const OtlpSpan = checked.span;
export type OtlpSpan = z.infer<typeof OtlpSpan>;
export const ExportTraceServiceRequest = checked.traces;
export type ExportTraceServiceRequest = z.infer<typeof ExportTraceServiceRequest>;
/** {@link ExportTraceServiceRequest} as zod schemas throughout: slower, for the path and message of a failure. */
export const ExportTraceServiceRequestDetailed = detailed.traces;

export const OtlpLogRecord = checked.logRecord;
export type OtlpLogRecord = z.infer<typeof OtlpLogRecord>;
export const ExportLogsServiceRequest = checked.logs;
export type ExportLogsServiceRequest = z.infer<typeof ExportLogsServiceRequest>;
/** {@link ExportLogsServiceRequest} as zod schemas throughout, like {@link ExportTraceServiceRequestDetailed}. */
export const ExportLogsServiceRequestDetailed = detailed.logs;
