import { z } from 'zod';

/** Lowercase 32-hex W3C trace id (all-zero is invalid and never stored). */
export const TraceId = z
  .string()
  .regex(/^(?!0{32})[0-9a-f]{32}$/, 'a trace id is 32 lowercase hex digits, not all zero');
/** Lowercase 16-hex span id. */
export const SpanId = z.string().regex(/^[0-9a-f]{16}$/, 'a span id is 16 lowercase hex digits');
/** Request ids are normalised to 32 hex when they are hex or UUIDs; anything else is kept verbatim (1–256 chars). */
export const RequestId = z.string().min(1).max(256);

/** The decoder that produced a row; `kpl+` when it came out of a KPL aggregated record. */
export const SourceFormat = z.string().regex(/^(kpl\+)?(json-lines|otlp-json|otlp-proto|cloudwatch-logs)$/);
export type SourceFormat = z.infer<typeof SourceFormat>;

export const SpanKind = z.enum(['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER']);
export const StatusCode = z.enum(['UNSET', 'OK', 'ERROR']);

/** A JSON object serialised as text (attributes, resource attributes). */
const JsonObjectText = z.string().refine((s) => s.startsWith('{') && s.endsWith('}'), 'a JSON object');
const JsonArrayText = z.string().refine((s) => s.startsWith('[') && s.endsWith(']'), 'a JSON array');

const Provenance = {
  source_format: SourceFormat,
  shard_id: z.string().min(1),
  sequence_number: z.string().regex(/^\d+$/),
  sub_sequence_number: z.number().int().nonnegative(),
  record_ordinal: z.number().int().nonnegative(),
  /** Epoch milliseconds. */
  arrival_time: z.number().int(),
  /** Comma-separated INGEST_FLAGS, or null when the row is exactly what the producer sent. */
  ingest_flags: z.string().nullable(),
};

/** One normalised log line: the row written to the `logs` table. */
export const LogRecord = z.object({
  trace_id: TraceId.nullable(),
  /** Event time, epoch milliseconds (the Athena TIMESTAMP column). */
  time: z.number().int(),
  time_unix_nano: z.bigint(),
  observed_time_unix_nano: z.bigint(),
  span_id: SpanId.nullable(),
  request_id: RequestId.nullable(),
  severity_number: z.number().int().min(0).max(24),
  severity_text: z.string().nullable(),
  body: z.string().nullable(),
  service_name: z.string().nullable(),
  resource_attributes: JsonObjectText,
  attributes: JsonObjectText,
  ...Provenance,
});
export type LogRecord = z.infer<typeof LogRecord>;

/** One normalised span: the row written to the `spans` table. */
export const SpanRecord = z.object({
  trace_id: TraceId,
  /** Start time, epoch milliseconds. */
  start_time: z.number().int(),
  start_time_unix_nano: z.bigint(),
  end_time_unix_nano: z.bigint(),
  duration_nano: z.bigint(),
  span_id: SpanId,
  request_id: RequestId.nullable(),
  parent_span_id: SpanId.nullable(),
  trace_state: z.string().nullable(),
  name: z.string(),
  kind: SpanKind,
  status_code: StatusCode,
  status_message: z.string().nullable(),
  service_name: z.string().nullable(),
  scope_name: z.string().nullable(),
  resource_attributes: JsonObjectText,
  attributes: JsonObjectText,
  events: JsonArrayText,
  links: JsonArrayText,
  ...Provenance,
});
export type SpanRecord = z.infer<typeof SpanRecord>;
