import { describe, expect, it } from 'vitest';
import { compactHour, rowsPerObject, splitRows } from '../../functions/compact/compact-hour.ts';
import { inputsHash, manifestPrefix, partitionPrefix } from '../../functions/compact/layout.ts';
import { runCompaction } from '../../functions/compact/run-compaction.ts';
import { memoryObjectStore, type ObjectStore } from '../../functions/core/object-store.ts';
import { isCompactedKey } from '../../schemas/compaction.ts';
import {
  aBatch,
  anHour,
  type Batch,
  countingStore,
  depsOf,
  expectedRows,
  expectVisibleExactly,
  GRACE,
  interleavingStore,
  isSorted,
  MINUTE,
  manifestOf,
  P,
  putBatch,
  rawKey,
  readLogs,
  readSpans,
  T1,
  visibleRows,
} from '../support/compact-fixtures.ts';
import { visibleHourObjects } from '../support/visible-objects.ts';

describe('compactHour', () => {
  it('replaces the raw objects of an hour by sorted compacted objects holding exactly their rows, behind one manifest', async () => {
    // Prepare
    const { store, batches } = await anHour(4);
    const deps = depsOf(store, T1);

    // Act
    const logs = await compactHour(deps, { table: 'logs', ...P });
    const spans = await compactHour(deps, { table: 'spans', ...P });

    // Assess
    expect(logs).toMatchObject({ status: 'compacted', generation: 1, newSources: 4, complete: true });
    expect(spans).toMatchObject({ status: 'compacted', generation: 1, newSources: 4, complete: true });
    await expectVisibleExactly(store, batches);
    const manifest = await manifestOf(store, 'logs', 1);
    const raw = batches.map((b) => rawKey('logs', b.name));
    expect(manifest).toEqual({
      version: 1,
      table: 'logs',
      dt: P.dt,
      hour: P.hour,
      generation: 1,
      sources: [...raw].sort(),
      outputs: [`${partitionPrefix('logs', P)}compacted-g1-${inputsHash(raw)}-0000.parquet`],
      rows: expectedRows('logs', batches).length,
      created_at: new Date(T1).toISOString(),
      // These fixture rows carry sequence numbers below their key's: no source claims a range it cannot prove.
      source_ranges: [],
    });
    expect(await visibleHourObjects(store, 'logs', P)).toEqual(manifest.outputs);
    const rows = await readLogs(store, manifest.outputs[0] ?? '');
    expect(isSorted(rows, (i) => rows[i]?.time_unix_nano ?? 0n)).toBe(true);
    const spanManifest = await manifestOf(store, 'spans', 1);
    const spanRows = await readSpans(store, spanManifest.outputs[0] ?? '');
    expect(isSorted(spanRows, (i) => spanRows[i]?.start_time_unix_nano ?? 0n)).toBe(true);
  });

  it('writes nothing when run again with no new raw object', async () => {
    // Prepare
    const { store, batches } = await anHour(3);
    await compactHour(depsOf(store, T1), { table: 'logs', ...P });
    const counted = countingStore(store);

    // Act
    const again = await compactHour(depsOf(counted, T1 + MINUTE), { table: 'logs', ...P });

    // Assess
    expect(again).toEqual({ status: 'up-to-date', generation: 1 });
    expect(counted.writes).toBe(0);
    expect(await visibleRows(store, 'logs')).toEqual(expectedRows('logs', batches));
  });

  it('leaves replay objects raw and visible: skein replay rewrites them in place, so no manifest may cover them', async () => {
    // Prepare
    const { store } = await anHour(2);
    const replay = aBatch(7, 'replay-shardId-000000000000-49650007.parquet');
    await putBatch(store, replay);

    // Act
    await compactHour(depsOf(store, T1), { table: 'logs', ...P });
    const second = await compactHour(depsOf(store, T1 + MINUTE), { table: 'logs', ...P });

    // Assess
    const manifest = await manifestOf(store, 'logs', 1);
    expect(manifest.sources).not.toContain(rawKey('logs', replay.name));
    expect(await visibleHourObjects(store, 'logs', P)).toContain(rawKey('logs', replay.name));
    expect(second).toEqual({ status: 'up-to-date', generation: 1 });
  });

  it('keeps late data visible beside generation 1, then merges both into generation 2 with every row once', async () => {
    // Prepare
    const { store, batches } = await anHour(3);
    await compactHour(depsOf(store, T1), { table: 'logs', ...P });
    const late = aBatch(7, 'shardId-000000000002-4965.parquet');
    await putBatch(store, late);
    const all = [...batches, late];
    const g1 = await manifestOf(store, 'logs', 1);

    // Act
    const before = await visibleHourObjects(store, 'logs', P);
    const result = await compactHour(depsOf(store, T1 + MINUTE), { table: 'logs', ...P });

    // Assess
    expect(before).toEqual([...g1.outputs, rawKey('logs', late.name)].sort());
    expect(result).toMatchObject({ status: 'compacted', generation: 2, newSources: 1 });
    expect(await visibleRows(store, 'logs')).toEqual(expectedRows('logs', all));
    const g2 = await manifestOf(store, 'logs', 2);
    expect(g2.sources).toEqual(all.map((b) => rawKey('logs', b.name)).sort());
    expect(g2.outputs).toEqual([
      `${partitionPrefix('logs', P)}compacted-g2-${inputsHash([...g1.outputs, rawKey('logs', late.name)])}-0000.parquet`,
    ]);
    expect(g2.rows).toBe(expectedRows('logs', all).length);
    for (const key of g1.outputs) expect(store.objects.has(key)).toBe(true);
  });

  it('writes a span or record a producer sent twice once: the copy first on the stream, in the first generation and after late copies', async () => {
    // Prepare: batch 1, and a producer's retry of its records in another batch (new sequence numbers, later arrival)
    const { store, batches } = await anHour(2);
    const original = batches[1];
    if (original === undefined) throw new Error('no batch 1');
    // sequence numbers later than every original's (57 digits)
    const resent = (b: Batch, seq: number, name: string): Batch => ({
      name,
      logs: b.logs.map((r) => ({
        ...r,
        sequence_number: `${seq}`.padEnd(57, '0'),
        arrival_time: r.arrival_time + 2_000,
      })),
      spans: b.spans.map((r) => ({
        ...r,
        sequence_number: `${seq}`.padEnd(57, '0'),
        arrival_time: r.arrival_time + 2_000,
      })),
    });
    await putBatch(store, resent(original, 5000, 'shardId-000000000000-49655000.parquet'));

    // Act
    const logs = await compactHour(depsOf(store, T1), { table: 'logs', ...P });
    await compactHour(depsOf(store, T1), { table: 'spans', ...P });
    // a late copy, after the hour was compacted, merged into generation 2
    await putBatch(store, resent(original, 6000, 'shardId-000000000001-49656000.parquet'));
    await compactHour(depsOf(store, T1 + MINUTE), { table: 'logs', ...P });
    await compactHour(depsOf(store, T1 + MINUTE), { table: 'spans', ...P });

    // Assess
    expect(logs).toMatchObject({ status: 'compacted', rows: expectedRows('logs', batches).length });
    await expectVisibleExactly(store, batches);
    expect((await manifestOf(store, 'spans', 2)).rows).toBe(expectedRows('spans', batches).length);
  });

  it('splits an hour into objects of about the target size and never splits a trace between two', async () => {
    // Prepare: ~1 KB bodies, so 12 batches are ~200 KB of input against a 64 KiB target.
    const store = memoryObjectStore();
    const batches = Array.from({ length: 12 }, (_, b) => aBatch(b, undefined, 'x'.repeat(1000)));
    for (const batch of batches) await putBatch(store, batch);

    // Act
    const result = await compactHour(depsOf(store, T1, { targetBytes: 64 * 1024, rowGroupRows: 10 }), {
      table: 'logs',
      ...P,
    });

    // Assess
    expect(result.status).toBe('compacted');
    const manifest = await manifestOf(store, 'logs', 1);
    expect(manifest.outputs.length).toBeGreaterThanOrEqual(2);
    const tracesSeen = new Map<string, number>();
    let previousLast: string | null = '';
    for (const [n, key] of manifest.outputs.entries()) {
      const rows = await readLogs(store, key);
      expect(isSorted(rows, (i) => rows[i]?.time_unix_nano ?? 0n)).toBe(true);
      for (const row of rows)
        if (row.trace_id !== null) tracesSeen.set(row.trace_id, (tracesSeen.get(row.trace_id) ?? n) === n ? n : -1);
      const first = rows[0]?.trace_id ?? null;
      if (n > 0 && previousLast !== null && first !== null) expect(first > previousLast).toBe(true);
      previousLast = rows.at(-1)?.trace_id ?? null;
    }
    expect([...tracesSeen.values()].includes(-1)).toBe(false);
    expect(await visibleRows(store, 'logs')).toEqual(expectedRows('logs', batches));
  });

  it('compacts an hour above the row budget in several generations, carrying earlier outputs over unchanged', async () => {
    // Prepare: 10 batches of 10 log rows, at most 25 rows per run (3 objects: the budget is passed by one object).
    const { store, batches } = await anHour(10);
    const deps = depsOf(store, T1, { maxRowsPerRun: 25 });

    // Act
    const results = [];
    for (;;) {
      const result = await compactHour(deps, { table: 'logs', ...P });
      results.push(result);
      if (result.status !== 'compacted' || result.complete) break;
      expect(await visibleRows(store, 'logs')).toEqual(expectedRows('logs', batches));
    }

    // Assess
    expect(results.map((r) => (r.status === 'compacted' ? r.newSources : 0))).toEqual([3, 3, 3, 1]);
    const g4 = await manifestOf(store, 'logs', 4);
    const g3 = await manifestOf(store, 'logs', 3);
    expect(g4.outputs.slice(0, g3.outputs.length)).toEqual(g3.outputs);
    expect(g4.outputs).toHaveLength(4);
    expect(g4.rows).toBe(100);
    expect(await visibleRows(store, 'logs')).toEqual(expectedRows('logs', batches));
  });

  it('lets one of two concurrent compactors publish, the other lose the race, and shows every row once', async () => {
    // Prepare
    const { store, batches } = await anHour(4);
    const shared = interleavingStore(store);

    // Act
    const results = await Promise.all([
      compactHour(depsOf(shared, T1), { table: 'logs', ...P }),
      compactHour(depsOf(shared, T1), { table: 'logs', ...P }),
    ]);

    // Assess
    expect(results.map((r) => r.status).sort()).toEqual(['compacted', 'lost-race']);
    expect((await store.list(manifestPrefix('logs', P))).length).toBe(1);
    expect(await visibleRows(store, 'logs')).toEqual(expectedRows('logs', batches));
  });

  it('leaves the outputs of a compactor that saw other inputs invisible, and deletes them after the grace period', async () => {
    // Prepare: compactor A lists 3 objects; a late object lands; B compacts all 4 and publishes first.
    const { store, batches } = await anHour(3);
    const late = aBatch(9, 'shardId-000000000001-5000.parquet');
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const stalled: ObjectStore = {
      ...store,
      putIf: async (...args) => {
        await gate;
        return store.putIf(...args);
      },
    };
    const a = compactHour(depsOf(stalled, T1), { table: 'logs', ...P });
    await new Promise<void>((resolve) => setImmediate(resolve));
    await putBatch(store, late);
    const b = await compactHour(depsOf(store, T1), { table: 'logs', ...P });

    // Act
    release();
    const lost = await a;

    // Assess
    expect(b).toMatchObject({ status: 'compacted', generation: 1, newSources: 4 });
    expect(lost).toEqual({ status: 'lost-race', generation: 1 });
    const published = await manifestOf(store, 'logs', 1);
    const orphans = [...store.objects.keys()].filter((k) => isCompactedKey(k) && !published.outputs.includes(k));
    expect(orphans).toHaveLength(1);
    expect(await visibleRows(store, 'logs')).toEqual(expectedRows('logs', [...batches, late]));
    await runCompaction(depsOf(store, T1 + MINUTE));
    expect(store.objects.has(orphans[0] ?? '')).toBe(true);
    await runCompaction(depsOf(store, T1 + GRACE + 2 * MINUTE));
    expect(store.objects.has(orphans[0] ?? '')).toBe(false);
    expect(await visibleRows(store, 'logs')).toEqual(expectedRows('logs', [...batches, late]));
  });
});

describe('splitting rows into objects', () => {
  it('aims at the target from the inputs bytes per row', () => {
    expect(rowsPerObject(1000, 10_000, 100_000)).toBe(1000);
    expect(rowsPerObject(1000, 400_000, 100_000)).toBe(250);
    expect(rowsPerObject(0, 0, 100)).toBe(1);
  });

  it('extends a range to the end of its trace and cuts rows without a trace anywhere', () => {
    const rows = ['a', 'a', 'a', 'b', 'c', 'c', null, null, null].map((trace_id) => ({ trace_id }));
    expect(splitRows(rows, 2)).toEqual([
      [0, 3],
      [3, 6],
      [6, 8],
      [8, 9],
    ]);
    expect(splitRows([], 2)).toEqual([]);
  });
});
