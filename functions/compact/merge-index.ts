import { TRACE_INDEX_COLUMNS } from '../../schemas/columns.ts';
import { isCompactedKey, isRewrittenInPlace, manifestKey } from '../../schemas/compaction.ts';
import { StoreError } from '../../schemas/errors.ts';
import { indexBucket } from '../core/index-bucket.ts';
import { mapLimit } from '../core/map-limit.ts';
import { writeParquet } from '../shared/parquet/parquet-writer.ts';
import { TRACE_INDEX_ROW_GROUP_ROWS, type TraceIndexRow } from '../shared/trace-index.ts';
import { compareIndexRows, isTraceIndexRow, mergeBucket } from './compact-index.ts';
import { type CompactDeps, IO_CONCURRENCY, JSON_CONTENT_TYPE, PARQUET_CONTENT_TYPE } from './deps.ts';
import {
  compactedObjectKey,
  encodeManifest,
  type HourPartition,
  hourEndMs,
  type IndexManifest,
  indexBucketObjectKey,
  inputsHash,
  loadIndexManifests,
  partitionPrefix,
} from './layout.ts';
import { ParquetReadError, readParquetRows } from './read-parquet.ts';

/** What one `mergeIndexHour` call did. */
export type MergeIndexResult =
  /** The hour's index is in the bucket-day objects already (`compactIndexHour` owns it now). */
  | { readonly status: 'buckets'; readonly generation: number }
  /** No per-batch index object to merge, nothing to fold. */
  | { readonly status: 'up-to-date'; readonly generation: number }
  | {
      readonly status: 'merged';
      readonly generation: number;
      /** Per-batch index objects newly covered. */
      readonly inputs: number;
      /** Merged objects written, or bucket objects the hour was folded into. */
      readonly outputs: number;
      /** Whether the hour was folded into the bucket-day objects (a closed hour). */
      readonly folded: boolean;
      readonly rows: number;
    }
  | { readonly status: 'lost-race'; readonly generation: number };

/**
 * A closed hour is folded into the bucket-day objects once it ended this long ago: the batches Lambda was still
 * handing over at the hour's end have landed by then.
 */
export const INDEX_FOLD_DELAY_MS = 120_000;
/**
 * Per-batch index objects merged per run and hour at most (GETs of a few KB each): ~3 minutes of batches at 10 a
 * second. The next run merges the rest.
 */
export const MAX_MERGE_INPUTS = 2_000;

/**
 * The middle tier of the trace index (decision D24): merges an hour's per-batch index objects before the hour is
 * compacted, behind the same manifest switch as compaction:
 *
 * - while the hour is open, every run merges the per-batch objects that appeared since the last run into one sorted
 *   object in the hour's partition (`compacted-g<G>-<hash>-<n>.parquet` of `tables/trace_index/dt=D/hour=H/`, a
 *   minute's worth at a run a minute) and carries the earlier ones over;
 * - once the hour has closed ({@link INDEX_FOLD_DELAY_MS}), the next run folds its merged objects and remaining
 *   per-batch objects into the bucket-day objects (`mergeBucket`, as compaction does), so a lookup opens one index
 *   object per day for it; batches landing later are merged beside the buckets, never folded again.
 *
 * Manifest G+1 (`tier: 'merged'`, `If-None-Match: *`) covers the merged per-batch objects (sources, cumulative) and
 * lists the merged or bucket objects (outputs), so every index row is visible exactly once before, during and after
 * a run; a crash leaves only invisible outputs, and a re-run of the same inputs writes the same keys and rows.
 * Replay index objects are left raw (rewritten in place, D8). Once `compactIndexHour` has written the hour's bucket
 * rows from the compacted data it owns the hour's index manifests, and this does nothing.
 */
export async function mergeIndexHour(deps: CompactDeps, p: HourPartition): Promise<MergeIndexResult> {
  const { store } = deps;
  const { current } = await loadIndexManifests(store, p);
  const generation = current?.generation ?? 0;
  if (current !== undefined && current.tier !== 'merged') return { status: 'buckets', generation };
  const keys = await store.list(partitionPrefix('trace_index', p));
  const covered = new Set(current?.sources ?? []);
  const fresh = keys
    .filter((k) => !isCompactedKey(k) && !isRewrittenInPlace(k) && !covered.has(k))
    .slice(0, MAX_MERGE_INPUTS);
  const carried = current?.outputs ?? [];
  const bucketed = carried.some(isBucketKey);
  const fold = !bucketed && carried.length + fresh.length > 0 && hourEndMs(p) + INDEX_FOLD_DELAY_MS <= deps.clock();
  if (fresh.length === 0 && !fold) return { status: 'up-to-date', generation };

  const next = generation + 1;
  const written = fold
    ? await foldIntoBuckets(deps, p, [...carried, ...fresh], new Set(carried))
    : await writeMerged(deps, p, next, fresh, new Set());
  const manifest: IndexManifest = {
    version: 1,
    table: 'trace_index',
    dt: p.dt,
    hour: p.hour,
    generation: next,
    sources: [...new Set([...(current?.sources ?? []), ...fresh])].sort(),
    outputs: fold ? written.keys : [...carried, ...written.keys],
    rows: fold ? written.rows : (current?.rows ?? 0) + written.rows,
    created_at: new Date(deps.clock()).toISOString(),
    data_generations: { logs: 0, spans: 0 },
    tier: 'merged',
  };
  const etag = await store.putIf(
    manifestKey('trace_index', p.dt, p.hour, next),
    encodeManifest(manifest),
    JSON_CONTENT_TYPE,
    { ifNoneMatch: '*' },
  );
  const log = deps.logger.child({ table: 'trace_index', dt: p.dt, hour: p.hour });
  if (etag === undefined) {
    log.warn('another run merged this index generation first', { generation: next });
    return { status: 'lost-race', generation: next };
  }
  log.info('index objects merged', { generation: next, inputs: fresh.length, outputs: written.keys.length, fold });
  return {
    status: 'merged',
    generation: next,
    inputs: fresh.length,
    outputs: written.keys.length,
    folded: fold,
    rows: written.rows,
  };
}

/** Reads `inputs` in key order and hands each object's index rows to `take`. */
async function readIndexRows(
  deps: CompactDeps,
  inputs: readonly string[],
  carried: ReadonlySet<string>,
  take: (rows: TraceIndexRow[]) => Promise<void>,
): Promise<void> {
  for (let start = 0; start < inputs.length; start += IO_CONCURRENCY) {
    const chunk = inputs.slice(start, start + IO_CONCURRENCY);
    const bodies = await mapLimit(chunk, IO_CONCURRENCY, (key) => deps.store.get(key));
    for (const [i, key] of chunk.entries()) {
      const body = bodies[i];
      if (body === undefined) {
        const what = carried.has(key) ? 'merged index object named by the current manifest' : 'index object listed';
        throw new StoreError(`${what} ${key} is missing; the next run retries`);
      }
      const rows: TraceIndexRow[] = [];
      for (const row of readParquetRows(body, TRACE_INDEX_COLUMNS, key)) {
        if (!isTraceIndexRow(row)) throw new ParquetReadError(`${key} holds an index row of unknown kind or table`);
        rows.push(row);
      }
      await take(rows);
    }
  }
}

/**
 * Reads `inputs` in key order and writes their rows, sorted by id, kind, table, hour and object, as objects of at
 * most `maxRowsPerRun` rows: `compacted-g<next>-<hash of inputs>-<n>`, so the same inputs give the same keys and
 * bytes, and other inputs never overwrite them.
 */
async function writeMerged(
  deps: CompactDeps,
  p: HourPartition,
  next: number,
  inputs: readonly string[],
  carried: ReadonlySet<string>,
): Promise<{ keys: string[]; rows: number }> {
  const hash = inputsHash(inputs);
  const keys: string[] = [];
  let rows = 0;
  let held: TraceIndexRow[] = [];
  const flush = async () => {
    if (held.length === 0) return;
    held.sort(compareIndexRows);
    const key = compactedObjectKey('trace_index', p, next, hash, keys.length);
    const body = writeParquet(TRACE_INDEX_COLUMNS, held, { rowGroupRows: TRACE_INDEX_ROW_GROUP_ROWS });
    await deps.store.put(key, body, PARQUET_CONTENT_TYPE);
    keys.push(key);
    rows += held.length;
    held = [];
  };
  await readIndexRows(deps, inputs, carried, async (list) => {
    for (const row of list) held.push(row);
    if (held.length >= deps.config.maxRowsPerRun) await flush();
  });
  await flush();
  return { keys, rows };
}

/**
 * Folds a closed hour's index rows (its merged objects and per-batch objects not merged yet) into the bucket-day
 * objects (`mergeBucket`: the hour's rows of each bucket replaced, so a re-run after a crash writes the same rows), the
 * same objects compaction later rewrites from the compacted data. Until the manifest lists a bucket object, the Athena
 * view and the visibility rule ignore the hour's rows there.
 */
async function foldIntoBuckets(
  deps: CompactDeps,
  p: HourPartition,
  inputs: readonly string[],
  carried: ReadonlySet<string>,
): Promise<{ keys: string[]; rows: number }> {
  const byBucket = new Map<string, TraceIndexRow[]>();
  let rows = 0;
  await readIndexRows(deps, inputs, carried, async (list) => {
    for (const row of list) {
      const bucket = indexBucket(row.id);
      const group = byBucket.get(bucket);
      if (group === undefined) byBucket.set(bucket, [row]);
      else group.push(row);
      rows++;
    }
  });
  const buckets = [...byBucket.keys()].sort();
  await mapLimit(buckets, IO_CONCURRENCY, (b) => mergeBucket(deps.store, b, p, byBucket.get(b) ?? []));
  return { keys: buckets.map((b) => indexBucketObjectKey(b, p.dt)), rows };
}

function isBucketKey(key: string): boolean {
  return key.startsWith('tables/trace_index/bucket=');
}
