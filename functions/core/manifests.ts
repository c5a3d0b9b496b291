import type { z } from 'zod';
import { CompactionManifest, MANIFEST_PREFIX, manifestKey, visibleObjects } from '../../schemas/compaction.ts';
import { describeIssue, SkeinError } from '../../schemas/errors.ts';
import type { ObjectStore } from './object-store.ts';

/**
 * Reading compaction manifests (schemas/compaction.ts): the compactor reads them to know what it covered, ingest
 * reads them to drop re-delivered records a compacted hour already holds (decision D19), and the query layer reads
 * them to know which objects of a partition are visible. Neutral, so neither Lambda imports the other's folder and
 * the visibility rule is read in one place.
 */

/** What reading manifests and partitions needs of a store: a listing and a read (the `ObjectStore` port has both). */
export type StoreReader = Pick<ObjectStore, 'list' | 'get'>;

/** One hour partition of one table. */
export interface HourPartition {
  readonly dt: string;
  readonly hour: string;
}

/** A manifest object holds something other than a manifest: someone wrote it by hand, or a bug did. */
export class ManifestError extends SkeinError {
  constructor(message: string) {
    super('manifest_invalid', message);
  }
}

/** The manifests of one hour partition: every manifest key, and the parsed manifest of the highest generation. */
export interface ManifestState<M extends CompactionManifest = CompactionManifest> {
  readonly keys: readonly string[];
  readonly current: M | undefined;
}

const GENERATION_OF_MANIFEST = /\/gen-(\d+)\.json$/;

/** `tables/_manifests/<t>/dt=D/hour=H/`: the manifests of one hour partition. */
export function manifestPrefix(table: string, p: HourPartition): string {
  return `${MANIFEST_PREFIX}${table}/dt=${p.dt}/hour=${p.hour}/`;
}

/** The generation a manifest key names (`…/gen-000007.json` → 7), or `undefined` for any other key. */
export function manifestGeneration(key: string): number | undefined {
  const m = GENERATION_OF_MANIFEST.exec(key);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

/**
 * Lists an hour's manifests and reads the one of the highest generation (the only one readers use): one LIST, and
 * one GET when there is a manifest.
 *
 * @throws {ManifestError} when that object is not a valid manifest of this partition.
 */
export async function loadManifestState<M extends CompactionManifest>(
  store: StoreReader,
  table: string,
  p: HourPartition,
  schema: z.ZodType<M>,
): Promise<ManifestState<M>> {
  const keys = (await store.list(manifestPrefix(table, p))).filter((k) => manifestGeneration(k) !== undefined);
  let top: string | undefined;
  let topGeneration = 0;
  for (const key of keys) {
    const generation = manifestGeneration(key) ?? 0;
    if (generation > topGeneration) {
      top = key;
      topGeneration = generation;
    }
  }
  if (top === undefined) return { keys, current: undefined };
  const body = await store.get(top);
  if (body === undefined) throw new ManifestError(`manifest ${top} was listed but is gone; run the compactor again`);
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(body).toString('utf8'));
  } catch {
    throw new ManifestError(`manifest ${top} is not JSON`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new ManifestError(`manifest ${top} is invalid: ${describeIssue(parsed.error)}`);
  const m = parsed.data;
  if (
    m.table !== table ||
    m.dt !== p.dt ||
    m.hour !== p.hour ||
    manifestKey(table, p.dt, p.hour, m.generation) !== top
  ) {
    throw new ManifestError(`manifest ${top} describes ${m.table} ${m.dt} ${m.hour} generation ${m.generation}`);
  }
  return { keys, current: m };
}

/** `tables/<t>/dt=D/hour=H/`: where ingest, replay and the compactor put an hour's objects. */
export function partitionPrefix(table: string, p: HourPartition): string {
  return `tables/${table}/dt=${p.dt}/hour=${p.hour}/`;
}

/** Every object key of one hour partition, and the ones the visibility rule lets a reader see. */
export interface VisiblePartition {
  readonly keys: string[];
  readonly visible: string[];
}

/**
 * The objects a reader must read for one hour of one table (the visibility rule, `visibleObjects` in
 * schemas/compaction.ts), read in the only safe order: the manifest first, then the listing. Listing first could miss
 * the outputs of a generation published in between while its manifest hides the raw objects they replace; with the
 * manifest first, every object that manifest makes visible is already written and is deleted only a grace period
 * after a newer manifest. The one implementation for the compactor, its tests and the query layer.
 *
 * @throws {ManifestError} when the partition's current manifest is not a valid manifest of it.
 */
export async function visiblePartitionObjects(
  store: StoreReader,
  table: string,
  p: HourPartition,
): Promise<VisiblePartition> {
  const { current } = await loadManifestState(store, table, p, CompactionManifest);
  const keys = await store.list(partitionPrefix(table, p));
  return { keys, visible: visibleObjects(keys, current ? [current] : []) };
}
