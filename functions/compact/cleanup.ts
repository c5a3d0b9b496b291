import { type CompactionManifest, isCompactedKey } from '../../schemas/compaction.ts';
import { mapLimit } from '../core/map-limit.ts';
import type { CompactDeps } from './deps.ts';
import { IO_CONCURRENCY } from './deps.ts';
import {
  compactedGeneration,
  DATA_TABLES,
  type HourPartition,
  type IndexManifest,
  loadIndexManifests,
  loadManifests,
  type ManifestState,
  manifestGeneration,
  partitionPrefix,
} from './layout.ts';

/** What one `cleanupHour` call did. */
export interface CleanupResult {
  /** Objects deleted. */
  readonly deleted: number;
  /**
   * `done`: nothing superseded is left, or it was deleted; `waiting`: some objects are superseded for less than the
   * grace period; `blocked`: the compacted index is not yet derived from the current data generations, so the data
   * objects it may still name are kept.
   */
  readonly status: 'done' | 'waiting' | 'blocked';
}

/**
 * Deletes what no reader needs any more in one hour, each only once the manifest that superseded it is older than the
 * grace period (`created_at` + `graceMs` ≤ now: longer than any query, so a query that listed it can still read it):
 * - raw data objects covered by the current manifest, compacted objects it does not name whose generation is not
 *   newer than it (superseded outputs and the orphans of lost races or crashes), and older manifests — only once the
 *   hour's compacted index is derived from the current data generations (it names compacted objects, and the
 *   per-batch index objects name raw ones), and the grace has passed since that index manifest too;
 * - per-batch index objects covered by the current index manifest's bucket rows, merged index objects it does not
 *   list (D24), and older index manifests.
 * Compacted objects of a newer generation than the manifest are never touched: a compactor may be about to publish
 * them. Every deleted object is invisible under the current manifest, so a crash between deletes changes nothing a
 * reader sees.
 */
export async function cleanupHour(deps: CompactDeps, p: HourPartition): Promise<CleanupResult> {
  const { store, config } = deps;
  const now = deps.clock();
  const index = await loadIndexManifests(store, p);
  const data = { logs: await loadManifests(store, 'logs', p), spans: await loadManifests(store, 'spans', p) };
  const dataGenerations = { logs: data.logs.current?.generation ?? 0, spans: data.spans.current?.generation ?? 0 };
  const hasData = dataGenerations.logs > 0 || dataGenerations.spans > 0;
  const indexCurrent =
    index.current !== undefined &&
    index.current.data_generations.logs === dataGenerations.logs &&
    index.current.data_generations.spans === dataGenerations.spans;
  const ripe = (m: CompactionManifest) => Date.parse(m.created_at) + config.graceMs <= now;

  const doomed: string[] = [];
  let waiting = false;
  let blocked = false;
  if (hasData && !indexCurrent) blocked = true;
  else {
    for (const table of DATA_TABLES) {
      const state = data[table];
      const m = state.current;
      if (m === undefined) continue;
      if (!ripe(m) || (index.current !== undefined && !ripe(index.current))) {
        waiting = true;
        continue;
      }
      const keys = await store.list(partitionPrefix(table, p));
      const sources = new Set(m.sources);
      const outputs = new Set(m.outputs);
      for (const key of keys) {
        if (!isCompactedKey(key)) {
          if (sources.has(key)) doomed.push(key);
          continue;
        }
        const generation = compactedGeneration(key);
        if (generation !== undefined && generation <= m.generation && !outputs.has(key)) doomed.push(key);
      }
      doomed.push(...olderManifests(state));
    }
  }
  const currentIndex = index.current;
  if (currentIndex !== undefined) {
    if (ripe(currentIndex)) {
      // Per-batch index objects only once bucket rows cover them: a merged generation's sources (D24) turn visible
      // again when the bucket generation cannot cover them yet. Merged objects the current manifest does not list
      // (every one, once the bucket rows are written) are superseded; newer ones may be about to be published.
      const covered = new Set(currentIndex.tier === 'merged' ? [] : currentIndex.sources);
      const outputs = new Set(currentIndex.outputs);
      for (const key of await store.list(partitionPrefix('trace_index', p))) {
        if (!isCompactedKey(key)) {
          if (covered.has(key)) doomed.push(key);
          continue;
        }
        const generation = compactedGeneration(key);
        if (generation !== undefined && generation <= currentIndex.generation && !outputs.has(key)) doomed.push(key);
      }
      doomed.push(...olderManifests(index));
    } else waiting = true;
  }
  await mapLimit(doomed, IO_CONCURRENCY, (key) => store.delete(key));
  if (doomed.length > 0)
    deps.logger.info('superseded objects deleted', { dt: p.dt, hour: p.hour, deleted: doomed.length });
  return { deleted: doomed.length, status: blocked ? 'blocked' : waiting ? 'waiting' : 'done' };
}

function olderManifests(state: ManifestState<CompactionManifest | IndexManifest>): string[] {
  const top = state.current?.generation ?? 0;
  return state.keys.filter((k) => (manifestGeneration(k) ?? top) < top);
}
