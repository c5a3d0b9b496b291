import { expect } from 'vitest';
import { loadCompactConfig } from '../../functions/compact/config.ts';
import type { CompactDeps, CompactSettings } from '../../functions/compact/deps.ts';
import { type DataTable, type HourPartition, partitionPrefix } from '../../functions/compact/layout.ts';
import { readParquetRows } from '../../functions/compact/read-parquet.ts';
import { LOG_ROWS, SPAN_ROWS } from '../../functions/compact/table-rows.ts';
import { memoryLogger } from '../../functions/core/logger.ts';
import { memoryObjectStore, type ObjectStore } from '../../functions/core/object-store.ts';
import { writeParquet } from '../../functions/shared/parquet/parquet-writer.ts';
import { sortByTraceThenTime } from '../../functions/shared/sort-rows.ts';
import { buildTraceIndex, encodeTraceIndex } from '../../functions/shared/trace-index.ts';
import { TABLES, TRACE_INDEX_COLUMNS } from '../../schemas/columns.ts';
import { CompactionManifest, manifestKey } from '../../schemas/compaction.ts';
import type { LogRecord, SpanRecord } from '../../schemas/records.ts';
import { aLogRecord, aSpanRecord, ROW_T0 } from '../builders/rows.ts';
import { visibleHourObjects } from './visible-objects.ts';

/**
 * Fixtures of the compactor's unit tests (test/unit/compact*.test.ts): raw objects as ingest writes them, what
 * readers see under the visibility rule, and stores that count or interleave requests.
 */
// ---------------------------------------------------------------------------------------------------------------
// Fixtures: raw objects as ingest writes them (sorted data objects per table plus the batch's index object).

export const P: HourPartition = { dt: '2026-11-25', hour: '21' };
export const MINUTE = 60_000;
/** 10 minutes past the settle time of hour 21 (ends 22:00, settles 22:10). */
export const T1 = Date.UTC(2026, 10, 25, 22, 20);
export const GRACE = 15 * MINUTE;

export const TRACE_PREFIXES = ['a1', 'a2', 'b7', 'c3'];
export function traceId(t: number): string {
  return `${TRACE_PREFIXES[t % TRACE_PREFIXES.length]}${t.toString(16).padStart(30, '0')}`;
}

export interface Batch {
  readonly name: string;
  readonly logs: LogRecord[];
  readonly spans: SpanRecord[];
}

/** Batch `b`: 3 traces (shared with neighbouring batches), 3 logs and 2 spans each, plus a log with no trace id. */
export function aBatch(
  b: number,
  name = `shardId-000000000000-4965${String(b).padStart(4, '0')}.parquet`,
  body = '',
): Batch {
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

export function rawKey(table: DataTable | 'trace_index', name: string, p = P): string {
  return `${partitionPrefix(table, p)}${name}`;
}

/** Writes a batch's three objects the way ingest does. */
export async function putBatch(store: ObjectStore, batch: Batch, p = P): Promise<void> {
  const logs = sortByTraceThenTime([...batch.logs], (r) => r.time_unix_nano);
  const spans = sortByTraceThenTime([...batch.spans], (r) => r.start_time_unix_nano);
  const keys = { logs: rawKey('logs', batch.name, p), spans: rawKey('spans', batch.name, p) };
  await store.put(keys.logs, writeParquet(TABLES.logs, logs, { rowGroupRows: 1000 }), 'application/octet-stream');
  await store.put(keys.spans, writeParquet(TABLES.spans, spans, { rowGroupRows: 1000 }), 'application/octet-stream');
  const index = buildTraceIndex(logs, spans, keys, p);
  await store.put(rawKey('trace_index', batch.name, p), encodeTraceIndex(index), 'application/octet-stream');
}

export function settings(overrides: Partial<CompactSettings> = {}): CompactSettings {
  const { bucket: _b, logLevel: _l, ...rest } = loadCompactConfig({ SKEIN_BUCKET: 'skein-test' });
  return { ...rest, ...overrides };
}

export function depsOf(store: ObjectStore, now: number, overrides: Partial<CompactSettings> = {}): CompactDeps {
  return { store, clock: () => now, logger: memoryLogger(), config: settings(overrides) };
}

// ---------------------------------------------------------------------------------------------------------------
// What readers see: rows of the visible objects (the visibility rule), as canonical strings for multiset equality.

export function canon(table: DataTable, row: Readonly<Record<string, unknown>>): string {
  return JSON.stringify(
    TABLES[table].map((c) => row[c.name]),
    (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v),
  );
}

export function expectedRows(table: DataTable, batches: readonly Batch[]): string[] {
  return batches.flatMap((b) => (table === 'logs' ? b.logs : b.spans).map((r) => canon(table, r))).sort();
}

export async function bodyOf(store: ObjectStore, key: string): Promise<Uint8Array> {
  const body = await store.get(key);
  if (body === undefined) throw new Error(`object ${key} is missing`);
  return body;
}

export async function readLogs(store: ObjectStore, key: string) {
  return LOG_ROWS.read(await bodyOf(store, key), key);
}

export async function readSpans(store: ObjectStore, key: string) {
  return SPAN_ROWS.read(await bodyOf(store, key), key);
}

export async function readRows(
  store: ObjectStore,
  table: DataTable,
  key: string,
): Promise<Readonly<Record<string, unknown>>[]> {
  return table === 'logs' ? readLogs(store, key) : readSpans(store, key);
}

export async function visibleRows(store: ObjectStore, table: DataTable, p = P): Promise<string[]> {
  const out: string[] = [];
  for (const key of await visibleHourObjects(store, table, p)) {
    for (const row of await readRows(store, table, key)) out.push(canon(table, row));
  }
  return out.sort();
}

export async function expectVisibleExactly(store: ObjectStore, batches: readonly Batch[], p = P): Promise<void> {
  expect(await visibleRows(store, 'logs', p)).toEqual(expectedRows('logs', batches));
  expect(await visibleRows(store, 'spans', p)).toEqual(expectedRows('spans', batches));
}

export function indexEntry(r: { id: string; id_kind: string; data_table: string; data_dt: string; data_hour: string }) {
  return `${r.id}|${r.id_kind}|${r.data_table}|${r.data_dt}/${r.data_hour}`;
}

/**
 * The index as a reader sees it: the visible per-batch index objects of the hour plus the bucket objects' rows of the
 * hour. Every (id, kind, table, partition) of the data must be found there, nothing else, and every object named must
 * exist.
 */
export async function expectIndexComplete(store: ObjectStore, batches: readonly Batch[], p = P): Promise<void> {
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

export async function manifestOf(
  store: ObjectStore,
  table: DataTable,
  generation: number,
): Promise<CompactionManifest> {
  const body = await store.get(manifestKey(table, P.dt, P.hour, generation));
  if (body === undefined) throw new Error(`no manifest ${table} ${generation}`);
  return CompactionManifest.parse(JSON.parse(Buffer.from(body).toString('utf8')));
}

export function isSorted(rows: readonly { trace_id: string | null }[], time: (i: number) => bigint): boolean {
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
export function countingStore(inner: ObjectStore): ObjectStore & { writes: number } {
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
export function interleavingStore(inner: ObjectStore): ObjectStore {
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

export async function anHour(
  batches: number,
): Promise<{ store: ReturnType<typeof memoryObjectStore>; batches: Batch[] }> {
  const store = memoryObjectStore();
  const list = Array.from({ length: batches }, (_, b) => aBatch(b));
  for (const batch of list) await putBatch(store, batch);
  return { store, batches: list };
}

// ---------------------------------------------------------------------------------------------------------------
