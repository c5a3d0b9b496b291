import { describe, expect, it } from 'vitest';
import { memoryObjectStore, type ObjectStore } from '../../functions/core/object-store.ts';
import {
  compactRollupMinute,
  LATENESS,
  ROLLUP_COMPACTION_GRACE_MS,
  readRollupWindow,
} from '../../functions/evaluate/rollup-reader.ts';
import { computeRollup, encodeRollup, ROLLUP_CONTENT_TYPE, rollupObjectKey } from '../../functions/shared/rollup.ts';
import { MAX_ALLOWED_LATENESS_MS } from '../../functions/shared/watermark.ts';
import type { Aggregate, MeasureSpec } from '../../schemas/measures.ts';
import type { SpanRecord } from '../../schemas/records.ts';
import { aSpanRecord, ROW_T0 } from '../builders/rows.ts';

const MINUTE = 60_000;
const M0 = Math.floor(ROW_T0 / MINUTE);

const requests: MeasureSpec = {
  id: 'aaaaaaaaaaaaaaaa',
  selector: { table: 'spans', matchers: [] },
  by: ['service'],
  kind: 'count',
};
const latency: MeasureSpec = {
  id: 'bbbbbbbbbbbbbbbb',
  selector: { table: 'spans', matchers: [] },
  by: ['service'],
  kind: 'sketch',
  field: 'duration',
};
const MEASURES = [requests, latency];

/** One ingest batch: its arrival instant and its spans (one per entry of `eventMinutes`, durations 1, 2, 3…). */
interface Batch {
  readonly seq: number;
  readonly arrivalMs: number;
  readonly spans: SpanRecord[];
}

function aBatch(seq: number, arrivalMinute: number, eventMinutes: readonly number[], service = 'orders'): Batch {
  return {
    seq,
    arrivalMs: arrivalMinute * MINUTE + 1000 + seq,
    spans: eventMinutes.map((m, i) => aSpanRecord({ start_time: m * MINUTE + i, service_name: service }, 1 + (i % 7))),
  };
}

function keyOf(batch: Batch): string {
  return rollupObjectKey({
    shardId: 'shardId-0',
    firstSequenceNumber: String(batch.seq),
    firstArrivalMs: batch.arrivalMs,
  });
}

/**
 * The largest allowed lateness (5 minutes): rows count up to 5 minutes before their batch's arrival partition, as
 * objects written before D15 (5-minute clamp) do. The reader must find both in the partitions past its window.
 */
const LATENESS_MS = MAX_ALLOWED_LATENESS_MS;

async function write(store: ObjectStore, batch: Batch, measures: readonly MeasureSpec[] = MEASURES): Promise<void> {
  const rollup = computeRollup([], batch.spans, measures, batch.arrivalMs, {
    latenessMs: LATENESS_MS,
    shard: { shardId: 'shardId-0', mark: { arrival_ms: batch.arrivalMs, sequence_number: String(batch.seq) } },
  });
  await store.put(keyOf(batch), encodeRollup(rollup), ROLLUP_CONTENT_TYPE);
}

/** What the window should hold: every batch's spans once, as one big batch would count them. */
function expected(batches: readonly Batch[], measureId: string, from: number, to: number): Map<string, Aggregate> {
  const totals = new Map<string, Aggregate>();
  for (const batch of batches) {
    const rollup = computeRollup([], batch.spans, MEASURES, batch.arrivalMs, { latenessMs: LATENESS_MS });
    for (let m = from; m <= to; m++) {
      for (const [key, agg] of Object.entries(rollup.minutes[m]?.[measureId] ?? {})) {
        const previous = totals.get(key);
        totals.set(key, previous ? { ...previous, n: previous.n + agg.n } : { n: agg.n });
      }
    }
  }
  return totals;
}

/** Counts only (n per group) of a window aggregate, for comparison with `expected`. */
function counts(aggregates: Map<string, Aggregate>): Map<string, Aggregate> {
  return new Map([...aggregates].map(([key, agg]) => [key, { n: agg.n }]));
}

const BATCHES: Batch[] = [
  aBatch(1, M0, [M0, M0, M0 - 1]),
  aBatch(2, M0, [M0, M0 - 2], 'payments'),
  aBatch(3, M0 + 1, [M0 + 1, M0]),
  aBatch(4, M0 + 2, [M0 + 2, M0 + 2, M0 + 1]),
  aBatch(5, M0 + 3, [M0 - 20]), // very late: clamped to M0 + 3 − LATENESS = M0 − 2
  aBatch(6, M0 + 6, [M0 + 2]), // late by 4 minutes: only found by reading arrival partitions past toMinute
];

describe('readRollupWindow', () => {
  it('merges per-batch objects of every arrival partition that can hold the window, each once', async () => {
    // Prepare
    const store = memoryObjectStore();
    for (const b of BATCHES) await write(store, b);
    // Act
    const window = await readRollupWindow(store, { fromMinute: M0 - 2, toMinute: M0 + 2 });
    // Assess
    expect(counts(window.aggregate(requests.id, M0 - 2, M0 + 2))).toEqual(
      expected(BATCHES, requests.id, M0 - 2, M0 + 2),
    );
    expect(window.aggregate(requests.id, M0 + 2, M0 + 2).get('["orders"]')?.n).toBe(3);
    expect(window.aggregate(requests.id, M0 - 2, M0 - 2).get('["orders"]')?.n).toBe(1);
    expect(window.objectsRead).toBe(BATCHES.length);
    expect(window.listCalls).toBe(5 + LATENESS);
  });

  it('reports the furthest watermark per shard of the objects read, and the lateness they were written with', async () => {
    // Prepare
    const store = memoryObjectStore();
    for (const b of BATCHES) await write(store, b);
    // Act
    const window = await readRollupWindow(store, { fromMinute: M0 - 2, toMinute: M0 + 2 });
    // Assess: batch 6 (arrival partition M0 + 6) is the newest read
    const last = BATCHES[5];
    expect(window.marks.get('shardId-0')).toEqual({ arrival_ms: last?.arrivalMs, sequence_number: String(last?.seq) });
    expect(window.latenessMs).toBe(LATENESS_MS);
  });

  it('merges n, sum, min, max and sketches across minutes and batches', async () => {
    // Prepare
    const store = memoryObjectStore();
    for (const b of BATCHES) await write(store, b);
    const one = computeRollup(
      [],
      BATCHES.flatMap((b) => b.spans),
      [latency],
      (M0 + 2) * MINUTE,
      { latenessMs: LATENESS_MS },
    );
    // Act
    const window = await readRollupWindow(store, { fromMinute: M0 - 2, toMinute: M0 + 2, measureIds: [latency.id] });
    // Assess: everything in one batch arriving at M0+2 clamps the same way, except the very late row (M0-3 floor).
    const merged = window.aggregate(latency.id, M0 - 2, M0 + 2).get('["orders"]');
    const direct = Object.values(one.minutes).map((m) => m[latency.id]?.['["orders"]']);
    const directN = direct.reduce((n, a) => n + (a?.n ?? 0), 0);
    expect(merged?.n).toBe(directN);
    expect(merged?.min).toBe(1);
    expect(merged?.max).toBe(Math.max(...direct.map((a) => a?.max ?? 0)));
    expect(merged?.sketch && Object.values(merged.sketch.pos).reduce((a, b) => a + b, 0)).toBe(directN);
    expect(window.aggregate(requests.id, M0 - 2, M0 + 2).size).toBe(0);
  });

  it('reports a measure as incomplete when some object read was computed without it', async () => {
    // Prepare
    const store = memoryObjectStore();
    await write(store, aBatch(1, M0, [M0]), [requests]);
    await write(store, aBatch(2, M0, [M0]), MEASURES);
    // Act
    const window = await readRollupWindow(store, {
      fromMinute: M0,
      toMinute: M0,
      measureIds: [requests.id, latency.id],
    });
    // Assess
    expect(window.isMeasureComplete(requests.id)).toBe(true);
    expect(window.isMeasureComplete(latency.id)).toBe(false);
  });

  it('re-lists a partition when an object it listed vanished before it was fetched', async () => {
    // Prepare: a listing that is one compaction behind — it names a per-batch object already deleted.
    const store = memoryObjectStore();
    await write(store, aBatch(1, M0, [M0]));
    let stale = true;
    const racing: ObjectStore = {
      ...store,
      async list(prefix) {
        const keys = await store.list(prefix);
        if (stale && keys.length > 0) {
          stale = false;
          return [...keys, `${prefix}shardId-0-999.json`];
        }
        return keys;
      },
    };
    // Act
    const window = await readRollupWindow(racing, { fromMinute: M0, toMinute: M0 });
    // Assess
    expect(window.aggregate(requests.id, M0, M0).get('["orders"]')?.n).toBe(1);
  });
});

describe('compactRollupMinute', () => {
  const clockAfter =
    (minute: number, extraMs = 0) =>
    () =>
      (minute + 1) * MINUTE + extraMs;

  it('reads the same window before and after compaction, with a few object reads per minute', async () => {
    // Prepare
    const store = memoryObjectStore();
    for (let i = 0; i < 40; i++) await write(store, aBatch(100 + i, M0 + (i % 5), [M0 + (i % 5), M0 + (i % 3)]));
    const before = await readRollupWindow(store, { fromMinute: M0, toMinute: M0 + 4 });
    // Act
    for (let m = M0; m <= M0 + 4; m++) await compactRollupMinute(store, m, clockAfter(M0 + 4));
    const compacted = await readRollupWindow(store, { fromMinute: M0, toMinute: M0 + 4 });
    // Assess
    expect(before.objectsRead).toBe(40);
    expect(compacted.objectsRead).toBe(5);
    for (const id of [requests.id, latency.id]) {
      expect(compacted.aggregate(id, M0, M0 + 4)).toEqual(before.aggregate(id, M0, M0 + 4));
    }
    // A generation keeps the furthest watermark of its sources: compaction loses no progress.
    expect(compacted.marks).toEqual(before.marks);
    expect(compacted.latenessMs).toBe(LATENESS_MS);
  });

  it('still reads a late per-batch object that a generation does not list, and merges it into the next one', async () => {
    // Prepare
    const store = memoryObjectStore();
    const early = [aBatch(1, M0, [M0]), aBatch(2, M0, [M0])];
    for (const b of early) await write(store, b);
    const first = await compactRollupMinute(store, M0, clockAfter(M0));
    const late = aBatch(3, M0, [M0]);
    await write(store, late);
    // Act
    const read = await readRollupWindow(store, { fromMinute: M0, toMinute: M0 });
    const second = await compactRollupMinute(store, M0, clockAfter(M0, 1000));
    const reread = await readRollupWindow(store, { fromMinute: M0, toMinute: M0 });
    // Assess
    expect(first).toMatchObject({ generation: 1, written: true, merged: 2 });
    expect(read.aggregate(requests.id, M0, M0).get('["orders"]')?.n).toBe(3);
    expect(second).toMatchObject({ generation: 2, written: true, merged: 1, deleted: 0, settled: false });
    expect(reread.aggregate(requests.id, M0, M0).get('["orders"]')?.n).toBe(3);
    expect(reread.objectsRead).toBe(1);
  });

  it('deletes covered objects and older generations only once the latest generation is older than the grace', async () => {
    // Prepare
    const store = memoryObjectStore();
    await write(store, aBatch(1, M0, [M0]));
    await compactRollupMinute(store, M0, clockAfter(M0));
    await write(store, aBatch(2, M0, [M0]));
    await compactRollupMinute(store, M0, clockAfter(M0, 1000));
    // Act
    const early = await compactRollupMinute(store, M0, clockAfter(M0, ROLLUP_COMPACTION_GRACE_MS));
    const late = await compactRollupMinute(store, M0, clockAfter(M0, 1000 + ROLLUP_COMPACTION_GRACE_MS));
    const again = await compactRollupMinute(store, M0, clockAfter(M0, 2000 + ROLLUP_COMPACTION_GRACE_MS));
    // Assess
    expect(early).toMatchObject({ written: false, deleted: 0, settled: false });
    expect(late).toMatchObject({ written: false, deleted: 3, settled: true });
    expect(again).toMatchObject({ written: false, deleted: 0, settled: true });
    expect([...store.objects.keys()]).toEqual(['rollups/minute=2026-11-25T21:30/compacted-g2.json']);
    const window = await readRollupWindow(store, { fromMinute: M0, toMinute: M0 });
    expect(window.aggregate(requests.id, M0, M0).get('["orders"]')?.n).toBe(2);
  });

  it('lets only one of two concurrent compactions write a generation', async () => {
    // Prepare
    const store = memoryObjectStore();
    for (const b of BATCHES) await write(store, b);
    // Act
    const results = await Promise.all([
      compactRollupMinute(store, M0, clockAfter(M0 + 10)),
      compactRollupMinute(store, M0, clockAfter(M0 + 10)),
    ]);
    // Assess
    expect(results.map((r) => r.written).sort()).toEqual([false, true]);
    expect(results.find((r) => !r.written)?.lostRace).toBe(true);
    expect([...store.objects.keys()].filter((k) => k.includes('compacted'))).toEqual([
      'rollups/minute=2026-11-25T21:30/compacted-g1.json',
    ]);
    const window = await readRollupWindow(store, { fromMinute: M0 - 2, toMinute: M0 + 2 });
    expect(counts(window.aggregate(requests.id, M0 - 2, M0 + 2))).toEqual(
      expected(BATCHES, requests.id, M0 - 2, M0 + 2),
    );
  });

  it('refuses to compact the current minute', async () => {
    await expect(compactRollupMinute(memoryObjectStore(), M0, () => M0 * MINUTE + 5)).rejects.toThrow(/still open/);
  });

  it('is crash-safe: a crash at any write or delete, then a re-run, reads exactly once at every instant', async () => {
    // Prepare: minute M0 with two generations to come and a late object in between.
    const truth = expected(BATCHES, requests.id, M0 - 2, M0 + 2);
    const steps: ((store: ObjectStore) => Promise<unknown>)[] = [
      (s) => compactRollupMinute(s, M0, clockAfter(M0)),
      (s) => write(s, aBatch(7, M0, [M0])),
      (s) => compactRollupMinute(s, M0, clockAfter(M0, 1000)),
      (s) => compactRollupMinute(s, M0, clockAfter(M0, 1000 + ROLLUP_COMPACTION_GRACE_MS)),
    ];
    const truthWithLate = expected([...BATCHES, aBatch(7, M0, [M0])], requests.id, M0 - 2, M0 + 2);
    // 7 mutations in all: g1, the late put, g2, then 3 per-batch deletes and g1's delete. 8 = no crash.
    for (let crashAt = 1; crashAt <= 8; crashAt++) {
      const base = memoryObjectStore();
      for (const b of BATCHES) await write(base, b);
      const { store, snapshots, mutations } = crashingStore(base, crashAt);
      // Act: run the steps, each retried once after a crash (the crash happens at most once).
      let lateWritten = false;
      for (const [i, step] of steps.entries()) {
        for (let attempt = 0; attempt < 2; attempt++) {
          try {
            await step(store);
            if (i === 1) lateWritten = true;
            break;
          } catch (error) {
            expect(String(error)).toMatch(/injected crash/);
          }
        }
      }
      // Assess: every state the store went through reads the truth (with the late batch once it exists).
      expect(lateWritten).toBe(true);
      expect(mutations()).toBe(crashAt <= 7 ? 8 : 7);
      expect(snapshots).toHaveLength(7);
      for (const snapshot of snapshots) {
        const window = await readRollupWindow(snapshot.store, { fromMinute: M0 - 2, toMinute: M0 + 2 });
        const want =
          snapshot.store.objects.has(keyOf(aBatch(7, M0, [M0]))) || snapshot.lateSeen ? truthWithLate : truth;
        expect(counts(window.aggregate(requests.id, M0 - 2, M0 + 2)), `crash at ${crashAt}`).toEqual(want);
      }
      const final = await readRollupWindow(store, { fromMinute: M0 - 2, toMinute: M0 + 2 });
      expect(counts(final.aggregate(requests.id, M0 - 2, M0 + 2))).toEqual(truthWithLate);
      expect([...base.objects.keys()].filter((k) => k.startsWith('rollups/minute=2026-11-25T21:30/'))).toEqual([
        'rollups/minute=2026-11-25T21:30/compacted-g2.json',
      ]);
    }
  });
});

/**
 * A store that throws on its `crashAt`-th mutation (put, putIf or delete) without applying it, and records a copy of
 * the whole store after every mutation that did happen: the instants a concurrent reader could see.
 */
function crashingStore(
  base: ReturnType<typeof memoryObjectStore>,
  crashAt: number,
): {
  store: ObjectStore;
  snapshots: { store: ReturnType<typeof memoryObjectStore>; lateSeen: boolean }[];
  mutations: () => number;
} {
  let mutations = 0;
  let lateSeen = false;
  const snapshots: { store: ReturnType<typeof memoryObjectStore>; lateSeen: boolean }[] = [];
  const lateKey = keyOf(aBatch(7, M0, [M0]));
  const mutate = async <T>(key: string, run: () => Promise<T>): Promise<T> => {
    mutations++;
    if (mutations === crashAt) throw new Error(`injected crash at mutation ${crashAt}`);
    const result = await run();
    if (key === lateKey) lateSeen = true;
    const copy = memoryObjectStore();
    for (const [k, v] of base.objects) await copy.put(k, v, ROLLUP_CONTENT_TYPE);
    snapshots.push({ store: copy, lateSeen });
    return result;
  };
  const store: ObjectStore = {
    get: (key) => base.get(key),
    getVersioned: (key) => base.getVersioned(key),
    list: (prefix) => base.list(prefix),
    put: (key, body, type) => mutate(key, () => base.put(key, body, type)),
    putIf: (key, body, type, condition) => mutate(key, () => base.putIf(key, body, type, condition)),
    delete: (key) => mutate(key, () => base.delete(key)),
  };
  return { store, snapshots, mutations: () => mutations };
}
