import { describe, expect, it } from 'vitest';
import { lexExpr } from '../../functions/shared/rules/expr-lexer.ts';
import { formatSearchError, parseSearch, type SearchQuery } from '../../query/search/traceql.ts';
import { parseDuration, parseSpanDuration } from '../../schemas/durations.ts';

function ok(filter: string): SearchQuery {
  const result = parseSearch(filter);
  if (!result.ok) throw new Error(`${filter}: ${formatSearchError(filter, result.error)}`);
  return result.query;
}

/** The query without offsets and source text, to compare structure. */
function shape(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value, (key, v) =>
      key === 'offset' || key === 'text' || key === 'regex' ? undefined : typeof v === 'bigint' ? `${v}n` : v,
    ),
  );
}

describe('search filters (TraceQL subset)', () => {
  it.each([
    [
      '{ resource.service.name = "orders" && status = error }',
      {
        type: 'spanset',
        expr: {
          type: 'and',
          left: { type: 'condition', field: { type: 'service' }, op: '=', value: { type: 'string', value: 'orders' } },
          right: {
            type: 'condition',
            field: { type: 'intrinsic', name: 'status' },
            op: '=',
            value: { type: 'status', value: 'error' },
          },
        },
      },
    ],
    [
      '{ duration > 500ms }',
      {
        type: 'spanset',
        expr: {
          type: 'condition',
          field: { type: 'intrinsic', name: 'duration' },
          op: '>',
          value: { type: 'duration', nanos: '500000000n' },
        },
      },
    ],
    [
      '{ name = "GET /orders/{id}" }',
      {
        type: 'spanset',
        expr: {
          type: 'condition',
          field: { type: 'intrinsic', name: 'name' },
          op: '=',
          value: { type: 'string', value: 'GET /orders/{id}' },
        },
      },
    ],
    [
      '{ span.http.status_code >= 500 }',
      {
        type: 'spanset',
        expr: {
          type: 'condition',
          field: { type: 'attribute', scope: 'span', key: 'http.status_code' },
          op: '>=',
          value: { type: 'number', value: 500 },
        },
      },
    ],
  ])('parses %s', (filter, expected) => {
    expect(shape(ok(filter))).toEqual(expected);
  });

  it('reads every field, operator and value form of the subset', () => {
    // Prepare
    const filters = [
      '{ }',
      '{ true }',
      '{ .service.name = "web" }',
      '{ span.service.name = "x" }',
      '{ resource.k8s.pod.name =~ "orders-.*" }',
      '{ .http.route != "/health" }',
      '{ kind = server && status != ok }',
      '{ statusMessage =~ "time.*" }',
      '{ traceDuration >= 1.5s && duration < 100us }',
      '{ duration > 250ns || duration <= 1m30s }',
      '{ rootName = "GET /" && rootServiceName = "web" }',
      '{ span.retry = true && span.ratio < 0.5 && span.delta > -3 }',
      '{ (name = "a" || name = "b") && status = error }',
      '{ span:name = "x" && trace:rootService = "web" && span:duration > 1ms }',
      '{ name = "a" } && { name = "b" } || ({ status = error })',
      "{ name = 'single quotes' && name = `raw \\d` }",
    ];

    // Act
    const failures = filters.filter((f) => !parseSearch(f).ok);

    // Assess
    expect(failures).toEqual([]);
    expect(shape(ok('{ span.service.name = "x" }'))).toMatchObject({
      expr: { field: { type: 'attribute', scope: 'span', key: 'service.name' } },
    });
    expect(shape(ok('{ .service.name = "web" }'))).toMatchObject({ expr: { field: { type: 'service' } } });
  });

  it('binds && tighter than || and keeps the source text of each condition', () => {
    const query = ok('{ name = "a" || name = "b" && status = error }');
    expect(query).toMatchObject({
      expr: { type: 'or', right: { type: 'and', left: { text: 'name = "b"', offset: 16 } } },
    });
  });

  it.each([
    ['{ status = error } | count() > 2', 20, /pipelines .* not supported/],
    ['{ status = error } | select(span.foo)', 20, /pipelines/],
    ['{ status = error } >> { name = "x" }', 20, /structural operator '>>' \(descendant\)/],
    ['{ status = error } > { name = "x" }', 20, /structural operator '>' \(child\)/],
    ['{ status = error } < { name = "x" }', 20, /structural operator '<' \(parent\)/],
    ['{ status = error } ~ { name = "x" }', 20, /structural operator '~' \(sibling\)/],
    ['{ status = error } !>> { name = "x" }', 20, /not-descendant/],
    ['{ status = error } &>> { name = "x" }', 20, /union descendant/],
    ['{ status = error } select(name)', 20, /pipeline stage/],
    ['{ a } { b }', 3, /unknown field 'a'/],
    ['{ status = error } { name = "x" }', 20, /expected && or \|\| between spansets/],
    ['count() > 3', 1, /aggregate count\(\) is not supported/],
    ['avg(duration) > 1s', 1, /aggregate avg\(\)/],
    ['status = error', 1, /conditions go inside braces/],
    ['', 1, /empty filter/],
    ['{ status = error', 1, /unclosed '\{'/],
    ['{ { name = "x" } }', 3, /cannot be nested/],
    ['{ span.x + 1 > 2 }', 10, /arithmetic is not supported/],
    ['{ !(status = error) }', 3, /negation '!' is not supported/],
    ['{ span.x = nil }', 12, /nil is not supported/],
    ['{ span.x != nil }', 13, /nil is not supported/],
    ['{ status = "error" }', 12, /status values are not quoted/],
    ['{ status > error }', 10, /status takes = or != only/],
    ['{ kind = sever }', 10, /expected a kind/],
    ['{ duration > 1.5 }', 14, /expected a duration like 500ms/],
    ['{ duration > 5d }', 14, /expected a duration/],
    ['{ duration =~ "1s" }', 12, /not a regex/],
    ['{ name = 5 }', 10, /is text: quote the value/],
    ['{ name = orders }', 10, /quote strings/],
    ['{ name > 5s }', 10, /a duration compares with duration or traceDuration only/],
    ['{ name == "x" }', 8, /compares with '=', not '=='/],
    ['{ span.ok > true }', 11, /booleans take = or != only/],
    ['{ name =~ "(" }', 11, /invalid regex/],
    ['{ name =~ "(?=x)" }', 11, /lookarounds/],
    ['{ nme = "x" }', 3, /unknown field 'nme' \(did you mean 'name'\?\)/],
    ['{ http.method = "GET" }', 3, /attribute with its scope \(span.http.method/],
    ['{ event.name = "x" }', 3, /span events are not searchable/],
    ['{ link.traceID = "x" }', 3, /span links are not searchable/],
    ['{ instrumentation.name = "x" }', 3, /instrumentation scope attributes/],
    ['{ childCount > 2 }', 3, /'childCount' is not supported/],
    ['{ parent.name = "x" }', 3, /parent-span conditions are structural/],
    ['{ traceID = "abc" }', 3, /skein query trace <id>/],
    ['{ span.x = 1 } @', 16, /'@' is not TraceQL/],
    ['{ name = "x" && }', 17, /expected a condition after && or \|\|/],
  ])('refuses %s at column %i', (filter, column, message) => {
    // Act
    const result = parseSearch(filter);

    // Assess
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error.message).toMatch(message);
    expect(result.error.offset + 1).toBe(column);
  });

  it('prints the error with the filter and a caret under the column', () => {
    // Prepare
    const filter = '{ status = error } >> { name = "x" }';
    const result = parseSearch(filter);
    if (result.ok) throw new Error('expected an error');

    // Act
    const text = formatSearchError(filter, result.error);

    // Assess
    expect(text.split('\n')).toEqual([
      "structural operator '>>' (descendant) is not supported: combine spansets with && or || (same trace) at column 20",
      `  ${filter}`,
      `  ${' '.repeat(19)}^`,
    ]);
  });

  it('reads TraceQL durations (fractions, ns and us) and leaves rule durations as they were', () => {
    expect(parseSpanDuration('1.5s')).toBe(1_500_000_000n);
    expect(parseSpanDuration('100us')).toBe(100_000n);
    expect(parseSpanDuration('100µs')).toBe(100_000n);
    expect(parseSpanDuration('250ns')).toBe(250n);
    expect(parseSpanDuration('1h30m')).toBe(5_400_000_000_000n);
    expect(parseSpanDuration('0.0000000015s')).toBe(1n);
    expect(parseSpanDuration('1d')).toBeUndefined();
    expect(parseSpanDuration('1s1h')).toBeUndefined();
    // Rule durations: integers and w d h m s ms only, as before.
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('1.5s')).toBeUndefined();
    expect(parseDuration('100us')).toBeUndefined();
    expect(parseDuration('1w')).toBe(604_800_000);
  });

  it('lexes rule expressions as before: no && or .key there', () => {
    expect(lexExpr('count(logs) [5m] > 1 && x').ok).toBe(false);
    expect(lexExpr('.key').ok).toBe(false);
  });
});
