import type { LogRecord, SpanRecord } from '../../schemas/records.ts';
import { normaliseRequestId, normaliseSpanId, normaliseTraceId } from '../core/ids.ts';
import { REDACTED } from '../core/redact.ts';
import { REQUEST_ID_KEYS } from './correlation.ts';
import type { DecodeFailure, DecodeOptions, DecodeSink, RecordContext, Redactor } from './decoded.ts';
import { nanosToMillis } from './timestamps.ts';

/**
 * The one mapping of OTLP spans and log records to rows, shared by the JSON and the protobuf decoders. Both hand it
 * the JS shape of the OTLP/JSON mapping (camelCase fields, 64-bit integers as strings or numbers, enums as numbers or
 * names, `bytesValue` as base64); they differ only in how ids are spelled, which {@link OtlpEncoding} says.
 */

/** How one encoding spells what the JS shape cannot share: the `source_format` and the ids. */
export interface OtlpEncoding {
  readonly format: 'otlp-json' | 'otlp-proto';
  /** A trace id (16 bytes) or span id (8 bytes) as hex, as far as it can be read; validated by the caller. */
  readonly idToHex: (id: string, bytes: 8 | 16) => string;
}

const BASE64_16_BYTES = /^[A-Za-z0-9+/]{22}==$/;
const BASE64_8_BYTES = /^[A-Za-z0-9+/]{11}=$/;

/** OTLP/JSON ids are hex; some older exporters wrote the protobuf JSON default (base64). Accept both. */
export const OTLP_JSON_ENCODING: OtlpEncoding = {
  format: 'otlp-json',
  idToHex: (id, bytes) => ((bytes === 16 ? BASE64_16_BYTES : BASE64_8_BYTES).test(id) ? base64ToHex(id) : id),
};

/** Protobuf ids are bytes, which the decoder hands over as base64 (`toObject({ bytes: String })`): always hex them. */
export const OTLP_PROTO_ENCODING: OtlpEncoding = { format: 'otlp-proto', idToHex: base64ToHex };

function base64ToHex(id: string): string {
  return id.length === 0 ? '' : Buffer.from(id, 'base64').toString('hex');
}

type Int64Like = string | number;
type EnumLike = number | string;

/**
 * An attribute value: one of the fields, or none (an empty AnyValue). `bytesValue` is base64, as in OTLP/JSON.
 */
export interface OtlpAnyValueShape {
  readonly stringValue?: string | undefined;
  readonly boolValue?: boolean | undefined;
  readonly intValue?: Int64Like | undefined;
  readonly doubleValue?: number | string | undefined;
  readonly bytesValue?: string | undefined;
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
  readonly traceId?: string | undefined;
  readonly spanId?: string | undefined;
  readonly traceState?: string | undefined;
  readonly parentSpanId?: string | undefined;
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
        readonly traceId?: string | undefined;
        readonly spanId?: string | undefined;
        readonly traceState?: string | undefined;
        readonly attributes?: readonly KeyValue[] | undefined;
      }[]
    | undefined;
  readonly status?: { readonly code?: EnumLike | undefined; readonly message?: string | undefined } | undefined;
}

/** `ExportTraceServiceRequest` in the OTLP/JSON shape. */
export interface OtlpTracesShape {
  readonly resourceSpans?:
    | readonly {
        readonly resource?: OtlpResourceShape | undefined;
        readonly scopeSpans?:
          | readonly {
              readonly scope?: OtlpScopeShape | undefined;
              readonly spans?: readonly OtlpSpanShape[] | undefined;
            }[]
          | undefined;
      }[]
    | undefined;
}

/** A log record in the OTLP/JSON shape; every field optional, as for spans. */
export interface OtlpLogRecordShape {
  readonly timeUnixNano?: Int64Like | undefined;
  readonly observedTimeUnixNano?: Int64Like | undefined;
  readonly severityNumber?: EnumLike | undefined;
  readonly severityText?: string | undefined;
  readonly body?: AnyValue | undefined;
  readonly attributes?: readonly KeyValue[] | undefined;
  readonly traceId?: string | undefined;
  readonly spanId?: string | undefined;
}

/** `ExportLogsServiceRequest` in the OTLP/JSON shape. */
export interface OtlpLogsShape {
  readonly resourceLogs?:
    | readonly {
        readonly resource?: OtlpResourceShape | undefined;
        readonly scopeLogs?:
          | readonly {
              readonly scope?: OtlpScopeShape | undefined;
              readonly logRecords?: readonly OtlpLogRecordShape[] | undefined;
            }[]
          | undefined;
      }[]
    | undefined;
}

const KINDS = ['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'] as const;
const STATUS_CODES = ['UNSET', 'OK', 'ERROR'] as const;
/** `SeverityNumber` of the logs data model: 0 UNSPECIFIED, then TRACE…TRACE4 (1–4) up to FATAL…FATAL4 (21–24). */
const SEVERITY_NAMES = [
  'UNSPECIFIED',
  ...['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'].flatMap((s) => [s, `${s}2`, `${s}3`, `${s}4`]),
] as const;
const ZERO_HEX = /^0*$/;

/**
 * Appends the span rows of one `ExportTraceServiceRequest` to `sink.spans`. The record is atomic: when any span is
 * invalid, no row is written and the whole record (`data`) is quarantined, so a replay after a fix cannot duplicate
 * the spans that were fine. `record_ordinal` is the span's position in the request.
 */
export function mapOtlpTraces(
  request: OtlpTracesShape,
  data: Uint8Array,
  ctx: RecordContext,
  sink: DecodeSink,
  options: DecodeOptions,
  encoding: OtlpEncoding,
): DecodeFailure[] {
  const { redactor } = options;
  const sourceFormat = ctx.formatPrefix + encoding.format;
  const rows: SpanRecord[] = [];
  let ordinal = 0;
  for (const resourceSpans of request.resourceSpans ?? []) {
    const resource = attributesObject(resourceSpans.resource?.attributes, redactor);
    const service = serviceName(resource);
    const resourceJson = JSON.stringify(resource);
    for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
      const scopeName = scopeSpans.scope?.name || null;
      for (const span of scopeSpans.spans ?? []) {
        const row = toSpanRow(span, ordinal, ctx, sourceFormat, service, scopeName, resourceJson, redactor, encoding);
        if (typeof row === 'string') {
          return [{ reason: 'invalid_span', message: `span ${ordinal}: ${row}`, raw: data, decoder: encoding.format }];
        }
        rows.push(row);
        ordinal++;
      }
    }
  }
  if (rows.length === 0) {
    return [
      {
        reason: 'empty_record',
        message: 'the OTLP traces request holds no spans',
        raw: data,
        decoder: encoding.format,
      },
    ];
  }
  for (const row of rows) sink.spans.push(row);
  return [];
}

/**
 * Appends the log rows of one `ExportLogsServiceRequest` to `sink.logs`. Atomic like {@link mapOtlpTraces}: a log
 * record with a malformed (not merely empty or all-zero) trace or span id quarantines the whole record as
 * `invalid_otlp`. `record_ordinal` is the log record's position in the request.
 */
export function mapOtlpLogs(
  request: OtlpLogsShape,
  data: Uint8Array,
  ctx: RecordContext,
  sink: DecodeSink,
  options: DecodeOptions,
  encoding: OtlpEncoding,
): DecodeFailure[] {
  const { redactor } = options;
  const sourceFormat = ctx.formatPrefix + encoding.format;
  const rows: LogRecord[] = [];
  let ordinal = 0;
  for (const resourceLogs of request.resourceLogs ?? []) {
    const resource = attributesObject(resourceLogs.resource?.attributes, redactor);
    const service = serviceName(resource);
    const resourceJson = JSON.stringify(resource);
    for (const scopeLogs of resourceLogs.scopeLogs ?? []) {
      for (const record of scopeLogs.logRecords ?? []) {
        const row = toLogRow(record, ordinal, ctx, sourceFormat, service, resourceJson, redactor, encoding);
        if (typeof row === 'string') {
          return [
            { reason: 'invalid_otlp', message: `log record ${ordinal}: ${row}`, raw: data, decoder: encoding.format },
          ];
        }
        rows.push(row);
        ordinal++;
      }
    }
  }
  if (rows.length === 0) {
    return [
      {
        reason: 'empty_record',
        message: 'the OTLP logs request holds no log records',
        raw: data,
        decoder: encoding.format,
      },
    ];
  }
  for (const row of rows) sink.logs.push(row);
  return [];
}

/** A span row, or the reason the span is invalid. */
function toSpanRow(
  span: OtlpSpanShape,
  ordinal: number,
  ctx: RecordContext,
  sourceFormat: string,
  service: string | null,
  scopeName: string | null,
  resourceJson: string,
  redactor: Redactor,
  encoding: OtlpEncoding,
): SpanRecord | string {
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
    service_name: service,
    scope_name: scopeName,
    resource_attributes: resourceJson,
    attributes: JSON.stringify(attributes),
    events: eventsJson(span.events, redactor),
    links: linksJson(span.links, redactor, encoding),
    source_format: sourceFormat,
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
function toLogRow(
  record: OtlpLogRecordShape,
  ordinal: number,
  ctx: RecordContext,
  sourceFormat: string,
  service: string | null,
  resourceJson: string,
  redactor: Redactor,
  encoding: OtlpEncoding,
): LogRecord | string {
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
    service_name: service,
    resource_attributes: resourceJson,
    attributes: JSON.stringify(attributes),
    source_format: sourceFormat,
    shard_id: ctx.shardId,
    sequence_number: ctx.sequenceNumber,
    sub_sequence_number: ctx.subSequenceNumber,
    record_ordinal: ordinal,
    arrival_time: ctx.arrivalMs,
    ingest_flags: null,
  };
}

/** 64-bit integers arrive as decimal strings (protobuf, most JSON) or numbers (JSON); absent means 0. */
function int64(value: Int64Like | undefined): bigint {
  if (value === undefined) return 0n;
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
  if ('bytesValue' in value) return value.bytesValue;
  if ('arrayValue' in value) return (value.arrayValue?.values ?? []).map((v) => anyValue(v, redactor));
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
