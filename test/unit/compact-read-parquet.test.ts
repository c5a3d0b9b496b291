import { describe, expect, it } from 'vitest';
import { ParquetReadError, readParquetRows } from '../../functions/compact/read-parquet.ts';
import { writeParquet } from '../../functions/shared/parquet/parquet-writer.ts';
import { buildTraceIndex } from '../../functions/shared/trace-index.ts';
import { LOG_COLUMNS, SPAN_COLUMNS, TRACE_INDEX_COLUMNS } from '../../schemas/columns.ts';
import { aLogRecord, aSpanRecord, ROW_T0 } from '../builders/rows.ts';

const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);

function logRows() {
  return Array.from({ length: 257 }, (_, i) =>
    aLogRecord({
      trace_id: i % 7 === 0 ? null : `${(i % 16).toString(16)}${'a'.repeat(31)}`,
      time: ROW_T0 + i,
      time_unix_nano: i === 0 ? INT64_MAX : i === 1 ? INT64_MIN : BigInt(ROW_T0 + i) * 1_000_000n + 123n,
      span_id: i % 3 === 0 ? null : `${'b'.repeat(15)}${(i % 16).toString(16)}`,
      request_id: i % 5 === 0 ? `req-${i}` : null,
      severity_number: i % 25,
      severity_text: i % 4 === 0 ? null : 'WARN',
      body: i % 11 === 0 ? null : `line ${i} ünïcødé ✓ ${'x'.repeat(i)}`,
      service_name: ['orders', 'payments', null][i % 3] ?? null,
      sub_sequence_number: i,
      record_ordinal: 2_147_483_647 - i,
      arrival_time: ROW_T0 + 1000 + i,
      ingest_flags: i % 9 === 0 ? 'truncated,redacted' : null,
    }),
  );
}

function spanRows() {
  return Array.from({ length: 130 }, (_, i) =>
    aSpanRecord(
      {
        trace_id: `${(i % 16).toString(16)}${'c'.repeat(31)}`,
        start_time: ROW_T0 + i,
        span_id: `${'d'.repeat(15)}${(i % 16).toString(16)}`,
        parent_span_id: i % 2 === 0 ? null : 'e'.repeat(16),
        status_code: i % 10 === 0 ? 'ERROR' : 'OK',
        status_message: i % 10 === 0 ? 'boom' : null,
        kind: i % 2 === 0 ? 'SERVER' : 'CLIENT',
        request_id: i % 4 === 0 ? `req-${i}` : null,
      },
      i,
    ),
  );
}

describe('reading compacted Parquet back', () => {
  it('returns exactly the log rows the writer was given, over several row groups', () => {
    // Prepare
    const rows = logRows();
    const bytes = writeParquet(LOG_COLUMNS, rows, { rowGroupRows: 50 });

    // Act
    const read = readParquetRows(bytes, LOG_COLUMNS);

    // Assess
    expect(read).toEqual(rows);
    expect(typeof read[0]?.time_unix_nano).toBe('bigint');
    expect(typeof read[0]?.time).toBe('number');
  });

  it('returns exactly the span rows the writer was given, with uncompressed pages', () => {
    // Prepare
    const rows = spanRows();
    const bytes = writeParquet(SPAN_COLUMNS, rows, { rowGroupRows: 64, compression: 'none' });

    // Act
    const read = readParquetRows(bytes, SPAN_COLUMNS);

    // Assess
    expect(read).toEqual(rows);
  });

  it('returns exactly the trace index rows the writer was given, booleans included', () => {
    // Prepare
    const rows = buildTraceIndex(
      logRows(),
      spanRows(),
      { logs: 'tables/logs/dt=2026-11-25/hour=21/a.parquet', spans: 'tables/spans/dt=2026-11-25/hour=21/a.parquet' },
      { dt: '2026-11-25', hour: '21' },
    );
    const bytes = writeParquet(TRACE_INDEX_COLUMNS, rows, { rowGroupRows: 10, compression: 'none' });

    // Act
    const read = readParquetRows(bytes, TRACE_INDEX_COLUMNS);

    // Assess
    expect(rows.some((r) => r.error) && rows.some((r) => !r.error)).toBe(true);
    expect(read).toEqual(rows);
  });

  it('reads an empty object as no rows', () => {
    // Prepare
    const bytes = writeParquet(SPAN_COLUMNS, [], { rowGroupRows: 10 });

    // Act
    const read = readParquetRows(bytes, SPAN_COLUMNS);

    // Assess
    expect(read).toEqual([]);
  });

  it('refuses a file whose columns have other types than the table says, naming the column', () => {
    // Prepare
    const bytes = writeParquet(LOG_COLUMNS, logRows(), { rowGroupRows: 100 });

    // Act
    const read = () => readParquetRows(bytes, SPAN_COLUMNS, 'tables/x.parquet');

    // Assess
    expect(read).toThrow(ParquetReadError);
    expect(read).toThrow(/tables\/x\.parquet has no column start_time/);
  });

  it('refuses bytes that are not Parquet', () => {
    // Act
    const read = () => readParquetRows(new Uint8Array([1, 2, 3, 4]), LOG_COLUMNS, 'junk');

    // Assess
    expect(read).toThrow(/junk is not a readable Parquet file/);
  });
});
