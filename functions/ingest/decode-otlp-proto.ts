// The official opentelemetry-proto messages (schemas/proto/opentelemetry/...), compiled by pbjs into a JSON descriptor
// (`npm run proto:generate`) and loaded with protobufjs/light: no .proto parsing at Lambda cold start, no hand-written
// wire parser.
import protobuf from 'protobufjs/light.js';
import otlpDescriptor from '../../schemas/proto/otlp.json' with { type: 'json' };
import type { DecodeFailure, DecodeOptions, DecodeSink, RecordContext } from './decoded.ts';
import {
  mapOtlpLogs,
  mapOtlpTraces,
  OTLP_PROTO_ENCODING,
  type OtlpLogsShape,
  type OtlpTracesShape,
} from './otlp-mapping.ts';

export const OTLP_PROTO = 'otlp-proto';

const root = protobuf.Root.fromJSON(otlpDescriptor);
const TracesRequest = root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');
const LogsRequest = root.lookupType('opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest');

/**
 * The OTLP/JSON shape but for 64-bit integers, which stay exact as bigints, and bytes, which stay bytes (the mapping
 * hexes ids and writes `bytesValue` as base64): enums as numbers. Defaults are left out, so an absent field and a
 * zero/empty one look the same, as protobuf itself cannot tell them apart.
 */
const TO_OBJECT: protobuf.IConversionOptions = { longs: BigInt, enums: Number };

/** Field 1 (`resource_spans` / `resource_logs`), wire type 2 (length-delimited): the first byte of every request. */
const REQUEST_TAG = 0x0a;
/** Tags a `ResourceSpans`/`ResourceLogs` can start with: resource (1), scope_spans/scope_logs (2), schema_url (3). */
const RESOURCE_TAGS = new Set([0x0a, 0x12, 0x1a]);
/** A length varint of more than 5 bytes is over 2^35 bytes: not a Kinesis record (1 MiB). */
const MAX_LENGTH_VARINT_BYTES = 5;

type Decoded<T> = { ok: true; value: T } | { ok: false; reason: string };

/**
 * Decodes an OTLP protobuf `ExportTraceServiceRequest` or `ExportLogsServiceRequest` into span or log rows appended to
 * `sink`. `payload` is the (inflated) protobuf; `data` the record as it arrived, which is what a failure quarantines.
 * The record is atomic, as in the OTLP/JSON decoder: bytes that are not a valid message are `invalid_protobuf`; a
 * valid message with an invalid span is `invalid_span`, with a malformed log id `invalid_otlp`. Never throws for bad
 * input.
 *
 * Traces or logs: both requests are one repeated field 1, and their resource and scope levels have the same field
 * numbers and wire types, so the difference only shows at the span / log record. When `kind` is not given the payload
 * is decoded as traces first. A `Span` always has `trace_id` (field 1) and `span_id` (field 2) as bytes, while a
 * `LogRecord`'s fields 1 and 2 are `time_unix_nano` (fixed64) and `severity_number` (varint); protobufjs skips a field
 * whose wire type does not match the schema, so a log record read as a span never has either id. Hence: when the
 * traces reading fails, or it holds spans and none of them has a trace or span id, the payload is decoded as logs;
 * if that fails too, the traces reading stands (its error, or its `invalid_span`).
 *
 * @example
 * const failures = decodeOtlpProto(inflated, record, ctx, sink, options); // traces or logs, detected
 */
export function decodeOtlpProto(
  payload: Uint8Array,
  data: Uint8Array,
  ctx: RecordContext,
  sink: DecodeSink,
  options: DecodeOptions,
  kind?: 'traces' | 'logs',
): DecodeFailure[] {
  if (kind !== 'logs') {
    const traces = decodeTraces(payload);
    if (kind === 'traces' || (traces.ok && !readsLikeLogRecords(traces.value))) {
      if (!traces.ok) return [invalidProtobuf('ExportTraceServiceRequest', traces.reason, data)];
      return mapOtlpTraces(traces.value, data, ctx, sink, options, OTLP_PROTO_ENCODING);
    }
    const logs = decodeLogs(payload);
    if (logs.ok) return mapOtlpLogs(logs.value, data, ctx, sink, options, OTLP_PROTO_ENCODING);
    if (traces.ok) return mapOtlpTraces(traces.value, data, ctx, sink, options, OTLP_PROTO_ENCODING);
    return [
      invalidProtobuf(
        'ExportTraceServiceRequest nor ExportLogsServiceRequest',
        `${traces.reason}; ${logs.reason}`,
        data,
      ),
    ];
  }
  const logs = decodeLogs(payload);
  if (!logs.ok) return [invalidProtobuf('ExportLogsServiceRequest', logs.reason, data)];
  return mapOtlpLogs(logs.value, data, ctx, sink, options, OTLP_PROTO_ENCODING);
}

/**
 * A cheap check for the format detector: true when `payload` is a sequence of field-1 length-delimited entries that
 * ends exactly at the end of the payload, the first of which starts like a `ResourceSpans`/`ResourceLogs` — the shape
 * of every non-empty OTLP export request. Reads tags and lengths only; it does not decode.
 */
export function looksLikeOtlpProto(payload: Uint8Array): boolean {
  if (payload.length < 2 || payload[0] !== REQUEST_TAG) return false;
  let pos = 0;
  let first = true;
  while (pos < payload.length) {
    if (payload[pos] !== REQUEST_TAG) return false;
    pos++;
    let length = 0;
    let shift = 0;
    let byte = 0x80;
    for (let i = 0; byte & 0x80; i++) {
      if (i === MAX_LENGTH_VARINT_BYTES || pos >= payload.length) return false;
      byte = payload[pos++] ?? 0;
      length += (byte & 0x7f) * 2 ** shift;
      shift += 7;
    }
    if (first && length > 0 && !RESOURCE_TAGS.has(payload[pos] ?? -1)) return false;
    first = false;
    pos += length;
  }
  return pos === payload.length;
}

function decodeTraces(payload: Uint8Array): Decoded<OtlpTracesShape> {
  try {
    // The descriptor defines the structure toObject returns; OtlpTracesShape declares that structure.
    const value: OtlpTracesShape = TracesRequest.toObject(TracesRequest.decode(payload), TO_OBJECT);
    return { ok: true, value };
  } catch (error) {
    return { ok: false, reason: errorMessage(error) };
  }
}

function decodeLogs(payload: Uint8Array): Decoded<OtlpLogsShape> {
  try {
    const value: OtlpLogsShape = LogsRequest.toObject(LogsRequest.decode(payload), TO_OBJECT);
    return { ok: true, value };
  } catch (error) {
    return { ok: false, reason: errorMessage(error) };
  }
}

/** True when the request holds spans and none has a trace or span id: log records read with the span schema. */
function readsLikeLogRecords(request: OtlpTracesShape): boolean {
  let spans = 0;
  for (const resourceSpans of request.resourceSpans ?? []) {
    for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
      for (const span of scopeSpans.spans ?? []) {
        if (span.traceId?.length || span.spanId?.length) return false;
        spans++;
      }
    }
  }
  return spans > 0;
}

function invalidProtobuf(message: string, reason: string, data: Uint8Array): DecodeFailure {
  return { reason: 'invalid_protobuf', message: `not an OTLP ${message}: ${reason}`, raw: data, decoder: OTLP_PROTO };
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
