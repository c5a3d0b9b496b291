import { describe, expect, it } from 'vitest';
import { compactHour, rowsPerObject, splitRows } from '../../functions/compact/compact-hour.ts';
import { loadCompactConfig } from '../../functions/compact/config.ts';
import type { CompactDeps, CompactSettings } from '../../functions/compact/deps.ts';
import {
  type DataTable,
  type HourPartition,
  IndexManifest,
  indexBucketObjectKey,
  inputsHash,
  manifestPrefix,
  partitionPrefix,
} from '../../functions/compact/layout.ts';
import { readParquetRows } from '../../functions/compact/read-parquet.ts';
import { runCompaction } from '../../functions/compact/run-compaction.ts';
import { LOG_ROWS, SPAN_ROWS } from '../../functions/compact/table-rows.ts';
import { visibleHourObjects } from '../../functions/compact/visible.ts';
import { indexBucket } from '../../functions/core/index-bucket.ts';
import { memoryLogger } from '../../functions/core/logger.ts';
import { memoryObjectStore, type ObjectStore } from '../../functions/core/object-store.ts';
import { writeParquet } from '../../functions/shared/parquet/parquet-writer.ts';
import { sortByTraceThenTime } from '../../functions/shared/sort-rows.ts';
import { buildTraceIndex, encodeTraceIndex } from '../../functions/shared/trace-index.ts';
import { TABLES, TRACE_INDEX_COLUMNS } from '../../schemas/columns.ts';
import { CompactionManifest, isCompactedKey, manifestKey } from '../../schemas/compaction.ts';
import type { LogRecord, SpanRecord } from '../../schemas/records.ts';
import { aLogRecord, aSpanRecord, ROW_T0 } from '../builders/rows.ts';
import { crashingStore } from '../support/crashing-store.ts';

// ---------------------------------------------------------------------------------------------------------------
// Fixtures: raw objects as ingest writes them (sorted data objects per table plus the batch's index object).

const P: HourPartition = { dt: '2026-11-25', hour: '21' };
const MINUTE = 60_000;
/** 10 minutes past the settle time of hour 21 (ends 22:00, settles 22:10). */
const T1 = Date.UTC(2026, 10, 25, 22, 20);
const GRACE = 15 * MINUTE;

const TRACE_PREFIXES = ['a1', 'a2', 'b7', 'c3'];
function traceId(t: number): string {
  return `${TRACE_PREFIXES[t % TRACE_PREFIXES.length]}${t.toString(16).padStart(30, '0')}`;
}

interface Batch {
  readonly name: string;
  readonly logs: LogRecord[];
  readonly spans: SpanRecord[];
}

/** Batch `b`: 3 traces (shared with neighbouring batches), 3 logs and 2 spans each, plus a log with no trace id. */
function aBatch(b: number, name = `shardId-000000000000-4965${String(b).padStart(4, '0')}.parquet`, body = ''): Batch {
  const logs: LogRecord[] = [];
  const spans: SpanRecord[] = [];
  for (let k = 0; k < 3; k++) {
    const t = (b + k) % 6;
    for (let j = 0; j < 3; j++) {
      logs.push(
        aLogRecord({
          trace_id: traceId(t),
          time: ROW_T0 + b * 1000 + t * 10 + (2 - j),
          request_id: j === 0 ? `req-${t}` : null,
          severity_number: j === 2 && t === 1 ? 17 : 9,
          service_name: ['orders', 'payments', 'web'][j] ?? null,
          body: `batch ${b} trace ${t} line ${j}${body}`,
          sequence_number: String(1000 + b),
          record_ordinal: k * 3 + j,
        }),
      );
    }
    for (let j = 0; j < 2; j++) {
      spans.push(
        aSpanRecord(
          {
            trace_id: traceId(t),
            span_id: `${(b * 16 + k * 2 + j).toString(16).padStart(16, '0')}`,
            start_time: ROW_T0 + b * 1000 + t * 10 + j,
            status_code: t === 2 && j === 1 ? 'ERROR' : 'OK',
            request_id: j === 0 ? `req-${t}` : null,
            service_name: j === 0 ? 'web' : 'orders',
            sequence_number: String(1000 + b),
            record_ordinal: k * 2 + j,
          },
          7 + j,
        ),
      );
    }
  }
  logs.push(aLogRecord({ trace_id: null, request_id: `job-${b}`, time: ROW_T0 + b, body: `no trace ${b}${body}` }));
  return { name, logs, spans };
}

function rawKey(table: DataTable | 'trace_index', name: string, p = P): string {
  return `${partitionPrefix(table, p)}${name}`;
}

/** Writes a batch's three objects the way ingest does. */
async function putBatch(store: ObjectStore, batch: Batch, p = P): Promise<void> {
  const logs = sortByTraceThenTime([...batch.logs], (r) => r.time_unix_nano);
  const spans = sortByTraceThenTime([...batch.spans], (r) => r.start_time_unix_nano);
  const keys = { logs: rawKey('logs', batch.name, p), spans: rawKey('spans', batch.name, p) };
  await store.put(keys.logs, writeParquet(TABLES.logs, logs, { rowGroupRows: 1000 }), 'application/octet-stream');
  await store.put(keys.spans, writeParquet(TABLES.spans, spans, { rowGroupRows: 1000 }), 'application/octet-stream');
  const index = buildTraceIndex(logs, spans, keys, p);
  await store.put(rawKey('trace_index', batch.name, p), encodeTraceIndex(index), 'application/octet-stream');
}

function settings(overrides: Partial<CompactSettings> = {}): CompactSettings {
  const { bucket: _b, logLevel: _l, ...rest } = loadCompactConfig({ SKEIN_BUCKET: 'skein-test' });
  return { ...rest, ...overrides };
}

function depsOf(store: ObjectStore, now: number, overrides: Partial<CompactSettings> = {}): CompactDeps {
  return { store, clock: () => now, logger: memoryLogger(), config: settings(overrides) };
}

// ---------------------------------------------------------------------------------------------------------------
// What readers see: rows of the visible objects (the visibility rule), as canonical strings for multiset equality.

function canon(table: DataTable, row: Readonly<Record<string, unknown>>): string {
  return JSON.stringify(
    TABLES[table].map((c) => row[c.name]),
    (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v),
  );
}

function expectedRows(table: DataTable, batches: readonly Batch[]): string[] {
  return batches.flatMap((b) => (table === 'logs' ? b.logs : b.spans).map((r) => canon(table, r))).sort();
}

async function bodyOf(store: ObjectStore, key: string): Promise<Uint8Array> {
  const body = await store.get(key);
  if (body === undefined) throw new Error(`object ${key} is missing`);
  return body;
}

async function readLogs(store: ObjectStore, key: string) {
  return LOG_ROWS.read(await bodyOf(store, key), key);
}

async function readSpans(store: ObjectStore, key: string) {
  return SPAN_ROWS.read(await bodyOf(store, key), key);
}

async function readRows(
  store: ObjectStore,
  table: DataTable,
  key: string,
): Promise<Readonly<Record<string, unknown>>[]> {
  return table === 'logs' ? readLogs(store, key) : readSpans(store, key);
}

async function visibleRows(store: ObjectStore, table: DataTable, p = P): Promise<string[]> {
  const out: string[] = [];
  for (const key of await visibleHourObjects(store, table, p)) {
    for (const row of await readRows(store, table, key)) out.push(canon(table, row));
  }
  return out.sort();
}

async function expectVisibleExactly(store: ObjectStore, batches: readonly Batch[], p = P): Promise<void> {
  expect(await visibleRows(store, 'logs', p)).toEqual(expectedRows('logs', batches));
  expect(await visibleRows(store, 'spans', p)).toEqual(expectedRows('spans', batches));
}

function indexEntry(r: { id: string; id_kind: string; data_table: string; data_dt: string; data_hour: string }) {
  return `${r.id}|${r.id_kind}|${r.data_table}|${r.data_dt}/${r.data_hour}`;
}

/**
 * The index as a reader sees it: the visible per-batch index objects of the hour plus the bucket objects' rows of the
 * hour. Every (id, kind, table, partition) of the data must be found there, nothing else, and every object named must
 * exist.
 */
async function expectIndexComplete(store: ObjectStore, batches: readonly Batch[], p = P): Promise<void> {
  const expected = new Set(
    batches.flatMap((b) => buildTraceIndex(b.logs, b.spans, { logs: 'l', spans: 's' }, p).map((r) => indexEntry(r))),
  );
  const seen = new Set<string>();
  const named = new Set<string>();
  const keys = [
    ...(await visibleHourObjects(store, 'trace_index', p)),
    ...(await store.list('tables/trace_index/bucket=')).filter((k) => k.includes(`/dt=${p.dt}/`)),
  ];
  for (const key of keys) {
    const body = await store.get(key);
    if (body === undefined) throw new Error(`index object ${key} is missing`);
    for (const row of readParquetRows(body, TRACE_INDEX_COLUMNS, key)) {
      if (row.data_dt !== p.dt || row.data_hour !== p.hour) continue;
      seen.add(indexEntry(row));
      named.add(row.object_key);
    }
  }
  expect([...seen].sort()).toEqual([...expected].sort());
  for (const key of named) expect(await store.get(key), `index names ${key}`).toBeDefined();
}

async function manifestOf(store: ObjectStore, table: DataTable, generation: number): Promise<CompactionManifest> {
  const body = await store.get(manifestKey(table, P.dt, P.hour, generation));
  if (body === undefined) throw new Error(`no manifest ${table} ${generation}`);
  return CompactionManifest.parse(JSON.parse(Buffer.from(body).toString('utf8')));
}

function isSorted(rows: readonly { trace_id: string | null }[], time: (i: number) => bigint): boolean {
  for (let i = 1; i < rows.length; i++) {
    const a = rows[i - 1]?.trace_id ?? null;
    const b = rows[i]?.trace_id ?? null;
    if (a === b) {
      if (time(i - 1) > time(i)) return false;
    } else if (a === null || (b !== null && a > b)) return false;
  }
  return true;
}

/** A store that counts writes (put, putIf, delete). */
function countingStore(inner: ObjectStore): ObjectStore & { writes: number } {
  const counted = {
    writes: 0,
    put: async (k: string, b: Uint8Array, t: string) => {
      counted.writes++;
      await inner.put(k, b, t);
    },
    putIf: async (...args: Parameters<ObjectStore['putIf']>) => {
      counted.writes++;
      return inner.putIf(...args);
    },
    delete: async (k: string) => {
      counted.writes++;
      await inner.delete(k);
    },
    get: (k: string) => inner.get(k),
    getVersioned: (k: string) => inner.getVersioned(k),
    list: (prefix: string) => inner.list(prefix),
  };
  return counted;
}

/** A store that yields to the event loop before every call, so two compactors interleave request by request. */
function interleavingStore(inner: ObjectStore): ObjectStore {
  const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
  const after = async <T>(op: () => Promise<T>): Promise<T> => {
    await turn();
    return op();
  };
  return {
    put: (k, b, t) => after(() => inner.put(k, b, t)),
    putIf: (k, b, t, c) => after(() => inner.putIf(k, b, t, c)),
    delete: (k) => after(() => inner.delete(k)),
    get: (k) => after(() => inner.get(k)),
    getVersioned: (k) => after(() => inner.getVersioned(k)),
    list: (prefix) => after(() => inner.list(prefix)),
  };
}

async function anHour(batches: number): Promise<{ store: ReturnType<typeof memoryObjectStore>; batches: Batch[] }> {
  const store = memoryObjectStore();
  const list = Array.from({ length: batches }, (_, b) => aBatch(b));
  for (const batch of list) await putBatch(store, batch);
  return { store, batches: list };
}

// ---------------------------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------------------------
// Crash safety: the process dies at the N-th write of a run, for every N; readers must see exactly the rows at
// every point, and a clean re-run must converge.

const T2 = T1 + 5 * MINUTE;
const T3 = T2 + GRACE + MINUTE;

type Stage = 'first compaction' | 'late data' | 'cleanup';

/** The store just before the run under test of `stage`, and the batches it holds. */
async function before(
  stage: Stage,
): Promise<{ store: ReturnType<typeof memoryObjectStore>; batches: Batch[]; at: number }> {
  const { store, batches } = await anHour(3);
  if (stage === 'first compaction') return { store, batches, at: T1 };
  await runCompaction(depsOf(store, T1));
  const late = [aBatch(4, 'shardId-000000000002-1.parquet'), aBatch(5, 'shardId-000000000001-7000.parquet')];
  for (const batch of late) await putBatch(store, batch);
  if (stage === 'late data') return { store, batches: [...batches, ...late], at: T2 };
  await runCompaction(depsOf(store, T2));
  return { store, batches: [...batches, ...late], at: T3 };
}

describe('crash safety', () => {
  for (const stage of ['first compaction', 'late data', 'cleanup'] as const) {
    for (const mode of ['before', 'after'] as const) {
      it(`keeps every row visible exactly once when the ${stage} run dies at any write (${mode} it applies)`, async () => {
        let crashes = 0;
        for (let failAt = 1; ; failAt++) {
          // Prepare
          const { store, batches, at } = await before(stage);
          const crashing = crashingStore(store, failAt, mode);

          // Act
          const crashed = await runCompaction(depsOf(crashing, at));

          // Assess: right after the crash, then after clean re-runs (same instant, then past the grace period).
          if (crashing.writes < failAt) {
            expect(crashed.failed).toBe(0);
            break;
          }
          crashes++;
          expect(crashed.failed).toBe(1);
          await expectVisibleExactly(store, batches);
          await expectIndexComplete(store, batches);
          const rerun = await runCompaction(depsOf(store, at));
          expect(rerun.failed).toBe(0);
          await expectVisibleExactly(store, batches);
          await expectIndexComplete(store, batches);
          await runCompaction(depsOf(store, at + GRACE + MINUTE));
          await expectVisibleExactly(store, batches);
          await expectIndexComplete(store, batches);
          const left = [...store.objects.keys()];
          expect(left.filter((k) => k.startsWith('tables/') && !k.startsWith('tables/_manifests/'))).toEqual(
            left.filter((k) => isCompactedKey(k) || k.startsWith('tables/trace_index/bucket=')),
          );
          for (const table of ['logs', 'spans', 'trace_index'] as const) {
            expect(await store.list(manifestPrefix(table, P))).toHaveLength(1);
          }
        }
        expect(crashes).toBeGreaterThanOrEqual(15);
      });
    }
  }
});
