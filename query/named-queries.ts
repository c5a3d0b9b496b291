// The SQL of the Athena layer: views, named queries and the CLI's lookups. Pure functions over the column list, with
// no aws-cdk-lib import, so the CLI (`query/athena-query.ts`) uses the very same generators as the stack.
import { indexBucket, indexBucketSql } from '../functions/core/index-bucket.ts';
import { type ColumnDef, type ColumnType, TABLES, TRACE_INDEX_COLUMNS } from '../schemas/columns.ts';
import { COMPACTED_PREFIX } from '../schemas/compaction.ts';
import { withoutRetriedCopiesSql } from '../schemas/duplicates.ts';

/** Glue database and Athena workgroup of Skein (the CLI's `--athena` mode uses the same names). */
export const DATABASE_NAME = 'skein';
export const WORKGROUP_NAME = 'skein';
/** The Glue Data Catalog as Athena names it; views record it as their catalog. */
export const CATALOG_NAME = 'awsdatacatalog';

/** The tables and views the lookups read. */
export type DataTable = keyof typeof TABLES;
/** What a view presents: the two data tables and the trace index. */
export type ViewName = DataTable | 'trace_index';
export const VIEW_NAMES = ['logs', 'spans', 'trace_index'] as const satisfies readonly ViewName[];

/**
 * Glue base tables over the objects. Each view `<t>` reads `<t>_files` (every object under `tables/<t>/dt=/hour=/`,
 * raw and compacted) and applies the visibility rule of `schemas/compaction.ts` with `compaction_manifests`.
 */
export const BASE_TABLES = {
  logs: 'logs_files',
  spans: 'spans_files',
  trace_index: 'trace_index_files',
  /** The compacted index, re-partitioned by `bucket=<indexBucket(id)>/dt=`. */
  traceIndexCompacted: 'trace_index_compacted',
  /** One JSON manifest per generation: `tables/_manifests/<table>/dt=/hour=/gen-<G>.json`. */
  manifests: 'compaction_manifests',
} as const;

/** Days of uncompacted index a lookup without a time range reads besides the compacted bucket: today and yesterday. */
export const RECENT_INDEX_DAYS = 2;
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** A column of a Skein table: a misspelt name is a compile error. */
type ColumnOf<T extends DataTable> = (typeof TABLES)[T][number]['name'];

/** Athena (Trino) type of a column, as views record their columns. */
export function prestoType(type: ColumnType): string {
  switch (type) {
    case 'string':
      return 'varchar';
    case 'int32':
      return 'integer';
    case 'int64':
      return 'bigint';
    case 'timestamp_ms':
      return 'timestamp(3)';
    case 'boolean':
      return 'boolean';
  }
}

/** A quoted SQL identifier. */
export function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** An SQL string literal: Athena substitutes execution parameters as literals, so strings carry their quotes. */
export function sqlStringLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

const qualified = (database: string, table: string) => `${ident(database)}.${ident(table)}`;

// ---------------------------------------------------------------------------------------------------------------
// Views

/** A column of a view: name and Athena type (the Presto view definition lists them). */
export interface ViewColumn {
  readonly name: string;
  readonly type: string;
}

const columnsOf = (view: ViewName): readonly ColumnDef[] =>
  view === 'trace_index' ? TRACE_INDEX_COLUMNS : TABLES[view];

/** The output columns of a view: the table's columns in order, then its partition columns. */
export function viewColumns(view: ViewName): ViewColumn[] {
  const columns = columnsOf(view).map((c) => ({ name: c.name, type: prestoType(c.type) }));
  const partitions = view === 'trace_index' ? ['bucket', 'dt'] : ['dt', 'hour'];
  return [...columns, ...partitions.map((name) => ({ name, type: 'varchar' }))];
}

/** `tables/<t>/dt=…/hour=…/<name>` of a row: its S3 key, as manifests list it. */
const OBJECT_KEY = `substr("$path", strpos("$path", '/tables/') + 1)`;
const IS_COMPACTED = (key: string) => `regexp_like(${key}, '/${COMPACTED_PREFIX}[^/]*$')`;

/** The manifest of the highest generation of each partition of one table. */
function currentManifests(table: ViewName, database: string): string {
  return [
    'SELECT "dt", "hour", "sources", "outputs"',
    'FROM (',
    '  SELECT "dt", "hour", "sources", "outputs",',
    '    row_number() OVER (PARTITION BY "dt", "hour" ORDER BY "generation" DESC) AS "generation_rank"',
    `  FROM ${qualified(database, BASE_TABLES.manifests)}`,
    `  WHERE "table" = ${sqlStringLiteral(table)}`,
    ') AS "ranked"',
    'WHERE "generation_rank" = 1',
  ].join('\n');
}

/**
 * The visibility rule of `schemas/compaction.ts` for a row of object `k` joined (LEFT) with its partition's current
 * manifest `m`: a raw object counts unless `m` covers it, a compacted object only when `m` lists it as an output.
 */
function visible(key: string, manifest: string): string {
  return `IF(${IS_COMPACTED(key)}, ${manifest}."outputs" IS NOT NULL AND contains(${manifest}."outputs", ${key}), ${manifest}."sources" IS NULL OR NOT contains(${manifest}."sources", ${key}))`;
}

/**
 * The SQL of a view: every row of the table exactly once, whether its hour is compacted or not. Predicates on `dt`
 * and `hour` (and `bucket` for the index) reach the base tables, so partition projection prunes through the view.
 */
export function viewSql(view: ViewName, database: string = DATABASE_NAME): string {
  const names = columnsOf(view).map((c) => ident(c.name));
  const from = (alias: string) => names.map((n) => `${alias}.${n}`).join(', ');
  const manifests = `WITH "manifest" AS (\n${currentManifests(view, database)}\n)`;
  const files = [
    `SELECT ${from('"f"')}, ${view === 'trace_index' ? `${indexBucketSql('"f"."id"')} AS "bucket", "f"."dt"` : '"f"."dt", "f"."hour"'}`,
    `FROM (SELECT *, ${OBJECT_KEY} AS "object_path" FROM ${qualified(database, BASE_TABLES[view])}) AS "f"`,
    'LEFT JOIN "manifest" AS "m" ON "m"."dt" = "f"."dt" AND "m"."hour" = "f"."hour"',
    `WHERE ${visible('"f"."object_path"', '"m"')}`,
  ];
  if (view === 'logs') return [manifests, ...files].join('\n');
  if (view === 'spans') {
    // A span a producer sent twice shows once per arrival hour (D18). The window is partitioned by dt and hour, so
    // predicates on them still reach the base table; the two copies of a retry that straddles an hour show until the
    // lookups' own dedup (named queries, `skein query`) merges them. Logs are not deduplicated here: their identity
    // is their content, and a window over it would make every query of the view read body and attributes.
    const output = [...names, '"dt"', '"hour"'].map((n) => `"d".${n}`).join(', ');
    const visibleRows = `${manifests},\n"visible_rows" AS (\n${files.join('\n')}\n)`;
    return `${visibleRows}\n${withoutRetriedCopiesSql('spans', 'SELECT * FROM "visible_rows"', output, ['dt', 'hour'])}`;
  }
  // A compacted index object (`bucket=<b>/dt=D/index.parquet`) holds the rows of several hours of its day, merged in
  // one hour at a time. A row counts once the manifest of its own hour (`data_dt`, `data_hour`: the index row's hour
  // is its data's hour) lists the object as an output; until then the hour's raw index objects show it instead.
  const compacted = [
    `SELECT ${from('"c"')}, "c"."bucket", "c"."dt"`,
    `FROM (SELECT *, ${OBJECT_KEY} AS "object_path" FROM ${qualified(database, BASE_TABLES.traceIndexCompacted)}) AS "c"`,
    'JOIN "manifest" AS "m" ON "m"."dt" = "c"."data_dt" AND "m"."hour" = "c"."data_hour"',
    'WHERE contains("m"."outputs", "c"."object_path")',
  ];
  return [manifests, ...files, 'UNION ALL', ...compacted].join('\n');
}

/**
 * `viewOriginalText` of a Glue table of type `VIRTUAL_VIEW`: how Athena stores a view it created itself
 * (a Presto view: base64 JSON of the SQL, catalog, schema and output columns).
 */
export function prestoViewText(view: ViewName, database: string = DATABASE_NAME): string {
  const definition = {
    originalSql: viewSql(view, database),
    catalog: CATALOG_NAME,
    schema: database,
    columns: viewColumns(view),
  };
  return `/* Presto View: ${Buffer.from(JSON.stringify(definition), 'utf8').toString('base64')} */`;
}

// ---------------------------------------------------------------------------------------------------------------
// Lookups

/** The ids an operator looks a request up by, and the named queries of each. */
export const LOOKUPS = {
  trace: {
    column: 'trace_id',
    queryName: 'skein-trace-by-id',
    description: 'Logs and spans of one trace, in time order.',
  },
  request: {
    column: 'request_id',
    queryName: 'skein-request-by-id',
    description:
      'Logs and spans of one request (lowercase 32 hex for hex ids and UUIDs, verbatim otherwise) and of the traces it belongs to, in time order.',
  },
} as const satisfies Record<
  string,
  { column: ColumnOf<'logs'> & ColumnOf<'spans'>; queryName: string; description: string }
>;

export type LookupKind = keyof typeof LOOKUPS;
export const LOOKUP_KINDS = Object.keys(LOOKUPS) as LookupKind[];

/** One output column of the timeline of a named query, from each table or a typed NULL. */
interface TimelineColumn {
  readonly as: string;
  readonly logs: ColumnOf<'logs'> | 'dt' | 'hour' | { readonly sql: string };
  readonly spans: ColumnOf<'spans'> | 'dt' | 'hour' | { readonly sql: string };
}

const nullOf = (type: string) => ({ sql: `CAST(NULL AS ${type})` });

/** The timeline a named query returns: logs and spans of one trace or request, side by side. */
const TIMELINE_COLUMNS: readonly TimelineColumn[] = [
  { as: 'record_type', logs: { sql: "'log'" }, spans: { sql: "'span'" } },
  { as: 'time', logs: 'time', spans: 'start_time' },
  { as: 'time_unix_nano', logs: 'time_unix_nano', spans: 'start_time_unix_nano' },
  { as: 'service_name', logs: 'service_name', spans: 'service_name' },
  { as: 'trace_id', logs: 'trace_id', spans: 'trace_id' },
  { as: 'span_id', logs: 'span_id', spans: 'span_id' },
  { as: 'parent_span_id', logs: nullOf('varchar'), spans: 'parent_span_id' },
  { as: 'request_id', logs: 'request_id', spans: 'request_id' },
  // severity for a log line, status code for a span
  { as: 'level', logs: 'severity_text', spans: 'status_code' },
  // the log message, or the span name
  { as: 'message', logs: 'body', spans: 'name' },
  { as: 'duration_ms', logs: nullOf('double'), spans: { sql: '"d"."duration_nano" / 1e6' } },
  { as: 'attributes', logs: 'attributes', spans: 'attributes' },
  { as: 'dt', logs: 'dt', spans: 'dt' },
  { as: 'hour', logs: 'hour', spans: 'hour' },
];

/**
 * Where a lookup statement takes its values from: SQL literals (the CLI knows the id and the time) or `?` execution
 * parameters (named queries). Called in the order the values appear in the text, so placeholders can be numbered.
 */
interface LookupValues {
  id(): string;
  /** `indexBucket(id)`. */
  bucket(): string;
  /** First `dt` of the uncompacted index a lookup without a time range reads. */
  recentDt(): string;
  /** `dt` bounds of a time-ranged lookup, or undefined. */
  fromDt(): string | undefined;
  toDt(): string | undefined;
}

/** A lookup's optional time range, epoch milliseconds (event time; partitions are by arrival, hence widened). */
export interface LookupRange {
  readonly since?: number | undefined;
  readonly until?: number | undefined;
}

const dtOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** Values as literals, for the CLI. `now` decides which days count as recent. */
export function literalValues(id: string, range: LookupRange, now: number): LookupValues {
  return {
    id: () => sqlStringLiteral(id),
    bucket: () => sqlStringLiteral(indexBucket(id)),
    recentDt: () => sqlStringLiteral(dtOf(now - (RECENT_INDEX_DAYS - 1) * DAY_MS)),
    // Partitions are by arrival hour: widened by an hour as the local path does (query/time-range.ts).
    fromDt: () => (range.since === undefined ? undefined : sqlStringLiteral(dtOf(range.since - HOUR_MS))),
    toDt: () => (range.until === undefined ? undefined : sqlStringLiteral(dtOf(range.until + HOUR_MS))),
  };
}

/** The parameter names of a named query, in placeholder order. */
export type NamedQueryParameter = 'id' | 'from_date' | 'to_date';

function placeholderValues(kind: LookupKind, timeRanged: boolean, parameters: NamedQueryParameter[]): LookupValues {
  const take = (name: NamedQueryParameter) => {
    parameters.push(name);
    return '?';
  };
  return {
    id: () => take('id'),
    // Trace ids are always 32 hex: their bucket is their first two characters.
    bucket: () =>
      kind === 'trace' ? `substr(${take('id')}, 1, 2)` : indexBucketSql('?').replaceAll('?', () => take('id')),
    recentDt: () => `CAST(current_date - INTERVAL '${RECENT_INDEX_DAYS - 1}' DAY AS varchar)`,
    fromDt: () => (timeRanged ? take('from_date') : undefined),
    toDt: () => (timeRanged ? take('to_date') : undefined),
  };
}

function dtBounds(values: LookupValues, column: string): string[] {
  const from = values.fromDt();
  const to = values.toDt();
  return [...(from === undefined ? [] : [`${column} >= ${from}`]), ...(to === undefined ? [] : [`${column} <= ${to}`])];
}

/**
 * Step 1 of a lookup: the (data table, dt, hour) partitions holding rows of the id, from the trace index — the one
 * compacted bucket of the id over all days, plus the uncompacted index of the last {@link RECENT_INDEX_DAYS} days
 * (or of the time range). Reads the base tables: a row counted twice only repeats a partition, which DISTINCT drops.
 */
function hitsSql(kind: LookupKind, values: LookupValues, database: string): string {
  const compacted = [
    `"bucket" = ${values.bucket()}`,
    `"id" = ${values.id()}`,
    `"id_kind" = ${sqlStringLiteral(kind)}`,
    ...dtBounds(values, '"dt"'),
  ];
  const ranged = dtBounds(values, '"dt"');
  const files = [...(ranged.length > 0 ? ranged : [`"dt" >= ${values.recentDt()}`]), `"id" = ${values.id()}`];
  files.push(`"id_kind" = ${sqlStringLiteral(kind)}`);
  return [
    'SELECT DISTINCT "data_table", "data_dt", "data_hour"',
    `FROM ${qualified(database, BASE_TABLES.traceIndexCompacted)}`,
    `WHERE ${compacted.join(' AND ')}`,
    'UNION',
    'SELECT DISTINCT "data_table", "data_dt", "data_hour"',
    `FROM ${qualified(database, BASE_TABLES.trace_index)}`,
    `WHERE ${files.join(' AND ')}`,
  ].join('\n');
}

/** Step 1 of the CLI's lookup: the hit partitions, columns `data_table`, `data_dt`, `data_hour`. */
export function lookupHitsSql(
  kind: LookupKind,
  id: string,
  range: LookupRange,
  now: number,
  database: string = DATABASE_NAME,
): string {
  return hitsSql(kind, literalValues(id, range, now), database);
}

/** One partition of a data table that holds rows of the looked-up id. */
export interface HitPartition {
  readonly table: DataTable;
  readonly dt: string;
  readonly hour: string;
}

/** Restricts rows (alias `d`) to the hit partitions: literals for the CLI, a join with the `hits` CTE otherwise. */
type PartitionScope = { readonly literal: readonly HitPartition[] } | { readonly cte: string };

function fromData(table: DataTable, database: string, scope: PartitionScope): { from: string; where: string[] } {
  const from = `FROM ${qualified(database, table)} AS "d"`;
  if ('cte' in scope) {
    return {
      from: `${from}\nJOIN (SELECT DISTINCT "data_dt", "data_hour" FROM ${ident(scope.cte)} WHERE "data_table" = ${sqlStringLiteral(table)}) AS "h"\n  ON "d"."dt" = "h"."data_dt" AND "d"."hour" = "h"."data_hour"`,
      where: [],
    };
  }
  const mine = scope.literal.filter((p) => p.table === table);
  const partitions = mine.map(
    (p) => `("d"."dt" = ${sqlStringLiteral(p.dt)} AND "d"."hour" = ${sqlStringLiteral(p.hour)})`,
  );
  return { from, where: [partitions.length > 0 ? `(${partitions.join(' OR ')})` : 'false'] };
}

/** The traces a request touched, within the hit partitions (for a request lookup's "whole request" rows). */
function requestTracesSql(values: LookupValues, database: string, scope: PartitionScope): string {
  return (['logs', 'spans'] as const)
    .map((table) => {
      const { from, where } = fromData(table, database, scope);
      const conditions = [...where, `"d"."request_id" = ${values.id()}`, '"d"."trace_id" IS NOT NULL'];
      return `SELECT "d"."trace_id" ${from}\nWHERE ${conditions.join(' AND ')}`;
    })
    .join('\nUNION\n');
}

/**
 * Step 2: the rows of one data view in the hit partitions — for a trace its rows, for a request its rows plus the
 * rows of the traces it belongs to (within the same partitions).
 */
function rowsSql(
  kind: LookupKind,
  table: DataTable,
  selectList: string,
  values: LookupValues,
  database: string,
  scope: PartitionScope,
  requestTraces: string,
): string {
  const { from, where } = fromData(table, database, scope);
  const match =
    kind === 'trace'
      ? `"d"."trace_id" = ${values.id()}`
      : `("d"."request_id" = ${values.id()} OR "d"."trace_id" IN (${requestTraces}))`;
  return `SELECT ${selectList}\n${from}\nWHERE ${[...where, match].join(' AND ')}`;
}

/**
 * Step 2 of a named query: {@link rowsSql} for every column of the view, without the copies a retrying producer
 * added across all the hit partitions (D18), then `selectList` over alias `"d"`.
 */
function uniqueRowsSql(
  kind: LookupKind,
  table: DataTable,
  selectList: string,
  values: LookupValues,
  database: string,
  scope: PartitionScope,
  requestTraces: string,
): string {
  const all = rowsSql(kind, table, '"d".*', values, database, scope, requestTraces);
  return withoutRetriedCopiesSql(table, all, selectList);
}

/**
 * Step 2 of the CLI's lookup, for one table: every column of the view in table order (then `dt`, `hour`), for the
 * rows of the id in the given partitions. A request lookup inlines the traces-of-the-request subquery.
 */
export function lookupRowsSql(
  kind: LookupKind,
  table: DataTable,
  id: string,
  partitions: readonly HitPartition[],
  database: string = DATABASE_NAME,
): string {
  const values = literalValues(id, {}, 0);
  const scope = { literal: partitions };
  const selectList = [...TABLES[table].map((c) => `"d".${ident(c.name)}`), '"d"."dt"', '"d"."hour"'].join(', ');
  const traces = kind === 'request' ? requestTracesSql(values, database, scope) : '';
  return rowsSql(kind, table, selectList, values, database, scope, traces);
}

/** A named query: its text and the value each `?` stands for, in order. */
export interface NamedLookupQuery {
  readonly name: string;
  readonly description: string;
  readonly sql: string;
  readonly parameters: readonly NamedQueryParameter[];
}

function timelineSelect(table: DataTable): string {
  return TIMELINE_COLUMNS.map((c) => {
    const source = c[table];
    return `${typeof source === 'string' ? `"d".${ident(source)}` : source.sql} AS ${ident(c.as)}`;
  }).join(', ');
}

/**
 * A named query of the workgroup: the two-step lookup as one statement (`WITH "hits" AS (…)`, then the logs and spans
 * views joined to the hit partitions), as a timeline. With `timeRanged`, it asks for the first and last arrival date
 * (`YYYY-MM-DD`) and reads the index of those days only.
 */
export function namedLookupQuery(
  kind: LookupKind,
  timeRanged: boolean,
  database: string = DATABASE_NAME,
): NamedLookupQuery {
  const parameters: NamedQueryParameter[] = [];
  const values = placeholderValues(kind, timeRanged, parameters);
  const scope = { cte: 'hits' };
  const parts = [`WITH "hits" AS (\n${hitsSql(kind, values, database)}\n)`];
  if (kind === 'request') parts[0] += `,\n"request_traces" AS (\n${requestTracesSql(values, database, scope)}\n)`;
  const traces = 'SELECT "trace_id" FROM "request_traces"';
  parts.push(
    uniqueRowsSql(kind, 'logs', timelineSelect('logs'), values, database, scope, traces),
    'UNION ALL',
    uniqueRowsSql(kind, 'spans', timelineSelect('spans'), values, database, scope, traces),
    `ORDER BY ${ident('time_unix_nano')}, ${ident('record_type')}`,
  );
  const lookup = LOOKUPS[kind];
  const label = { id: `${kind} id`, from_date: 'from date', to_date: 'to date' } as const;
  const runs: string[] = [];
  for (let i = 0; i < parameters.length; ) {
    const name = parameters[i];
    let end = i;
    while (end < parameters.length && parameters[end] === name) end++;
    if (name !== undefined) runs.push(end - i > 1 ? `${label[name]} ×${end - i}` : label[name]);
    i = end;
  }
  const range = timeRanged ? ' Dates are arrival dates, YYYY-MM-DD (UTC).' : '';
  return {
    name: timeRanged ? `${lookup.queryName}-in-range` : lookup.queryName,
    description: `${lookup.description}${range} Parameters, in order: ${runs.join(', ')}.`,
    sql: parts.join('\n'),
    parameters,
  };
}

/** Every named query the workgroup ships: by trace and by request, each without and with a date range. */
export function namedLookupQueries(database: string = DATABASE_NAME): NamedLookupQuery[] {
  return LOOKUP_KINDS.flatMap((kind) => [false, true].map((ranged) => namedLookupQuery(kind, ranged, database)));
}
