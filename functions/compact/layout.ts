import { createHash } from 'node:crypto';
import { z } from 'zod';
import { COMPACTED_PREFIX, CompactionManifest } from '../../schemas/compaction.ts';
import {
  type HourPartition,
  loadManifestState,
  ManifestError,
  type ManifestState,
  manifestGeneration,
  manifestPrefix as manifestPrefixOf,
  partitionPrefix as partitionPrefixOf,
} from '../core/manifests.ts';
import type { ObjectStore } from '../core/object-store.ts';

/** The tables whose hours are compacted into `compacted-…` objects (the index is re-partitioned by bucket instead). */
export type DataTable = 'logs' | 'spans';
export const DATA_TABLES: readonly DataTable[] = ['logs', 'spans'];
export type ManifestTable = DataTable | 'trace_index';

export type { HourPartition, ManifestState };
export { ManifestError, manifestGeneration };

/**
 * The manifest of a `trace_index` hour: the contract's fields plus the data generations the compacted index rows were
 * derived from. Readers that parse with `CompactionManifest` ignore the extra field; the compactor uses it to know
 * whether the bucket objects are current for the hour's data.
 */
export const IndexManifest = CompactionManifest.extend({
  data_generations: z.object({ logs: z.number().int().nonnegative(), spans: z.number().int().nonnegative() }),
  /**
   * Which tier the generation's outputs are (decision D24): `merged` — written by `mergeIndexHour` before the hour
   * is compacted: objects in the hour's own partition that merge its per-batch index objects (a minute's worth
   * each), and once the hour has closed the bucket-day objects its rows were folded into; its sources stay covered
   * only until compaction. `buckets` (or absent, as before D24) — the bucket-day objects `compactIndexHour` derives
   * from the compacted data.
   */
  tier: z.enum(['merged', 'buckets']).optional(),
});
export type IndexManifest = z.infer<typeof IndexManifest>;

const GENERATION_OF_COMPACTED = /\/compacted-g(\d+)-[0-9a-f]+-\d+\.parquet$/;
const HOUR_OF_KEY = /\/dt=(\d{4}-\d{2}-\d{2})\/hour=(\d{2})\//;
const HOUR_MS = 3_600_000;

/** `tables/<t>/dt=D/hour=H/`: where ingest, replay and the compactor put an hour's objects. */
export function partitionPrefix(table: ManifestTable, p: HourPartition): string {
  return partitionPrefixOf(table, p);
}

/** `tables/_manifests/<t>/dt=D/hour=H/`: the manifests of one hour partition. */
export function manifestPrefix(table: ManifestTable, p: HourPartition): string {
  return manifestPrefixOf(table, p);
}

/** The generation a compacted object key names (`…/compacted-g3-…-0000.parquet` → 3), or `undefined`. */
export function compactedGeneration(key: string): number | undefined {
  const m = GENERATION_OF_COMPACTED.exec(key);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

/** The `dt`/`hour` a key's path holds (`…/dt=D/hour=H/…`), or `undefined`. */
export function hourOfKey(key: string): HourPartition | undefined {
  const m = HOUR_OF_KEY.exec(key);
  return m?.[1] === undefined || m[2] === undefined ? undefined : { dt: m[1], hour: m[2] };
}

/** Epoch ms at which an hour partition ends. */
export function hourEndMs(p: HourPartition): number {
  return Date.parse(`${p.dt}T${p.hour}:00:00.000Z`) + HOUR_MS;
}

/** First 12 hex of sha256 over the sorted input keys (the contract in schemas/compaction.ts). */
export function inputsHash(inputKeys: readonly string[]): string {
  const hash = createHash('sha256');
  for (const key of [...inputKeys].sort()) hash.update(key).update('\n');
  return hash.digest('hex').slice(0, 12);
}

/** `tables/<t>/dt=D/hour=H/compacted-g<G>-<inputsHash>-<NNNN>.parquet` */
export function compactedObjectKey(
  table: ManifestTable,
  p: HourPartition,
  generation: number,
  hash: string,
  index: number,
): string {
  return `${partitionPrefix(table, p)}${COMPACTED_PREFIX}g${generation}-${hash}-${String(index).padStart(4, '0')}.parquet`;
}

/** `tables/trace_index/bucket=<b>/dt=D/index.parquet`: one bucket-day of the compacted index. */
export function indexBucketObjectKey(bucket: string, dt: string): string {
  return `tables/trace_index/bucket=${bucket}/dt=${dt}/index.parquet`;
}

/**
 * Lists an hour's manifests and reads the one of the highest generation (the only one readers use).
 *
 * @throws {ManifestError} when that object is not a valid manifest of this partition.
 */
export async function loadManifests(
  store: ObjectStore,
  table: DataTable,
  p: HourPartition,
): Promise<ManifestState<CompactionManifest>> {
  return loadWith(store, table, p, CompactionManifest);
}

/** {@link loadManifests} for the `trace_index` hour, with the data generations the index was derived from. */
export async function loadIndexManifests(store: ObjectStore, p: HourPartition): Promise<ManifestState<IndexManifest>> {
  return loadWith(store, 'trace_index', p, IndexManifest);
}

function loadWith<M extends CompactionManifest>(
  store: ObjectStore,
  table: ManifestTable,
  p: HourPartition,
  schema: z.ZodType<M>,
): Promise<ManifestState<M>> {
  return loadManifestState(store, table, p, schema);
}

/** A manifest as the bytes written to the store (stable key order, one line). */
export function encodeManifest(m: CompactionManifest | IndexManifest): Uint8Array {
  return Buffer.from(`${JSON.stringify(m)}\n`, 'utf8');
}
