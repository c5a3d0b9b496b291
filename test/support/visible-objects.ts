import type { HourPartition } from '../../functions/core/manifests.ts';
import { visiblePartitionObjects } from '../../functions/core/manifests.ts';
import type { ObjectStore } from '../../functions/core/object-store.ts';

/** The visible object keys of one hour of one table: the readers' rule (`visiblePartitionObjects`), keys only. */
export async function visibleHourObjects(
  store: ObjectStore,
  table: 'logs' | 'spans' | 'trace_index',
  p: HourPartition,
): Promise<string[]> {
  return (await visiblePartitionObjects(store, table, p)).visible;
}
