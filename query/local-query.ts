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
import { indexBucket } from '../functions/core/index-bucket.ts';
import { TABLE_NAMES, TABLES, type TableName } from '../schemas/columns.ts';
import { SkeinError } from '../schemas/errors.ts';
import {
  allVisibleObjects,
  planRequestReads,
  planTraceReads,
  type RequestHit,
  type RequestPlan,
  rawIndexObjects,
  type StoreSnapshot,
  type TraceHit,
  type TraceRead,
} from './lookup-plan.ts';
import { type LookupStats, ReadTracker } from './read-stats.ts';
import { compareRows, type QueryRow, ROW_SCHEMAS, withoutRetriedCopies } from './rows.ts';
import { type LocalStore, listIndexBucket, listPartitions, objectKeyOf, objectPath } from './store-listing.ts';
import type { TimeRange } from './time-range.ts';

export type { LookupStats } from './read-stats.ts';

export interface LocalQuery extends TimeRange {
  /** s3rver's folder (`dataDir` of endpoints.json). */
  readonly dataDir: string;
  readonly bucket: string;
  readonly by: 'trace' | 'request';
  /** Already normalised (`normaliseTraceId` / `normaliseRequestId`). */
  readonly id: string;
  /** One line per step of a long lookup (the CLI prints them on stderr). */
  readonly onProgress?: (message: string) => void;
}

export interface LocalQueryResult {
  /** Sorted by event time. */
  readonly rows: QueryRow[];
  /** Data objects read, over both tables (= `stats.objectsOpened`). */
  readonly filesScanned: number;
  readonly stats: LookupStats;
}

/**
 * The complete, visible Parquet objects of one table in the local store (paths), limited to the partitions that can
 * hold rows of `range`: raw objects a compaction manifest has not superseded, and that manifest's outputs.
 */
export async function listTableFiles(
  dataDir: string,
  bucket: string,
  table: TableName,
  range: TimeRange = {},
): Promise<string[]> {
  const store = { dataDir, bucket };
  const partitions = await listPartitions(store, table, range);
  return partitions.flatMap((p) => p.visible.map((key) => objectPath(store, key)));
}

/**
 * The file list is bound as a `LIST(VARCHAR)` parameter, never spliced into the SQL, so paths need no escaping and
 * glob characters in them mean nothing. `dt`/`hour` are VARCHAR as in Glue (DuckDB would guess DATE/BIGINT), and
 * `union_by_name` lets files of different writer versions be read together.
 */
const READ_TABLE =
  "read_parquet($files, hive_partitioning = true, hive_types = {'dt': VARCHAR, 'hour': VARCHAR}, union_by_name = true)";
/** Index objects live under two layouts (`dt=/hour=` and `bucket=/dt=`): no hive columns, they carry their own. */
const READ_INDEX = 'read_parquet($files, hive_partitioning = false, union_by_name = true)';

/** The columns of a table in schema order; TIMESTAMP columns as epoch milliseconds (TIMESTAMP or TIMESTAMPTZ). */
function selectList(table: TableName): string {
  return TABLES[table]
    .map((c) => (c.type === 'timestamp_ms' ? `epoch_ms(${ident(c.name)}) AS ${ident(c.name)}` : ident(c.name)))
    .join(', ');
}

function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function placeholders(count: number): string {
  return Array.from({ length: count }, (_, i) => `$v${i}`).join(', ');
}

/** The SQL of each step, for documentation and tests. Ids are bound as `$v0`, `$v1`, …; files as `$files`. */
export const LOCAL_QUERY_SQL = {
  /** Where the ids were written: index rows of the given kind, with the id each is of. */
  indexHits: (count: number) =>
    `SELECT DISTINCT id, data_table, data_dt, data_hour, object_key FROM ${READ_INDEX} WHERE id_kind = $kind AND id IN (${placeholders(count)})`,
  /** Where a request was written, with the trace ids of its rows in each object (`trace_ids`, null on old objects). */
  requestHits: (count: number) =>
    `SELECT DISTINCT data_table, data_dt, data_hour, object_key, trace_ids, span_count + log_count AS row_count FROM ${READ_INDEX} WHERE id_kind = 'request' AND id IN (${placeholders(count)})`,
  /** Rows of some traces (one equality for a single id, so DuckDB prunes row groups by min/max). */
  byTraces: (table: TableName, count: number) =>
    `SELECT ${selectList(table)} FROM ${READ_TABLE} WHERE ${count === 1 ? 'trace_id = $v0' : `trace_id IN (${placeholders(count)})`}`,
  /**
   * Step 1 of a request lookup, in the objects whose index rows do not list the request's trace ids (all objects
   * with a time range): the traces the request touched (two columns read).
   */
  tracesOfRequest: () =>
    `SELECT DISTINCT trace_id FROM ${READ_TABLE} WHERE request_id = $v0 AND trace_id IS NOT NULL ORDER BY trace_id`,
  /** The request's rows that belong to no trace (the trace rows come from the trace lookup). */
  untracedOfRequest: (table: TableName) =>
    `SELECT ${selectList(table)} FROM ${READ_TABLE} WHERE request_id = $v0 AND trace_id IS NULL`,
} as const;

/**
 * Looks up a trace or a request in the local store with DuckDB over the same Parquet objects Athena would read,
 * every partition through the compaction-manifest visibility rule, so each row is seen exactly once even while the
 * compactor runs.
 *
 * Without a time range the trace index says where to look: the compacted index bucket of the id plus every
 * per-batch index object, then only the data objects they name (or, when compaction replaced a named object, the
 * visible objects of its partition), plus any raw object no index object describes. With `since`/`until` the data
 * partitions in range are read directly. Either way the key predicate lets DuckDB prune row groups by min/max.
 *
 * `by: 'request'` returns the rows whose `request_id` matches plus every row of the traces those rows belong to.
 * No files (nothing ingested yet, or nothing in the time range) is an empty result, not an error.
 */
export async function queryLocal(query: LocalQuery): Promise<LocalQueryResult> {
  const started = performance.now();
  const store: LocalStore = { dataDir: query.dataDir, bucket: query.bucket };
  const range: TimeRange = { since: query.since, until: query.until };
  const mode: LookupStats['mode'] = range.since === undefined && range.until === undefined ? 'index' : 'time-range';
  const progress = query.onProgress ?? (() => {});
  for (let attempt = 1; ; attempt++) {
    const tracker = new ReadTracker();
    try {
      const snapshot = await snapshotStore(store, range, mode);
      const rows = await withConnection((connection) => {
        const lookup = new Lookup(connection, store, snapshot, mode, tracker, progress);
        return query.by === 'trace' ? lookup.trace(query.id) : lookup.request(query.id);
      });
      const unique = withoutRetriedCopies(rows);
      const stats = tracker.finish(mode, performance.now() - started, unique.dropped);
      return { rows: unique.rows.sort(compareRows), filesScanned: stats.objectsOpened, stats };
    } catch (error) {
      if (error instanceof SkeinError) throw error;
      // Compaction may delete superseded objects between our listing and DuckDB opening them: list again once.
      if (attempt === 1 && VANISHED_FILE.test(errorMessage(error))) {
        progress('an object vanished while reading (compaction?); listing again');
        continue;
      }
      throw new SkeinError(
        'query_failed',
        `reading the local store under ${join(query.dataDir, query.bucket)} failed: ${errorMessage(error)}`,
        { cause: error },
      );
    }
  }
}

const VANISHED_FILE = /no such file|no files found|cannot open file/i;

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function snapshotStore(store: LocalStore, range: TimeRange, mode: LookupStats['mode']): Promise<StoreSnapshot> {
  const [logs, spans, index] = await Promise.all([
    listPartitions(store, 'logs', range),
    listPartitions(store, 'spans', range),
    mode === 'index' ? listPartitions(store, 'trace_index') : Promise.resolve([]),
  ]);
  return { data: { logs, spans }, index };
}

async function withConnection<T>(body: (connection: DuckDBConnection) => Promise<T>): Promise<T> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    return await body(connection);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

const TraceIdRow = z.object({ trace_id: z.string() });

const IndexHitRow = z.object({
  data_table: z.enum(['logs', 'spans']),
  data_dt: z.string(),
  data_hour: z.string(),
  object_key: z.string(),
});

const TraceHitRow = IndexHitRow.extend({ id: z.string() });

const RequestHitRow = IndexHitRow.extend({ trace_ids: z.string().nullable(), row_count: z.number().int() });

/** DuckDB's binder error when no index object read has the `trace_ids` column (all written before it existed). */
const NO_TRACE_IDS_COLUMN = /column "?trace_ids"? not found/i;

/** The steps of one lookup over one snapshot; every read goes through the tracker. */
class Lookup {
  private readonly keyOf: (path: string) => string;

  constructor(
    private readonly connection: DuckDBConnection,
    private readonly store: LocalStore,
    private readonly snapshot: StoreSnapshot,
    private readonly mode: LookupStats['mode'],
    private readonly tracker: ReadTracker,
    private readonly progress: (message: string) => void,
  ) {
    this.keyOf = (path) => objectKeyOf(store, path);
  }

  async trace(id: string): Promise<QueryRow[]> {
    return this.traceRows([id]);
  }

  /**
   * A request: the trace ids its rows carry, then every row of those traces (pruned by `trace_id`), plus the
   * request's rows that carry no trace id (null trace ids sort last, so few groups hold them). Without a time range
   * the index rows of the request list its trace ids per object (`trace_ids`); only objects they do not cover are
   * read for them (only `trace_id` and `request_id` — request ids are not the sort key, so min/max prune them
   * poorly and whole rows would be read for nothing).
   */
  async request(id: string): Promise<QueryRow[]> {
    const plan = await this.requestPlan(id);
    const traceIds = new Set<string>(plan.traceIds);
    for (const table of TABLE_NAMES) {
      const scan = plan.scan[table];
      if (scan.length === 0) continue;
      this.progress(`reading ${scan.length} ${table} object(s) by request id for its traces`);
      const files = scan.map((k) => objectPath(this.store, k));
      await this.tracker.measure(this.connection, 'data', files, this.keyOf, 'request_id', [id], {
        columns: ['trace_id', 'request_id'],
      });
      for (const raw of await run(this.connection, LOCAL_QUERY_SQL.tracesOfRequest(), files, [id])) {
        traceIds.add(TraceIdRow.parse(raw).trace_id);
      }
    }
    const ids = [...traceIds].sort();
    const rows = ids.length === 0 ? [] : await this.traceRows(ids);
    const traced = { logs: 0, spans: 0 };
    for (const r of rows) if (r.row.request_id === id) traced[r.table]++;
    for (const table of TABLE_NAMES) {
      const keys = plan.objects[table];
      // Every row of the request the index counts in this table is among the trace rows: none is untraced.
      if (keys.length === 0 || plan.indexedRows[table] === traced[table]) continue;
      this.progress(`reading ${keys.length} ${table} object(s) by request id for its untraced rows`);
      const files = keys.map((k) => objectPath(this.store, k));
      await this.tracker.measure(this.connection, 'data', files, this.keyOf, 'request_id', [id], {
        nullsIn: 'trace_id',
      });
      rows.push(...parseRows(table, await run(this.connection, LOCAL_QUERY_SQL.untracedOfRequest(table), files, [id])));
    }
    return rows;
  }

  /**
   * Every row of the traces `ids`: with a time range in every visible object in range; without, in the objects the
   * index names for each id ({@link planTraceReads}), each searched only for its own ids.
   */
  private async traceRows(ids: readonly string[]): Promise<QueryRow[]> {
    let reads: TraceRead[];
    if (this.mode === 'time-range') {
      const all = allVisibleObjects(this.snapshot);
      reads = TABLE_NAMES.map((table) => ({ table, keys: all[table], ids: [...ids] }));
    } else {
      const hits: TraceHit[] = [];
      const files = await this.indexFiles('trace', ids);
      if (files.length > 0) {
        const raw = await run(this.connection, LOCAL_QUERY_SQL.indexHits(ids.length), files, ids, { kind: 'trace' });
        for (const value of raw) {
          const row = TraceHitRow.parse(value);
          hits.push({
            id: row.id,
            table: row.data_table,
            dt: row.data_dt,
            hour: row.data_hour,
            objectKey: row.object_key,
          });
        }
      }
      reads = planTraceReads(this.snapshot, ids, hits);
    }
    const rows: QueryRow[] = [];
    for (const read of reads) {
      if (read.keys.length === 0) continue;
      this.progress(`reading ${read.keys.length} ${read.table} object(s) by trace id`);
      const files = read.keys.map((k) => objectPath(this.store, k));
      await this.tracker.measure(this.connection, 'data', files, this.keyOf, 'trace_id', read.ids);
      const raw = await run(this.connection, LOCAL_QUERY_SQL.byTraces(read.table, read.ids.length), files, read.ids);
      rows.push(...parseRows(read.table, raw));
    }
    return rows;
  }

  /**
   * What a request lookup reads: with a time range, every visible object in range, all scanned for the request's
   * traces; without, the index hits of the request split by {@link planRequestReads}.
   */
  private async requestPlan(id: string): Promise<RequestPlan> {
    if (this.mode === 'time-range') {
      const all = allVisibleObjects(this.snapshot);
      return { objects: all, scan: all, traceIds: [], indexedRows: { logs: null, spans: null } };
    }
    const hits: RequestHit[] = [];
    const files = await this.indexFiles('request', [id]);
    if (files.length > 0) {
      for (const value of await this.requestHitRows(files, id)) {
        const row = RequestHitRow.parse(value);
        hits.push({
          table: row.data_table,
          dt: row.data_dt,
          hour: row.data_hour,
          objectKey: row.object_key,
          traceIds: row.trace_ids,
          rows: row.row_count,
        });
      }
    }
    return planRequestReads(this.snapshot, hits);
  }

  /** The request's index rows with `trace_ids`; without it (null) when no index object read has that column yet. */
  private async requestHitRows(files: readonly string[], id: string): Promise<Record<string, unknown>[]> {
    try {
      return await run(this.connection, LOCAL_QUERY_SQL.requestHits(1), files, [id]);
    } catch (error) {
      if (!NO_TRACE_IDS_COLUMN.test(errorMessage(error))) throw error;
      const raw = await run(this.connection, LOCAL_QUERY_SQL.indexHits(1), files, [id], { kind: 'request' });
      return raw.map((row) => ({ ...row, trace_ids: null, row_count: 0 }));
    }
  }

  /** The index objects (paths) that may hold rows of the ids — per-batch ones and the ids' buckets — measured. */
  private async indexFiles(kind: 'trace' | 'request', ids: readonly string[]): Promise<string[]> {
    const buckets = [...new Set(ids.map(indexBucket))].sort();
    const keys = rawIndexObjects(this.snapshot);
    for (const b of buckets) keys.push(...(await listIndexBucket(this.store, b)));
    this.progress(`reading ${keys.length} index object(s) for ${ids.length} ${kind} id(s)`);
    const files = keys.map((k) => objectPath(this.store, k));
    if (files.length > 0) await this.tracker.measure(this.connection, 'index', files, this.keyOf, 'id', ids);
    return files;
  }
}

/** Runs one statement with the file list, the ids (`$v0…`) and other strings bound (typed: DuckDB cannot infer). */
async function run(
  connection: DuckDBConnection,
  sql: string,
  files: readonly string[],
  ids: readonly string[],
  extra: Record<string, string> = {},
): Promise<Record<string, unknown>[]> {
  const values: Record<string, DuckDBValue> = { files: listValue([...files]) };
  const types: Record<string, DuckDBType> = { files: LIST(VARCHAR) };
  ids.forEach((id, i) => {
    values[`v${i}`] = id;
    types[`v${i}`] = VARCHAR;
  });
  for (const [name, value] of Object.entries(extra)) {
    values[name] = value;
    types[name] = VARCHAR;
  }
  const reader = await connection.runAndReadAll(sql, values, types);
  return reader.getRowObjectsJS();
}

function parseRows(table: TableName, raw: Record<string, unknown>[]): QueryRow[] {
  const rows: QueryRow[] = [];
  for (const value of raw) {
    if (table === 'logs') {
      const parsed = ROW_SCHEMAS.logs.safeParse(value);
      if (!parsed.success) throw unexpectedRow(table, parsed.error);
      rows.push({ table, row: parsed.data });
    } else {
      const parsed = ROW_SCHEMAS.spans.safeParse(value);
      if (!parsed.success) throw unexpectedRow(table, parsed.error);
      rows.push({ table, row: parsed.data });
    }
  }
  return rows;
}

function unexpectedRow(
  table: TableName,
  error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] },
): SkeinError {
  const issue = error.issues[0];
  const where = issue ? `column ${issue.path.map(String).join('.')}: ${issue.message}` : 'unknown column';
  return new SkeinError('query_failed', `a ${table} row does not match schemas/columns.ts (${where})`);
}
