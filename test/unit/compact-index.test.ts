import { describe, expect, it } from 'vitest';
import { IndexManifest, indexBucketObjectKey, manifestPrefix } from '../../functions/compact/layout.ts';
import { readParquetRows } from '../../functions/compact/read-parquet.ts';
import { runCompaction } from '../../functions/compact/run-compaction.ts';
import { indexBucket } from '../../functions/core/index-bucket.ts';
import { memoryObjectStore } from '../../functions/core/object-store.ts';
import { buildTraceIndex } from '../../functions/shared/trace-index.ts';
import { TRACE_INDEX_COLUMNS } from '../../schemas/columns.ts';
import { manifestKey } from '../../schemas/compaction.ts';
import {
  aBatch,
  anHour,
  depsOf,
  expectIndexComplete,
  expectVisibleExactly,
  GRACE,
  MINUTE,
  manifestOf,
  P,
  putBatch,
  rawKey,
  T1,
} from '../support/compact-fixtures.ts';
import { visibleHourObjects } from '../support/visible-objects.ts';

describe('the compacted index', () => {
  it('holds one row per id, kind, table and compacted object, in the bucket of the id, sorted by id', async () => {
    // Prepare
    const { store, batches } = await anHour(4);

    // Act
    const summary = await runCompaction(depsOf(store, T1));

    // Assess
    expect(summary.hours).toMatchObject([{ ...P, generations: { logs: 1, spans: 1 }, index: 'compacted' }]);
    const logs = await manifestOf(store, 'logs', 1);
    const spans = await manifestOf(store, 'spans', 1);
    const expected = [
      ...buildTraceIndex(
        batches.flatMap((b) => b.logs),
        [],
        { logs: logs.outputs[0] ?? '', spans: '' },
        P,
      ),
      ...buildTraceIndex(
        [],
        batches.flatMap((b) => b.spans),
        { logs: '', spans: spans.outputs[0] ?? '' },
        P,
      ),
    ];
    const bucketKeys = await store.list('tables/trace_index/bucket=');
    const found = [];
    for (const key of bucketKeys) {
      const rows = readParquetRows((await store.get(key)) ?? new Uint8Array(), TRACE_INDEX_COLUMNS, key);
      for (const row of rows) expect(key).toBe(indexBucketObjectKey(indexBucket(row.id), P.dt));
      expect(rows.map((r) => r.id)).toEqual(rows.map((r) => r.id).sort());
      found.push(...rows);
    }
    const key = (r: { id: string; id_kind: string; data_table: string }) => `${r.id}|${r.id_kind}|${r.data_table}`;
    expect(found.map(key).sort()).toEqual(expected.map(key).sort());
    expect(found.sort((a, b) => (key(a) < key(b) ? -1 : 1))).toEqual(
      expected.sort((a, b) => (key(a) < key(b) ? -1 : 1)),
    );
    const requestTraces = found.filter((r) => r.id_kind === 'request').map((r) => r.trace_ids);
    expect(requestTraces.some((t) => t !== null && /^[0-9a-f]{32}(,[0-9a-f]{32})*$/.test(t))).toBe(true);
    expect(found.filter((r) => r.id_kind === 'trace').every((r) => r.trace_ids === null)).toBe(true);
    const manifestBody = await store.get(manifestKey('trace_index', P.dt, P.hour, 1));
    const index = IndexManifest.parse(JSON.parse(Buffer.from(manifestBody ?? new Uint8Array()).toString('utf8')));
    expect(index.sources).toEqual(batches.map((b) => rawKey('trace_index', b.name)).sort());
    expect(index.data_generations).toEqual({ logs: 1, spans: 1 });
    expect(index.outputs).toEqual(bucketKeys);
    expect(await visibleHourObjects(store, 'trace_index', P)).toEqual([]);
  });

  it('replaces only its own hour in a bucket-day object shared with other hours', async () => {
    // Prepare: the same traces in hours 20 and 21.
    const store = memoryObjectStore();
    const h20 = { dt: P.dt, hour: '20' };
    const early = aBatch(1);
    await putBatch(store, early, h20);
    const batches = [aBatch(1), aBatch(2)];
    for (const batch of batches) await putBatch(store, batch);
    await runCompaction(depsOf(store, T1));
    const late = aBatch(3, 'shardId-000000000002-x.parquet');
    await putBatch(store, late);

    // Act
    await runCompaction(depsOf(store, T1 + MINUTE));

    // Assess
    await expectIndexComplete(store, [early], h20);
    await expectIndexComplete(store, [...batches, late]);
    await expectVisibleExactly(store, [early], h20);
    await expectVisibleExactly(store, [...batches, late]);
  });
});

describe('runCompaction', () => {
  it('compacts closed hours only, oldest first, and defers what exceeds the hours per run', async () => {
    // Prepare: hours 19, 20 and 21 are closed and settled at T1; 22 is open.
    const store = memoryObjectStore();
    for (const hour of ['22', '21', '20', '19']) await putBatch(store, aBatch(1), { dt: P.dt, hour });

    // Act
    const first = await runCompaction(depsOf(store, T1, { maxHoursPerRun: 2 }));
    const second = await runCompaction(depsOf(store, T1, { maxHoursPerRun: 2 }));

    // Assess
    expect(first.hours.map((h) => h.hour)).toEqual(['19', '20']);
    expect(first.deferred).toBe(1);
    expect(second.hours.map((h) => h.hour)).toEqual(['19', '20']);
    expect(second.hours.map((h) => h.generations)).toEqual([
      { logs: 0, spans: 0 },
      { logs: 0, spans: 0 },
    ]);
    expect(second.hours.map((h) => h.cleanup)).toEqual(['waiting', 'waiting']);
    const third = await runCompaction(depsOf(store, T1, { maxHoursPerRun: 3 }));
    expect(third.hours.map((h) => [h.hour, h.generations.logs])).toEqual([
      ['19', 0],
      ['20', 0],
      ['21', 1],
    ]);
    expect(await store.list(manifestPrefix('logs', { dt: P.dt, hour: '22' }))).toEqual([]);
  });

  it('deletes covered raw objects, superseded outputs, old manifests and batch index objects only after the grace period', async () => {
    // Prepare
    const { store, batches } = await anHour(3);
    await runCompaction(depsOf(store, T1));
    const late = aBatch(5, 'shardId-000000000001-6000.parquet');
    await putBatch(store, late);
    await runCompaction(depsOf(store, T1 + 5 * MINUTE));
    const before = [...store.objects.keys()].sort();

    // Act
    const early = await runCompaction(depsOf(store, T1 + 5 * MINUTE + GRACE - 1));
    const afterEarly = [...store.objects.keys()].sort();
    const ripe = await runCompaction(depsOf(store, T1 + 5 * MINUTE + GRACE));
    const idle = await runCompaction(depsOf(store, T1 + 5 * MINUTE + GRACE + MINUTE));

    // Assess
    expect(early.hours[0]?.cleanup).toBe('waiting');
    expect(afterEarly).toEqual(before);
    expect(ripe.hours[0]).toMatchObject({ cleanup: 'done' });
    const logs = await manifestOf(store, 'logs', 2);
    const spans = await manifestOf(store, 'spans', 2);
    const buckets = await store.list('tables/trace_index/bucket=');
    expect([...store.objects.keys()].sort()).toEqual(
      [
        ...logs.outputs,
        ...spans.outputs,
        ...buckets,
        manifestKey('logs', P.dt, P.hour, 2),
        manifestKey('spans', P.dt, P.hour, 2),
        manifestKey('trace_index', P.dt, P.hour, 2),
      ].sort(),
    );
    expect(idle.hours).toEqual([]);
    await expectVisibleExactly(store, [...batches, late]);
    await expectIndexComplete(store, [...batches, late]);
  });
});
