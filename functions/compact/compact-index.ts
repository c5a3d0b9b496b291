import { TRACE_INDEX_COLUMNS } from '../../schemas/columns.ts';
import { type CompactionManifest, isCompactedKey, manifestKey } from '../../schemas/compaction.ts';
import { StoreError } from '../../schemas/errors.ts';
import { indexBucket } from '../core/index-bucket.ts';
import { mapLimit } from '../core/map-limit.ts';
import type { ObjectStore } from '../core/object-store.ts';
import { writeParquet } from '../shared/parquet/parquet-writer.ts';
import { TRACE_INDEX_ROW_GROUP_ROWS, type TraceIndexRow } from '../shared/trace-index.ts';
import { type CompactDeps, IO_CONCURRENCY, JSON_CONTENT_TYPE, PARQUET_CONTENT_TYPE } from './deps.ts';
import {
  DATA_TABLES,
  type DataTable,
  encodeManifest,
  type HourPartition,
  type IndexManifest,
  indexBucketObjectKey,
  loadIndexManifests,
  loadManifests,
  partitionPrefix,
} from './layout.ts';
import { ParquetReadError, type RowOf, readParquetRows } from './read-parquet.ts';
import { LOG_ROWS, SPAN_ROWS } from './table-rows.ts';

/** What one `compactIndexHour` call did. */
export type CompactIndexResult =
  /** The bucket objects already hold this hour's rows for the current data generations (0: no data compacted). */
  | { readonly status: 'up-to-date'; readonly generation: number }
  | {
      readonly status: 'compacted';
      readonly generation: number;
      /** Index rows of the hour now in the bucket objects. */
      readonly rows: number;
      /** Bucket objects written (≤ 256). */
      readonly buckets: number;
      /** Per-batch index objects this generation newly covers. */
      readonly newSources: number;
    }
  | { readonly status: 'lost-race'; readonly generation: number };

/** How many times a bucket object's read-merge-write is retried when another writer changed it in between. */
const BUCKET_WRITE_ATTEMPTS = 5;

/**
 * Re-partitions one closed hour of the trace index by bucket, from the hour's compacted data:
 *
 * 1. derives the index rows of every current compacted `logs`/`spans` output (one row per id, kind, table and
 *    output — `buildTraceIndex` over the output's rows), taking `known` rows for outputs just written;
 * 2. for each bucket that got rows, replaces this hour's rows in `tables/trace_index/bucket=<b>/dt=D/index.parquet`
 *    (read, drop rows of this dt and hour, add, sort by id, conditional PUT on the ETag read) — at most 256 PUTs per
 *    hour, and idempotent: a re-run writes the same rows;
 * 3. writes the `trace_index` manifest of the hour (`If-None-Match: *`) covering the per-batch index objects whose
 *    data objects the compacted data covers, and recording the data generations the rows came from.
 *
 * Until step 3 the per-batch index objects stay visible beside the bucket rows: an id may be found twice, never
 * missed. A batch never writes a bucket object; only this does.
 */
export async function compactIndexHour(
  deps: CompactDeps,
  p: HourPartition,
  known: ReadonlyMap<string, readonly TraceIndexRow[]> = new Map(),
): Promise<CompactIndexResult> {
  const { store } = deps;
  const log = deps.logger.child({ table: 'trace_index', dt: p.dt, hour: p.hour });
  const data = {
    logs: (await loadManifests(store, 'logs', p)).current,
    spans: (await loadManifests(store, 'spans', p)).current,
  };
  const dataGenerations = { logs: data.logs?.generation ?? 0, spans: data.spans?.generation ?? 0 };
  const { current } = await loadIndexManifests(store, p);
  const generation = current?.generation ?? 0;
  if (dataGenerations.logs === 0 && dataGenerations.spans === 0) return { status: 'up-to-date', generation };

  const batchIndexKeys = (await store.list(partitionPrefix('trace_index', p))).filter((k) => !isCompactedKey(k));
  // Only a bucket generation's sources stay covered: those of merged generations (D24) are covered again here when
  // their data is compacted, else they turn visible again while the merged objects holding their rows turn invisible.
  const buckets = current !== undefined && current.tier !== 'merged' ? current : undefined;
  const alreadyCovered = new Set(buckets?.sources ?? []);
  const coverable = await coverableIndexObjects(
    store,
    p,
    batchIndexKeys.filter((k) => !alreadyCovered.has(k)),
    data,
  );
  const sameData =
    buckets !== undefined &&
    buckets.data_generations.logs === dataGenerations.logs &&
    buckets.data_generations.spans === dataGenerations.spans;
  if (sameData && coverable.length === 0) return { status: 'up-to-date', generation };

  // Index rows of every current output, by bucket.
  const byBucket = new Map<string, TraceIndexRow[]>();
  let rows = 0;
  for (const table of DATA_TABLES) {
    const outputs = data[table]?.outputs ?? [];
    const derived = await mapLimit(outputs, IO_CONCURRENCY, (key) => indexRowsOf(deps, table, key, p, known));
    for (const list of derived) {
      for (const row of list) {
        const bucket = indexBucket(row.id);
        let group = byBucket.get(bucket);
        if (group === undefined) {
          group = [];
          byBucket.set(bucket, group);
        }
        group.push(row);
        rows++;
      }
    }
  }
  // The hour's ids only grow (data rows are never removed), so every bucket holding old rows of this hour gets new
  // ones and is rewritten: no stale rows of the hour survive in a bucket we do not touch.
  const bucketNames = [...byBucket.keys()].sort();
  await mapLimit(bucketNames, IO_CONCURRENCY, (bucket) => mergeBucket(store, bucket, p, byBucket.get(bucket) ?? []));

  const next = generation + 1;
  const manifest: IndexManifest = {
    version: 1,
    table: 'trace_index',
    dt: p.dt,
    hour: p.hour,
    generation: next,
    sources: [...new Set([...(buckets?.sources ?? []), ...coverable])].sort(),
    outputs: bucketNames.map((b) => indexBucketObjectKey(b, p.dt)),
    rows,
    created_at: new Date(deps.clock()).toISOString(),
    data_generations: dataGenerations,
    tier: 'buckets',
  };
  const etag = await store.putIf(
    manifestKey('trace_index', p.dt, p.hour, next),
    encodeManifest(manifest),
    JSON_CONTENT_TYPE,
    { ifNoneMatch: '*' },
  );
  if (etag === undefined) {
    log.warn('another compactor wrote this index generation first', { generation: next });
    return { status: 'lost-race', generation: next };
  }
  log.info('index hour re-partitioned', {
    generation: next,
    rows,
    buckets: bucketNames.length,
    new_sources: coverable.length,
  });
  return { status: 'compacted', generation: next, rows, buckets: bucketNames.length, newSources: coverable.length };
}

/**
 * The per-batch index objects whose data the compacted data covers. Fast path: ingest names an index object like
 * its batch's data objects (same stem), so it is covered when both data objects of that stem are. Otherwise (replays,
 * a batch with one table only) the object is read and is covered when every data object it names is.
 */
async function coverableIndexObjects(
  store: ObjectStore,
  p: HourPartition,
  keys: readonly string[],
  data: Readonly<Record<DataTable, CompactionManifest | undefined>>,
): Promise<string[]> {
  const sources = {
    logs: new Set(data.logs?.sources ?? []),
    spans: new Set(data.spans?.sources ?? []),
  };
  const prefix = partitionPrefix('trace_index', p);
  const verdicts = await mapLimit(keys, IO_CONCURRENCY, async (key) => {
    const stem = key.slice(prefix.length);
    if (sources.logs.has(partitionPrefix('logs', p) + stem) && sources.spans.has(partitionPrefix('spans', p) + stem)) {
      return true;
    }
    const body = await store.get(key);
    if (body === undefined) return false;
    const named = readParquetRows(body, TRACE_INDEX_COLUMNS, key);
    return named.every((row) => (row.data_table === 'logs' ? sources.logs : sources.spans).has(row.object_key));
  });
  return keys.filter((_, i) => verdicts[i] === true);
}

async function indexRowsOf(
  deps: CompactDeps,
  table: DataTable,
  key: string,
  p: HourPartition,
  known: ReadonlyMap<string, readonly TraceIndexRow[]>,
): Promise<readonly TraceIndexRow[]> {
  const cached = known.get(key);
  if (cached !== undefined) return cached;
  const body = await deps.store.get(key);
  if (body === undefined) throw new StoreError(`compacted object ${key} named by the current manifest is missing`);
  return table === 'logs'
    ? LOG_ROWS.index(LOG_ROWS.read(body, key), key, p)
    : SPAN_ROWS.index(SPAN_ROWS.read(body, key), key, p);
}

/** Replaces the rows of hour `p` in one bucket-day object; retried when another writer changed it meanwhile. */
export async function mergeBucket(
  store: ObjectStore,
  bucket: string,
  p: HourPartition,
  hourRows: readonly TraceIndexRow[],
): Promise<void> {
  const key = indexBucketObjectKey(bucket, p.dt);
  for (let attempt = 1; attempt <= BUCKET_WRITE_ATTEMPTS; attempt++) {
    const existing = await store.getVersioned(key);
    const merged: TraceIndexRow[] = [];
    if (existing) {
      for (const row of readParquetRows(existing.body, TRACE_INDEX_COLUMNS, key)) {
        if (row.data_hour === p.hour && row.data_dt === p.dt) continue;
        if (!isTraceIndexRow(row)) throw new ParquetReadError(`${key} holds an index row of unknown kind or table`);
        merged.push(row);
      }
    }
    for (const row of hourRows) merged.push(row);
    merged.sort(compareIndexRows);
    const body = writeParquet(TRACE_INDEX_COLUMNS, merged, { rowGroupRows: TRACE_INDEX_ROW_GROUP_ROWS });
    const etag = await store.putIf(
      key,
      body,
      PARQUET_CONTENT_TYPE,
      existing ? { ifMatch: existing.etag } : { ifNoneMatch: '*' },
    );
    if (etag !== undefined) return;
  }
  throw new StoreError(`${key} kept changing under ${BUCKET_WRITE_ATTEMPTS} merges; the next run retries`);
}

/** The two index columns whose TypeScript type is narrower than the Parquet column's. */
export function isTraceIndexRow(
  row: RowOf<typeof TRACE_INDEX_COLUMNS>,
): row is RowOf<typeof TRACE_INDEX_COLUMNS> & TraceIndexRow {
  return (
    (row.id_kind === 'trace' || row.id_kind === 'request') && (row.data_table === 'logs' || row.data_table === 'spans')
  );
}

/** Id, kind, table, then data hour and object: a total order, so a re-run writes the same bytes. */
export function compareIndexRows(a: TraceIndexRow, b: TraceIndexRow): number {
  if (a.id !== b.id) return a.id < b.id ? -1 : 1;
  if (a.id_kind !== b.id_kind) return a.id_kind < b.id_kind ? -1 : 1;
  if (a.data_table !== b.data_table) return a.data_table < b.data_table ? -1 : 1;
  if (a.data_hour !== b.data_hour) return a.data_hour < b.data_hour ? -1 : 1;
  if (a.object_key !== b.object_key) return a.object_key < b.object_key ? -1 : 1;
  return 0;
}
