import type { LogRecord, SpanRecord } from '../../schemas/records.ts';
import { normaliseRequestId, normaliseSpanId, normaliseTraceId } from '../core/ids.ts';
import { REDACTED } from '../core/redact.ts';
import { REQUEST_ID_KEYS } from './correlation.ts';
import type { DecodeFailure, DecodeOptions, DecodeSink, RecordContext, Redactor } from './decoded.ts';
import { nanosToMillis } from './timestamps.ts';

/**
 * The one mapping of OTLP spans and log records to rows, shared by the JSON and the protobuf decoders. Both hand it
 * the JS shape of the OTLP/JSON mapping (camelCase fields, enums as numbers or names); they differ in how ids, 64-bit
 * integers and bytes arrive (text from JSON, bytes and bigints from protobuf) and in how a text id is spelled, which
 * {@link OtlpEncoding} says.
 */

/** An id: hex or base64 text (OTLP/JSON), or the bytes themselves (protobuf). */
type IdLike = string | Uint8Array;

/** How one encoding spells what the JS shape cannot share: the `source_format` and the ids. */
export interface OtlpEncoding {
  readonly format: 'otlp-json' | 'otlp-proto';
  /** A trace id (16 bytes) or span id (8 bytes) as hex, as far as it can be read; validated by the caller. */
  readonly idToHex: (id: IdLike, bytes: 8 | 16) => string;
}

const BASE64_16_BYTES = /^[A-Za-z0-9+/]{22}==$/;
const BASE64_8_BYTES = /^[A-Za-z0-9+/]{11}=$/;

/** OTLP/JSON ids are hex; some older exporters wrote the protobuf JSON default (base64). Accept both. */
export const OTLP_JSON_ENCODING: OtlpEncoding = {
  format: 'otlp-json',
  idToHex: (id, bytes) => {
    if (typeof id !== 'string') return bytesToHex(id);
    return (bytes === 16 ? BASE64_16_BYTES : BASE64_8_BYTES).test(id) ? base64ToHex(id) : id;
  },
};

/** Protobuf ids are bytes (`toObject` leaves them as they are; base64 text is read too): always hex them. */
export const OTLP_PROTO_ENCODING: OtlpEncoding = {
  format: 'otlp-proto',
  idToHex: (id) => (typeof id === 'string' ? base64ToHex(id) : bytesToHex(id)),
};

function base64ToHex(id: string): string {
  return id.length === 0 ? '' : Buffer.from(id, 'base64').toString('hex');
}

function bytesToHex(id: Uint8Array): string {
  return id.length === 0 ? '' : asBuffer(id).toString('hex');
}

/** A Buffer over the same memory, without a copy. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

type Int64Like = string | number | bigint;
type EnumLike = number | string;

/**
 * An attribute value: one of the fields, or none (an empty AnyValue). `bytesValue` is base64 (OTLP/JSON) or the bytes
 * (protobuf); rows carry it as base64 either way.
 */
export interface OtlpAnyValueShape {
  readonly stringValue?: string | undefined;
  readonly boolValue?: boolean | undefined;
  readonly intValue?: Int64Like | undefined;
  readonly doubleValue?: number | string | undefined;
  readonly bytesValue?: string | Uint8Array | undefined;
  readonly arrayValue?: { readonly values?: readonly OtlpAnyValueShape[] | undefined } | undefined;
  readonly kvlistValue?: { readonly values?: readonly OtlpKeyValueShape[] | undefined } | undefined;
}

/** An attribute; protobuf leaves an empty key out, so even the key is optional. */
export interface OtlpKeyValueShape {
  readonly key?: string | undefined;
  readonly value?: OtlpAnyValueShape | undefined;
}

type KeyValue = OtlpKeyValueShape;
type AnyValue = OtlpAnyValueShape;

interface OtlpResourceShape {
  readonly attributes?: readonly KeyValue[] | undefined;
}

interface OtlpScopeShape {
  readonly name?: string | undefined;
}

/**
 * A span in the OTLP/JSON shape. Every field is optional: protobuf omits defaults (an empty name, a zero time), and
 * the mapping decides what a missing field means.
 */
export interface OtlpSpanShape {
  readonly traceId?: IdLike | undefined;
  readonly spanId?: IdLike | undefined;
  readonly traceState?: string | undefined;
  readonly parentSpanId?: IdLike | undefined;
  readonly name?: string | undefined;
  readonly kind?: EnumLike | undefined;
  readonly startTimeUnixNano?: Int64Like | undefined;
  readonly endTimeUnixNano?: Int64Like | undefined;
  readonly attributes?: readonly KeyValue[] | undefined;
  readonly events?:
    | readonly {
        readonly timeUnixNano?: Int64Like | undefined;
        readonly name?: string | undefined;
        readonly attributes?: readonly KeyValue[] | undefined;
      }[]
    | undefined;
  readonly links?:
    | readonly {
        readonly traceId?: IdLike | undefined;
        readonly spanId?: IdLike | undefined;
        readonly traceState?: string | undefined;
        readonly attributes?: readonly KeyValue[] | undefined;
      }[]
    | undefined;
  readonly status?: { readonly code?: EnumLike | undefined; readonly message?: string | undefined } | undefined;
}

/**
 * One entry of `resourceSpans` or `resourceLogs`: a resource and its scopes, each with its items under `ItemKey`
 * (`spans`, `logRecords`). Every level optional, as producers send it.
 */
type OtlpResourceOf<ScopesKey extends string, ItemKey extends string, Item> = {
  readonly resource?: OtlpResourceShape | undefined;
} & {
  readonly [S in ScopesKey]?:
    | readonly ({ readonly scope?: OtlpScopeShape | undefined } & {
        readonly [I in ItemKey]?: readonly Item[] | undefined;
      })[]
    | undefined;
};

/** `ExportTraceServiceRequest` in the OTLP/JSON shape. */
export interface OtlpTracesShape {
  readonly resourceSpans?: readonly OtlpResourceOf<'scopeSpans', 'spans', OtlpSpanShape>[] | undefined;
}

/** A log record in the OTLP/JSON shape; every field optional, as for spans. */
export interface OtlpLogRecordShape {
  readonly timeUnixNano?: Int64Like | undefined;
  readonly observedTimeUnixNano?: Int64Like | undefined;
  readonly severityNumber?: EnumLike | undefined;
  readonly severityText?: string | undefined;
  readonly body?: AnyValue | undefined;
  readonly attributes?: readonly KeyValue[] | undefined;
  readonly traceId?: IdLike | undefined;
  readonly spanId?: IdLike | undefined;
}

/** `ExportLogsServiceRequest` in the OTLP/JSON shape. */
export interface OtlpLogsShape {
  readonly resourceLogs?: readonly OtlpResourceOf<'scopeLogs', 'logRecords', OtlpLogRecordShape>[] | undefined;
}

const KINDS = ['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'] as const;
const STATUS_CODES = ['UNSET', 'OK', 'ERROR'] as const;
/** `SeverityNumber` of the logs data model: 0 UNSPECIFIED, then TRACE…TRACE4 (1–4) up to FATAL…FATAL4 (21–24). */
const SEVERITY_NAMES = [
  'UNSPECIFIED',
  ...['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'].flatMap((s) => [s, `${s}2`, `${s}3`, `${s}4`]),
] as const;
const ZERO_HEX = /^0*$/;

/** A mapping of one decoded export request to rows, as {@link mapOtlpTraces} and {@link mapOtlpLogs} are. */
export type OtlpMapper<Request> = (
  request: Request,
  data: Uint8Array,
  ctx: RecordContext,
  sink: DecodeSink,
  options: DecodeOptions,
  encoding: OtlpEncoding,
) => DecodeFailure[];

/**
 * Appends the span rows of one `ExportTraceServiceRequest` to `sink.spans`. The record is atomic: when any span is
 * invalid, no row is written and the whole record (`data`) is quarantined, so a replay after a fix cannot duplicate
 * the spans that were fine. `record_ordinal` is the span's position in the request.
 */
export const mapOtlpTraces: OtlpMapper<OtlpTracesShape> = (request, data, ctx, sink, options, encoding) =>
  mapRequest(TRACES, request.resourceSpans, data, ctx, sink, options, encoding);

/**
 * Appends the log rows of one `ExportLogsServiceRequest` to `sink.logs`. Atomic like {@link mapOtlpTraces}: a log
 * record with a malformed (not merely empty or all-zero) trace or span id quarantines the whole record as
 * `invalid_otlp`. `record_ordinal` is the log record's position in the request.
 */
export const mapOtlpLogs: OtlpMapper<OtlpLogsShape> = (request, data, ctx, sink, options, encoding) =>
  mapRequest(LOGS, request.resourceLogs, data, ctx, sink, options, encoding);

/** What the rows of one scope share; {@link mapRequest} fills one per request and updates it per resource and scope. */
interface ScopeContext {
  readonly ctx: RecordContext;
  readonly sourceFormat: string;
  readonly redactor: Redactor;
  readonly encoding: OtlpEncoding;
  service: string | null;
  resourceJson: string;
  scopeName: string | null;
}

/** How traces or logs nest their items under resource and scope, and what becomes of an item. */
interface OtlpSignal<Resource, Scope, Item, Row> {
  readonly scopesOf: (resource: Resource) => readonly Scope[] | undefined;
  readonly itemsOf: (scope: Scope) => readonly Item[] | undefined;
  /** The row of one item, or the reason it is invalid. */
  readonly toRow: (item: Item, ordinal: number, scope: ScopeContext) => Row | string;
  readonly rowsOf: (sink: DecodeSink) => Row[];
  /** Names the item in a failure message (`span 3: …`). */
  readonly item: string;
  readonly invalid: 'invalid_span' | 'invalid_otlp';
  readonly empty: string;
}

type ResourceSpansShape = NonNullable<OtlpTracesShape['resourceSpans']>[number];
type ScopeSpansShape = NonNullable<ResourceSpansShape['scopeSpans']>[number];
type ResourceLogsShape = NonNullable<OtlpLogsShape['resourceLogs']>[number];
type ScopeLogsShape = NonNullable<ResourceLogsShape['scopeLogs']>[number];

const TRACES: OtlpSignal<ResourceSpansShape, ScopeSpansShape, OtlpSpanShape, SpanRecord> = {
  scopesOf: (resource) => resource.scopeSpans,
  itemsOf: (scope) => scope.spans,
  toRow: toSpanRow,
  rowsOf: (sink) => sink.spans,
  item: 'span',
  invalid: 'invalid_span',
  empty: 'the OTLP traces request holds no spans',
};

const LOGS: OtlpSignal<ResourceLogsShape, ScopeLogsShape, OtlpLogRecordShape, LogRecord> = {
  scopesOf: (resource) => resource.scopeLogs,
  itemsOf: (scope) => scope.logRecords,
  toRow: toLogRow,
  rowsOf: (sink) => sink.logs,
  item: 'log record',
  invalid: 'invalid_otlp',
  empty: 'the OTLP logs request holds no log records',
};

/** Resource by resource, scope by scope: the rows of every item, appended only when all of them are valid. */
function mapRequest<
  Resource extends { readonly resource?: OtlpResourceShape | undefined },
  Scope extends { readonly scope?: OtlpScopeShape | undefined },
  Item,
  Row,
>(
  signal: OtlpSignal<Resource, Scope, Item, Row>,
  resources: readonly Resource[] | undefined,
  data: Uint8Array,
  ctx: RecordContext,
  sink: DecodeSink,
  options: DecodeOptions,
  encoding: OtlpEncoding,
): DecodeFailure[] {
  const { redactor } = options;
  const scopeContext: ScopeContext = {
    ctx,
    sourceFormat: ctx.formatPrefix + encoding.format,
    redactor,
    encoding,
    service: null,
    resourceJson: '{}',
    scopeName: null,
  };
  const rows: Row[] = [];
  let ordinal = 0;
  for (const resource of resources ?? []) {
    const attributes = attributesObject(resource.resource?.attributes, redactor);
    scopeContext.service = serviceName(attributes);
    scopeContext.resourceJson = JSON.stringify(attributes);
    for (const scope of signal.scopesOf(resource) ?? []) {
      scopeContext.scopeName = scope.scope?.name || null;
      for (const item of signal.itemsOf(scope) ?? []) {
        const row = signal.toRow(item, ordinal, scopeContext);
        if (typeof row === 'string') {
          const message = `${signal.item} ${ordinal}: ${row}`;
          return [{ reason: signal.invalid, message, raw: data, decoder: encoding.format }];
        }
        rows.push(row);
        ordinal++;
      }
    }
  }
  if (rows.length === 0)
    return [{ reason: 'empty_record', message: signal.empty, raw: data, decoder: encoding.format }];
  const out = signal.rowsOf(sink);
  for (const row of rows) out.push(row);
  return [];
}

/** A span row, or the reason the span is invalid. */
function toSpanRow(span: OtlpSpanShape, ordinal: number, scope: ScopeContext): SpanRecord | string {
  const { ctx, encoding, redactor } = scope;
  const traceHex = encoding.idToHex(span.traceId ?? '', 16);
  const traceId = normaliseTraceId(traceHex);
  if (!traceId) return `traceId ${JSON.stringify(traceHex)} is not a valid trace id`;
  const spanHex = encoding.idToHex(span.spanId ?? '', 8);
  const spanId = normaliseSpanId(spanHex);
  if (!spanId) return `spanId ${JSON.stringify(spanHex)} is not a valid span id`;
  const parentHex = span.parentSpanId ? encoding.idToHex(span.parentSpanId, 8) : '';
  const parent = parentHex ? normaliseSpanId(parentHex) : undefined;
  if (parentHex && !parent) return `parentSpanId ${JSON.stringify(parentHex)} is not a valid span id`;
  const start = int64(span.startTimeUnixNano);
  const end = int64(span.endTimeUnixNano);
  if (start <= 0n) return 'startTimeUnixNano is missing or zero';
  const attributes = attributesObject(span.attributes, redactor);
  return {
    trace_id: traceId,
    start_time: nanosToMillis(start),
    start_time_unix_nano: start,
    // biome-ignore lint/complexity/useMathMinMax: bigints, which Math.max does not take
    end_time_unix_nano: end < start ? start : end,
    duration_nano: end < start ? 0n : end - start,
    span_id: spanId,
    request_id: requestIdOf(attributes),
    parent_span_id: parent ?? null,
    trace_state: span.traceState || null,
    name: span.name ?? '',
    kind: enumName(span.kind, KINDS, 'SPAN_KIND_'),
    status_code: enumName(span.status?.code, STATUS_CODES, 'STATUS_CODE_'),
    status_message: span.status?.message || null,
    service_name: scope.service,
    scope_name: scope.scopeName,
    resource_attributes: scope.resourceJson,
    attributes: JSON.stringify(attributes),
    events: eventsJson(span.events, redactor),
    links: linksJson(span.links, redactor, encoding),
    source_format: scope.sourceFormat,
    shard_id: ctx.shardId,
    sequence_number: ctx.sequenceNumber,
    sub_sequence_number: ctx.subSequenceNumber,
    record_ordinal: ordinal,
    arrival_time: ctx.arrivalMs,
    ingest_flags: null,
  };
}

type OtlpEvents = OtlpSpanShape['events'];
type OtlpLinks = OtlpSpanShape['links'];

/** Span events as a JSON array; most spans have none, hence the shortcut. */
function eventsJson(events: OtlpEvents, redactor: Redactor): string {
  if (!events || events.length === 0) return '[]';
  const out: unknown[] = [];
  for (const e of events) {
    out.push({
      time_unix_nano: e.timeUnixNano === undefined ? null : String(e.timeUnixNano),
      name: e.name ?? '',
      attributes: attributesObject(e.attributes, redactor),
    });
  }
  return JSON.stringify(out);
}

/** Span links as a JSON array, ids as lowercase hex where they are valid ids. */
function linksJson(links: OtlpLinks, redactor: Redactor, encoding: OtlpEncoding): string {
  if (!links || links.length === 0) return '[]';
  const out: unknown[] = [];
  for (const l of links) {
    const traceHex = encoding.idToHex(l.traceId ?? '', 16);
    const spanHex = encoding.idToHex(l.spanId ?? '', 8);
    out.push({
      trace_id: normaliseTraceId(traceHex) ?? traceHex,
      span_id: normaliseSpanId(spanHex) ?? spanHex,
      trace_state: l.traceState || null,
      attributes: attributesObject(l.attributes, redactor),
    });
  }
  return JSON.stringify(out);
}

/** A log row, or the reason the log record is invalid. */
function toLogRow(record: OtlpLogRecordShape, ordinal: number, scope: ScopeContext): LogRecord | string {
  const { ctx, encoding, redactor } = scope;
  // Trace context is optional on a log record: empty or all-zero ids (what SDKs write outside a span) mean none.
  const traceHex = record.traceId ? encoding.idToHex(record.traceId, 16) : '';
  const traceId = ZERO_HEX.test(traceHex) ? null : normaliseTraceId(traceHex);
  if (traceId === undefined) return `traceId ${JSON.stringify(traceHex)} is not a valid trace id`;
  const spanHex = record.spanId ? encoding.idToHex(record.spanId, 8) : '';
  const spanId = ZERO_HEX.test(spanHex) ? null : normaliseSpanId(spanHex);
  if (spanId === undefined) return `spanId ${JSON.stringify(spanHex)} is not a valid span id`;

  // The logs data model: time_unix_nano is when the event happened, 0 when unknown; then the observed time stands in.
  const observed = int64(record.observedTimeUnixNano);
  let time = int64(record.timeUnixNano);
  if (time <= 0n) time = observed > 0n ? observed : BigInt(ctx.arrivalMs) * 1_000_000n;
  const attributes = attributesObject(record.attributes, redactor);
  return {
    trace_id: traceId,
    time: nanosToMillis(time),
    time_unix_nano: time,
    observed_time_unix_nano: observed > 0n ? observed : ctx.observedNs,
    span_id: spanId,
    request_id: requestIdOf(attributes),
    severity_number: severityNumberOf(record.severityNumber),
    severity_text: record.severityText || null,
    body: bodyText(record.body, redactor),
    service_name: scope.service,
    resource_attributes: scope.resourceJson,
    attributes: JSON.stringify(attributes),
    source_format: scope.sourceFormat,
    shard_id: ctx.shardId,
    sequence_number: ctx.sequenceNumber,
    sub_sequence_number: ctx.subSequenceNumber,
    record_ordinal: ordinal,
    arrival_time: ctx.arrivalMs,
    ingest_flags: null,
  };
}

/** 64-bit integers arrive as bigints (protobuf), decimal strings (most JSON) or numbers (JSON); absent means 0. */
function int64(value: Int64Like | undefined): bigint {
  if (value === undefined) return 0n;
  if (typeof value === 'bigint') return value;
  return typeof value === 'string' ? BigInt(value) : BigInt(Math.round(value));
}

function enumName<T extends string>(value: EnumLike | undefined, names: readonly T[], prefix: string): T {
  if (typeof value === 'number') return names[value] ?? (names[0] as T);
  if (typeof value === 'string') {
    const name = value.startsWith(prefix) ? value.slice(prefix.length) : value;
    const found = names.find((n) => n === name);
    if (found) return found;
  }
  return names[0] as T;
}

/** 0–24; anything else (an unknown enum value, a misspelt name) is UNSPECIFIED, as the data model says. */
function severityNumberOf(value: EnumLike | undefined): number {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 && value <= 24 ? value : 0;
  if (typeof value === 'string') {
    const n = SEVERITY_NAMES.indexOf(value.startsWith('SEVERITY_NUMBER_') ? value.slice(16) : value);
    return n === -1 ? 0 : n;
  }
  return 0;
}

/** The body as text: a string as is, any other value as JSON; an absent or empty AnyValue is null. */
function bodyText(body: AnyValue | undefined, redactor: Redactor): string | null {
  if (!body) return null;
  if ('stringValue' in body && typeof body.stringValue === 'string') return body.stringValue;
  const value = anyValue(body, redactor);
  return value === null || value === undefined ? null : JSON.stringify(value);
}

function serviceName(resource: Record<string, unknown>): string | null {
  const service = resource['service.name'];
  return typeof service === 'string' ? service : null;
}

/** OTLP key/value list to a plain object; secret-named keys are redacted. */
export function attributesObject(list: readonly KeyValue[] | undefined, redactor: Redactor): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!list) return out;
  for (const kv of list) {
    const key = kv.key ?? '';
    out[key] = redactor.isSecretKey(key) ? REDACTED : anyValue(kv.value, redactor);
  }
  return out;
}

function anyValue(value: AnyValue | undefined, redactor: Redactor): unknown {
  if (!value) return null;
  if ('stringValue' in value) return value.stringValue;
  if ('boolValue' in value) return value.boolValue;
  if ('intValue' in value) {
    const n = Number(value.intValue);
    return Number.isSafeInteger(n) ? n : String(value.intValue);
  }
  if ('doubleValue' in value) return Number(value.doubleValue);
  if ('bytesValue' in value) {
    const bytes = value.bytesValue;
    return bytes === undefined || typeof bytes === 'string' ? bytes : asBuffer(bytes).toString('base64');
  }
  if ('arrayValue' in value) {
    const out: unknown[] = [];
    for (const v of value.arrayValue?.values ?? []) out.push(anyValue(v, redactor));
    return out;
  }
  if ('kvlistValue' in value) return attributesObject(value.kvlistValue?.values, redactor);
  return null;
}

function requestIdOf(attributes: Record<string, unknown>): string | null {
  for (const key of REQUEST_ID_KEYS) {
    let value = attributes[key];
    if (Array.isArray(value)) value = value[0];
    if (typeof value === 'string') {
      const id = normaliseRequestId(value);
      if (id) return id;
    }
  }
  return null;
}
