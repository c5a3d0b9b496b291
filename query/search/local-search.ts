import { join } from 'node:path';
import {
  type DuckDBConnection,
  DuckDBInstance,
  type DuckDBType,
  type DuckDBValue,
  LIST,
  listValue,
  VARCHAR,
} from '@duckdb/node-api';
import { z } from 'zod';
import { dropRetriedCopies } from '../../schemas/duplicates.ts';
import { SkeinError } from '../../schemas/errors.ts';
import { planTraceReads, type StoreSnapshot, unindexedObjects } from '../lookup-plan.ts';
import { type LookupStats, ReadTracker } from '../read-stats.ts';
import { type LocalStore, listIndexDays, listPartitions, objectKeyOf, objectPath } from '../store-listing.ts';
import type { TimeRange } from '../time-range.ts';
import { matchTrace, SEARCH_SPAN_COLUMNS, type SearchSpan } from './search-match.ts';
import {
  type Candidate,
  nextChunk,
  nextReads,
  overlaps,
  planSearch,
  type SearchIndexRow,
  summariseTraces,
  type TraceSummary,
} from './search-plan.ts';
import type { SearchQuery } from './traceql.ts';

export interface LocalSearch extends LocalStore {
  readonly query: SearchQuery;
  /** Epoch ms; search always has a range (the CLI defaults `since` to an hour ago). */
  readonly range: TimeRange;
  readonly limit: number;
  /**
   * Traces read from the data in the first step when the index cannot decide them (newest first); each further step
   * reads twice as many as the one before, up to 64,000 (`nextChunk`).
   */
  readonly chunk?: number;
  readonly onProgress?: (message: string) => void;
}

/** One search result: the trace, and how many of its spans satisfied a spanset when the data was read. */
export interface SearchHit extends TraceSummary {
  /** Null when the index alone decided the trace (no span was read). */
  readonly matchedSpans: number | null;
}

export interface SearchStats extends LookupStats {
  /** Traces of the range the index could not rule out. */
  readonly candidates: number;
  /** Of those, decided by the index alone. */
  readonly decidedByIndex: number;
  /** Of those, whose spans were read. */
  readonly readFromData: number;
}

export interface LocalSearchResult {
  /** Newest first, at most `limit`. */
  readonly traces: SearchHit[];
  readonly stats: SearchStats;
}

const DEFAULT_CHUNK = 1_000;
const HOUR_MS = 3_600_000;

const READ_TABLE =
  "read_parquet($files, hive_partitioning = true, hive_types = {'dt': VARCHAR, 'hour': VARCHAR}, union_by_name = true)";
const READ_INDEX = 'read_parquet($files, hive_partitioning = false, union_by_name = true)';
/** Columns of the index search reads; the D21 ones are absent from older index objects. */
const INDEX_COLUMNS = [
  'id',
  'id_kind',
  'data_table',
  'first_time',
  'last_time',
  'services',
  'span_count',
  'log_count',
  'error',
  'error_count',
  'error_services',
  'root_service',
  'root_name',
  'data_dt',
  'data_hour',
  'object_key',
];
const D21_COLUMNS = ['error_count', 'error_services', 'root_service', 'root_name'] as const;

/** The SQL of each step, for documentation and tests. Files are bound as `$files`, trace ids as `$ids`. */
export const LOCAL_SEARCH_SQL = {
  /** The trace rows of the index overlapping the range (bounds as epoch ms; a missing bound as ±2^62). */
  indexRows: (withD21Columns: boolean) =>
    `SELECT id, data_table, epoch_ms(first_time) AS first_time, epoch_ms(last_time) AS last_time, services, span_count, log_count, error, ${
      withD21Columns ? D21_COLUMNS.join(', ') : D21_COLUMNS.map((c) => `NULL AS ${c}`).join(', ')
    }, data_dt, data_hour, object_key FROM ${READ_INDEX} WHERE id_kind = 'trace' AND epoch_ms(last_time) >= $since AND epoch_ms(first_time) <= $until`,
  /** The traces of some data objects (the unindexed ones). */
  tracesIn: () => `SELECT DISTINCT trace_id FROM ${READ_TABLE} WHERE trace_id IS NOT NULL`,
  /** The spans of some traces, with the columns the matcher reads. */
  spansOf: () =>
    `SELECT ${[...SEARCH_SPAN_COLUMNS, ...STREAM_POSITION_COLUMNS].join(', ')} FROM ${READ_TABLE} WHERE list_contains($ids, trace_id)`,
};

const NO_D21_COLUMN = /column "?(error_count|error_services|root_service|root_name)"? not found/i;

const IndexRow = z.object({
  id: z.string(),
  data_table: z.enum(['logs', 'spans']),
  first_time: z.bigint().transform(Number),
  last_time: z.bigint().transform(Number),
  services: z.string(),
  span_count: z.number().int(),
  log_count: z.number().int(),
  error: z.boolean(),
  error_count: z.number().int().nullable(),
  error_services: z.string().nullable(),
  root_service: z.string().nullable(),
  root_name: z.string().nullable(),
  data_dt: z.string(),
  data_hour: z.string(),
  object_key: z.string(),
});

/** Where a span came from on the stream: what the retried-copies rule (D18) orders copies by. */
const STREAM_POSITION_COLUMNS = ['shard_id', 'sequence_number', 'sub_sequence_number', 'record_ordinal'] as const;

const SpanRow = z.object({
  shard_id: z.string(),
  sequence_number: z.string(),
  sub_sequence_number: z.coerce.number(),
  record_ordinal: z.coerce.number(),
  trace_id: z.string(),
  span_id: z.string().nullable(),
  parent_span_id: z.string().nullable(),
  name: z.string(),
  kind: z.string(),
  status_code: z.string(),
  status_message: z.string().nullable(),
  service_name: z.string().nullable(),
  start_time_unix_nano: z.bigint(),
  end_time_unix_nano: z.bigint(),
  duration_nano: z.bigint(),
  attributes: z.string(),
  resource_attributes: z.string(),
});

/**
 * `skein query search` on the local store: the trace index of the range decides what it can (docs/search.md says
 * which filters that is); the spans of the traces it cannot decide are read from the objects the index names for
 * them, newest traces first, until `limit` results are certain. Every read is measured as lookups measure theirs.
 */
export async function searchLocal(search: LocalSearch): Promise<LocalSearchResult> {
  const started = performance.now();
  const store: LocalStore = { dataDir: search.dataDir, bucket: search.bucket };
  const progress = search.onProgress ?? (() => {});
  try {
    progress('listing the index and the data objects in range');
    const [spans, index] = await Promise.all([
      listPartitions(store, 'spans', search.range),
      listPartitions(store, 'trace_index', search.range),
    ]);
    // Logs are never read by search: their index rows give the log counts.
    const snapshot: StoreSnapshot = { data: { logs: [], spans }, index };
    const buckets = await listIndexDays(store, days(search.range));
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    try {
      const run = new SearchRun(connection, store, snapshot, new ReadTracker(), progress);
      const traces = await run.search(search, buckets);
      const stats = run.finish(performance.now() - started);
      return { traces, stats };
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  } catch (error) {
    if (error instanceof SkeinError) throw error;
    throw new SkeinError(
      'query_failed',
      `searching the local store under ${join(search.dataDir, search.bucket)} failed: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}

/** The arrival days whose compacted index may hold rows of the range (partitions are widened by an hour). */
function days(range: TimeRange): string[] {
  const until = range.until ?? Date.now();
  const since = range.since ?? until - HOUR_MS;
  const out: string[] = [];
  const day = 86_400_000;
  for (let t = Math.floor((since - HOUR_MS) / day) * day; t <= until + HOUR_MS; t += day)
    out.push(new Date(t).toISOString().slice(0, 10));
  return out;
}

class SearchRun {
  private readonly keyOf: (path: string) => string;
  private candidates = 0;
  private decidedByIndex = 0;
  private readFromData = 0;

  constructor(
    private readonly connection: DuckDBConnection,
    private readonly store: LocalStore,
    private readonly snapshot: StoreSnapshot,
    private readonly tracker: ReadTracker,
    private readonly progress: (message: string) => void,
  ) {
    this.keyOf = (path) => objectKeyOf(store, path);
  }

  async search(search: LocalSearch, buckets: readonly string[]): Promise<SearchHit[]> {
    const indexKeys = [...this.snapshot.index.flatMap((p) => p.visible), ...buckets];
    const rows = await this.indexRows(indexKeys, search.range);
    const traces = summariseTraces(this.snapshot, rows);
    const unindexed = await this.unindexedTraces();
    const candidates = planSearch(search.query, traces, unindexed, search.range);
    this.candidates = candidates.length;

    const decided = new Map<string, boolean>();
    const matched = new Map<string, { spans: number; summary: TraceSummary }>();
    let chunk = Math.max(search.chunk ?? DEFAULT_CHUNK, 1);
    for (; ; chunk = nextChunk(chunk)) {
      const reads = nextReads(candidates, decided, search.limit, chunk);
      if (reads.length === 0) break;
      this.progress(`reading the spans of ${reads.length} trace(s) the index cannot decide`);
      const spansByTrace = await this.spansOf(reads);
      for (const c of reads) {
        const spans = spansByTrace.get(c.traceId) ?? [];
        const result = matchTrace(search.query, spans);
        const summary = c.indexed ? withSpansRead(c.indexed.summary, spans) : summaryFromSpans(c.traceId, spans);
        const inRange =
          c.indexed === undefined
            ? spans.length > 0 && overlaps(summary.startMs, summary.startMs + summary.durationMs, search.range)
            : true;
        decided.set(c.traceId, result.matched && inRange);
        if (result.matched && inRange) matched.set(c.traceId, { spans: result.matchedSpans, summary });
        this.readFromData++;
      }
    }
    const hits: SearchHit[] = [];
    for (const c of candidates) {
      if (c.verdict === 'yes' && c.indexed !== undefined) {
        this.decidedByIndex++;
        hits.push({ ...c.indexed.summary, matchedSpans: null });
      } else {
        const m = matched.get(c.traceId);
        if (m !== undefined) hits.push({ ...m.summary, matchedSpans: m.spans });
      }
    }
    return hits
      .sort((a, b) => b.startMs - a.startMs || (a.traceId < b.traceId ? -1 : a.traceId > b.traceId ? 1 : 0))
      .slice(0, search.limit);
  }

  finish(latencyMs: number): SearchStats {
    return {
      ...this.tracker.finish('index', latencyMs),
      candidates: this.candidates,
      decidedByIndex: this.decidedByIndex,
      readFromData: this.readFromData,
    };
  }

  /** The index's trace rows overlapping the range, from every index object of the range (all row groups). */
  private async indexRows(keys: readonly string[], range: TimeRange): Promise<SearchIndexRow[]> {
    if (keys.length === 0) return [];
    this.progress(`reading ${keys.length} index object(s)`);
    const files = keys.map((k) => objectPath(this.store, k));
    await this.tracker.measure(this.connection, 'index', files, this.keyOf, 'id', [], {
      everyGroup: true,
      columns: INDEX_COLUMNS,
    });
    const bounds = {
      since: BigInt(Math.floor(range.since ?? -(2 ** 52))),
      until: BigInt(Math.ceil(range.until ?? 2 ** 52)),
    };
    let raw: Record<string, unknown>[];
    try {
      raw = await run(this.connection, LOCAL_SEARCH_SQL.indexRows(true), files, bounds);
    } catch (error) {
      // No index object read has the D21 columns yet (all written before them): the index knows less, no more.
      if (!NO_D21_COLUMN.test(error instanceof Error ? error.message : String(error))) throw error;
      raw = await run(this.connection, LOCAL_SEARCH_SQL.indexRows(false), files, bounds);
    }
    return raw.map((value) => IndexRow.parse(value));
  }

  /**
   * The traces of the spans objects no index object describes (written before the index, or whose index PUT has not
   * landed): the index cannot decide them, so they are read. One column read.
   */
  private async unindexedTraces(): Promise<Set<string>> {
    const keys = unindexedObjects(this.snapshot).spans;
    if (keys.length === 0) return new Set();
    this.progress(`reading the trace ids of ${keys.length} unindexed spans object(s)`);
    const files = keys.map((k) => objectPath(this.store, k));
    await this.tracker.measure(this.connection, 'data', files, this.keyOf, 'trace_id', [], {
      everyGroup: true,
      columns: ['trace_id'],
    });
    const raw = await run(this.connection, LOCAL_SEARCH_SQL.tracesIn(), files, {});
    return new Set(raw.map((r) => z.object({ trace_id: z.string() }).parse(r).trace_id));
  }

  /** The spans of some traces, from the objects the index names for each (as a lookup of those ids reads them). */
  private async spansOf(candidates: readonly Candidate[]): Promise<Map<string, SearchSpan[]>> {
    const ids = candidates.map((c) => c.traceId);
    const hits = candidates.flatMap((c) => c.indexed?.hits ?? []);
    const out = new Map<string, SearchSpan[]>();
    for (const read of planTraceReads(this.snapshot, ids, hits)) {
      if (read.table !== 'spans' || read.keys.length === 0) continue;
      const files = read.keys.map((k) => objectPath(this.store, k));
      await this.tracker.measure(this.connection, 'data', files, this.keyOf, 'trace_id', read.ids, {
        columns: SEARCH_SPAN_COLUMNS,
      });
      for (const span of await readSpans(this.connection, files, read.ids)) {
        const list = out.get(span.trace_id);
        if (list === undefined) out.set(span.trace_id, [span]);
        else list.push(span);
      }
    }
    return out;
  }
}

/**
 * THE place search reads span rows: every span the matcher sees comes through here, so a rule that keeps one row per
 * (trace_id, span_id) applies to search by filtering the rows this returns.
 */
async function readSpans(
  connection: DuckDBConnection,
  files: readonly string[],
  ids: readonly string[],
): Promise<SearchSpan[]> {
  const raw = await run(connection, LOCAL_SEARCH_SQL.spansOf(), files, {}, ids);
  // A span a retrying producer sent twice is one span (D18): the copy first on the stream is kept, as lookups keep it.
  return dropRetriedCopies(
    'spans',
    raw.map((value) => SpanRow.parse(value)),
  ).rows;
}

/**
 * The index's summary of a trace whose spans were read: its span count is theirs, each span once (D18), where the
 * index counts a span a producer sent twice twice until compaction keeps one copy.
 */
function withSpansRead(summary: TraceSummary, spans: readonly SearchSpan[]): TraceSummary {
  return spans.length === 0 ? summary : { ...summary, spans: spans.length };
}

/** A trace only unindexed data holds: its summary from its spans (log lines not counted: null). */
function summaryFromSpans(traceId: string, spans: readonly SearchSpan[]): TraceSummary {
  let first = 0n;
  let last = 0n;
  let root: SearchSpan | undefined;
  const services = new Set<string>();
  let errors = 0;
  for (const [i, s] of spans.entries()) {
    if (i === 0 || s.start_time_unix_nano < first) first = s.start_time_unix_nano;
    if (i === 0 || s.end_time_unix_nano > last) last = s.end_time_unix_nano;
    if (root === undefined && (s.parent_span_id === null || s.parent_span_id === '')) root = s;
    if (s.service_name !== null) services.add(s.service_name);
    if (s.status_code === 'ERROR') errors++;
  }
  const startMs = Number(first / 1_000_000n);
  return {
    traceId,
    startMs,
    durationMs: Number(last / 1_000_000n) - startMs,
    rootService: root?.service_name ?? null,
    rootName: root?.name ?? null,
    services: [...services].sort(),
    spans: spans.length,
    logs: 0,
    errors,
  };
}

async function run(
  connection: DuckDBConnection,
  sql: string,
  files: readonly string[],
  numbers: Record<string, bigint>,
  ids?: readonly string[],
): Promise<Record<string, unknown>[]> {
  const values: Record<string, DuckDBValue> = { files: listValue([...files]) };
  const types: Record<string, DuckDBType> = { files: LIST(VARCHAR) };
  for (const [name, value] of Object.entries(numbers)) values[name] = value;
  if (ids !== undefined) {
    values.ids = listValue([...ids]);
    types.ids = LIST(VARCHAR);
  }
  const reader = await connection.runAndReadAll(sql, values, types);
  return reader.getRowObjectsJS();
}
