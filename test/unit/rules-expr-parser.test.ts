import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { lexExpr } from '../../functions/shared/rules/expr-lexer.ts';
import { formatExprError, parseExpr, type RuleExpr } from '../../functions/shared/rules/expr-parser.ts';
import { formatDuration, parseDuration } from '../../schemas/durations.ts';

function parsed(text: string): RuleExpr {
  const result = parseExpr(text);
  if (!result.ok) throw new Error(formatExprError(result.error));
  return result.expr;
}

function failure(text: string): string {
  const result = parseExpr(text);
  if (result.ok) throw new Error(`parsed: ${text}`);
  return formatExprError(result.error);
}

describe('parseDuration', () => {
  it('reads Prometheus durations with units in decreasing order', () => {
    // Prepare / Act / Assess
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('5m')).toBe(300_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('0')).toBe(0);
    expect(parseDuration('1d')).toBe(86_400_000);
  });

  it('rejects units out of order, repeated units, bare numbers and unknown units', () => {
    for (const bad of ['30m1h', '5m5m', '5', '', '5x', '1.5h', '-5m', ' 5m'])
      expect(parseDuration(bad)).toBeUndefined();
  });

  it('formats durations it reads back', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 10 ** 10 }), (ms) => parseDuration(formatDuration(ms)) === ms));
  });
});

describe('parseExpr', () => {
  it('parses a ratio with by labels, range, comparison and threshold', () => {
    // Act
    const expr = parsed('ratio(spans{status="error"}, spans) by (service) [5m] > 0.1');

    // Assess
    expect(expr).toEqual({
      type: 'value',
      func: 'ratio',
      selectors: [
        { table: 'spans', matchers: [{ label: 'status', op: '=', value: 'error' }] },
        { table: 'spans', matchers: [] },
      ],
      by: ['service'],
      windowMs: 300_000,
      cmp: '>',
      threshold: 0.1,
    });
  });

  it('parses absent with matchers on body and attributes, without a comparison', () => {
    const expr = parsed('absent(logs{body=~"heartbeat", attr.role="leader"}) [1m]');
    expect(expr).toEqual({
      type: 'absent',
      selectors: [
        {
          table: 'logs',
          matchers: [
            { label: 'body', op: '=~', value: 'heartbeat' },
            { label: 'attr.role', op: '=', value: 'leader' },
          ],
        },
      ],
      by: [],
      windowMs: 60_000,
    });
  });

  it('parses quantile and field functions with their field, and sorts and dedupes by labels', () => {
    const q = parsed('quantile(0.99, duration, spans{kind="server"}) by (service, name, service) [5m] > 500ms');
    expect(q).toMatchObject({ func: 'quantile', q: 0.99, field: 'duration', by: ['name', 'service'], threshold: 500 });
    const max = parsed('max(attr.consumer_lag, logs) by (attr.consumer-group) [1h] >= 1e3');
    expect(max).toMatchObject({
      func: 'max',
      field: 'attr.consumer_lag',
      by: ['attr.consumer-group'],
      threshold: 1000,
    });
    for (const func of ['min', 'avg', 'sum'])
      expect(parsed(`${func}(attr.x, logs) [1m] < -2.5`)).toMatchObject({ func, cmp: '<', threshold: -2.5 });
  });

  it('reads thresholds in percent, and time units only for durations', () => {
    expect(parsed('ratio(logs{severity>="error"}, logs) [10m] > 10%')).toMatchObject({ threshold: 0.1 });
    expect(parsed('avg(duration, spans) [1m] > 1.5s')).toMatchObject({ threshold: 1500 });
    expect(failure('avg(attr.x, logs) [1m] > 1.5s')).toMatch(/has a time unit, but the value is not a duration/);
  });

  it('accepts every comparison, string quote and severity ordering', () => {
    for (const cmp of ['>', '>=', '<', '<=', '==', '!='])
      expect(parsed(`count(logs) [1m] ${cmp} 3`)).toMatchObject({ cmp });
    expect(parsed('rate(logs{service=\'a\', body=~`x\\d+`, severity<"warn"}) [2m] > 0')).toMatchObject({
      selectors: [
        {
          matchers: [
            { label: 'service', value: 'a' },
            { label: 'body', op: '=~', value: 'x\\d+' },
            { label: 'severity', op: '<', value: 'warn' },
          ],
        },
      ],
    });
  });

  it('points at the exact column of a missing parenthesis after by labels', () => {
    expect(failure('ratio(spans{status="error"}, spans) by (service [5m] > 0.1')).toBe(
      "expected ')' after by labels, found '[' at column 49",
    );
  });

  it.each([
    ['', /empty expression/],
    ['cout(logs) [5m] > 1', /unknown function 'cout' \(did you mean 'count'\?\).* at column 1$/],
    ['count(log) [5m] > 1', /expected a selector \(logs or spans\).*'log' \(did you mean 'logs'\?\) at column 7/],
    ['count(logs{status="error"}) [5m] > 1', /label 'status' exists only on spans, not on logs.* at column 12/],
    ['count(spans{body="x"}) [5m] > 1', /label 'body' exists only on logs, not on spans/],
    ['count(logs{sevrity="x"}) [5m] > 1', /unknown label 'sevrity' \(did you mean 'severity'\?\)/],
    ['count(logs{severity>="WARN"}) [5m] > 1', /'WARN' is not a severity.*values are lowercase: 'warn'/],
    ['count(spans{status="failed"}) [5m] > 1', /'failed' is not a status: one of unset, ok, error/],
    ['count(logs{service>="a"}) [5m] > 1', /'>=' compares severities and numeric attributes only/],
    ['count(logs{attr.code>="x"}) [5m] > 1', /needs a number in quotes/],
    ['count(logs{body=~"a(b"}) [5m] > 1', /invalid regex "a\(b": Unterminated group at column 18/],
    ['count(logs{body=~"(?=a)"}) [5m] > 1', /lookarounds and backreferences are not supported/],
    ['count(logs{body="a) [5m] > 1', /unterminated string: missing closing " at column 17/],
    ['count(logs{body "a"}) [5m] > 1', /expected a match operator \(= != =~ !~\) after 'body'/],
    ['count(logs{body=a}) [5m] > 1', /expected a quoted string after 'body='/],
    ['count(logs{body="a" service="b"}) [5m] > 1', /expected ',' or '}' after a matcher/],
    ['count(logs) [30s] > 1', /range \[30s\] must be whole minutes/],
    ['count(logs) [2d] > 1', /longer than 1d/],
    ['count(logs) [5x] > 1', /invalid duration '5x'/],
    ['count(logs) > 1', /expected a range like \[5m\] after count\(…\), found '>' at column 13/],
    ['count(logs) [5m', /expected '\]' after the range, found the end at column 16/],
    ['count(logs) [5m]', /expected a comparison .* found the end at column 17/],
    ['count(logs) [5m] >', /expected a number after '>', found the end/],
    ['count(logs) [5m] > 1 and', /unexpected 'and' after the end of the expression at column 22/],
    ['absent(logs) [5m] > 0', /absent\(…\) takes no comparison/],
    ['quantile(1.5, duration, spans) [5m] > 1', /quantile must be between 0 and 1 \(exclusive\), got 1.5/],
    ['quantile(0.9, duration, logs) [5m] > 1', /field 'duration' exists only on spans/],
    ['max(logs, attr.x) [5m] > 1', /'logs' is not a numeric field.*takes the field first/],
    ['ratio(spans) [5m] > 1', /expected ',' between the two selectors of ratio/],
    ['count(logs) by service [5m] > 1', /expected '\(' after 'by'/],
    ['count(logs) by () [5m] > 1', /expected a label name in by/],
    ['count(logs) by (status) [5m] > 1', /label 'status' exists only on spans/],
    ['ratio(logs, spans) by (severity) [5m] > 1', /label 'severity' exists only on logs, not on spans/],
    ['count(logs) [5m] > 1 @', /unexpected character "@" at column 22/],
  ])('reports %j as a positioned error', (text, message) => {
    expect(failure(text)).toMatch(message);
  });

  it('never throws on random input: every failure is an error inside the text', () => {
    const alphabet = fc.constantFrom(
      ...'count(rate ratio absent logs spans){}[]=~!<>,"\'` .5m%attr.x by service 0.9'.split(''),
    );
    const pieces = fc.constantFrom(
      'count(',
      'logs',
      'spans',
      '{',
      '}',
      'by (',
      ')',
      '[5m]',
      ' > ',
      '"a"',
      '=~',
      ',',
      'quantile(0.5,',
      'duration',
    );
    const inputs = fc.oneof(
      fc.string(),
      fc.string({ unit: alphabet }),
      fc.array(pieces).map((p) => p.join('')),
    );
    fc.assert(
      fc.property(inputs, (text) => {
        const result = parseExpr(text);
        if (!result.ok) {
          expect(result.error.offset).toBeGreaterThanOrEqual(0);
          expect(result.error.offset).toBeLessThanOrEqual(text.length);
          expect(result.error.message.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('lexes label keys with dots and dashes as one identifier', () => {
    const lexed = lexExpr('attr.http.route resource.k8s-pod');
    expect(lexed.ok && lexed.tokens.map((t) => t.text)).toEqual(['attr.http.route', 'resource.k8s-pod', '']);
  });
});
