import { readdir } from 'node:fs/promises';
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
import { SkeinError } from '../../functions/core/errors.ts';
import { TABLE_NAMES, TABLES, type TableName } from '../../schemas/columns.ts';
import { compareRows, type QueryRow, ROW_SCHEMAS } from './rows.ts';
import { partitionInRange, type TimeRange } from './time-range.ts';

export interface LocalQuery extends TimeRange {
  /** s3rver's folder (`dataDir` of endpoints.json). */
  readonly dataDir: string;
  readonly bucket: string;
  readonly by: 'trace' | 'request';
  /** Already normalised (`normaliseTraceId` / `normaliseRequestId`). */
  readonly id: string;
}

export interface LocalQueryResult {
  /** Sorted by event time. */
  readonly rows: QueryRow[];
  /** Parquet objects read, over both tables. */
  readonly filesScanned: number;
}

/** s3rver stores object `<key>` as `<dataDir>/<bucket>/<key>._S3rver_object` and its metadata beside it. */
const OBJECT_SUFFIX = '._S3rver_object';
const METADATA_SUFFIX = '._S3rver_metadata.json';
const DT_DIR = /^dt=(\d{4}-\d{2}-\d{2})$/;
const HOUR_DIR = /^hour=(\d{1,2})$/;

/**
 * The Parquet objects of one table in the local store, limited to the partitions that can hold rows of `range`.
 * An object counts only once s3rver has written its metadata file, which it does after the data: a half-written
 * object (the local stack is ingesting while we read) is skipped rather than failing the query.
 */
export async function listTableFiles(
  dataDir: string,
  bucket: string,
  table: TableName,
  range: TimeRange = {},
): Promise<string[]> {
  const tableDir = join(dataDir, bucket, 'tables', table);
  const files: string[] = [];
  for (const dtDir of await subdirectories(tableDir)) {
    const dt = DT_DIR.exec(dtDir)?.[1];
    if (dt === undefined) continue;
    for (const hourDir of await subdirectories(join(tableDir, dtDir))) {
      const hour = HOUR_DIR.exec(hourDir)?.[1];
      if (hour === undefined || !partitionInRange(dt, hour, range)) continue;
      const dir = join(tableDir, dtDir, hourDir);
      const names = new Set(await entries(dir));
      for (const name of [...names].sort()) {
        if (!name.endsWith(`.parquet${OBJECT_SUFFIX}`)) continue;
        const key = name.slice(0, -OBJECT_SUFFIX.length);
        if (names.has(`${key}${METADATA_SUFFIX}`)) files.push(join(dir, name));
      }
    }
  }
  return files;
}

async function entries(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (error) {
    if (isMissing(error)) return [];
    throw error;
  }
}

async function subdirectories(dir: string): Promise<string[]> {
  try {
    const found = await readdir(dir, { withFileTypes: true });
    return found
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
  } catch (error) {
    if (isMissing(error)) return [];
    throw error;
  }
}

function isMissing(error: unknown): boolean {
  return typeof error === 'object' && error !== null && 'code' in error && error.code === 'ENOENT';
}

/**
 * The file list is bound as a `LIST(VARCHAR)` parameter, never spliced into the SQL, so paths need no escaping and
 * glob characters in them mean nothing. `dt`/`hour` are VARCHAR as in Glue (DuckDB would guess DATE/BIGINT), and
 * `union_by_name` lets files of different writer versions be read together.
 */
const READ_TABLE =
  "read_parquet($files, hive_partitioning = true, hive_types = {'dt': VARCHAR, 'hour': VARCHAR}, union_by_name = true)";

/** The columns of a table in schema order; TIMESTAMP columns as epoch milliseconds (TIMESTAMP or TIMESTAMPTZ). */
function selectList(table: TableName): string {
  return TABLES[table]
    .map((c) => (c.type === 'timestamp_ms' ? `epoch_ms(${ident(c.name)}) AS ${ident(c.name)}` : ident(c.name)))
    .join(', ');
}

function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The SQL of each step, for `--help`-level documentation and tests. */
export const LOCAL_QUERY_SQL = {
  /** Rows of one trace. */
  byTrace: (table: TableName) => `SELECT ${selectList(table)} FROM ${READ_TABLE} WHERE trace_id = $id`,
  /** Step 1 of a request lookup: the traces the request touched. */
  tracesOfRequest: () => `SELECT DISTINCT trace_id FROM ${READ_TABLE} WHERE request_id = $id AND trace_id IS NOT NULL`,
  /** Step 2: the request's rows plus every row of those traces (`$t0`, `$t1`, … bound to the trace ids). */
  byRequest: (table: TableName, traceCount: number) => {
    const traces = Array.from({ length: traceCount }, (_, i) => `$t${i}`).join(', ');
    const orTraces = traceCount > 0 ? ` OR trace_id IN (${traces})` : '';
    return `SELECT ${selectList(table)} FROM ${READ_TABLE} WHERE request_id = $id${orTraces}`;
  },
} as const;

/**
 * Looks up a trace or a request in the local store with DuckDB over the same Parquet objects Athena would read.
 * `by: 'request'` returns the rows whose `request_id` matches plus every row of the traces those rows belong to.
 * No files (nothing ingested yet, or nothing in the time range) is an empty result, not an error.
 */
export async function queryLocal(query: LocalQuery): Promise<LocalQueryResult> {
  const range: TimeRange = { since: query.since, until: query.until };
  for (let attempt = 1; ; attempt++) {
    const files = new Map<TableName, string[]>();
    let filesScanned = 0;
    for (const table of TABLE_NAMES) {
      const found = await listTableFiles(query.dataDir, query.bucket, table, range);
      if (found.length > 0) files.set(table, found);
      filesScanned += found.length;
    }
    if (filesScanned === 0) return { rows: [], filesScanned };
    try {
      const rows = await runLookup(files, query.by, query.id);
      return { rows, filesScanned };
    } catch (error) {
      if (error instanceof SkeinError) throw error;
      // Compaction may delete an hour's small files between our listing and DuckDB opening them: list again once.
      if (attempt === 1 && VANISHED_FILE.test(errorMessage(error))) continue;
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

async function runLookup(files: Map<TableName, string[]>, by: 'trace' | 'request', id: string): Promise<QueryRow[]> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const rows = by === 'trace' ? await byTrace(connection, files, id) : await byRequest(connection, files, id);
    return rows.sort(compareRows);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

async function byTrace(connection: DuckDBConnection, files: Map<TableName, string[]>, id: string): Promise<QueryRow[]> {
  const rows: QueryRow[] = [];
  for (const [table, paths] of files) {
    const raw = await run(connection, LOCAL_QUERY_SQL.byTrace(table), paths, { id });
    rows.push(...parseRows(table, raw));
  }
  return rows;
}

async function byRequest(
  connection: DuckDBConnection,
  files: Map<TableName, string[]>,
  id: string,
): Promise<QueryRow[]> {
  const traceIds = new Set<string>();
  for (const paths of files.values()) {
    for (const row of await run(connection, LOCAL_QUERY_SQL.tracesOfRequest(), paths, { id })) {
      if (typeof row.trace_id === 'string') traceIds.add(row.trace_id);
    }
  }
  const traceParams: Record<string, string> = { id };
  [...traceIds].sort().forEach((traceId, i) => {
    traceParams[`t${i}`] = traceId;
  });
  const rows: QueryRow[] = [];
  for (const [table, paths] of files) {
    const raw = await run(connection, LOCAL_QUERY_SQL.byRequest(table, traceIds.size), paths, traceParams);
    rows.push(...parseRows(table, raw));
  }
  return rows;
}

/** Runs one statement with the file list and string parameters bound (types given: DuckDB cannot infer them). */
async function run(
  connection: DuckDBConnection,
  sql: string,
  files: readonly string[],
  params: Record<string, string>,
): Promise<Record<string, unknown>[]> {
  const values: Record<string, DuckDBValue> = { files: listValue([...files]) };
  const types: Record<string, DuckDBType> = { files: LIST(VARCHAR) };
  for (const [name, value] of Object.entries(params)) {
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
