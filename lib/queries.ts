import type { TABLES } from '../schemas/columns.ts';

/** Glue database and Athena workgroup of Skein (the CLI's `--athena` mode uses the same names). */
export const DATABASE_NAME = 'skein';
export const WORKGROUP_NAME = 'skein';

/** A column of a Skein table: a misspelt name is a compile error. */
type ColumnOf<T extends keyof typeof TABLES> = (typeof TABLES)[T][number]['name'];

/** One output column of a lookup, taken from each table or a typed NULL where the table has no such value. */
interface LookupColumn {
  readonly as: string;
  readonly logs: ColumnOf<'logs'> | 'dt' | 'hour' | { readonly sql: string };
  readonly spans: ColumnOf<'spans'> | 'dt' | 'hour' | { readonly sql: string };
}

const nullOf = (type: string) => ({ sql: `CAST(NULL AS ${type})` });

/** The timeline a lookup returns: logs and spans of one trace or request, side by side. */
const LOOKUP_COLUMNS: readonly LookupColumn[] = [
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
  { as: 'duration_ms', logs: nullOf('double'), spans: { sql: '"duration_nano" / 1e6' } },
  { as: 'attributes', logs: 'attributes', spans: 'attributes' },
  { as: 'dt', logs: 'dt', spans: 'dt' },
  { as: 'hour', logs: 'hour', spans: 'hour' },
];

/** The ids an operator looks a request up by, and the named query of each. */
export const LOOKUPS = {
  trace: {
    column: 'trace_id',
    queryName: 'skein-trace-by-id',
    description: 'Logs and spans of one trace, in time order. Parameter: the trace id (lowercase 32 hex), twice.',
  },
  request: {
    column: 'request_id',
    queryName: 'skein-request-by-id',
    description:
      'Logs and spans of one request, in time order. Parameter: the request id (lowercase 32 hex for hex ids and UUIDs, verbatim otherwise), twice.',
  },
} as const satisfies Record<
  string,
  { column: ColumnOf<'logs'> & ColumnOf<'spans'>; queryName: string; description: string }
>;

export type LookupKind = keyof typeof LOOKUPS;
export const LOOKUP_KINDS = Object.keys(LOOKUPS) as LookupKind[];

function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function select(table: 'logs' | 'spans', database: string, keyColumn: string): string {
  const columns = LOOKUP_COLUMNS.map((c) => {
    const source = c[table];
    return `${typeof source === 'string' ? ident(source) : source.sql} AS ${ident(c.as)}`;
  });
  return `SELECT ${columns.join(', ')}\nFROM ${ident(database)}.${ident(table)}\nWHERE ${ident(keyColumn)} = ?`;
}

/**
 * The Athena SQL of a lookup: the logs and the spans whose id column equals the execution parameter, in time order.
 * It has one `?` per table; pass {@link lookupExecutionParameters} as `ExecutionParameters`.
 *
 * @example
 * lookupQuery('trace') // SELECT … FROM "skein"."logs" WHERE "trace_id" = ? UNION ALL SELECT … ORDER BY …
 */
export function lookupQuery(kind: LookupKind, database: string = DATABASE_NAME): string {
  const key = LOOKUPS[kind].column;
  return [
    select('logs', database, key),
    'UNION ALL',
    select('spans', database, key),
    `ORDER BY ${ident('time_unix_nano')}, ${ident('record_type')}`,
  ].join('\n');
}

/** Number of `?` placeholders of every lookup query (one per table). */
export const LOOKUP_PARAMETER_COUNT = 2;

/** An SQL string literal: Athena substitutes execution parameters as literals, so strings carry their quotes. */
export function sqlStringLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/**
 * `ExecutionParameters` for a lookup query: the id as a string literal, once per placeholder.
 *
 * @example
 * lookupExecutionParameters('4bf92f3577b34da6a3ce929d0e0e4736') // ["'4bf9…4736'", "'4bf9…4736'"]
 */
export function lookupExecutionParameters(id: string): string[] {
  return Array.from({ length: LOOKUP_PARAMETER_COUNT }, () => sqlStringLiteral(id));
}
