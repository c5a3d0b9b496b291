import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type StoreReader, visiblePartitionObjects } from '../functions/core/manifests.ts';
import { SkeinError } from '../schemas/errors.ts';
import { partitionInRange, type TimeRange } from './time-range.ts';

/**
 * The local store as the query layer sees it: s3rver's folder, where object `<key>` is the file
 * `<dataDir>/<bucket>/<key>._S3rver_object` with its metadata file beside it. An object counts only once s3rver has
 * written its metadata file, which it does after the data: a half-written object (the local stack is ingesting while
 * we read) is skipped rather than failing the query.
 */
export interface LocalStore {
  /** s3rver's folder (`dataDir` of endpoints.json). */
  readonly dataDir: string;
  readonly bucket: string;
}

/** What was listed in one `dt=/hour=` partition folder of a table, and which of it a reader must read. */
export interface PartitionListing {
  readonly dt: string;
  readonly hour: string;
  /** Every complete object key in the folder, sorted. */
  readonly keys: readonly string[];
  /** The keys the manifest visibility rule (`visibleObjects`, schemas/compaction.ts) lets a reader see. */
  readonly visible: readonly string[];
}

/** The partitioned tables of the store: the data tables and the per-batch (uncompacted) index. */
export type PartitionedTable = 'logs' | 'spans' | 'trace_index';

export const OBJECT_SUFFIX = '._S3rver_object';
const METADATA_SUFFIX = '._S3rver_metadata.json';
const DT_DIR = /^dt=(\d{4}-\d{2}-\d{2})$/;
const HOUR_DIR = /^hour=(\d{1,2})$/;
const BUCKET_DIR = /^bucket=([0-9a-f]{2})$/;

/** The file of an object key in s3rver's folder. */
export function objectPath(store: LocalStore, key: string): string {
  return join(store.dataDir, store.bucket, `${key}${OBJECT_SUFFIX}`);
}

/** The object key of a file in s3rver's folder (inverse of {@link objectPath}). */
export function objectKeyOf(store: LocalStore, path: string): string {
  const root = join(store.dataDir, store.bucket);
  const rel = path.startsWith(root) ? path.slice(root.length + 1) : path;
  return rel.endsWith(OBJECT_SUFFIX) ? rel.slice(0, -OBJECT_SUFFIX.length) : rel;
}

/**
 * The `dt=/hour=` partitions of a table under `tables/<table>/`, limited to those that can hold rows of `range`, each
 * with its complete `.parquet` objects and the subset visible under the partition's highest compaction manifest.
 */
export async function listPartitions(
  store: LocalStore,
  table: PartitionedTable,
  range: TimeRange = {},
): Promise<PartitionListing[]> {
  const tableDir = join(store.dataDir, store.bucket, 'tables', table);
  const out: PartitionListing[] = [];
  for (const dtDir of await subdirectories(tableDir)) {
    const dt = DT_DIR.exec(dtDir)?.[1];
    if (dt === undefined) continue;
    for (const hourDir of await subdirectories(join(tableDir, dtDir))) {
      const hour = HOUR_DIR.exec(hourDir)?.[1];
      if (hour === undefined || !partitionInRange(dt, hour, range)) continue;
      // The manifest first, then the listing (visiblePartitionObjects, the readers' one rule): a generation published
      // in between only adds outputs we do not read, while its superseded objects stay for the grace period.
      const { keys, visible } = await visiblePartitionObjects(folderReader(store), table, { dt, hour });
      out.push({ dt, hour, keys, visible });
    }
  }
  return out;
}

/**
 * The compacted index objects of one bucket: every `.parquet` object under
 * `tables/trace_index/bucket=<b>/dt=*\/` (one `index.parquet` per bucket and day, rewritten as hours close).
 */
export async function listIndexBucket(store: LocalStore, bucket: string): Promise<string[]> {
  if (!BUCKET_DIR.test(`bucket=${bucket}`)) throw new SkeinError('query_failed', `not an index bucket: ${bucket}`);
  const bucketDir = join(store.dataDir, store.bucket, 'tables', 'trace_index', `bucket=${bucket}`);
  const keys: string[] = [];
  for (const dtDir of await subdirectories(bucketDir)) {
    if (!DT_DIR.test(dtDir)) continue;
    keys.push(...(await completeObjects(store, `tables/trace_index/bucket=${bucket}/${dtDir}/`, '.parquet')));
  }
  return keys;
}

/**
 * The compacted index objects of some days, over every bucket: `tables/trace_index/bucket=*\/dt=<day>/` for each day
 * of `days` (YYYY-MM-DD). A search, which has no id to pick a bucket with, reads the whole compacted index of its
 * days.
 */
export async function listIndexDays(store: LocalStore, days: readonly string[]): Promise<string[]> {
  const wanted = new Set(days);
  const indexDir = join(store.dataDir, store.bucket, 'tables', 'trace_index');
  const keys: string[] = [];
  for (const bucketDir of await subdirectories(indexDir)) {
    if (!BUCKET_DIR.test(bucketDir)) continue;
    for (const dtDir of await subdirectories(join(indexDir, bucketDir))) {
      const dt = DT_DIR.exec(dtDir)?.[1];
      if (dt === undefined || !wanted.has(dt)) continue;
      keys.push(...(await completeObjects(store, `tables/trace_index/${bucketDir}/${dtDir}/`, '.parquet')));
    }
  }
  return keys.sort();
}

/** Complete objects directly under `prefix` whose key ends with `extension`, sorted. */
async function completeObjects(store: LocalStore, prefix: string, extension: string): Promise<string[]> {
  const dir = join(store.dataDir, store.bucket, prefix);
  const names = new Set(await entries(dir));
  const keys: string[] = [];
  for (const name of names) {
    if (!name.endsWith(`${extension}${OBJECT_SUFFIX}`)) continue;
    const base = name.slice(0, -OBJECT_SUFFIX.length);
    if (names.has(`${base}${METADATA_SUFFIX}`)) keys.push(`${prefix}${base}`);
  }
  return keys.sort();
}

/**
 * The local store as a read-only `StoreReader`. Partition and manifest folders are flat, so listing the complete
 * `.parquet` and `.json` objects directly under a prefix is every key under it. A manifest that does not parse fails
 * the query (`ManifestError`): guessing visibility could show rows twice or not at all.
 */
function folderReader(store: LocalStore): StoreReader {
  return {
    list: async (prefix) =>
      [
        ...(await completeObjects(store, prefix, '.parquet')),
        ...(await completeObjects(store, prefix, '.json')),
      ].sort(),
    get: async (key) => {
      try {
        return new Uint8Array(await readFile(objectPath(store, key)));
      } catch (error) {
        if (isMissing(error)) return undefined;
        throw error;
      }
    },
  };
}

async function entries(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (error) {
    if (isMissing(error)) return [];
    throw error;
  }
}

async function subdirectories(dir: string): Promise<string[]> {
  try {
    const found = await readdir(dir, { withFileTypes: true });
    return found
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
  } catch (error) {
    if (isMissing(error)) return [];
    throw error;
  }
}

function isMissing(error: unknown): boolean {
  return typeof error === 'object' && error !== null && 'code' in error && error.code === 'ENOENT';
}
