import type { TableName } from '../schemas/columns.ts';
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

/**
 * An index hit of a request id, with the row's `trace_ids`: the trace ids of the request's rows in that object,
 * comma-joined, or null — the request has no traced rows there, or the index object predates the column.
 */
export interface RequestHit extends IndexHit {
  readonly traceIds: string | null;
  /** The request's rows in the object (the index row's `span_count` + `log_count`). */
  readonly rows: number;
}

/** What a request lookup without a time range reads. */
export interface RequestPlan {
  /** Every object that may hold rows of the request (as {@link planDataReads}): read for its untraced rows. */
  readonly objects: TableObjects;
  /** The objects whose trace ids of the request the index does not give: read (`trace_id`, `request_id`) for them. */
  readonly scan: TableObjects;
  /** The trace ids the index gives for the other objects, sorted, unique. */
  readonly traceIds: string[];
  /**
   * Per table, the request's rows there by the index's count, when no object of the table is scanned (every object
   * holding the request's rows is a visible hit listing its traces); else null. When the rows of the listed traces
   * include that many rows of the request, the request has no untraced rows in the table.
   */
  readonly indexedRows: Record<TableName, number | null>;
}

/**
 * Splits a request's reads by what the index already knows. A hit's `trace_ids` is trusted only when the hit's
 * object is itself visible: then the listed traces are exactly those of the request's rows in an object the lookup
 * would read. A hit without `trace_ids`, or whose object compaction replaced (its rows now sit in other objects of
 * the partition), is planned as today ({@link planDataReads}) into `scan`, as is every unindexed object. So the
 * traces found — listed plus scanned — are the traces of the request's rows in `objects`, the same set a scan of all
 * of `objects` finds.
 */
export function planRequestReads(snapshot: StoreSnapshot, hits: readonly RequestHit[]): RequestPlan {
  const visible = {
    logs: new Set(snapshot.data.logs.flatMap((p) => p.visible)),
    spans: new Set(snapshot.data.spans.flatMap((p) => p.visible)),
  };
  const listed = new Set<string>();
  const unlisted: IndexHit[] = [];
  // The same object can be named twice (its per-batch index row and its bucket row): counted once.
  const counted = { logs: new Map<string, number>(), spans: new Map<string, number>() };
  for (const hit of hits) {
    if (hit.traceIds !== null && visible[hit.table].has(hit.objectKey)) {
      for (const traceId of hit.traceIds.split(',')) if (traceId !== '') listed.add(traceId);
      counted[hit.table].set(hit.objectKey, hit.rows);
    } else {
      unlisted.push(hit);
    }
  }
  const scan = planDataReads(snapshot, unlisted);
  const total = (table: TableName): number | null => {
    if (scan[table].length > 0) return null;
    let rows = 0;
    for (const n of counted[table].values()) rows += n;
    return rows;
  };
  return {
    objects: planDataReads(snapshot, hits),
    scan,
    traceIds: [...listed].sort(),
    indexedRows: { logs: total('logs'), spans: total('spans') },
  };
}

/** An index hit of one of several trace ids looked up together. */
export interface TraceHit extends IndexHit {
  readonly id: string;
}

/** One read of a trace lookup: these objects of one table, for these trace ids. */
export interface TraceRead {
  readonly table: TableName;
  readonly keys: string[];
  readonly ids: string[];
}

/**
 * The reads of a lookup of several trace ids (a request's traces): {@link planDataReads} per id, then the objects
 * grouped by the ids planned for them, so each object is searched only for the ids whose index rows name it. Sorted
 * trace ids spread over the whole id range, so every row group's min/max admits some id: searching an object for an
 * id it does not hold would read a row group for nothing. With one id: one read per table, as `planDataReads` says.
 */
export function planTraceReads(
  snapshot: StoreSnapshot,
  ids: readonly string[],
  hits: readonly TraceHit[],
): TraceRead[] {
  const hitsOf = new Map<string, IndexHit[]>();
  for (const hit of hits) {
    const list = hitsOf.get(hit.id);
    if (list === undefined) hitsOf.set(hit.id, [hit]);
    else list.push(hit);
  }
  const idsOf = { logs: new Map<string, string[]>(), spans: new Map<string, string[]>() };
  for (const id of [...new Set(ids)].sort()) {
    const plan = planDataReads(snapshot, hitsOf.get(id) ?? []);
    for (const table of ['logs', 'spans'] as const) {
      for (const key of plan[table]) {
        const list = idsOf[table].get(key);
        if (list === undefined) idsOf[table].set(key, [id]);
        else list.push(id);
      }
    }
  }
  const reads: TraceRead[] = [];
  for (const table of ['logs', 'spans'] as const) {
    const groups = new Map<string, TraceRead>();
    for (const [key, keyIds] of [...idsOf[table]].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const group = keyIds.join(',');
      const read = groups.get(group);
      if (read === undefined) groups.set(group, { table, keys: [key], ids: keyIds });
      else read.keys.push(key);
    }
    reads.push(...groups.values());
  }
  return reads;
}
