import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compactHour } from '../../functions/compact/compact-hour.ts';
import { compactIndexHour } from '../../functions/compact/compact-index.ts';
import { loadIndexManifests, manifestPrefix, partitionPrefix } from '../../functions/compact/layout.ts';
import { mergeIndexHour } from '../../functions/compact/merge-index.ts';
import { readParquetRows } from '../../functions/compact/read-parquet.ts';
import { runCompaction } from '../../functions/compact/run-compaction.ts';
import { memoryObjectStore, type ObjectStore } from '../../functions/core/object-store.ts';
import { TRACE_INDEX_COLUMNS } from '../../schemas/columns.ts';
import { isCompactedKey } from '../../schemas/compaction.ts';
import {
  aBatch,
  type Batch,
  bodyOf,
  countingStore,
  depsOf,
  expectIndexComplete,
  expectVisibleExactly,
  GRACE,
  MINUTE,
  P,
  putBatch,
  rawKey,
  T1,
} from '../support/compact-fixtures.ts';
import { crashingStore } from '../support/crashing-store.ts';
import { visibleHourObjects } from '../support/visible-objects.ts';

// The middle tier of the trace index (D24): an hour's per-batch index objects merged before the hour is compacted.

/** Hour 21 is open at 21:30; closed, past the fold delay but not settled at 22:03; settled at T1 (22:20). */
const OPEN = Date.UTC(2026, 10, 25, 21, 30);
const CLOSED = Date.UTC(2026, 10, 25, 22, 3);

function canonRow(row: Readonly<Record<string, unknown>>): string {
  return JSON.stringify(TRACE_INDEX_COLUMNS.map((c) => row[c.name]));
}

async function indexRowsOf(store: ObjectStore, key: string): Promise<string[]> {
  return readParquetRows(await bodyOf(store, key), TRACE_INDEX_COLUMNS, key).map(canonRow);
}

/** A store with a record of the rows of every per-batch index object put in it (the truth readers must see). */
class Hour {
  readonly store = memoryObjectStore();
  readonly batches: Batch[] = [];
  readonly rawRows = new Map<string, string[]>();

  async put(...ids: number[]): Promise<void> {
    for (const b of ids) {
      const batch = aBatch(b, `shardId-00000000000${b % 2}-${5000 + b}.parquet`);
      await putBatch(this.store, batch);
      this.batches.push(batch);
      const key = rawKey('trace_index', batch.name);
      this.rawRows.set(key, await indexRowsOf(this.store, key));
    }
  }

  /**
   * Every index row of a per-batch object is visible exactly once — raw, merged, or in a bucket object the hour's
   * merged-tier manifest lists (as the Athena view reads them) — unless the bucket rows compaction derived from the
   * data cover it; and every id of the data is found (bucket rows included).
   */
  async expectExactlyOnce(): Promise<void> {
    const { current } = await loadIndexManifests(this.store, P);
    const merged = current?.tier === 'merged';
    const bucketCovered = new Set(current !== undefined && !merged ? current.sources : []);
    const expected: string[] = [];
    for (const [key, rows] of this.rawRows) if (!bucketCovered.has(key)) expected.push(...rows);
    const seen: string[] = [];
    for (const key of await visibleHourObjects(this.store, 'trace_index', P))
      seen.push(...(await indexRowsOf(this.store, key)));
    for (const key of merged ? (current?.outputs ?? []).filter((k) => k.includes('/bucket=')) : []) {
      for (const row of readParquetRows(await bodyOf(this.store, key), TRACE_INDEX_COLUMNS, key))
        if (row.data_dt === P.dt && row.data_hour === P.hour) seen.push(canonRow(row));
    }
    expect(seen.sort()).toEqual(expected.sort());
    await expectIndexComplete(this.store, this.batches);
    await expectVisibleExactly(this.store, this.batches);
  }
}

describe('merging index objects of hours not compacted yet', () => {
  it('merges the per-batch objects that appeared since the last run into one sorted object per run', async () => {
    // Prepare
    const hour = new Hour();
    await hour.put(0, 1, 2);

    // Act
    const first = await runCompaction(depsOf(hour.store, OPEN));
    await hour.put(3, 4);
    const second = await runCompaction(depsOf(hour.store, OPEN + MINUTE));
    const counting = countingStore(hour.store);
    const third = await runCompaction(depsOf(counting, OPEN + MINUTE));

    // Assess
    expect(first.merged).toMatchObject([{ ...P, status: 'merged', generation: 1, inputs: 3, outputs: 1 }]);
    expect(second.merged).toMatchObject([{ status: 'merged', generation: 2, inputs: 2, folded: false }]);
    expect(third.merged).toMatchObject([{ status: 'up-to-date', generation: 2 }]);
    expect(counting.writes).toBe(0);
    expect(first.hours).toEqual([]);
    const visible = await visibleHourObjects(hour.store, 'trace_index', P);
    expect(visible).toHaveLength(2);
    expect(visible.every(isCompactedKey)).toBe(true);
    for (const key of visible) {
      const ids = readParquetRows(await bodyOf(hour.store, key), TRACE_INDEX_COLUMNS, key).map((r) => r.id);
      expect(ids).toEqual([...ids].sort());
    }
    expect(await hour.store.list(manifestPrefix('logs', P))).toEqual([]);
    await hour.expectExactlyOnce();
  });

  it('folds a closed hour into the bucket-day objects, and merges late batches beside them', async () => {
    // Prepare: three generations of minute merges.
    const hour = new Hour();
    for (const [i, b] of [0, 1, 2].entries()) {
      await hour.put(b);
      await runCompaction(depsOf(hour.store, OPEN + i * MINUTE));
    }

    // Act
    const folded = await runCompaction(depsOf(hour.store, CLOSED));
    const afterFold = await visibleHourObjects(hour.store, 'trace_index', P);
    await hour.expectExactlyOnce();
    await hour.put(7);
    const late = await runCompaction(depsOf(hour.store, CLOSED + MINUTE));
    await hour.put(8);
    const again = await runCompaction(depsOf(hour.store, CLOSED + 2 * MINUTE));
    const idle = countingStore(hour.store);
    await runCompaction(depsOf(idle, CLOSED + 3 * MINUTE));

    // Assess
    expect(idle.writes).toBe(0);
    const buckets = await hour.store.list('tables/trace_index/bucket=');
    expect(buckets.length).toBeGreaterThan(1);
    expect(folded.merged).toMatchObject([{ status: 'merged', generation: 4, inputs: 0, folded: true }]);
    expect(folded.merged[0]).toMatchObject({ outputs: buckets.length });
    expect(afterFold).toEqual([]);
    expect(late.merged).toMatchObject([{ status: 'merged', inputs: 1, outputs: 1, folded: false }]);
    expect(again.merged).toMatchObject([{ status: 'merged', inputs: 1, outputs: 1, folded: false }]);
    expect(await visibleHourObjects(hour.store, 'trace_index', P)).toHaveLength(2);
    await hour.expectExactlyOnce();
  });

  it('hands the hour to the bucket tier at compaction, and cleanup deletes the merged objects after the grace period', async () => {
    // Prepare
    const hour = new Hour();
    await hour.put(0, 1);
    await runCompaction(depsOf(hour.store, OPEN));
    await hour.put(2);
    await runCompaction(depsOf(hour.store, CLOSED));

    // Act
    const compacted = await runCompaction(depsOf(hour.store, T1));
    const merges = await mergeIndexHour(depsOf(hour.store, T1), P);
    await hour.expectExactlyOnce();
    await runCompaction(depsOf(hour.store, T1 + GRACE + MINUTE));

    // Assess
    expect(compacted.hours).toMatchObject([{ index: 'compacted', cleanup: 'waiting' }]);
    expect(merges.status).toBe('buckets');
    expect(await hour.store.list(partitionPrefix('trace_index', P))).toEqual([]);
    expect(await hour.store.list(manifestPrefix('trace_index', P))).toHaveLength(1);
    await hour.expectExactlyOnce();
  });

  it('shows merged per-batch objects raw again when compaction covers only part of their data', async () => {
    // Prepare: a row budget of one object per generation, and one generation per table only.
    const hour = new Hour();
    await hour.put(0, 1, 2);
    await runCompaction(depsOf(hour.store, OPEN));
    const deps = depsOf(hour.store, T1, { maxRowsPerRun: 1 });

    // Act
    await compactHour(deps, { table: 'logs', ...P });
    await compactHour(deps, { table: 'spans', ...P });
    const index = await compactIndexHour(deps, P);

    // Assess
    expect(index.status).toBe('compacted');
    const visible = await visibleHourObjects(hour.store, 'trace_index', P);
    expect(visible.filter(isCompactedKey)).toEqual([]);
    expect(visible).toHaveLength(2);
    await hour.expectExactlyOnce();
  });
});

type Stage = 'minute merge' | 'fold' | 'compaction after merges';

async function before(stage: Stage): Promise<{ hour: Hour; at: number }> {
  const hour = new Hour();
  await hour.put(0, 1);
  if (stage === 'minute merge') {
    await runCompaction(depsOf(hour.store, OPEN));
    await hour.put(2, 3);
    return { hour, at: OPEN + MINUTE };
  }
  await runCompaction(depsOf(hour.store, OPEN));
  await hour.put(2);
  await runCompaction(depsOf(hour.store, OPEN + MINUTE));
  await hour.put(3);
  if (stage === 'fold') {
    await runCompaction(depsOf(hour.store, OPEN + 2 * MINUTE));
    return { hour, at: CLOSED };
  }
  return { hour, at: T1 };
}

describe('crash safety of the merged index tier', () => {
  for (const stage of ['minute merge', 'fold', 'compaction after merges'] as const) {
    for (const mode of ['before', 'after'] as const) {
      it(`keeps every index row visible exactly once when the ${stage} dies at any write (${mode} it applies)`, async () => {
        let crashes = 0;
        for (let failAt = 1; ; failAt++) {
          // Prepare
          const { hour, at } = await before(stage);
          const crashing = crashingStore(hour.store, failAt, mode);

          // Act
          const crashed = await runCompaction(depsOf(crashing, at));

          // Assess: after the crash, after a clean re-run, and after compaction and cleanup.
          if (crashing.writes < failAt) {
            expect(crashed.failed).toBe(0);
            break;
          }
          crashes++;
          expect(crashed.failed).toBe(1);
          await hour.expectExactlyOnce();
          expect((await runCompaction(depsOf(hour.store, at))).failed).toBe(0);
          await hour.expectExactlyOnce();
          await runCompaction(depsOf(hour.store, Math.max(at, T1)));
          await runCompaction(depsOf(hour.store, Math.max(at, T1) + GRACE + MINUTE));
          await hour.expectExactlyOnce();
          expect(await hour.store.list(partitionPrefix('trace_index', P))).toEqual([]);
          expect(await hour.store.list(manifestPrefix('trace_index', P))).toHaveLength(1);
        }
        expect(crashes).toBeGreaterThanOrEqual(2);
      });
    }
  }
});

describe('exactly-once visibility of index rows', () => {
  it('holds after every step of any interleaving of batches, merges, folds, compaction and cleanup', async () => {
    const step = fc.oneof(
      fc.record({ kind: fc.constant('batch' as const), n: fc.integer({ min: 1, max: 3 }) }),
      fc.record({
        kind: fc.constant('run' as const),
        at: fc.constantFrom(OPEN, OPEN + MINUTE, CLOSED, CLOSED + MINUTE, T1, T1 + GRACE + MINUTE),
      }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 8 }), async (steps) => {
        const hour = new Hour();
        let next = 0;
        let now = OPEN;
        for (const s of steps) {
          if (s.kind === 'batch') {
            await hour.put(...Array.from({ length: s.n }, () => next++));
          } else {
            now = Math.max(now, s.at);
            expect((await runCompaction(depsOf(hour.store, now))).failed).toBe(0);
          }
          if (hour.batches.length > 0) await hour.expectExactlyOnce();
        }
      }),
      { numRuns: 25, seed: 24 },
    );
  });
});
