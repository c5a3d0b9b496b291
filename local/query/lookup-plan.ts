import type { TableName } from '../../schemas/columns.ts';
import type { PartitionListing } from './store-listing.ts';

/** The store's partitions as listed at the start of a lookup: the data tables and the per-batch index. */
export interface StoreSnapshot {
  readonly data: Readonly<Record<TableName, readonly PartitionListing[]>>;
  /** `tables/trace_index/dt=/hour=` partitions (empty when the lookup has a time range and skips the index). */
  readonly index: readonly PartitionListing[];
}

/** One index row's pointer: where rows of the id were written. */
export interface IndexHit {
  readonly table: TableName;
  readonly dt: string;
  readonly hour: string;
  readonly objectKey: string;
}

/** Object keys to read, per data table. */
export type TableObjects = Record<TableName, string[]>;

/** The per-batch index objects a lookup reads: the visible ones of every partition. */
export function rawIndexObjects(snapshot: StoreSnapshot): string[] {
  return snapshot.index.flatMap((p) => p.visible);
}

/** Every visible data object of the snapshot (the objects a lookup with a time range reads). */
export function allVisibleObjects(snapshot: StoreSnapshot): TableObjects {
  return {
    logs: snapshot.data.logs.flatMap((p) => p.visible),
    spans: snapshot.data.spans.flatMap((p) => p.visible),
  };
}

/**
 * Visible raw data objects that no index object describes: a raw object is indexed when its partition holds an
 * index object of the same file name (ingest writes both from one batch id). Data written before the index existed,
 * and a batch whose index PUT has not landed yet, are then still found — by reading them, pruned by min/max.
 * Compacted objects count as indexed: the compactor writes the bucketed index for the hours it compacts, and the
 * raw index objects stay until then.
 */
export function unindexedObjects(snapshot: StoreSnapshot): TableObjects {
  const indexed = new Set<string>();
  for (const p of snapshot.index) for (const key of p.keys) indexed.add(`${p.dt}/${normHour(p.hour)}/${fileName(key)}`);
  const pick = (listings: readonly PartitionListing[]): string[] => {
    const out: string[] = [];
    for (const p of listings) {
      const prefix = `${p.dt}/${normHour(p.hour)}/`;
      for (const key of p.visible) {
        const name = fileName(key);
        if (!name.startsWith('compacted-') && !indexed.has(prefix + name)) out.push(key);
      }
    }
    return out;
  };
  return { logs: pick(snapshot.data.logs), spans: pick(snapshot.data.spans) };
}

/**
 * The data objects that hold the rows the index hits point at: a hit's object when it is still visible, else —
 * compaction replaced it, or a later generation replaced that — every visible object of the hit's partition, which
 * is where its rows are now. Hits in partitions that are gone (deleted data) read nothing. Plus every unindexed
 * object ({@link unindexedObjects}). Sorted, without duplicates.
 */
export function planDataReads(snapshot: StoreSnapshot, hits: readonly IndexHit[]): TableObjects {
  const unindexed = unindexedObjects(snapshot);
  const plan = { logs: new Set(unindexed.logs), spans: new Set(unindexed.spans) };
  const partitions = {
    logs: byPartition(snapshot.data.logs),
    spans: byPartition(snapshot.data.spans),
  };
  for (const hit of hits) {
    const listing = partitions[hit.table].get(`${hit.dt}/${normHour(hit.hour)}`);
    if (listing === undefined) continue;
    const out = plan[hit.table];
    if (listing.visibleSet.has(hit.objectKey)) out.add(hit.objectKey);
    else for (const key of listing.visible) out.add(key);
  }
  return { logs: [...plan.logs].sort(), spans: [...plan.spans].sort() };
}

interface IndexedListing {
  readonly visible: readonly string[];
  readonly visibleSet: ReadonlySet<string>;
}

function byPartition(listings: readonly PartitionListing[]): Map<string, IndexedListing> {
  const map = new Map<string, IndexedListing>();
  for (const p of listings)
    map.set(`${p.dt}/${normHour(p.hour)}`, { visible: p.visible, visibleSet: new Set(p.visible) });
  return map;
}

function fileName(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}

/** `7` and `07` name the same hour. */
function normHour(hour: string): string {
  return hour.padStart(2, '0');
}
