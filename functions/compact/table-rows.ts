import { type ColumnDef, LOG_COLUMNS, SPAN_COLUMNS } from '../../schemas/columns.ts';
import { dropRetriedCopies, type WithoutCopies } from '../../schemas/duplicates.ts';
import { type LogRecord, SpanKind, type SpanRecord, StatusCode } from '../../schemas/records.ts';
import { sortByTraceThenTime } from '../shared/sort-rows.ts';
import { buildTraceIndex, type TraceIndexRow } from '../shared/trace-index.ts';
import type { DataTable, HourPartition } from './layout.ts';
import { ParquetReadError, type RowOf, readParquetRows } from './read-parquet.ts';

/** A `logs` row as read back from Parquet. */
export type LogRow = RowOf<typeof LOG_COLUMNS>;
/** A `spans` row as read back from Parquet. */
export type SpanRow = RowOf<typeof SPAN_COLUMNS>;

/** What the compactor needs to know about one data table: how to read, order and index its rows. */
export interface TableRows<R> {
  readonly table: DataTable;
  readonly columns: readonly ColumnDef[];
  read(bytes: Uint8Array, what: string): R[];
  /** Sorts in place by trace id (nulls last), then event time — the order ingest writes. */
  sort(rows: R[]): R[];
  /** The rows without the copies a retrying producer added (D18, `schemas/duplicates.ts`). */
  withoutCopies(rows: readonly R[]): WithoutCopies<R>;
  /** The index rows of one compacted object holding `rows`. */
  index(rows: readonly R[], objectKey: string, p: HourPartition): TraceIndexRow[];
}

const SPAN_KINDS: ReadonlySet<string> = new Set(SpanKind.options);
const STATUS_CODES: ReadonlySet<string> = new Set(StatusCode.options);

// Compile-time proof that a log row read back is a LogRecord (the column list and the zod schema agree).
const logRowIsLogRecord = (row: LogRow): LogRecord => row;

/** Reading, ordering and indexing `logs` rows. */
export const LOG_ROWS: TableRows<LogRow> = {
  table: 'logs',
  columns: LOG_COLUMNS,
  read: (bytes, what) => readParquetRows(bytes, LOG_COLUMNS, what),
  sort: (rows) => sortByTraceThenTime(rows, (r) => r.time_unix_nano),
  withoutCopies: (rows) => dropRetriedCopies('logs', rows),
  index: (rows, objectKey, p) => buildTraceIndex(rows.map(logRowIsLogRecord), [], { logs: objectKey, spans: '' }, p),
};

/** Reading, ordering and indexing `spans` rows (ids and enums checked once per row on read). */
export const SPAN_ROWS: TableRows<SpanRow> = {
  table: 'spans',
  columns: SPAN_COLUMNS,
  read: (bytes, what) => {
    const rows = readParquetRows(bytes, SPAN_COLUMNS, what);
    for (const [i, row] of rows.entries()) {
      if (!isSpanRecord(row)) {
        throw new ParquetReadError(
          `${what}: span row ${i} lacks trace_id or span_id, or has an unknown kind or status`,
        );
      }
    }
    return rows;
  },
  sort: (rows) => sortByTraceThenTime(rows, (r) => r.start_time_unix_nano),
  withoutCopies: (rows) => dropRetriedCopies('spans', rows),
  index: (rows, objectKey, p) => {
    const spans: SpanRecord[] = [];
    for (const row of rows) {
      if (!isSpanRecord(row))
        throw new ParquetReadError(`${objectKey}: a span row lacks its ids or has an unknown kind`);
      spans.push(row);
    }
    return buildTraceIndex([], spans, { logs: '', spans: objectKey }, p);
  },
};

/**
 * The span columns whose TypeScript type is narrower than the Parquet column's (ids shared with logs are nullable
 * there, kind and status are enums): checked once per row when a file is read.
 */
function isSpanRecord(row: SpanRow): row is SpanRow & SpanRecord {
  return row.trace_id !== null && row.span_id !== null && SPAN_KINDS.has(row.kind) && STATUS_CODES.has(row.status_code);
}
