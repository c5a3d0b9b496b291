// The SQL of `skein query search --athena` and of the search named query (D21). Pure functions over the parsed filter
// (query/search/traceql.ts), kept apart from query/named-queries.ts; they read the views query/named-queries.ts defines.

import { DATABASE_NAME, ident, sqlStringLiteral } from '../named-queries.ts';
import type { Condition, SearchQuery, SpanExpr } from './traceql.ts';

const HOUR_MS = 3_600_000;

/** A search's range in epoch ms, and how many traces it returns. */
export interface SearchRange {
  readonly since: number;
  readonly until: number;
  readonly limit: number;
}

/** The columns of a search result, in order. */
export const SEARCH_RESULT_COLUMNS = [
  'trace_id',
  'start_time',
  'duration_ms',
  'root_service',
  'root_name',
  'services',
  'spans',
  'logs',
  'errors',
] as const;

const qualified = (database: string, table: string) => `${ident(database)}.${ident(table)}`;
const dtOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const hourOf = (ms: number) => new Date(ms).toISOString().slice(0, 13).replace('T', '-');

type Atom = 'service' | 'error' | 'other';

function atomOf(c: Condition): Atom {
  if (c.field.type === 'service') return 'service';
  if (c.field.type === 'intrinsic' && c.field.name === 'status' && c.op === '=' && c.value.type === 'status')
    return c.value.value === 'error' ? 'error' : 'other';
  return 'other';
}

/** Whether every condition is one the trace index answers in SQL: service conditions and `status = error`. */
export function isIndexSearch(query: SearchQuery): boolean {
  if (query.type !== 'spanset') return isIndexSearch(query.left) && isIndexSearch(query.right);
  const conjuncts = conjunctions(query.expr);
  return conjuncts.every((atoms) => atoms.every((a) => atomOf(a) !== 'other'));
}

/** The spanset's condition as OR of ANDs (small filters only: the CLI's filters are typed by hand). */
function conjunctions(expr: SpanExpr): Condition[][] {
  switch (expr.type) {
    case 'true':
      return [[]];
    case 'condition':
      return [[expr]];
    case 'or':
      return [...conjunctions(expr.left), ...conjunctions(expr.right)];
    case 'and': {
      const right = conjunctions(expr.right);
      return conjunctions(expr.left).flatMap((l) => right.map((r) => [...l, ...r]));
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Conditions as SQL

/** A string comparison of `column` (varchar) with the condition's value; NULL never matches. */
function stringSql(column: string, c: Condition): string {
  if (c.value.type !== 'string' && c.value.type !== 'status' && c.value.type !== 'kind') return 'false';
  if (c.op === '=~' || c.op === '!~') {
    const match = `regexp_like(${column}, ${sqlStringLiteral(`^(?:${c.value.value})$`)})`;
    return c.op === '=~' ? match : `(${column} IS NOT NULL AND NOT ${match})`;
  }
  return `${column} ${sqlOp(c.op)} ${sqlStringLiteral(c.value.value)}`;
}

function sqlOp(op: Condition['op']): string {
  return op === '!=' ? '<>' : op;
}

/** A JSON path to a flat key: `$["http.status_code"]` (keys are [A-Za-z0-9_.:/-], never a quote). */
function jsonPath(key: string): string {
  return sqlStringLiteral(`$["${key}"]`);
}

/** An attribute comparison, typed as the local matcher types it: strings with strings, numbers with numbers. */
function attributeSql(c: Condition, alias: string): string {
  if (c.field.type !== 'attribute') return 'false';
  const { scope, key } = c.field;
  const extract = (column: string) => `json_extract(${alias}.${ident(column)}, ${jsonPath(key)})`;
  const json =
    scope === 'span'
      ? extract('attributes')
      : scope === 'resource'
        ? extract('resource_attributes')
        : `coalesce(${extract('attributes')}, ${extract('resource_attributes')})`;
  const text = `json_format(${json})`;
  switch (c.value.type) {
    case 'string': {
      const isString = `${text} LIKE '"%'`;
      return `(${isString} AND ${stringSql(`CAST(${json} AS varchar)`, c)})`;
    }
    case 'number':
      return `(${text} NOT LIKE '"%' AND TRY(CAST(${json} AS double)) ${sqlOp(c.op)} ${numberLiteral(c.value.value)})`;
    case 'bool':
      return `(${text} IN ('true', 'false') AND CAST(${json} AS boolean) ${sqlOp(c.op)} ${c.value.value})`;
    default:
      return 'false';
  }
}

function numberLiteral(n: number): string {
  return Number.isInteger(n) ? `${n}` : `${n}e0`;
}

/** A condition on one span (alias `s`) of a trace whose span-derived facts are in alias `t`. */
function conditionSql(c: Condition): string {
  const f = c.field;
  if (f.type === 'service') return stringSql('"s"."service_name"', c);
  if (f.type === 'attribute') return attributeSql(c, '"s"');
  switch (f.name) {
    case 'name':
      return stringSql('"s"."name"', c);
    case 'statusMessage':
      return stringSql('"s"."status_message"', c);
    case 'status':
      return c.value.type === 'status'
        ? `"s"."status_code" ${sqlOp(c.op)} ${sqlStringLiteral(c.value.value.toUpperCase())}`
        : 'false';
    case 'kind':
      return c.value.type === 'kind'
        ? `"s"."kind" ${sqlOp(c.op)} ${sqlStringLiteral(c.value.value.toUpperCase())}`
        : 'false';
    case 'duration':
      return c.value.type === 'duration' ? `"s"."duration_nano" ${sqlOp(c.op)} ${c.value.nanos}` : 'false';
    case 'traceDuration':
      return c.value.type === 'duration' ? `"t"."trace_duration_nano" ${sqlOp(c.op)} ${c.value.nanos}` : 'false';
    case 'rootName':
      return stringSql('"t"."root_name"', c);
    case 'rootServiceName':
      return stringSql('"t"."root_service"', c);
  }
}

function spanExprSql(expr: SpanExpr): string {
  switch (expr.type) {
    case 'true':
      return 'true';
    case 'condition':
      return conditionSql(expr);
    case 'and':
      return `(${spanExprSql(expr.left)} AND ${spanExprSql(expr.right)})`;
    case 'or':
      return `(${spanExprSql(expr.left)} OR ${spanExprSql(expr.right)})`;
  }
}

/** Per trace (GROUP BY its id over its spans rows of the index): whether the spanset's condition holds. */
function indexHavingSql(query: SearchQuery): string {
  if (query.type !== 'spanset')
    return `(${indexHavingSql(query.left)} ${query.type === 'and' ? 'AND' : 'OR'} ${indexHavingSql(query.right)})`;
  const parts = conjunctions(query.expr).map((atoms) => {
    const services = atoms.filter((a) => atomOf(a) === 'service');
    const error = atoms.some((a) => atomOf(a) === 'error');
    const serviceTest = services.length === 0 ? 'true' : services.map((a) => stringSql('"x"', a)).join(' AND ');
    if (error && services.length > 0)
      return `bool_or(any_match(split("i"."error_services", ','), "x" -> ${serviceTest}))`;
    if (error) return 'bool_or("i"."error")';
    if (services.length > 0) return `bool_or(any_match(split("i"."services", ','), "x" -> ${serviceTest}))`;
    return 'sum("i"."span_count") > 0';
  });
  return `(${parts.join(' OR ')})`;
}

/** Spansets over the spans CTE `s` joined to trace facts `t`: the trace ids matching the query. */
function spansMatchSql(query: SearchQuery): string {
  if (query.type === 'spanset')
    return `SELECT DISTINCT "s"."trace_id" FROM "s" JOIN "t" ON "t"."trace_id" = "s"."trace_id" WHERE ${spanExprSql(query.expr)}`;
  return `(${spansMatchSql(query.left)})\n${query.type === 'and' ? 'INTERSECT' : 'UNION'}\n(${spansMatchSql(query.right)})`;
}

/** Where the values of a search statement come from: literals (CLI) or `?` parameters (named query). */
interface SearchValues {
  fromDt(): string;
  toDt(): string;
  /** `first_time`/`last_time` bounds as Athena timestamps. */
  since(): string;
  until(): string;
}

function literalSearchValues(range: SearchRange): SearchValues {
  const ts = (ms: number) => `from_unixtime(${Math.floor(ms)} / 1e3)`;
  return {
    // Partitions are by arrival hour: widened by an hour as lookups do.
    fromDt: () => sqlStringLiteral(dtOf(range.since - HOUR_MS)),
    toDt: () => sqlStringLiteral(dtOf(range.until + HOUR_MS)),
    since: () => ts(range.since),
    until: () => ts(range.until),
  };
}

/**
 * The search as one statement: the matching trace ids (from the trace index when {@link isIndexSearch}, else from
 * the spans of the range), then their summaries from the index, newest first. Reads the views, so every row counts
 * once. `hour` bounds the spans partitions too, not only `dt`.
 */
function searchStatement(
  query: SearchQuery,
  values: SearchValues,
  limit: string,
  database: string,
  hourBounds?: { from: string; to: string },
): string {
  const index = qualified(database, 'trace_index');
  const spans = qualified(database, 'spans');
  const inRange = (alias: string) => `${alias}."dt" BETWEEN ${values.fromDt()} AND ${values.toDt()}`;
  const overlaps = `"i"."last_time" >= ${values.since()} AND "i"."first_time" <= ${values.until()}`;
  const ctes: string[] = [];
  if (isIndexSearch(query)) {
    ctes.push(
      [
        '"matched" AS (',
        `  SELECT "i"."id" AS "trace_id" FROM ${index} AS "i"`,
        `  WHERE "i"."id_kind" = 'trace' AND "i"."data_table" = 'spans' AND ${inRange('"i"')} AND ${overlaps}`,
        '  GROUP BY "i"."id"',
        `  HAVING ${indexHavingSql(query)}`,
        ')',
      ].join('\n'),
    );
  } else {
    const hours =
      hourBounds === undefined
        ? ''
        : ` AND concat("d"."dt", '-', "d"."hour") BETWEEN ${hourBounds.from} AND ${hourBounds.to}`;
    ctes.push(
      [
        '"s" AS (',
        '  SELECT "d"."trace_id", "d"."span_id", "d"."parent_span_id", "d"."name", "d"."kind", "d"."status_code", "d"."status_message",',
        '    "d"."service_name", "d"."start_time_unix_nano", "d"."end_time_unix_nano", "d"."duration_nano", "d"."attributes", "d"."resource_attributes"',
        `  FROM ${spans} AS "d" WHERE ${inRange('"d"')}${hours} AND "d"."trace_id" IS NOT NULL`,
        ')',
      ].join('\n'),
      [
        '"t" AS (',
        '  SELECT "trace_id", max("end_time_unix_nano") - min("start_time_unix_nano") AS "trace_duration_nano",',
        `    arbitrary("name") FILTER (WHERE coalesce("parent_span_id", '') = '') AS "root_name",`,
        `    arbitrary("service_name") FILTER (WHERE coalesce("parent_span_id", '') = '') AS "root_service"`,
        '  FROM "s" GROUP BY "trace_id"',
        `  HAVING min("start_time_unix_nano") <= CAST(to_unixtime(${values.until()}) * 1e9 AS bigint) AND max("end_time_unix_nano") >= CAST(to_unixtime(${values.since()}) * 1e9 AS bigint)`,
        ')',
      ].join('\n'),
      `"matched" AS (\n${spansMatchSql(query)}\n)`,
    );
  }
  return [
    `WITH ${ctes.join(',\n')}`,
    'SELECT "i"."id" AS "trace_id",',
    `  min("i"."first_time") FILTER (WHERE "i"."data_table" = 'spans') AS "start_time",`,
    `  date_diff('millisecond', min("i"."first_time") FILTER (WHERE "i"."data_table" = 'spans'), max("i"."last_time") FILTER (WHERE "i"."data_table" = 'spans')) AS "duration_ms",`,
    '  arbitrary("i"."root_service") FILTER (WHERE "i"."root_name" IS NOT NULL) AS "root_service",',
    '  arbitrary("i"."root_name") AS "root_name",',
    `  array_join(array_sort(array_distinct(flatten(array_agg(filter(split("i"."services", ','), "x" -> "x" <> ''))))), ',') AS "services",`,
    '  sum("i"."span_count") AS "spans",',
    '  sum("i"."log_count") AS "logs",',
    '  sum("i"."error_count") AS "errors"',
    `FROM ${index} AS "i"`,
    `WHERE "i"."id_kind" = 'trace' AND ${inRange('"i"')} AND "i"."id" IN (SELECT "trace_id" FROM "matched")`,
    'GROUP BY "i"."id"',
    `ORDER BY "start_time" DESC, "trace_id"`,
    `LIMIT ${limit}`,
  ].join('\n');
}

/** `skein query search --athena`: the statement for a parsed filter, with literals. */
export function searchSql(query: SearchQuery, range: SearchRange, database: string = DATABASE_NAME): string {
  const values = literalSearchValues(range);
  const hourBounds = {
    from: sqlStringLiteral(hourOf(range.since - HOUR_MS)),
    to: sqlStringLiteral(hourOf(range.until + HOUR_MS)),
  };
  return searchStatement(query, values, String(Math.max(1, Math.floor(range.limit))), database, hourBounds);
}

/** The values a named search query asks for. */
export type SearchParameter = 'from_date' | 'to_date' | 'since' | 'until' | 'service';

/** A named search query: text, description and the value each `?` stands for, in order. */
export interface NamedSearchQuery {
  readonly name: string;
  readonly description: string;
  readonly sql: string;
  readonly parameters: readonly SearchParameter[];
}

/**
 * The search named query of the workgroup: `{ resource.service.name = ? && status = error }` — the error traces of
 * one service in a time range, answered from the trace index alone (`error_services`, D21), newest first, 100 at most.
 */
export function namedSearchQueries(database: string = DATABASE_NAME): NamedSearchQuery[] {
  // Each parameter is first written as a marker literal, then the markers are replaced by `?` in text order.
  const marker = (name: SearchParameter) => sqlStringLiteral(`@@skein-parameter:${name}@@`);
  const values: SearchValues = {
    fromDt: () => marker('from_date'),
    toDt: () => marker('to_date'),
    since: () => `from_iso8601_timestamp(${marker('since')})`,
    until: () => `from_iso8601_timestamp(${marker('until')})`,
  };
  const service: Condition = {
    type: 'condition',
    field: { type: 'service' },
    op: '=',
    value: { type: 'string', value: '@@skein-parameter:service@@' },
    offset: 0,
    text: 'resource.service.name = ?',
  };
  const error: Condition = {
    type: 'condition',
    field: { type: 'intrinsic', name: 'status' },
    op: '=',
    value: { type: 'status', value: 'error' },
    offset: 0,
    text: 'status = error',
  };
  const query: SearchQuery = { type: 'spanset', expr: { type: 'and', left: service, right: error } };
  const parameters: SearchParameter[] = [];
  const sql = searchStatement(query, values, '100', database).replace(
    /'@@skein-parameter:(from_date|to_date|since|until|service)@@'/g,
    (_match, name: SearchParameter) => {
      parameters.push(name);
      return '?';
    },
  );
  const label = { from_date: 'from date', to_date: 'to date', since: 'since', until: 'until', service: 'service' };
  return [
    {
      name: 'skein-search-error-traces-of-service',
      description: `Traces with an error span of one service in a time range, newest first (100 at most), from the trace index alone: { resource.service.name = "<service>" && status = error }. Dates are arrival dates YYYY-MM-DD (UTC), since and until ISO 8601 timestamps. Parameters, in order: ${parameters.map((p) => label[p]).join(', ')}.`,
      sql,
      parameters,
    },
  ];
}
