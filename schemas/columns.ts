/**
 * The one column list of every Skein table. The Parquet writer and the Glue table definitions are both generated
 * from here, so the files and the catalogue cannot drift apart.
 *
 * Types are logical: `string` (UTF-8 BYTE_ARRAY / Glue `string`), `int32` (INT32 / `int`), `int64`
 * (INT64 / `bigint`), `timestamp_ms` (INT64 TIMESTAMP(MILLIS, UTC) / `timestamp`: Athena reads milliseconds),
 * `boolean` (BOOLEAN / `boolean`).
 */
export const COLUMN_TYPES = ['string', 'int32', 'int64', 'timestamp_ms', 'boolean'] as const;
export type ColumnType = (typeof COLUMN_TYPES)[number];

export interface ColumnDef {
  readonly name: string;
  readonly type: ColumnType;
  readonly nullable: boolean;
  /** Dictionary-encode this column (low-cardinality values such as service names). */
  readonly dictionary?: boolean;
  /** Full-length min/max statistics, never truncated: the lookup keys rely on them for row-group pruning. */
  readonly fullStatistics?: boolean;
  readonly comment: string;
}

/** The key columns of a request lookup: rows are sorted by these and carry full-length statistics. */
const correlation = [
  {
    name: 'trace_id',
    type: 'string',
    nullable: true,
    fullStatistics: true,
    comment: 'W3C trace id, lowercase 32 hex',
  },
  {
    name: 'span_id',
    type: 'string',
    nullable: true,
    comment: 'span id, lowercase 16 hex',
  },
  {
    name: 'request_id',
    type: 'string',
    nullable: true,
    fullStatistics: true,
    comment: 'request id: lowercase 32 hex when it was hex or a UUID, verbatim otherwise',
  },
] as const satisfies readonly ColumnDef[];

/**
 * Where a row came from on the stream: (shard_id, sequence_number, sub_sequence_number, record_ordinal) is unique
 * per row, so re-deliveries and replays can be recognised.
 */
const provenance = [
  {
    name: 'source_format',
    type: 'string',
    nullable: false,
    dictionary: true,
    comment: 'decoder that produced the row (json-lines, otlp-json, …)',
  },
  { name: 'shard_id', type: 'string', nullable: false, dictionary: true, comment: 'Kinesis shard id' },
  { name: 'sequence_number', type: 'string', nullable: false, comment: 'Kinesis sequence number of the record' },
  {
    name: 'sub_sequence_number',
    type: 'int32',
    nullable: false,
    comment: 'position of the user record inside a KPL aggregated record (0 when not aggregated)',
  },
  {
    name: 'record_ordinal',
    type: 'int32',
    nullable: false,
    comment: 'position of the row among the rows decoded from its record',
  },
  {
    name: 'arrival_time',
    type: 'timestamp_ms',
    nullable: false,
    comment: 'approximate arrival time of the record on the stream',
  },
  {
    name: 'ingest_flags',
    type: 'string',
    nullable: true,
    dictionary: true,
    comment: 'what ingest changed, comma-separated: truncated, invalid_utf8, time_clamped, redacted',
  },
] as const satisfies readonly ColumnDef[];

export const LOG_COLUMNS = [
  ...correlation.slice(0, 1),
  { name: 'time', type: 'timestamp_ms', nullable: false, comment: 'event time (milliseconds, for Athena filters)' },
  { name: 'time_unix_nano', type: 'int64', nullable: false, comment: 'event time, nanoseconds since the epoch' },
  {
    name: 'observed_time_unix_nano',
    type: 'int64',
    nullable: false,
    comment: 'when the pipeline first saw the record, nanoseconds',
  },
  ...correlation.slice(1),
  { name: 'severity_number', type: 'int32', nullable: false, comment: 'OpenTelemetry severity number 0–24' },
  {
    name: 'severity_text',
    type: 'string',
    nullable: true,
    dictionary: true,
    comment: 'severity as the producer wrote it',
  },
  { name: 'body', type: 'string', nullable: true, comment: 'log message' },
  { name: 'service_name', type: 'string', nullable: true, dictionary: true, comment: 'service.name' },
  {
    name: 'resource_attributes',
    type: 'string',
    nullable: false,
    dictionary: true,
    comment: 'resource attributes, JSON object',
  },
  { name: 'attributes', type: 'string', nullable: false, comment: 'other fields of the record, JSON object' },
  ...provenance,
] as const satisfies readonly ColumnDef[];

export const SPAN_COLUMNS = [
  ...correlation.slice(0, 1),
  {
    name: 'start_time',
    type: 'timestamp_ms',
    nullable: false,
    comment: 'span start (milliseconds, for Athena filters)',
  },
  { name: 'start_time_unix_nano', type: 'int64', nullable: false, comment: 'span start, nanoseconds since the epoch' },
  { name: 'end_time_unix_nano', type: 'int64', nullable: false, comment: 'span end, nanoseconds since the epoch' },
  { name: 'duration_nano', type: 'int64', nullable: false, comment: 'end minus start, nanoseconds' },
  ...correlation.slice(1),
  { name: 'parent_span_id', type: 'string', nullable: true, comment: 'parent span id, empty for a root span' },
  { name: 'trace_state', type: 'string', nullable: true, comment: 'W3C tracestate' },
  { name: 'name', type: 'string', nullable: false, dictionary: true, comment: 'span name' },
  {
    name: 'kind',
    type: 'string',
    nullable: false,
    dictionary: true,
    comment: 'UNSPECIFIED, INTERNAL, SERVER, CLIENT, PRODUCER, CONSUMER',
  },
  { name: 'status_code', type: 'string', nullable: false, dictionary: true, comment: 'UNSET, OK or ERROR' },
  { name: 'status_message', type: 'string', nullable: true, comment: 'status description' },
  { name: 'service_name', type: 'string', nullable: true, dictionary: true, comment: 'service.name' },
  { name: 'scope_name', type: 'string', nullable: true, dictionary: true, comment: 'instrumentation scope name' },
  {
    name: 'resource_attributes',
    type: 'string',
    nullable: false,
    dictionary: true,
    comment: 'resource attributes, JSON object',
  },
  { name: 'attributes', type: 'string', nullable: false, comment: 'span attributes, JSON object' },
  { name: 'events', type: 'string', nullable: false, comment: 'span events, JSON array' },
  { name: 'links', type: 'string', nullable: false, comment: 'span links, JSON array' },
  ...provenance,
] as const satisfies readonly ColumnDef[];

/**
 * The trace/request index: one row per (id, kind, data table, data object) of a batch, sorted by `id`. Ingest writes
 * one index object per batch under `tables/trace_index/dt=/hour=/`; compaction re-partitions closed hours into
 * `tables/trace_index/bucket=<indexBucket(id)>/dt=/` so a lookup with no time range reads one bucket.
 */
export const TRACE_INDEX_COLUMNS = [
  {
    name: 'id',
    type: 'string',
    nullable: false,
    fullStatistics: true,
    comment: 'trace id (32 hex) or request id, as stored in the data tables',
  },
  { name: 'id_kind', type: 'string', nullable: false, dictionary: true, comment: "'trace' or 'request'" },
  { name: 'data_table', type: 'string', nullable: false, dictionary: true, comment: "'logs' or 'spans'" },
  { name: 'first_time', type: 'timestamp_ms', nullable: false, comment: 'earliest event time of the id in the object' },
  { name: 'last_time', type: 'timestamp_ms', nullable: false, comment: 'latest event time of the id in the object' },
  {
    name: 'services',
    type: 'string',
    nullable: false,
    dictionary: true,
    comment: 'service names seen for the id in the object, sorted, comma-separated',
  },
  { name: 'span_count', type: 'int32', nullable: false, comment: 'spans of the id in the object' },
  { name: 'log_count', type: 'int32', nullable: false, comment: 'log lines of the id in the object' },
  {
    name: 'error',
    type: 'boolean',
    nullable: false,
    comment: 'a span with status ERROR or a log line with severity ERROR or worse',
  },
  // The four columns below were added for search (D21); index objects written before them read as null.
  {
    name: 'error_count',
    type: 'int32',
    nullable: true,
    comment: 'spans with status ERROR and log lines with severity ERROR or worse of the id in the object',
  },
  {
    name: 'error_services',
    type: 'string',
    nullable: true,
    dictionary: true,
    comment: 'service names of those error rows, sorted, comma-separated (empty when none)',
  },
  {
    name: 'root_service',
    type: 'string',
    nullable: true,
    dictionary: true,
    comment: "trace rows of spans: service of the trace's root span (no parent) when the object holds it, else null",
  },
  {
    name: 'root_name',
    type: 'string',
    nullable: true,
    dictionary: true,
    comment: "trace rows of spans: name of the trace's root span when the object holds it, else null",
  },
  {
    name: 'trace_ids',
    type: 'string',
    nullable: true,
    comment:
      'for request rows: the trace ids the request touched in the object, sorted, comma-separated (null for trace rows)',
  },
  {
    name: 'data_dt',
    type: 'string',
    nullable: false,
    dictionary: true,
    comment: 'dt partition of the data object',
  },
  {
    name: 'data_hour',
    type: 'string',
    nullable: false,
    dictionary: true,
    comment: 'hour partition of the data object',
  },
  {
    name: 'object_key',
    type: 'string',
    nullable: false,
    // Two distinct values per batch object (its logs and spans keys), a few per compacted object.
    dictionary: true,
    comment: 'S3 key of the data object holding the rows',
  },
] as const satisfies readonly ColumnDef[];

/** Partition keys of the compacted index: `bucket=<2 hex>/dt=YYYY-MM-DD`. */
export const INDEX_BUCKET_PARTITION_KEYS = [
  { name: 'bucket', type: 'string', comment: 'indexBucket(id): first 2 hex of the id, or of sha256(id) otherwise' },
  { name: 'dt', type: 'string', comment: 'arrival date of the data, UTC, YYYY-MM-DD' },
] as const;

export const TABLES = {
  logs: LOG_COLUMNS,
  spans: SPAN_COLUMNS,
} as const satisfies Record<string, readonly ColumnDef[]>;

export type TableName = keyof typeof TABLES;
export const TABLE_NAMES = Object.keys(TABLES) as TableName[];

/** Partition keys of every table, in path order (`dt=YYYY-MM-DD/hour=HH`), by arrival time of the batch. */
export const PARTITION_KEYS = [
  { name: 'dt', type: 'string', comment: 'arrival date of the batch, UTC, YYYY-MM-DD' },
  { name: 'hour', type: 'string', comment: 'arrival hour of the batch, UTC, HH' },
] as const;

/** Glue/Athena type of a column. */
export function glueType(type: ColumnType): string {
  switch (type) {
    case 'string':
      return 'string';
    case 'int32':
      return 'int';
    case 'int64':
      return 'bigint';
    case 'timestamp_ms':
      return 'timestamp';
    case 'boolean':
      return 'boolean';
  }
}
