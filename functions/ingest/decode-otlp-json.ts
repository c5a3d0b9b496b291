import { type AnyValue, ExportTraceServiceRequest, type KeyValue, type OtlpSpan } from '../../schemas/otlp-json.ts';
import type { SpanRecord } from '../../schemas/records.ts';
import { normaliseRequestId, normaliseSpanId, normaliseTraceId } from '../core/ids.ts';
import { REDACTED } from '../core/redact.ts';
import { REQUEST_ID_KEYS } from './correlation.ts';
import type { DecodeFailure, DecodeOptions, DecodeSink, RecordContext, Redactor } from './decoded.ts';
import { nanosToMillis } from './timestamps.ts';

export const OTLP_JSON = 'otlp-json';

const KINDS = ['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'] as const;
const STATUS_CODES = ['UNSET', 'OK', 'ERROR'] as const;
const BASE64_16_BYTES = /^[A-Za-z0-9+/]{22}==$/;
const BASE64_8_BYTES = /^[A-Za-z0-9+/]{11}=$/;

/**
 * Decodes an OTLP/JSON `ExportTraceServiceRequest` (already parsed) into span rows. The record is atomic: when any
 * span is invalid, no row is written and the whole record is quarantined, so a replay after a fix cannot duplicate
 * the spans that were fine. `record_ordinal` is the span's position in the request.
 */
export function decodeOtlpTraces(
  data: Uint8Array,
  parsed: unknown,
  ctx: RecordContext,
  sink: DecodeSink,
  options: DecodeOptions,
): DecodeFailure[] {
  const request = ExportTraceServiceRequest.safeParse(parsed);
  if (!request.success) {
    const issue = request.error.issues[0];
    return [
      {
        reason: 'invalid_otlp',
        message: `OTLP/JSON traces: ${issue?.path.join('.') || '(root)'}: ${issue?.message}`,
        raw: data,
        decoder: OTLP_JSON,
      },
    ];
  }
  const rows: SpanRecord[] = [];
  let ordinal = 0;
  for (const resourceSpans of request.data.resourceSpans) {
    const { redactor } = options;
    const resource = attributesObject(resourceSpans.resource?.attributes, redactor);
    const service = typeof resource['service.name'] === 'string' ? resource['service.name'] : null;
    const resourceJson = JSON.stringify(resource);
    for (const scopeSpans of resourceSpans.scopeSpans) {
      const scopeName = scopeSpans.scope?.name || null;
      for (const span of scopeSpans.spans) {
        const row = toSpanRow(span, ordinal, ctx, service, scopeName, resourceJson, redactor);
        if (typeof row === 'string') {
          return [{ reason: 'invalid_span', message: `span ${ordinal}: ${row}`, raw: data, decoder: OTLP_JSON }];
        }
        rows.push(row);
        ordinal++;
      }
    }
  }
  if (rows.length === 0) {
    return [{ reason: 'empty_record', message: 'the OTLP/JSON request holds no spans', raw: data, decoder: OTLP_JSON }];
  }
  for (const row of rows) sink.spans.push(row);
  return [];
}

/** A span row, or the reason the span is invalid. */
function toSpanRow(
  span: OtlpSpan,
  ordinal: number,
  ctx: RecordContext,
  service: string | null,
  scopeName: string | null,
  resourceJson: string,
  redactor: Redactor,
): SpanRecord | string {
  const traceId = normaliseTraceId(hexId(span.traceId, 16));
  if (!traceId) return `traceId ${JSON.stringify(span.traceId)} is not a valid trace id`;
  const spanId = normaliseSpanId(hexId(span.spanId, 8));
  if (!spanId) return `spanId ${JSON.stringify(span.spanId)} is not a valid span id`;
  const parent = span.parentSpanId ? normaliseSpanId(hexId(span.parentSpanId, 8)) : undefined;
  if (span.parentSpanId && !parent) return `parentSpanId ${JSON.stringify(span.parentSpanId)} is not a valid span id`;
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
    name: span.name,
    kind: enumName(span.kind, KINDS, 'SPAN_KIND_'),
    status_code: enumName(span.status?.code, STATUS_CODES, 'STATUS_CODE_'),
    status_message: span.status?.message || null,
    service_name: service,
    scope_name: scopeName,
    resource_attributes: resourceJson,
    attributes: JSON.stringify(attributes),
    events: JSON.stringify(
      (span.events ?? []).map((e) => ({
        time_unix_nano: e.timeUnixNano === undefined ? null : String(e.timeUnixNano),
        name: e.name,
        attributes: attributesObject(e.attributes, redactor),
      })),
    ),
    links: JSON.stringify(
      (span.links ?? []).map((l) => ({
        trace_id: normaliseTraceId(hexId(l.traceId, 16)) ?? l.traceId,
        span_id: normaliseSpanId(hexId(l.spanId, 8)) ?? l.spanId,
        trace_state: l.traceState ?? null,
        attributes: attributesObject(l.attributes, redactor),
      })),
    ),
    source_format: ctx.formatPrefix + OTLP_JSON,
    shard_id: ctx.shardId,
    sequence_number: ctx.sequenceNumber,
    sub_sequence_number: ctx.subSequenceNumber,
    record_ordinal: ordinal,
    arrival_time: ctx.arrivalMs,
    ingest_flags: null,
  };
}

function int64(value: string | number): bigint {
  return typeof value === 'string' ? BigInt(value) : BigInt(Math.round(value));
}

/** OTLP/JSON ids are hex; some older exporters wrote the protobuf JSON default (base64). Accept both. */
function hexId(id: string, bytes: 8 | 16): string {
  const base64 = bytes === 16 ? BASE64_16_BYTES : BASE64_8_BYTES;
  return base64.test(id) ? Buffer.from(id, 'base64').toString('hex') : id;
}

function enumName<T extends string>(value: number | string | undefined, names: readonly T[], prefix: string): T {
  if (typeof value === 'number') return names[value] ?? (names[0] as T);
  if (typeof value === 'string') {
    const name = value.startsWith(prefix) ? value.slice(prefix.length) : value;
    const found = names.find((n) => n === name);
    if (found) return found;
  }
  return names[0] as T;
}

/** OTLP key/value list to a plain object; secret-named keys are redacted. */
export function attributesObject(list: readonly KeyValue[] | undefined, redactor: Redactor): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!list) return out;
  for (const kv of list) out[kv.key] = redactor.isSecretKey(kv.key) ? REDACTED : anyValue(kv.value, redactor);
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
