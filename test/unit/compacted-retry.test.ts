import type { KinesisStreamEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { sourceRange } from '../../functions/compact/compact-hour.ts';
import { loadCompactConfig } from '../../functions/compact/config.ts';
import type { CompactDeps } from '../../functions/compact/deps.ts';
import { readParquetRows } from '../../functions/compact/read-parquet.ts';
import { runCompaction } from '../../functions/compact/run-compaction.ts';
import { memoryLogger } from '../../functions/core/logger.ts';
import { memoryObjectStore, type ObjectStore } from '../../functions/core/object-store.ts';
import { compactRollupMinute, readRollupWindow } from '../../functions/evaluate/rollup-reader.ts';
import { loadIngestConfig } from '../../functions/ingest/config.ts';
import { COVERED_LOOKBACK_MS, hoursToCheck, isCovered } from '../../functions/ingest/covered-records.ts';
import { ingest } from '../../functions/ingest/ingest-batch.ts';
import { LOG_COLUMNS } from '../../schemas/columns.ts';
import type { MeasureSpec } from '../../schemas/measures.ts';
import { aKinesisEvent } from '../builders/kinesis.ts';
import { aLogLine, aTraceId } from '../builders/telemetry.ts';
import { visibleHourObjects } from '../support/visible-objects.ts';

const HOUR = { dt: '2026-11-25', hour: '21' };
const ARRIVAL = Date.UTC(2026, 10, 25, 21, 40);
/** Past hour 21's end, its settle time and the grace period: the hour is compacted and its raw objects deleted. */
const LATER = Date.UTC(2026, 10, 25, 23, 0);
const FIRST_SEQ = 49650000000000000000000000000000000000000000000000000100n;
const config = loadIngestConfig({ SKEIN_BUCKET: 'skein-test' });

function ingestDeps(store: ObjectStore, now: number) {
  return { store, config, clock: () => now, logger: memoryLogger() };
}

function compactDeps(store: ObjectStore, now: number): CompactDeps {
  const { bucket: _b, logLevel: _l, ...rest } = loadCompactConfig({ SKEIN_BUCKET: 'skein-test' });
  return { store, clock: () => now, logger: memoryLogger(), config: { ...rest, settleMs: 0, graceMs: 0 } };
}

/** 20 log lines (one per record), each naming its own line number in `msg`. */
function twentyLines(): string[] {
  return Array.from({ length: 20 }, (_, i) =>
    aLogLine({ traceId: aTraceId(i % 4), msg: `line ${i}`, timeMs: ARRIVAL - 1000 + i }),
  );
}

function slice(event: KinesisStreamEvent, from: number, to?: number): KinesisStreamEvent {
  return { Records: event.Records.slice(from, to) };
}

/** The `body` of every row readers see in hour 21 of `logs`, as a multiset (sorted). */
async function visibleBodies(store: ObjectStore): Promise<string[]> {
  const bodies: string[] = [];
  for (const key of await visibleHourObjects(store, 'logs', HOUR)) {
    const bytes = await store.get(key);
    if (bytes === undefined) throw new Error(`${key} is visible but gone`);
    for (const row of readParquetRows(bytes, LOG_COLUMNS, key)) bodies.push(String(row.body));
  }
  return bodies.sort();
}

const ALL = Array.from({ length: 20 }, (_, i) => `line ${i}`).sort();

describe('a retry arriving after its hour was compacted', () => {
  it('adds no row when Lambda bisects the batch and the second half arrives after compaction and cleanup', async () => {
    // Prepare: the whole batch was written (then failed on another write), and the hour was compacted and cleaned up.
    const store = memoryObjectStore();
    const batch = aKinesisEvent(twentyLines(), { arrivalMs: ARRIVAL, firstSeq: FIRST_SEQ });
    await ingest(batch.Records, ingestDeps(store, ARRIVAL + 5000));
    await runCompaction(compactDeps(store, LATER));
    await runCompaction(compactDeps(store, LATER + 1));
    expect(await visibleBodies(store)).toEqual(ALL);

    // Act: Lambda's bisected retry, both halves, long after.
    const first = await ingest(slice(batch, 0, 10).Records, ingestDeps(store, LATER + 60_000));
    const second = await ingest(slice(batch, 10).Records, ingestDeps(store, LATER + 61_000));

    // Assess
    expect(first.response.batchItemFailures).toEqual([]);
    expect(second.response.batchItemFailures).toEqual([]);
    expect(await visibleBodies(store)).toEqual(ALL);
    await runCompaction(compactDeps(store, LATER + 120_000));
    expect(await visibleBodies(store)).toEqual(ALL);
  });

  it('writes only the records no compacted source holds when a re-delivery reaches past the compacted batch', async () => {
    // Prepare: the first 12 records were one batch, compacted; 8 more were never written.
    const store = memoryObjectStore();
    const batch = aKinesisEvent(twentyLines(), { arrivalMs: ARRIVAL, firstSeq: FIRST_SEQ });
    await ingest(slice(batch, 0, 12).Records, ingestDeps(store, ARRIVAL + 5000));
    await runCompaction(compactDeps(store, LATER));

    // Act: a re-delivery of records 8–19 (boundaries differ from the first delivery's).
    const { summary } = await ingest(slice(batch, 8).Records, ingestDeps(store, LATER + 60_000));

    // Assess: records 8–11 dropped, 12–19 written under the key of record 12.
    expect(summary.firstSequenceNumber).toBe(String(FIRST_SEQ + 12n));
    expect(summary.logRows).toBe(8);
    expect(await visibleBodies(store)).toEqual(ALL);
  });

  it('checks nothing for a live batch in the middle of an hour', async () => {
    // Prepare
    const store = memoryObjectStore();
    const listed: string[] = [];
    const spy: ObjectStore = {
      ...store,
      list: (prefix) => {
        listed.push(prefix);
        return store.list(prefix);
      },
    };

    // Act
    await ingest(aKinesisEvent(twentyLines(), { arrivalMs: ARRIVAL, firstSeq: FIRST_SEQ }).Records, {
      ...ingestDeps(spy, ARRIVAL + 5000),
    });

    // Assess
    expect(listed).toEqual([]);
  });

  it('fails the batch for a retry when the manifests cannot be read, instead of risking a duplicate', async () => {
    // Prepare
    const store = memoryObjectStore();
    const broken: ObjectStore = {
      ...store,
      list: () => Promise.reject(new Error('503 SlowDown')),
    };
    const batch = aKinesisEvent(twentyLines(), { arrivalMs: ARRIVAL, firstSeq: FIRST_SEQ });

    // Act
    const { response } = await ingest(batch.Records, ingestDeps(broken, LATER));

    // Assess
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: String(FIRST_SEQ) }]);
    expect(store.objects.size).toBe(0);
  });
});

describe('a retry arriving after its rollup minute was compacted', () => {
  const measure: MeasureSpec = {
    id: '00000000000000aa',
    selector: { table: 'logs', matchers: [] },
    by: [],
    kind: 'count',
  };
  const arrivalMinute = Math.floor(ARRIVAL / 60_000);

  async function counted(store: ObjectStore): Promise<number> {
    const window = await readRollupWindow(store, { fromMinute: arrivalMinute - 5, toMinute: arrivalMinute + 1 });
    return window.aggregate(measure.id, arrivalMinute - 5, arrivalMinute + 1).get('[]')?.n ?? 0;
  }

  it('counts every row once when the bisected second half arrives after the minute was compacted', async () => {
    // Prepare: the whole batch counted, its minute compacted (hour 21 itself still open).
    const store = memoryObjectStore();
    const batch = aKinesisEvent(twentyLines(), { arrivalMs: ARRIVAL, firstSeq: FIRST_SEQ });
    const withRules = (now: number) => ({ ...ingestDeps(store, now), measures: [measure] });
    await ingest(batch.Records, withRules(ARRIVAL + 5000));
    await compactRollupMinute(store, arrivalMinute, () => ARRIVAL + 120_000, { graceMs: 0 });
    expect(await counted(store)).toBe(20);

    // Act: both halves of the bisected retry, three minutes later.
    await ingest(slice(batch, 0, 10).Records, withRules(ARRIVAL + 180_000));
    await ingest(slice(batch, 10).Records, withRules(ARRIVAL + 181_000));

    // Assess: the reader skips the second half; the compactor covers it without counting it again.
    expect(await counted(store)).toBe(20);
    await compactRollupMinute(store, arrivalMinute, () => ARRIVAL + 240_000, { graceMs: 0 });
    await compactRollupMinute(store, arrivalMinute, () => ARRIVAL + 241_000, { graceMs: 0 });
    expect(await counted(store)).toBe(20);
    expect([...store.objects.keys()].filter((k) => k.startsWith('rollups/'))).toHaveLength(1);
  });
});

describe('hoursToCheck', () => {
  it('names the ended hours from the lookback before the first arrival to the last arrival', () => {
    const early = Date.UTC(2026, 10, 25, 21, 5);
    expect(hoursToCheck(early, early, Date.UTC(2026, 10, 25, 21, 6))).toEqual([{ dt: '2026-11-25', hour: '20' }]);
    expect(hoursToCheck(early, early, Date.UTC(2026, 10, 25, 22, 6))).toEqual([
      { dt: '2026-11-25', hour: '20' },
      { dt: '2026-11-25', hour: '21' },
    ]);
    const late = Date.UTC(2026, 10, 25, 21, 0) + COVERED_LOOKBACK_MS + 1;
    expect(hoursToCheck(late, late, Date.UTC(2026, 10, 25, 21, 59))).toEqual([]);
  });
});

describe('sourceRange', () => {
  const key = 'tables/logs/dt=2026-11-25/hour=21/shardId-000000000003-100.parquet';
  const row = (sequence_number: string, shard_id = 'shardId-000000000003') => ({ shard_id, sequence_number });

  it('spans from the key first record to the highest row', () => {
    expect(sourceRange(key, [row('100'), row('140'), row('120')])).toEqual({
      key,
      shard_id: 'shardId-000000000003',
      first: '100',
      last: '140',
    });
  });

  it('covers the first record of an object without rows', () => {
    expect(sourceRange(key, [])).toMatchObject({ first: '100', last: '100' });
  });

  it('claims nothing for rows of another shard, rows before the key, or a key that names no batch', () => {
    expect(sourceRange(key, [row('120', 'shardId-000000000001')])).toBeUndefined();
    expect(sourceRange(key, [row('99')])).toBeUndefined();
    expect(sourceRange('tables/logs/dt=2026-11-25/hour=21/compacted-g1-abc-0000.parquet', [])).toBeUndefined();
  });

  it('is what isCovered compares against', () => {
    const ranges = [{ key, first: 100n, last: 140n }];
    expect([
      isCovered(ranges, '99'),
      isCovered(ranges, '100'),
      isCovered(ranges, '140'),
      isCovered(ranges, '141'),
    ]).toEqual([false, true, true, false]);
  });
});
