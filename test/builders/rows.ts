import type { LogRecord, SpanRecord } from '../../schemas/records.ts';

const NS = 1_000_000n;
/** 2026-11-25T21:30:00.000Z */
export const ROW_T0 = Date.UTC(2026, 10, 25, 21, 30);

/** A normalised log row as ingest writes it; `time` in epoch ms drives both time columns. */
export function aLogRecord(overrides: Partial<LogRecord> = {}): LogRecord {
  const time = overrides.time ?? ROW_T0;
  return {
    trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
    time,
    time_unix_nano: BigInt(time) * NS,
    observed_time_unix_nano: BigInt(time) * NS,
    span_id: null,
    request_id: null,
    severity_number: 9,
    severity_text: 'INFO',
    body: 'request completed',
    service_name: 'orders',
    resource_attributes: '{"service.name":"orders"}',
    attributes: '{}',
    source_format: 'json-lines',
    shard_id: 'shardId-000000000000',
    sequence_number: '49650000000000000000000000000000000000000000000000000001',
    sub_sequence_number: 0,
    record_ordinal: 0,
    arrival_time: time,
    ingest_flags: null,
    ...overrides,
  };
}

/** A normalised span row as ingest writes it; `start_time` in epoch ms and `durationMs` drive the time columns. */
export function aSpanRecord(overrides: Partial<SpanRecord> = {}, durationMs = 5): SpanRecord {
  const start = overrides.start_time ?? ROW_T0;
  return {
    trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
    start_time: start,
    start_time_unix_nano: BigInt(start) * NS,
    end_time_unix_nano: BigInt(start + durationMs) * NS,
    duration_nano: BigInt(durationMs) * NS,
    span_id: '00f067aa0ba902b7',
    request_id: null,
    parent_span_id: null,
    trace_state: null,
    name: 'GET /orders',
    kind: 'SERVER',
    status_code: 'UNSET',
    status_message: null,
    service_name: 'orders',
    scope_name: null,
    resource_attributes: '{"service.name":"orders"}',
    attributes: '{}',
    events: '[]',
    links: '[]',
    source_format: 'otlp-json',
    shard_id: 'shardId-000000000000',
    sequence_number: '49650000000000000000000000000000000000000000000000000001',
    sub_sequence_number: 0,
    record_ordinal: 0,
    arrival_time: start,
    ingest_flags: null,
    ...overrides,
  };
}
