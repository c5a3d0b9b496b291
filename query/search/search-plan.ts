import type { TraceIndexRow } from '../../functions/shared/trace-index.ts';
import { isCompactedKey } from '../../schemas/compaction.ts';
import type { StoreSnapshot, TraceHit } from '../lookup-plan.ts';
import type { TimeRange } from '../time-range.ts';
import { indexVerdict, type TraceFacts, type Verdict } from './search-match.ts';
import type { SearchQuery } from './traceql.ts';

/** One trace-kind row of the trace index as search reads it; the D21 columns are null in older index objects. */
export type SearchIndexRow = Omit<TraceIndexRow, 'id_kind' | 'trace_ids'>;

/** A trace as a search result shows it. */
export interface TraceSummary {
  readonly traceId: string;
  /** Epoch ms: the first span's start (the first row's time when the trace has no span). */
  readonly startMs: number;
  readonly durationMs: number;
  readonly rootService: string | null;
  readonly rootName: string | null;
  /** Services of its spans and log lines, sorted. */
  readonly services: readonly string[];
  readonly spans: number;
  readonly logs: number;
  /** Error spans and log lines; null when an index object predating `error_count` describes part of the trace. */
  readonly errors: number | null;
}

/** What the index says of one trace: its facts for the verdict, its summary and where its spans are. */
export interface IndexedTrace {
  readonly facts: TraceFacts;
  readonly summary: TraceSummary;
  /** The spans rows as lookups use them (every row, visible or not: `planTraceReads` resolves moved objects). */
  readonly hits: readonly TraceHit[];
}

/**
 * Folds the index rows of each trace into its facts and summary, counting each row of data once. The index can name
 * the same data twice while compaction is under way: the per-batch row names a raw object, the bucket row the
 * compacted object the raw one was merged into. Per trace, table and data partition, rows naming a visible object
 * count; rows naming an object no longer visible count only when no row of that partition names a visible compacted
 * object (the data moved and its bucket rows are not written yet). Sets (services) are unions and need no such care.
 */
export function summariseTraces(snapshot: StoreSnapshot, rows: readonly SearchIndexRow[]): Map<string, IndexedTrace> {
  const visible = {
    logs: new Set(snapshot.data.logs.flatMap((p) => p.visible)),
    spans: new Set(snapshot.data.spans.flatMap((p) => p.visible)),
  };
  const byTrace = new Map<string, SearchIndexRow[]>();
  for (const row of rows) {
    const list = byTrace.get(row.id);
    if (list === undefined) byTrace.set(row.id, [row]);
    else list.push(row);
  }
  const out = new Map<string, IndexedTrace>();
  for (const [traceId, traceRows] of byTrace) out.set(traceId, foldTrace(traceId, countedRows(traceRows, visible)));
  return out;
}

/** The rows of one trace that describe its data exactly once (see {@link summariseTraces}). */
function countedRows(
  rows: readonly SearchIndexRow[],
  visible: Readonly<Record<'logs' | 'spans', ReadonlySet<string>>>,
): { counted: SearchIndexRow[]; all: SearchIndexRow[] } {
  const unique = new Map<string, SearchIndexRow>();
  for (const row of rows) unique.set(`${row.data_table}\n${row.object_key}`, row);
  const all = [...unique.values()];
  const compactedVisible = new Set<string>();
  for (const row of all) {
    if (visible[row.data_table].has(row.object_key) && isCompactedKey(row.object_key))
      compactedVisible.add(partitionOf(row));
  }
  const counted = all.filter(
    (row) => visible[row.data_table].has(row.object_key) || !compactedVisible.has(partitionOf(row)),
  );
  return { counted, all };
}

function partitionOf(row: SearchIndexRow): string {
  return `${row.data_table}/${row.data_dt}/${row.data_hour.padStart(2, '0')}`;
}

function foldTrace(traceId: string, rows: { counted: SearchIndexRow[]; all: SearchIndexRow[] }): IndexedTrace {
  const services = new Set<string>();
  const spanServices = new Set<string>();
  let errorServices: Set<string> | null = new Set<string>();
  let error = false;
  let spans = 0;
  let logs = 0;
  let errors: number | null = 0;
  let root: TraceFacts['root'] = null;
  let spanFirst = Number.POSITIVE_INFINITY;
  let spanLast = Number.NEGATIVE_INFINITY;
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  for (const row of rows.counted) {
    const names = row.services === '' ? [] : row.services.split(',');
    for (const s of names) services.add(s);
    first = Math.min(first, row.first_time);
    last = Math.max(last, row.last_time);
    if (errors !== null) errors = row.error_count === null ? null : errors + row.error_count;
    if (row.data_table === 'logs') {
      logs += row.log_count;
      continue;
    }
    spans += row.span_count;
    for (const s of names) spanServices.add(s);
    spanFirst = Math.min(spanFirst, row.first_time);
    spanLast = Math.max(spanLast, row.last_time);
    if (row.error) {
      error = true;
      if (row.error_services === null) errorServices = null;
      else if (errorServices !== null)
        for (const s of row.error_services.split(',')) if (s !== '') errorServices.add(s);
    }
    if (root === null && row.root_name !== null) root = { service: row.root_service, name: row.root_name };
  }
  const hasSpans = spans > 0;
  const startMs = hasSpans ? spanFirst : first;
  const endMs = hasSpans ? spanLast : last;
  const hits: TraceHit[] = [];
  for (const row of rows.all) {
    if (row.data_table !== 'spans') continue;
    hits.push({ id: traceId, table: 'spans', dt: row.data_dt, hour: row.data_hour, objectKey: row.object_key });
  }
  return {
    facts: {
      services: spanServices,
      errorServices,
      error,
      spans,
      root,
      firstMs: Number.isFinite(startMs) ? startMs : 0,
      lastMs: Number.isFinite(endMs) ? endMs : 0,
    },
    summary: {
      traceId,
      startMs: Number.isFinite(startMs) ? startMs : 0,
      durationMs: Number.isFinite(startMs) ? endMs - startMs : 0,
      rootService: root?.service ?? null,
      rootName: root?.name ?? null,
      services: [...services].sort(),
      spans,
      logs,
      errors,
    },
    hits,
  };
}

/** A trace the search has to consider, with what the index decided. */
export interface Candidate {
  readonly traceId: string;
  readonly verdict: Verdict;
  /** Undefined for a trace only unindexed data holds (the index knows nothing of it). */
  readonly indexed: IndexedTrace | undefined;
  /** For ordering: the start the index gives, or +∞ for an unindexed trace (read first, so never skipped). */
  readonly startMs: number;
}

/** Whether a trace's time range (epoch ms) overlaps the search's range. */
export function overlaps(firstMs: number, lastMs: number, range: TimeRange): boolean {
  if (range.since !== undefined && lastMs < range.since) return false;
  if (range.until !== undefined && firstMs > range.until) return false;
  return true;
}

/**
 * The traces of the range a search may return, newest first, each with the index's verdict: `no` dropped, `yes`
 * taken as is, `maybe` to be read. Traces seen in unindexed data objects (`unindexed`) are `maybe` whatever the index
 * says of their other rows: the index does not describe all of their spans.
 */
export function planSearch(
  query: SearchQuery,
  traces: ReadonlyMap<string, IndexedTrace>,
  unindexed: ReadonlySet<string>,
  range: TimeRange,
): Candidate[] {
  const out: Candidate[] = [];
  for (const [traceId, indexed] of traces) {
    if (unindexed.has(traceId)) {
      out.push({ traceId, verdict: 'maybe', indexed, startMs: Number.POSITIVE_INFINITY });
      continue;
    }
    if (!overlaps(indexed.facts.firstMs, indexed.facts.lastMs, range)) continue;
    const verdict = indexVerdict(query, indexed.facts);
    if (verdict !== 'no') out.push({ traceId, verdict, indexed, startMs: indexed.summary.startMs });
  }
  for (const traceId of unindexed) {
    if (!traces.has(traceId))
      out.push({ traceId, verdict: 'maybe', indexed: undefined, startMs: Number.POSITIVE_INFINITY });
  }
  return out.sort((a, b) => b.startMs - a.startMs || (a.traceId < b.traceId ? -1 : a.traceId > b.traceId ? 1 : 0));
}

/**
 * The most traces one step reads. Steps grow because a compacted hour is sorted by trace id: the newest 1,000 traces
 * of an hour have ids all over its row groups, so fixed steps of 1,000 read most of the hour's row groups once per
 * step (at 10 M rows, "every match" read 193 % of a full scan). Doubling steps read an hour's row groups a few times
 * at most, and a search with a small limit still stops after its first step.
 */
export const MAX_CHUNK = 64_000;

/** How many traces the step after one of `chunk` traces reads: twice as many, up to {@link MAX_CHUNK}. */
export function nextChunk(chunk: number): number {
  return Math.max(chunk, Math.min(chunk * 2, MAX_CHUNK));
}

/**
 * The next traces to read: walking the candidates newest first, the `maybe` ones up to `chunk` of them, stopping
 * once `limit` results are certain ahead of them. Returns an empty list when the first `limit` undecided-free
 * candidates are all `yes` (nothing left to read).
 */
export function nextReads(
  candidates: readonly Candidate[],
  decided: ReadonlyMap<string, boolean>,
  limit: number,
  chunk: number,
): Candidate[] {
  const reads: Candidate[] = [];
  let certain = 0;
  for (const c of candidates) {
    if (certain >= limit) break;
    const known = c.verdict === 'yes' ? true : decided.get(c.traceId);
    if (known === true) certain++;
    else if (known === undefined) {
      reads.push(c);
      if (reads.length >= chunk) break;
    }
  }
  return reads;
}
