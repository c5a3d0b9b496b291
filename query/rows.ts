import { z } from 'zod';
import { type ColumnDef, TABLES, type TableName } from '../schemas/columns.ts';
import { dropRetriedCopies } from '../schemas/duplicates.ts';

/**
 * Rows as a lookup reads them back from the Parquet files. Looser than `schemas/records.ts` on purpose: a query
 * shows whatever the files hold (a newer source format, an id an older writer did not normalise), and only checks
 * the column types and nullability of `schemas/columns.ts`. Timestamp columns arrive as epoch milliseconds.
 */
const text = z.string();
const maybeText = z.string().nullable();
const int32 = z.number().int();
const int64 = z.bigint();
/** `epoch_ms(<timestamp>)` in the query: BIGINT milliseconds, as a number. */
const epochMs = z.bigint().transform(Number);

/** The provenance columns every table ends with (schemas/columns.ts). */
const provenance = {
  source_format: text,
  shard_id: text,
  sequence_number: text,
  sub_sequence_number: int32,
  record_ordinal: int32,
  arrival_time: epochMs,
  ingest_flags: maybeText,
};

export const LogRow = z.object({
  trace_id: maybeText,
  time: epochMs,
  time_unix_nano: int64,
  observed_time_unix_nano: int64,
  span_id: maybeText,
  request_id: maybeText,
  severity_number: int32,
  severity_text: maybeText,
  body: maybeText,
  service_name: maybeText,
  resource_attributes: text,
  attributes: text,
  ...provenance,
});
export type LogRow = z.infer<typeof LogRow>;

export const SpanRow = z.object({
  trace_id: maybeText,
  start_time: epochMs,
  start_time_unix_nano: int64,
  end_time_unix_nano: int64,
  duration_nano: int64,
  span_id: maybeText,
  request_id: maybeText,
  parent_span_id: maybeText,
  trace_state: maybeText,
  name: text,
  kind: text,
  status_code: text,
  status_message: maybeText,
  service_name: maybeText,
  scope_name: maybeText,
  resource_attributes: text,
  attributes: text,
  events: text,
  links: text,
  ...provenance,
});
export type SpanRow = z.infer<typeof SpanRow>;

/** One row of a lookup result, tagged with its table. */
export type QueryRow =
  | { readonly table: 'logs'; readonly row: LogRow }
  | { readonly table: 'spans'; readonly row: SpanRow };

export const ROW_SCHEMAS = { logs: LogRow, spans: SpanRow } as const satisfies Record<TableName, z.ZodType>;

/** Event time of a row in nanoseconds: a log's time, a span's start. */
export function rowTimeNano(row: QueryRow): bigint {
  return row.table === 'logs' ? row.row.time_unix_nano : row.row.start_time_unix_nano;
}

/**
 * The rows without the copies a retrying producer added (D18: each span once by `(trace_id, span_id)`, a re-sent
 * record's log lines once), across every object and hour the lookup read.
 */
export function withoutRetriedCopies(rows: readonly QueryRow[]): { rows: QueryRow[]; dropped: number } {
  const logs: LogRow[] = [];
  const spans: SpanRow[] = [];
  for (const r of rows) {
    if (r.table === 'logs') logs.push(r.row);
    else spans.push(r.row);
  }
  const keptLogs = dropRetriedCopies('logs', logs);
  const keptSpans = dropRetriedCopies('spans', spans);
  return {
    rows: [
      ...keptLogs.rows.map((row): QueryRow => ({ table: 'logs', row })),
      ...keptSpans.rows.map((row): QueryRow => ({ table: 'spans', row })),
    ],
    dropped: keptLogs.dropped + keptSpans.dropped,
  };
}

/** Orders rows by event time, logs before spans on a tie, then by position on the stream. */
export function compareRows(a: QueryRow, b: QueryRow): number {
  const ta = rowTimeNano(a);
  const tb = rowTimeNano(b);
  if (ta !== tb) return ta < tb ? -1 : 1;
  if (a.table !== b.table) return a.table === 'logs' ? -1 : 1;
  if (a.row.sequence_number !== b.row.sequence_number)
    return compareDecimal(a.row.sequence_number, b.row.sequence_number);
  if (a.row.sub_sequence_number !== b.row.sub_sequence_number)
    return a.row.sub_sequence_number - b.row.sub_sequence_number;
  return a.row.record_ordinal - b.row.record_ordinal;
}

/** Compares non-negative decimal strings (Kinesis sequence numbers are wider than 2^53). */
function compareDecimal(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * A row as a plain JSON object for `--json`: `table` first, then the columns in table order; BIGINTs become
 * decimal strings (they exceed 2^53) and timestamps ISO 8601 strings (UTC).
 */
export function toJsonRow(row: QueryRow): Record<string, string | number | null> {
  const out: Record<string, string | number | null> = { table: row.table };
  const values: Record<string, unknown> = row.row;
  const columns: readonly ColumnDef[] = TABLES[row.table];
  for (const column of columns) {
    const value = values[column.name];
    if (value === null || value === undefined) out[column.name] = null;
    else if (column.type === 'timestamp_ms' && typeof value === 'number')
      out[column.name] = new Date(value).toISOString();
    else if (typeof value === 'bigint') out[column.name] = value.toString();
    else if (typeof value === 'string' || typeof value === 'number') out[column.name] = value;
    else out[column.name] = String(value);
  }
  return out;
}
