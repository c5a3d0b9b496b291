import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { writeParquet } from '../../functions/shared/parquet/parquet-writer.ts';
import { LOG_COLUMNS, SPAN_COLUMNS } from '../../schemas/columns.ts';
import { compareStreamPosition, dropRetriedCopies, withoutRetriedCopiesSql } from '../../schemas/duplicates.ts';
import type { LogRecord, SpanRecord } from '../../schemas/records.ts';
import { aLogRecord, aSpanRecord, ROW_T0 } from '../builders/rows.ts';
import { readParquetObjects } from '../support/duckdb.ts';

const SHARD_0 = 'shardId-000000000000';
const SHARD_1 = 'shardId-000000000001';
const seq = (n: number) => `4965${String(n).padStart(52, '0')}`;

/** Where a row sits on the stream, as a comparable string. */
const at = (r: { shard_id: string; sequence_number: string; sub_sequence_number: number; record_ordinal: number }) =>
  `${r.shard_id}/${r.sequence_number}/${r.sub_sequence_number}/${r.record_ordinal}`;

describe('dropRetriedCopies, spans', () => {
  it('keeps one row per (trace_id, span_id): the copy first on the stream', () => {
    // Prepare: the same span in a record and in its retry (a later sequence number), and another span
    const first = aSpanRecord({ sequence_number: seq(7) });
    const retry = aSpanRecord({ sequence_number: seq(12), arrival_time: ROW_T0 + 2_000 });
    const other = aSpanRecord({ span_id: '00f067aa0ba902b8', sequence_number: seq(12), record_ordinal: 1 });

    // Act
    const { rows, dropped } = dropRetriedCopies('spans', [retry, other, first]);

    // Assess
    expect(rows.map(at)).toEqual([at(other), at(first)]);
    expect(dropped).toBe(1);
  });

  it('compares sequence numbers as numbers, and the shard first', () => {
    // Prepare: '9' < '10' numerically though not as text; shard 0 before shard 1 whatever the sequence numbers
    const short = aSpanRecord({ sequence_number: '9' });
    const long = aSpanRecord({ sequence_number: '10' });
    const otherShard = aSpanRecord({ shard_id: SHARD_1, sequence_number: '1' });

    // Act
    const kept = dropRetriedCopies('spans', [long, otherShard, short]).rows;

    // Assess
    expect(kept).toEqual([short]);
  });

  it('never merges spans of different traces that share a span id', () => {
    const a = aSpanRecord({ sequence_number: seq(1) });
    const b = aSpanRecord({ trace_id: '0af7651916cd43dd8448eb211c80319c', sequence_number: seq(2) });
    expect(dropRetriedCopies('spans', [a, b])).toEqual({ rows: [a, b], dropped: 0 });
  });
});

describe('dropRetriedCopies, logs', () => {
  it('drops the lines of a record sent twice, whatever arrival and observed times the retry got', () => {
    // Prepare: one record of two different lines, re-sent as a new record 2 s later
    const lines = (sequence: string, arrival: number) =>
      [
        aLogRecord({ sequence_number: sequence, record_ordinal: 0, arrival_time: arrival }),
        aLogRecord({ sequence_number: sequence, record_ordinal: 1, body: 'other line', arrival_time: arrival }),
      ].map((r) => ({ ...r, observed_time_unix_nano: BigInt(arrival) * 1_000_000n }));
    const original = lines(seq(3), ROW_T0);
    const retried = lines(seq(40), ROW_T0 + 2_000);

    // Act
    const { rows, dropped } = dropRetriedCopies('logs', [...retried, ...original]);

    // Assess
    expect(rows.map(at)).toEqual(original.map(at));
    expect(dropped).toBe(2);
  });

  it('keeps identical lines within one record, and shows a re-sent record of them as many times, not twice as many', () => {
    // Prepare: the same line three times in one record (a loop logging within one millisecond), and that record re-sent
    const record = (sequence: string) =>
      [0, 1, 2].map((ordinal) => aLogRecord({ sequence_number: sequence, record_ordinal: ordinal }));

    // Act
    const once = dropRetriedCopies('logs', record(seq(1)));
    const twice = dropRetriedCopies('logs', [...record(seq(1)), ...record(seq(2))]);

    // Assess
    expect(once.rows).toHaveLength(3);
    expect(twice.rows.map(at)).toEqual(record(seq(1)).map(at));
    expect(twice.dropped).toBe(3);
  });

  it('keeps lines that differ in anything but provenance: time, body, attributes, trace', () => {
    const base = aLogRecord({ sequence_number: seq(1) });
    const differing = [
      aLogRecord({ sequence_number: seq(2), time_unix_nano: base.time_unix_nano + 1n }),
      aLogRecord({ sequence_number: seq(3), body: 'request completed!' }),
      aLogRecord({ sequence_number: seq(4), attributes: '{"attempt":2}' }),
      aLogRecord({ sequence_number: seq(5), trace_id: null }),
    ];
    expect(dropRetriedCopies('logs', [base, ...differing]).dropped).toBe(0);
  });
});

describe('compareStreamPosition', () => {
  it('orders by shard, numeric sequence number, sub-sequence number, then ordinal', () => {
    const rows = [
      aSpanRecord({ shard_id: SHARD_1, sequence_number: '1' }),
      aSpanRecord({ sequence_number: '10' }),
      aSpanRecord({ sequence_number: '9', sub_sequence_number: 1 }),
      aSpanRecord({ sequence_number: '9', record_ordinal: 3 }),
      aSpanRecord({ sequence_number: '9' }),
    ];
    const sorted = [...rows].sort(compareStreamPosition).map(at);
    expect(sorted).toEqual([rows[4], rows[3], rows[2], rows[1], rows[0]].map((r) => at(r as SpanRecord)));
  });
});

// The TypeScript rule and the SQL rule agree: generated rows with many copies, the kept rows compared (DuckDB reads
// the SQL as Athena would, over Parquet objects written by our writer).
const recordsArb = fc.array(
  fc.record({
    shard: fc.constantFrom(SHARD_0, SHARD_1),
    seq: fc.integer({ min: 1, max: 6 }),
    sub: fc.integer({ min: 0, max: 1 }),
    lines: fc.array(
      fc.record({
        body: fc.constantFrom('a', 'b'),
        ms: fc.integer({ min: 0, max: 1 }),
        span: fc.integer({ min: 1, max: 3 }),
      }),
      {
        minLength: 1,
        maxLength: 4,
      },
    ),
  }),
  { minLength: 1, maxLength: 6 },
);

type Generated = typeof recordsArb extends fc.Arbitrary<infer T> ? T : never;

function rowsOf(records: Generated) {
  const logs: LogRecord[] = [];
  const spans: SpanRecord[] = [];
  const used = new Set<string>();
  for (const r of records) {
    // (shard, sequence number) is one Kinesis record: never generate two of them
    const key = `${r.shard}/${r.seq}/${r.sub}`;
    if (used.has(key)) continue;
    used.add(key);
    r.lines.forEach((line, ordinal) => {
      const where = {
        shard_id: r.shard,
        sequence_number: String(r.seq * 7),
        sub_sequence_number: r.sub,
        record_ordinal: ordinal,
      };
      logs.push(aLogRecord({ ...where, body: line.body, time: ROW_T0 + line.ms }));
      spans.push(aSpanRecord({ ...where, span_id: `00f067aa0ba902b${line.span}` }));
    });
  }
  return { logs, spans };
}

describe('withoutRetriedCopiesSql', () => {
  it('keeps exactly the rows dropRetriedCopies keeps, for logs and spans', async () => {
    await fc.assert(
      fc.asyncProperty(recordsArb, async (records) => {
        const { logs, spans } = rowsOf(records);
        const sqlKept = async (table: 'logs' | 'spans', body: Uint8Array) =>
          (
            await readParquetObjects([body], (files) =>
              withoutRetriedCopiesSql(
                table,
                `SELECT * FROM read_parquet(${files})`,
                '"d"."shard_id", "d"."sequence_number", "d"."sub_sequence_number", "d"."record_ordinal"',
              ),
            )
          )
            .map((r) => at(r as Parameters<typeof at>[0]))
            .sort();
        const logsSql = await sqlKept('logs', writeParquet(LOG_COLUMNS, logs, { rowGroupRows: 100 }));
        const spansSql = await sqlKept('spans', writeParquet(SPAN_COLUMNS, spans, { rowGroupRows: 100 }));
        expect(logsSql).toEqual(dropRetriedCopies('logs', logs).rows.map(at).sort());
        expect(spansSql).toEqual(dropRetriedCopies('spans', spans).rows.map(at).sort());
      }),
      { numRuns: 15 },
    );
  });

  it('with a scope, drops copies within equal scope values only', async () => {
    const first = aSpanRecord({ sequence_number: '1' });
    const retry = aSpanRecord({ sequence_number: '2' });
    const rows = await readParquetObjects([writeParquet(SPAN_COLUMNS, [first, retry], { rowGroupRows: 10 })], (files) =>
      withoutRetriedCopiesSql(
        'spans',
        `SELECT *, IF("sequence_number" = '1', '10', '11') AS "hour" FROM read_parquet(${files})`,
        '"d"."sequence_number"',
        ['hour'],
      ),
    );
    expect(rows.map((r) => r.sequence_number).sort()).toEqual(['1', '2']);
  });
});
