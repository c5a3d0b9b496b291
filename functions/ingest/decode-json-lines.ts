import type { LogRecord } from '../../schemas/records.ts';
import { normaliseRequestId, normaliseSpanId, normaliseTraceId } from '../core/ids.ts';
import { REDACTED } from '../core/redact.ts';
import type { DecodeFailure, DecodeOptions, DecodeSink, RecordContext, Redactor } from './decoded.ts';
import { severityNumber, severityText } from './severity.ts';
import { nanosToMillis, toUnixNanos } from './timestamps.ts';

export const JSON_LINES = 'json-lines';

/** What a known field of a log line means. Unknown fields become attributes. */
enum Role {
  Time,
  Level,
  Body,
  TraceId,
  SpanId,
  RequestId,
  Service,
}

/** The dialects of this issue: `timestamp`/`time`/`ts`, `level`/`severity`, `msg`/`message`, id aliases. */
const ROLES = new Map<string, Role>([
  ['timestamp', Role.Time],
  ['time', Role.Time],
  ['ts', Role.Time],
  ['@timestamp', Role.Time],
  ['level', Role.Level],
  ['severity', Role.Level],
  ['severity_text', Role.Level],
  ['levelname', Role.Level],
  ['msg', Role.Body],
  ['message', Role.Body],
  ['body', Role.Body],
  ['trace_id', Role.TraceId],
  ['traceId', Role.TraceId],
  ['traceid', Role.TraceId],
  ['otelTraceID', Role.TraceId],
  ['traceparent', Role.TraceId],
  ['span_id', Role.SpanId],
  ['spanId', Role.SpanId],
  ['spanid', Role.SpanId],
  ['otelSpanID', Role.SpanId],
  ['request_id', Role.RequestId],
  ['requestId', Role.RequestId],
  ['reqId', Role.RequestId],
  ['x-request-id', Role.RequestId],
  ['awsRequestId', Role.RequestId],
  ['service', Role.Service],
  ['service.name', Role.Service],
  ['service_name', Role.Service],
]);

/**
 * Decodes newline-delimited JSON log lines (one or more per record) into log rows appended to `sink.logs`.
 * Each line stands alone: a bad line is returned as a failure carrying its own bytes and line number, and the good
 * lines of the same record still become rows. `record_ordinal` is the 0-based line index, so a line keeps its
 * identity when it is replayed from the quarantine.
 */
export function decodeJsonLines(
  data: Uint8Array,
  text: string,
  ctx: RecordContext,
  sink: DecodeSink,
  options: DecodeOptions,
): DecodeFailure[] {
  const failures: DecodeFailure[] = [];
  let start = 0;
  let lineIndex = 0;
  let rows = 0;
  const length = text.length;
  while (start <= length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = length;
    const line = text.slice(start, end).trim();
    if (line.length > 0) {
      const failure = decodeLine(line, lineIndex, ctx, sink, options.redactor);
      if (failure) failures.push(failure);
      else rows++;
    }
    start = end + 1;
    lineIndex++;
  }
  if (rows === 0 && failures.length === 0) {
    failures.push({
      reason: 'empty_record',
      message: 'the record holds only blank lines',
      raw: data,
      decoder: JSON_LINES,
    });
  }
  return failures;
}

function decodeLine(
  line: string,
  lineIndex: number,
  ctx: RecordContext,
  sink: DecodeSink,
  redactor: Redactor,
): DecodeFailure | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch (error) {
    return lineFailure('invalid_json', `line ${lineIndex + 1}: ${(error as SyntaxError).message}`, line, lineIndex);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return lineFailure('not_a_json_object', `line ${lineIndex + 1}: expected a JSON object`, line, lineIndex);
  }
  sink.logs.push(toLogRow(parsed as Record<string, unknown>, lineIndex, ctx, redactor));
  return undefined;
}

function lineFailure(
  reason: 'invalid_json' | 'not_a_json_object',
  message: string,
  line: string,
  lineIndex: number,
): DecodeFailure {
  return { reason, message, line: lineIndex + 1, raw: Buffer.from(line, 'utf8'), decoder: JSON_LINES };
}

/** One parsed log line to a row. Exported for the other decoders whose payloads carry JSON log lines. */
export function toLogRow(
  fields: Record<string, unknown>,
  ordinal: number,
  ctx: RecordContext,
  redactor: Redactor,
): LogRecord {
  let timeNs: bigint | undefined;
  let level: unknown;
  let body: string | null = null;
  let traceId: string | undefined;
  let spanId: string | undefined;
  let requestId: string | undefined;
  let service: string | null = null;
  let attributes: Record<string, unknown> | undefined;

  for (const key in fields) {
    const value = fields[key];
    const role = ROLES.get(key);
    let used = false;
    switch (role) {
      case Role.Time:
        if (timeNs === undefined) {
          timeNs = toUnixNanos(value);
          used = timeNs !== undefined;
        }
        break;
      case Role.Level:
        if (level === undefined) {
          level = value;
          used = true;
        }
        break;
      case Role.Body:
        if (body === null) {
          body = typeof value === 'string' ? value : JSON.stringify(value);
          used = true;
        }
        break;
      case Role.TraceId:
        if (traceId === undefined && typeof value === 'string') {
          traceId = normaliseTraceId(value);
          used = traceId !== undefined;
        }
        break;
      case Role.SpanId:
        if (spanId === undefined && typeof value === 'string') {
          spanId = normaliseSpanId(value);
          used = spanId !== undefined;
        }
        break;
      case Role.RequestId:
        if (requestId === undefined && (typeof value === 'string' || typeof value === 'number')) {
          requestId = normaliseRequestId(String(value));
          used = requestId !== undefined;
        }
        break;
      case Role.Service:
        if (service === null && typeof value === 'string') {
          service = value;
          used = true;
        }
        break;
    }
    if (!used) {
      if (attributes === undefined) attributes = {};
      attributes[key] = redactor.isSecretKey(key) ? REDACTED : value;
    }
  }

  const arrivalNs = BigInt(ctx.arrivalMs) * 1_000_000n;
  const time = timeNs ?? arrivalNs;
  return {
    trace_id: traceId ?? null,
    time: nanosToMillis(time),
    time_unix_nano: time,
    observed_time_unix_nano: ctx.observedNs,
    span_id: spanId ?? null,
    request_id: requestId ?? null,
    severity_number: severityNumber(level),
    severity_text: severityText(level),
    body,
    service_name: service,
    resource_attributes: service === null ? '{}' : JSON.stringify({ 'service.name': service }),
    attributes: attributes === undefined ? '{}' : JSON.stringify(attributes),
    source_format: ctx.formatPrefix + JSON_LINES,
    shard_id: ctx.shardId,
    sequence_number: ctx.sequenceNumber,
    sub_sequence_number: ctx.subSequenceNumber,
    record_ordinal: ordinal,
    arrival_time: ctx.arrivalMs,
    ingest_flags: null,
  };
}
