import { isCompactedKey, isRewrittenInPlace } from '../../schemas/compaction.ts';
import { describeError } from '../../schemas/errors.ts';
import type { TraceIndexRow } from '../shared/trace-index.ts';
import { cleanupHour } from './cleanup.ts';
import { compactHour } from './compact-hour.ts';
import { compactIndexHour } from './compact-index.ts';
import type { CompactDeps } from './deps.ts';
import {
  compactedGeneration,
  DATA_TABLES,
  type HourPartition,
  hourEndMs,
  hourOfKey,
  type ManifestTable,
  manifestGeneration,
} from './layout.ts';
import { type MergeIndexResult, mergeIndexHour } from './merge-index.ts';

const DAY_MS = 86_400_000;
const TABLES: readonly ManifestTable[] = ['logs', 'spans', 'trace_index'];

/** What a run did to one hour. */
export interface HourOutcome extends HourPartition {
  /** Generations written per data table by this run (0: none). */
  readonly generations: { readonly logs: number; readonly spans: number };
  readonly index: 'up-to-date' | 'compacted' | 'lost-race' | 'skipped';
  readonly cleanup: 'done' | 'waiting' | 'blocked' | 'skipped';
  readonly deleted: number;
  /** Rows made visible in compacted objects by this run, over both data tables. */
  readonly rows: number;
  /** Set when the hour failed; the next run retries it from what is in the store. */
  readonly error?: string;
}

/** What a run did to the index of an hour not compacted yet (D24). */
export type IndexMergeOutcome = HourPartition &
  (MergeIndexResult | { readonly status: 'failed'; readonly error: string });

/** The result of one scheduled run. */
export interface CompactionRunSummary {
  readonly hours: readonly HourOutcome[];
  /** Hours that needed work but were left for the next run (time budget or `maxHoursPerRun`). */
  readonly deferred: number;
  /** Hours whose index objects were looked at for merging (hours not due for compaction yet: the open ones). */
  readonly merged: readonly IndexMergeOutcome[];
  /** Hours that failed, compaction or index merge. */
  readonly failed: number;
}

/**
 * One scheduled run of the compactor (every minute). First merges the index of the hours not due for compaction
 * (`mergeIndexHour`, decision D24: the open hour a minute at a time, a closed one folded into the buckets). Then finds
 * the closed hours (hour end + `settleMs` ≤ now) of the last `lookbackDays`
 * days that have work — raw objects (new, late, or covered and awaiting deletion), older manifests, or compacted
 * objects outside the current generation — and, oldest first, for at most `maxHoursPerRun` hours and while the
 * time budget lasts: compacts `logs` and `spans` (several generations when an hour exceeds the row budget), then
 * re-partitions the hour's index, then cleans up past the grace period. A failing hour is logged and counted; the
 * others still run.
 */
export async function runCompaction(deps: CompactDeps): Promise<CompactionRunSummary> {
  const started = deps.clock();
  const { config } = deps;
  const listed = await listHours(deps, started);
  // The open hours' index first: a minute's merge is small, and recent data is what lookups ask for most.
  const merged: IndexMergeOutcome[] = [];
  for (const p of indexMergeHours(listed, started, config.settleMs)) merged.push(await mergeOne(deps, p));
  const candidates = candidateHours(listed, started, config.settleMs);
  const hours: HourOutcome[] = [];
  let deferred = 0;
  for (const p of candidates) {
    if (hours.length >= config.maxHoursPerRun || deps.clock() - started >= config.timeBudgetMs) {
      deferred++;
      continue;
    }
    hours.push(await processHour(deps, p, started));
  }
  const failed = hours.filter((h) => h.error !== undefined).length + merged.filter((m) => m.status === 'failed').length;
  deps.logger.info('compaction run finished', {
    hours: hours.length,
    deferred,
    index_merges: merged.filter((m) => m.status === 'merged').length,
    failed,
    rows: hours.reduce((n, h) => n + h.rows, 0),
    deleted: hours.reduce((n, h) => n + h.deleted, 0),
    duration_ms: deps.clock() - started,
  });
  return { hours, deferred, merged, failed };
}

async function mergeOne(deps: CompactDeps, p: HourPartition): Promise<IndexMergeOutcome> {
  try {
    return { ...p, ...(await mergeIndexHour(deps, p)) };
  } catch (error) {
    const message = describeError(error);
    deps.logger.error('merging an hour of index objects failed; the next run retries it', { ...p, error: message });
    return { ...p, status: 'failed', error: message };
  }
}

async function processHour(deps: CompactDeps, p: HourPartition, started: number): Promise<HourOutcome> {
  const generations = { logs: 0, spans: 0 };
  let rows = 0;
  let index: HourOutcome['index'] = 'skipped';
  let cleanup: HourOutcome['cleanup'] = 'skipped';
  let deleted = 0;
  try {
    const known = new Map<string, readonly TraceIndexRow[]>();
    let lostRace = false;
    for (const table of DATA_TABLES) {
      // An hour above the row budget takes several generations; each covers the next part of its raw objects.
      for (;;) {
        const result = await compactHour(deps, { table, ...p });
        if (result.status === 'lost-race') lostRace = true;
        if (result.status !== 'compacted') break;
        generations[table] = result.generation;
        rows += result.rows;
        for (const [key, list] of result.indexRows) known.set(key, list);
        if (result.complete || deps.clock() - started >= deps.config.timeBudgetMs) break;
      }
    }
    // Another compactor is on this hour: it derives the index and cleans up after its own manifest.
    if (!lostRace) {
      index = (await compactIndexHour(deps, p, known)).status;
      if (index !== 'lost-race') {
        const cleaned = await cleanupHour(deps, p);
        cleanup = cleaned.status;
        deleted = cleaned.deleted;
      }
    }
    return { ...p, generations, index, cleanup, deleted, rows };
  } catch (error) {
    const message = describeError(error);
    deps.logger.error('compacting an hour failed; the next run retries it', { dt: p.dt, hour: p.hour, error: message });
    return { ...p, generations, index, cleanup, deleted, rows, error: message };
  }
}

/** Per hour: the keys of each table's partition and the generations of its manifests. */
interface HourListing {
  readonly keys: Map<ManifestTable, string[]>;
  readonly manifests: Map<ManifestTable, number[]>;
}

/**
 * Closed hours with work, oldest first. One LIST (paged) per table and day for the data, and one per table and day
 * for the manifests: `3 × 2 × lookbackDays` listings per run, whatever the number of hours.
 */
export async function findCandidateHours(deps: CompactDeps, now: number): Promise<HourPartition[]> {
  return candidateHours(await listHours(deps, now), now, deps.config.settleMs);
}

/** Every hour partition of the lookback days with what is listed in it, by `dt/hour`. */
async function listHours(deps: CompactDeps, now: number): Promise<Map<string, HourListing>> {
  const { config } = deps;
  const byHour = new Map<string, HourListing>();
  const entry = (p: HourPartition): HourListing => {
    const id = `${p.dt}/${p.hour}`;
    let listing = byHour.get(id);
    if (listing === undefined) {
      listing = { keys: new Map(), manifests: new Map() };
      byHour.set(id, listing);
    }
    return listing;
  };
  for (let d = config.lookbackDays - 1; d >= 0; d--) {
    const dt = new Date(now - d * DAY_MS).toISOString().slice(0, 10);
    for (const table of TABLES) {
      for (const key of await deps.store.list(`tables/${table}/dt=${dt}/`)) {
        const p = hourOfKey(key);
        if (p === undefined) continue;
        const keys = entry(p).keys;
        const list = keys.get(table) ?? [];
        list.push(key);
        keys.set(table, list);
      }
      for (const key of await deps.store.list(`tables/_manifests/${table}/dt=${dt}/`)) {
        const p = hourOfKey(key);
        const generation = manifestGeneration(key);
        if (p === undefined || generation === undefined) continue;
        const manifests = entry(p).manifests;
        const list = manifests.get(table) ?? [];
        list.push(generation);
        manifests.set(table, list);
      }
    }
  }
  return byHour;
}

function candidateHours(listed: ReadonlyMap<string, HourListing>, now: number, settleMs: number): HourPartition[] {
  const candidates: HourPartition[] = [];
  for (const [id, listing] of listed) {
    const p = partitionOf(id);
    if (hourEndMs(p) + settleMs > now) continue;
    if (hasWork(listing)) candidates.push(p);
  }
  return candidates.sort(byTime);
}

/**
 * Hours whose index the middle tier merges (D24), oldest first: not due for compaction yet (open, or closed for
 * less than the settle time), with a per-batch index object, and no data compacted.
 */
function indexMergeHours(listed: ReadonlyMap<string, HourListing>, now: number, settleMs: number): HourPartition[] {
  const hours: HourPartition[] = [];
  for (const [id, listing] of listed) {
    const p = partitionOf(id);
    if (hourEndMs(p) + settleMs <= now) continue;
    if ((listing.manifests.get('logs') ?? []).length > 0 || (listing.manifests.get('spans') ?? []).length > 0) continue;
    const index = listing.keys.get('trace_index') ?? [];
    if (index.some((k) => !isCompactedKey(k) && !isRewrittenInPlace(k))) hours.push(p);
  }
  return hours.sort(byTime);
}

function partitionOf(id: string): HourPartition {
  const [dt = '', hour = ''] = id.split('/');
  return { dt, hour };
}

function byTime(a: HourPartition, b: HourPartition): number {
  return a.dt === b.dt ? (a.hour < b.hour ? -1 : 1) : a.dt < b.dt ? -1 : 1;
}

/**
 * Work is left when a partition holds a raw object (not compacted yet, or covered and waiting to be deleted; replay
 * objects are never compacted, see `isRewrittenInPlace`), a table
 * has more than one manifest (older ones await deletion), or a compacted object is not of the current generation
 * (superseded, orphaned, or carried over from an earlier generation of a large hour).
 */
function hasWork(listing: HourListing): boolean {
  for (const table of TABLES) {
    const generations = listing.manifests.get(table) ?? [];
    if (generations.length > 1) return true;
    const top = generations[0] ?? 0;
    for (const key of listing.keys.get(table) ?? []) {
      if (isRewrittenInPlace(key)) continue;
      if (!isCompactedKey(key) || compactedGeneration(key) !== top) return true;
    }
  }
  return false;
}
