import { visibleObjects } from '../../schemas/compaction.ts';
import type { ObjectStore } from '../core/object-store.ts';
import {
  type HourPartition,
  loadIndexManifests,
  loadManifests,
  type ManifestTable,
  partitionPrefix,
} from './layout.ts';

/**
 * The object keys a reader must read for one hour of one table (the visibility rule of schemas/compaction.ts), read
 * in the only safe order: the manifest first, then the listing. Listing first could miss the outputs of a generation
 * published in between while its manifest hides the raw objects they replace; with the manifest first, every object
 * that manifest makes visible is already written and is deleted only a grace period after a newer manifest.
 */
export async function visibleHourObjects(
  store: ObjectStore,
  table: ManifestTable,
  p: HourPartition,
): Promise<string[]> {
  const { current } =
    table === 'trace_index' ? await loadIndexManifests(store, p) : await loadManifests(store, table, p);
  const keys = await store.list(partitionPrefix(table, p));
  return visibleObjects(keys, current ? [current] : []);
}
