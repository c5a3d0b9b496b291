import { describe, expect, it } from 'vitest';
import {
  compileField,
  compileGroupKey,
  compileLabel,
  compileSelector,
  RowCursor,
  resolveLabel,
  severityLabel,
} from '../../functions/core/row-labels.ts';
import type { Matcher, Selector } from '../../schemas/measures.ts';
import type { LogRecord, SpanRecord } from '../../schemas/records.ts';
import { aLogRecord, aSpanRecord } from '../builders/rows.ts';

function logCursor(row: LogRecord): RowCursor {
  const c = new RowCursor();
  c.setLog(row);
  return c;
}

function spanCursor(row: SpanRecord): RowCursor {
  const c = new RowCursor();
  c.setSpan(row);
  return c;
}

const logs = (...matchers: Matcher[]): Selector => ({ table: 'logs', matchers });
const spans = (...matchers: Matcher[]): Selector => ({ table: 'spans', matchers });

describe('row labels', () => {
  it('resolves the built-in labels of a log row', () => {
    // Prepare
    const row = aLogRecord({ service_name: 'orders', severity_number: 14, body: 'slow', request_id: 'req-1' });
    // Act / Assess
    expect(resolveLabel(row, 'logs', 'service')).toBe('orders');
    expect(resolveLabel(row, 'logs', 'severity')).toBe('warn');
    expect(resolveLabel(row, 'logs', 'body')).toBe('slow');
    expect(resolveLabel(row, 'logs', 'request_id')).toBe('req-1');
    expect(resolveLabel(row, 'logs', 'status')).toBe('');
  });

  it('resolves the built-in labels of a span row in lowercase', () => {
    const row = aSpanRecord({ name: 'GET /x', kind: 'CLIENT', status_code: 'ERROR', service_name: null });
    expect(resolveLabel(row, 'spans', 'name')).toBe('GET /x');
    expect(resolveLabel(row, 'spans', 'kind')).toBe('client');
    expect(resolveLabel(row, 'spans', 'status')).toBe('error');
    expect(resolveLabel(row, 'spans', 'service')).toBe('');
    expect(resolveLabel(row, 'spans', 'severity')).toBe('');
  });

  it('names severity numbers by their OpenTelemetry range', () => {
    expect([0, 1, 4, 5, 9, 12, 13, 17, 20, 21, 24].map(severityLabel)).toEqual([
      '',
      'trace',
      'trace',
      'debug',
      'info',
      'info',
      'warn',
      'error',
      'error',
      'fatal',
      'fatal',
    ]);
  });

  it('resolves attributes by flat dotted key first, then by nested path, and renders non-strings as JSON', () => {
    // Prepare
    const row = aLogRecord({
      attributes: JSON.stringify({ 'http.route': '/a', http: { status: 503, route: '/nested' }, ok: true, n: null }),
      resource_attributes: JSON.stringify({ 'cloud.region': 'eu-west-1' }),
    });
    // Act / Assess
    expect(resolveLabel(row, 'logs', 'attr.http.route')).toBe('/a');
    expect(resolveLabel(row, 'logs', 'attr.http.status')).toBe('503');
    expect(resolveLabel(row, 'logs', 'attr.http')).toBe('{"status":503,"route":"/nested"}');
    expect(resolveLabel(row, 'logs', 'attr.ok')).toBe('true');
    expect(resolveLabel(row, 'logs', 'attr.n')).toBe('');
    expect(resolveLabel(row, 'logs', 'attr.missing')).toBe('');
    expect(resolveLabel(row, 'logs', 'attr.toString')).toBe('');
    expect(resolveLabel(row, 'logs', 'resource.cloud.region')).toBe('eu-west-1');
  });

  it('rejects an unknown label name', () => {
    expect(() => compileLabel('colour', 'logs')).toThrow(/unknown label 'colour'/);
  });
});

describe('compiled selectors', () => {
  it('matches equality and inequality, a missing label being the empty string', () => {
    const row = logCursor(aLogRecord({ service_name: 'orders' }));
    expect(compileSelector(logs({ label: 'service', op: '=', value: 'orders' }))(row)).toBe(true);
    expect(compileSelector(logs({ label: 'service', op: '!=', value: 'orders' }))(row)).toBe(false);
    expect(compileSelector(logs({ label: 'attr.region', op: '=', value: '' }))(row)).toBe(true);
  });

  it('anchors regular expressions at both ends and lets dot match newlines', () => {
    const row = logCursor(aLogRecord({ body: 'S3 upload failed\n  at Uploader.put' }));
    const match = (re: string, op: '=~' | '!~' = '=~') => compileSelector(logs({ label: 'body', op, value: re }))(row);
    expect(match('upload')).toBe(false);
    expect(match('.*upload failed.*')).toBe(true);
    expect(match('S3.*|nothing')).toBe(true);
    expect(match('upload', '!~')).toBe(true);
  });

  it('orders severity by level for >=, >, <= and <', () => {
    // Prepare
    const warnRow = logCursor(aLogRecord({ severity_number: 13 }));
    const errorRow = logCursor(aLogRecord({ severity_number: 18 }));
    const unspecified = logCursor(aLogRecord({ severity_number: 0 }));
    const atLeastWarn = compileSelector(logs({ label: 'severity', op: '>=', value: 'warn' }));
    const aboveWarn = compileSelector(logs({ label: 'severity', op: '>', value: 'WARNING' }));
    const belowError = compileSelector(logs({ label: 'severity', op: '<', value: 'error' }));
    // Assess
    expect([atLeastWarn(warnRow), atLeastWarn(errorRow), atLeastWarn(unspecified)]).toEqual([true, true, false]);
    expect([aboveWarn(warnRow), aboveWarn(errorRow)]).toEqual([false, true]);
    expect([belowError(warnRow), belowError(errorRow), belowError(unspecified)]).toEqual([true, false, true]);
  });

  it('compares other labels numerically under ordering operators, never matching non-numbers', () => {
    const selector = compileSelector(logs({ label: 'attr.code', op: '>=', value: '500' }));
    expect(selector(logCursor(aLogRecord({ attributes: '{"code":503}' })))).toBe(true);
    expect(selector(logCursor(aLogRecord({ attributes: '{"code":"404"}' })))).toBe(false);
    expect(selector(logCursor(aLogRecord({ attributes: '{"code":"n/a"}' })))).toBe(false);
    expect(selector(logCursor(aLogRecord({ attributes: '{}' })))).toBe(false);
  });

  it('requires every matcher to hold', () => {
    const selector = compileSelector(
      spans({ label: 'service', op: '=', value: 'orders' }, { label: 'status', op: '=', value: 'error' }),
    );
    expect(selector(spanCursor(aSpanRecord({ status_code: 'ERROR' })))).toBe(true);
    expect(selector(spanCursor(aSpanRecord({ status_code: 'OK' })))).toBe(false);
    expect(compileSelector(spans())(spanCursor(aSpanRecord()))).toBe(true);
  });

  it('rejects an invalid regular expression and an unknown severity at compile time', () => {
    expect(() => compileSelector(logs({ label: 'body', op: '=~', value: '(' }))).toThrow(/regular expression/);
    expect(() => compileSelector(logs({ label: 'severity', op: '>=', value: 'loud' }))).toThrow(/severity/);
  });

  it('parses a row attributes JSON at most once however many labels and fields read it', () => {
    // Prepare
    const cursor = new RowCursor();
    const a = compileSelector(logs({ label: 'attr.a', op: '=', value: '1' }));
    const b = compileGroupKey(['attr.b', 'service'], 'logs');
    const f = compileField('attr.ms', 'logs');
    const rows = [1, 2, 3].map((i) => aLogRecord({ attributes: JSON.stringify({ a: '1', b: `x${i}`, ms: i }) }));
    // Act
    const seen: unknown[] = [];
    for (const row of rows) {
      cursor.setLog(row);
      seen.push(a(cursor), b(cursor), f(cursor), a(cursor), f(cursor));
    }
    // Assess
    expect(cursor.parses).toBe(3);
    expect(seen.slice(0, 5)).toEqual([true, '["x1","orders"]', 1, true, 1]);
    expect(seen.slice(10, 15)).toEqual([true, '["x3","orders"]', 3, true, 3]);
  });

  it('parses a resource attributes text once for consecutive rows that share it', () => {
    // Prepare
    const cursor = new RowCursor();
    const region = compileLabel('resource.cloud.region', 'logs');
    const east = JSON.stringify({ 'cloud.region': 'us-east-1' });
    const west = JSON.stringify({ 'cloud.region': 'eu-west-1' });
    const texts = [east, east, east, west, west, east];
    // Act
    const seen = texts.map((text) => {
      cursor.setLog(aLogRecord({ resource_attributes: text }));
      return region(cursor);
    });
    // Assess
    expect(seen).toEqual(['us-east-1', 'us-east-1', 'us-east-1', 'eu-west-1', 'eu-west-1', 'us-east-1']);
    expect(cursor.parses).toBe(3);
  });

  it('does not parse attributes when no compiled function asks for them', () => {
    const cursor = new RowCursor();
    const selector = compileSelector(logs({ label: 'severity', op: '>=', value: 'error' }));
    cursor.setLog(aLogRecord({ attributes: '{"a":1}' }));
    selector(cursor);
    expect(cursor.parses).toBe(0);
  });
});

describe('group keys and fields', () => {
  it('builds the group key as JSON.stringify of the label values in order', () => {
    // Prepare
    const row = aSpanRecord({ service_name: 'a"b', name: 'GET /x', attributes: '{"region":"eu"}' });
    const labels = ['attr.region', 'name', 'service'];
    // Act
    const key = compileGroupKey(labels, 'spans')(spanCursor(row));
    // Assess
    expect(key).toBe(JSON.stringify(['eu', 'GET /x', 'a"b']));
    expect(compileGroupKey(['service'], 'spans')(spanCursor(row))).toBe(JSON.stringify(['a"b']));
    expect(compileGroupKey([], 'spans')(spanCursor(row))).toBe('[]');
  });

  it('extracts span duration in milliseconds', () => {
    expect(compileField('duration', 'spans')(spanCursor(aSpanRecord({ duration_nano: 1_234_567n })))).toBe(1.234567);
    expect(compileField('duration', 'logs')(logCursor(aLogRecord()))).toBeUndefined();
  });

  it('extracts numeric attributes and numeric strings, nothing else', () => {
    const field = compileField('attr.lag', 'logs');
    const value = (attributes: string) => field(logCursor(aLogRecord({ attributes })));
    expect(value('{"lag":1500}')).toBe(1500);
    expect(value('{"lag":" 12.5 "}')).toBe(12.5);
    expect(value('{"lag":""}')).toBeUndefined();
    expect(value('{"lag":"lots"}')).toBeUndefined();
    expect(value('{"lag":true}')).toBeUndefined();
    expect(value('{"lag":null}')).toBeUndefined();
    expect(value('{}')).toBeUndefined();
  });

  it('rejects a field that is neither duration nor an attribute', () => {
    expect(() => compileField('latency', 'spans')).toThrow(/unknown field/);
  });
});
