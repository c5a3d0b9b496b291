import { LOG_COLUMNS, type TableName } from './columns.ts';

/**
 * Copies of one record re-sent by a retrying producer (decision D18): the one rule every reader and the compactor
 * apply, in TypeScript ({@link dropRetriedCopies}) and in SQL ({@link withoutRetriedCopiesSql}) — lookups (DuckDB
 * and Athena), the Athena views and named queries, compaction, and any future search.
 *
 * Kinesis has no idempotency: the KPL, the OpenTelemetry Collector and the SDKs retry a `PutRecords` entry they got
 * no answer for, so the same bytes can land as a second Kinesis record (another sequence number, maybe another
 * shard, hour or data object). Ingest cannot tell, so readers do.
 *
 * - **Spans** are unique by `(trace_id, span_id)` (W3C / OpenTelemetry). Of several rows with the same pair, the one
 *   first on the stream wins: lowest `shard_id`, then sequence number (compared as numbers), sub-sequence number,
 *   record ordinal. Any subset of the copies elects the same winner when it holds the winner, so a compacted hour and
 *   a lookup over several hours agree.
 * - **Logs** have no id, and identical lines are legitimate (a loop logging the same line within one millisecond),
 *   but a retry re-sends a whole Kinesis record. So a log row's identity is its content (every column but the
 *   provenance ones and the observed time, which ingest sets from the arrival time) plus its occurrence among the
 *   rows of equal content in its own Kinesis record (shard + sequence number). The n-th identical line of a record is
 *   a copy of the n-th identical line of another record: a line repeated k times in one record stays k times, a
 *   record sent twice shows its lines once. Lines that differ in anything (a timestamp, an attribute) are never
 *   merged; identical lines that a producer sent in two different records are (the price of the rule, D18).
 */

/** Where a row came from on the stream: unique per row (schemas/columns.ts, provenance). */
export interface StreamPosition {
  readonly shard_id: string;
  readonly sequence_number: string;
  readonly sub_sequence_number: number;
  readonly record_ordinal: number;
}

/** The columns that are not a log line's content: where and when it arrived, and how ingest read it. */
const NOT_CONTENT: ReadonlySet<string> = new Set([
  'time', // the millisecond copy of time_unix_nano
  'observed_time_unix_nano', // the arrival time when the producer gave none
  'source_format',
  'shard_id',
  'sequence_number',
  'sub_sequence_number',
  'record_ordinal',
  'arrival_time',
  'ingest_flags',
]);

/** The columns whose values make two log rows the same line (schema order). */
type LogColumn = (typeof LOG_COLUMNS)[number]['name'];
export const LOG_CONTENT_COLUMNS: readonly LogColumn[] = LOG_COLUMNS.map((c) => c.name).filter(
  (name) => !NOT_CONTENT.has(name),
);

/** What the rule reads of a log row. */
export type LogCopyRow = StreamPosition & { readonly [K in LogColumn]?: unknown };
/** What the rule reads of a span row. */
export type SpanCopyRow = StreamPosition & { readonly trace_id: string | null; readonly span_id: string | null };

export interface WithoutCopies<R> {
  /** The rows that are not retried copies, in their input order. */
  readonly rows: R[];
  /** How many rows were dropped as copies. */
  readonly dropped: number;
}

/** Orders rows as they came on the stream: shard, sequence number (numerically), sub-sequence number, ordinal. */
export function compareStreamPosition(a: StreamPosition, b: StreamPosition): number {
  if (a.shard_id !== b.shard_id) return a.shard_id < b.shard_id ? -1 : 1;
  if (a.sequence_number !== b.sequence_number) {
    // Kinesis sequence numbers are decimal strings wider than 2^53: shorter is smaller, then lexicographic.
    const byLength = a.sequence_number.length - b.sequence_number.length;
    if (byLength !== 0) return byLength;
    return a.sequence_number < b.sequence_number ? -1 : 1;
  }
  if (a.sub_sequence_number !== b.sub_sequence_number) return a.sub_sequence_number - b.sub_sequence_number;
  return a.record_ordinal - b.record_ordinal;
}

/**
 * The rows of one table without the copies a retrying producer added (see the module comment for the rule). Rows of
 * several objects, hours or days may be given together; the result does not depend on their order.
 * @example
 * ```ts
 * const { rows, dropped } = dropRetriedCopies('spans', spans); // each (trace_id, span_id) once
 * ```
 */
export function dropRetriedCopies<R extends LogCopyRow>(table: 'logs', rows: readonly R[]): WithoutCopies<R>;
export function dropRetriedCopies<R extends SpanCopyRow>(table: 'spans', rows: readonly R[]): WithoutCopies<R>;
export function dropRetriedCopies(
  table: TableName,
  rows: readonly (LogCopyRow & SpanCopyRow)[],
): WithoutCopies<LogCopyRow & SpanCopyRow> {
  const copy = table === 'spans' ? spanCopies(rows) : logCopies(rows);
  if (copy.size === 0) return { rows: [...rows], dropped: 0 };
  const kept: (LogCopyRow & SpanCopyRow)[] = [];
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    if (row !== undefined && !copy.has(i)) kept.push(row);
  }
  return { rows: kept, dropped: copy.size };
}

/** Indexes of span rows whose (trace_id, span_id) an earlier row on the stream holds. */
function spanCopies(rows: readonly SpanCopyRow[]): Set<number> {
  const winner = new Map<string, number>();
  const copies = new Set<number>();
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    if (row === undefined || row.trace_id === null || row.span_id === null) continue;
    const key = `${row.trace_id}/${row.span_id}`;
    const best = winner.get(key);
    const bestRow = best === undefined ? undefined : rows[best];
    if (best === undefined || bestRow === undefined) {
      winner.set(key, i);
    } else if (compareStreamPosition(row, bestRow) < 0) {
      copies.add(best);
      winner.set(key, i);
    } else {
      copies.add(i);
    }
  }
  return copies;
}

/**
 * Indexes of log rows that are the n-th line of some content in their record while an earlier record (on the
 * stream) also has an n-th line of that content. Only rows whose `time_unix_nano` occurs in two or more records can
 * be copies, so content keys are built for those only (a record's own lines often share a timestamp).
 */
function logCopies(rows: readonly LogCopyRow[]): Set<number> {
  const copies = new Set<number>();
  // time → the one record seen with it, or MANY once a second record has it
  const recordsAt = new Map<unknown, string>();
  for (const row of rows) {
    const record = `${row.shard_id}/${row.sequence_number}`;
    const seen = recordsAt.get(row.time_unix_nano);
    if (seen === undefined) recordsAt.set(row.time_unix_nano, record);
    else if (seen !== MANY && seen !== record) recordsAt.set(row.time_unix_nano, MANY);
  }
  const candidates: number[] = [];
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    if (row !== undefined && recordsAt.get(row.time_unix_nano) === MANY) candidates.push(i);
  }
  if (candidates.length === 0) return copies;
  const at = (i: number): LogCopyRow => {
    const row = rows[i];
    if (row === undefined) throw new RangeError(`no row ${i}`);
    return row;
  };
  candidates.sort((a, b) => compareStreamPosition(at(a), at(b)));
  const occurrences = new Map<string, number>();
  const seen = new Set<string>();
  for (const i of candidates) {
    const row = at(i);
    const content = contentKey(row);
    const inRecord = `${row.shard_id}/${row.sequence_number}\u0000${content}`;
    const occurrence = occurrences.get(inRecord) ?? 0;
    occurrences.set(inRecord, occurrence + 1);
    const identity = `${occurrence}\u0000${content}`;
    if (seen.has(identity)) copies.add(i);
    else seen.add(identity);
  }
  return copies;
}

/** Marks a timestamp seen in more than one record (no record key contains a NUL). */
const MANY = '\u0000';

function contentKey(row: LogCopyRow): string {
  return JSON.stringify(
    LOG_CONTENT_COLUMNS.map((name) => {
      const value = row[name];
      return typeof value === 'bigint' ? value.toString() : (value ?? null);
    }),
  );
}

/** The stream order in SQL (Trino and DuckDB): as {@link compareStreamPosition}. */
const STREAM_ORDER =
  '"shard_id", length("sequence_number"), "sequence_number", "sub_sequence_number", "record_ordinal"';

/** Helper column names of {@link withoutRetriedCopiesSql}: never selected out. */
export const COPY_RANK_COLUMN = 'skein_copy_rank';
const OCCURRENCE_COLUMN = 'skein_occurrence';

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

/**
 * The same rule in SQL (Athena engine 3 / Trino, and DuckDB): selects `output` (expressions over the alias `"d"`)
 * from the rows of `source` (a SELECT yielding at least the table's columns) that are not retried copies.
 *
 * `scope` limits the comparison to rows with equal values in those columns (`['dt', 'hour']` in the views: copies in
 * one arrival hour are dropped, and predicates on `dt`/`hour` still reach the base tables because the window is
 * partitioned by them). With no scope, copies anywhere in `source` are dropped.
 */
export function withoutRetriedCopiesSql(
  table: TableName,
  source: string,
  output: string,
  scope: readonly string[] = [],
): string {
  const scoped = scope.map(quote);
  if (table === 'spans') {
    const partition = [...scoped, '"trace_id"', '"span_id"'].join(', ');
    return [
      `SELECT ${output}`,
      'FROM (',
      `  SELECT *, row_number() OVER (PARTITION BY ${partition} ORDER BY ${STREAM_ORDER}) AS ${quote(COPY_RANK_COLUMN)}`,
      `  FROM (${source}) AS "copies_in"`,
      ') AS "d"',
      `WHERE "d".${quote(COPY_RANK_COLUMN)} = 1 OR "d"."trace_id" IS NULL OR "d"."span_id" IS NULL`,
    ].join('\n');
  }
  const content = [...scoped, ...LOG_CONTENT_COLUMNS.map(quote)].join(', ');
  return [
    `SELECT ${output}`,
    'FROM (',
    `  SELECT *, row_number() OVER (PARTITION BY ${content}, ${quote(OCCURRENCE_COLUMN)} ORDER BY ${STREAM_ORDER}) AS ${quote(COPY_RANK_COLUMN)}`,
    '  FROM (',
    `    SELECT *, row_number() OVER (PARTITION BY ${content}, "shard_id", "sequence_number" ORDER BY "sub_sequence_number", "record_ordinal") AS ${quote(OCCURRENCE_COLUMN)}`,
    `    FROM (${source}) AS "copies_in"`,
    '  ) AS "occurrences"',
    ') AS "d"',
    `WHERE "d".${quote(COPY_RANK_COLUMN)} = 1`,
  ].join('\n');
}
