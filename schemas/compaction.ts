import { z } from 'zod';

/**
 * Compaction manifests: the single switch that makes a compacted generation of one hour of one table visible.
 *
 * Layout (decision D10 in docs/decisions.md):
 * - raw objects, written by ingest and replay: `tables/<t>/dt=D/hour=H/<name>.parquet` where `<name>` never starts
 *   with `compacted-`;
 * - compacted objects, in the same partition folder: `tables/<t>/dt=D/hour=H/compacted-g<G>-<inputsHash>-<NNNN>.parquet`
 *   (`inputsHash` = first 12 hex of sha256 of the sorted input keys, so two compactors of the same inputs write the
 *   same bytes to the same keys, and of different inputs never overwrite each other);
 * - the manifest of generation G: `tables/_manifests/<t>/dt=D/hour=H/gen-<G padded to 6>.json`, written with
 *   `If-None-Match: *` (one winner per generation).
 *
 * Visibility, for every reader (DuckDB locally, the Athena views, the compactor itself), with M = the manifest of the
 * highest generation of the partition (none if there is no manifest):
 * - a raw object is visible iff M is absent or M.sources does not contain its key (late data stays visible);
 * - a compacted object is visible iff M is present and M.outputs contains its key.
 * So every row is visible exactly once at every instant: before M is written only the raw objects count, after it
 * only M's outputs and the raw objects M does not cover. Superseded objects are deleted only after a grace period
 * (longer than any query) so a query that listed them can still read them.
 */
/**
 * The stream records one raw source object holds: every record of `shard_id` from `first` to `last` (sequence numbers,
 * inclusive) was in the batch that wrote it. Ingest drops a re-delivered record a covered source already holds, so a
 * Lambda retry that arrives after its hour was compacted (bisected to a new first record, or re-keyed) cannot add a
 * second copy of its rows (decision D19).
 */
export const SourceRange = z.object({
  key: z.string(),
  shard_id: z.string(),
  first: z.string().regex(/^\d+$/),
  last: z.string().regex(/^\d+$/),
});
export type SourceRange = z.infer<typeof SourceRange>;

export const CompactionManifest = z.object({
  version: z.literal(1),
  table: z.enum(['logs', 'spans', 'trace_index']),
  dt: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
  hour: z.string().regex(/^\d{2}$/),
  generation: z.number().int().positive(),
  /** Every raw object key this generation covers (cumulative over generations: a late object joins the next one). */
  sources: z.array(z.string()),
  /** The compacted object keys of this generation. */
  outputs: z.array(z.string()),
  /** Rows in the outputs: the rows of the covered sources less the retried copies dropped (D18). */
  rows: z.number().int().nonnegative(),
  /** ISO time the manifest was written. */
  created_at: z.string(),
  /**
   * The stream records each covered source holds (cumulative like `sources`; absent in manifests written before D19,
   * and for sources whose records cannot be told, such as replay objects or objects without rows).
   */
  source_ranges: z.array(SourceRange).optional(),
});
export type CompactionManifest = z.infer<typeof CompactionManifest>;

export const MANIFEST_PREFIX = 'tables/_manifests/';
export const COMPACTED_PREFIX = 'compacted-';

/** `tables/_manifests/<t>/dt=D/hour=H/gen-000007.json` */
export function manifestKey(table: string, dt: string, hour: string, generation: number): string {
  return `${MANIFEST_PREFIX}${table}/dt=${dt}/hour=${hour}/gen-${String(generation).padStart(6, '0')}.json`;
}

/** True when a data object key names a compacted object (see the layout above). */
export function isCompactedKey(key: string): boolean {
  const slash = key.lastIndexOf('/');
  return key.startsWith(COMPACTED_PREFIX, slash + 1);
}

/**
 * Objects `skein replay` writes (`replay-<shard>-<firstSeq>.parquet`) are rewritten in place when a later replay
 * decodes more of their batch (decision D8). Compacting one would hide its next version (its key would be in a
 * manifest's sources), so the compactor leaves them raw: they stay visible under the rule below, and are few.
 */
export function isRewrittenInPlace(key: string): boolean {
  const slash = key.lastIndexOf('/');
  return key.startsWith('replay-', slash + 1);
}

/**
 * The keys of one partition that a reader must read, given all object keys listed in it and its manifests: the
 * visibility rule above. `manifests` may be in any order; the highest generation wins.
 */
export function visibleObjects(keys: readonly string[], manifests: readonly CompactionManifest[]): string[] {
  let current: CompactionManifest | undefined;
  for (const m of manifests) if (!current || m.generation > current.generation) current = m;
  if (!current) return keys.filter((k) => !isCompactedKey(k));
  const sources = new Set(current.sources);
  const outputs = new Set(current.outputs);
  return keys.filter((k) => (isCompactedKey(k) ? outputs.has(k) : !sources.has(k)));
}
