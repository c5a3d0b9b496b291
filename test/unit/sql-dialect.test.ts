import { TrinoSQL } from 'dt-sql-parser';
import { describe, expect, it } from 'vitest';
import {
  LOOKUP_KINDS,
  lookupHitsSql,
  lookupRowsSql,
  namedLookupQueries,
  VIEW_NAMES,
  viewSql,
} from '../../query/named-queries.ts';
import { namedSearchQueries, searchSql } from '../../query/search/search-queries.ts';
import { parseSearch } from '../../query/search/traceql.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const VERBATIM_REQUEST = "req-'42'"; // a quote in the id: the literal must stay one string
const NOW = Date.parse('2025-11-25T10:30:00Z');
const PARTITIONS = [
  { table: 'logs', dt: '2025-11-24', hour: '23' },
  { table: 'spans', dt: '2025-11-25', hour: '00' },
] as const;

const parser = new TrinoSQL();
const errorsOf = (sql: string) => parser.validate(sql).map((e) => `${e.startLine}:${e.startColumn} ${e.message}`);

/** Every statement Skein sends to Athena or stores in the Glue catalogue, by a readable name. */
function generatedStatements(): [string, string][] {
  const statements: [string, string][] = [];
  for (const view of VIEW_NAMES) statements.push([`view ${view}`, viewSql(view)]);
  for (const query of namedLookupQueries()) statements.push([`named query ${query.name}`, query.sql]);
  for (const kind of LOOKUP_KINDS) {
    const id = kind === 'trace' ? TRACE : VERBATIM_REQUEST;
    statements.push([`CLI ${kind} hits`, lookupHitsSql(kind, id, {}, NOW)]);
    statements.push([
      `CLI ${kind} hits in a range`,
      lookupHitsSql(kind, id, { since: NOW - 3_600_000, until: NOW }, NOW),
    ]);
    for (const table of ['logs', 'spans'] as const) {
      statements.push([`CLI ${kind} ${table} rows`, lookupRowsSql(kind, table, id, PARTITIONS)]);
    }
  }
  return statements;
}

describe('generated SQL in the Trino dialect of Athena engine v3', () => {
  it('rejects a broken statement, so the checks below cannot pass vacuously', () => {
    // Prepare
    const broken = viewSql('logs').replace('LEFT JOIN', 'LEFT JION');

    // Act
    const errors = errorsOf(broken);

    // Assess
    expect(errors.length).toBeGreaterThan(0);
    expect(errorsOf('SELECT "a" FROM "t" WHERE')).not.toEqual([]);
  });

  it('covers the three views, four named queries and the CLI statements of both lookups', () => {
    expect(generatedStatements().map(([name]) => name)).toEqual(
      expect.arrayContaining([
        'view logs',
        'view spans',
        'view trace_index',
        'named query skein-trace-by-id',
        'named query skein-request-by-id-in-range',
        'CLI request spans rows',
      ]),
    );
    expect(generatedStatements()).toHaveLength(3 + 4 + 2 * 4);
  });

  it.each(generatedStatements())('parses %s', (_name, sql) => {
    // Act
    const errors = errorsOf(sql);

    // Assess
    expect(errors).toEqual([]);
  });

  it('keeps a quote inside an id within one string literal', () => {
    const sql = lookupRowsSql('request', 'logs', VERBATIM_REQUEST, PARTITIONS);

    expect(sql).toContain(`"d"."request_id" = 'req-''42'''`);
    expect(errorsOf(sql)).toEqual([]);
  });
});

describe('search SQL in the Trino dialect of Athena engine v3', () => {
  const RANGE = { since: NOW - 3_600_000, until: NOW, limit: 20 };
  const filters = [
    '{ resource.service.name = "orders" && status = error }',
    '{ resource.service.name =~ "or.*" && status = error } || { resource.service.name != "web" }',
    '{ duration > 500ms }',
    '{ name = "GET /orders/{id}" }',
    '{ span.http.status_code >= 500 && .http.route = "/o\'rders" && resource.tier = true }',
    '{ traceDuration > 1.5s && rootServiceName = "web" } && { kind = client } || { statusMessage !~ "time.*" }',
    '{ }',
  ];

  it.each(filters)('parses the statement of %s', (filter) => {
    // Prepare
    const parsed = parseSearch(filter);
    if (!parsed.ok) throw new Error(parsed.error.message);

    // Act
    const sql = searchSql(parsed.query, RANGE);

    // Assess
    expect(errorsOf(sql)).toEqual([]);
  });

  it('reads only the trace index for service and error conditions, and the spans view otherwise', () => {
    const of = (filter: string) => {
      const parsed = parseSearch(filter);
      if (!parsed.ok) throw new Error(parsed.error.message);
      return searchSql(parsed.query, RANGE);
    };
    expect(of('{ resource.service.name = "orders" && status = error }')).not.toContain('"skein"."spans"');
    expect(of('{ resource.service.name = "orders" && status = error }')).toContain('"error_services"');
    expect(of('{ duration > 500ms }')).toContain('"skein"."spans"');
  });

  it.each(namedSearchQueries().map((q) => [q.name, q] as const))('parses the named query %s', (_name, query) => {
    expect(errorsOf(query.sql)).toEqual([]);
    expect(query.sql.split('?').length - 1).toBe(query.parameters.length);
    expect(query.parameters).toContain('service');
    expect(query.sql).not.toContain('@@skein-parameter');
  });
});
