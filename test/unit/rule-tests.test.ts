import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rulesTestCommand } from '../../cli/rules-test-command.ts';
import { memoryObjectStore } from '../../functions/core/object-store.ts';
import {
  evaluateCapturedRollups,
  formatDataReport,
  formatRuleTestReport,
  runRuleTestFile,
} from '../../functions/evaluate/rule-tests.ts';
import { expandSeries, parseSeriesSelector } from '../../functions/evaluate/synthetic-rows.ts';
import { computeRollup, encodeRollup, ROLLUP_CONTENT_TYPE, rollupObjectKey } from '../../functions/shared/rollup.ts';
import { compileRules } from '../../functions/shared/rules/compile-rules.ts';
import { loadRules } from '../../functions/shared/rules/load-rules.ts';
import { EVALUATION_PROGRESS_KEY } from '../../schemas/watermarks.ts';
import { aSpanRecord } from '../builders/rows.ts';

const RULES = `groups:
  - name: checkout
    rules:
      - name: CheckoutErrors
        expr: count(spans{status="error"}) by (service) [1m] > 5
        for: 2m
        labels: { severity: critical }
`;

function testFile(fires: string, resolves: string): string {
  return `rule_files: [rules.yaml]
tests:
  - name: errors fire
    series:
      - series: 'spans{service="checkout", status="error"}'
        values: '0x3 10x4 0x5'
    alerts:
      - alertname: CheckoutErrors
        labels: { service: checkout }
        fires_at: ${fires}
        resolves_at: ${resolves}
  - name: quiet
    series:
      - series: 'spans{service="checkout", status="error"}'
        values: '1x10'
    alerts:
      - alertname: CheckoutErrors
        never: true
`;
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'skein-rule-tests-'));
  await writeFile(join(dir, 'rules.yaml'), RULES);
  await writeFile(join(dir, 'good.test.yaml'), testFile('5m', '7m'));
  await writeFile(join(dir, 'bad.test.yaml'), testFile('4m', '7m'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('runRuleTestFile', () => {
  it('passes a case whose alerts fire and resolve at the expected minutes', async () => {
    // Act: errors from minute 3 to 6; for 2m → fires at 5, resolves at 7.
    const result = await runRuleTestFile(join(dir, 'good.test.yaml'));
    // Assess
    expect(result.passed).toBe(true);
    expect(result.cases.map((c) => [c.name, c.passed])).toEqual([
      ['errors fire', true],
      ['quiet', true],
    ]);
  });

  it('fails a case whose expected minutes differ, reporting the minutes seen', async () => {
    // Act
    const result = await runRuleTestFile(join(dir, 'bad.test.yaml'));
    const report = formatRuleTestReport([result]);
    // Assess
    expect(result.passed).toBe(false);
    expect(report).toContain('FAIL  errors fire');
    expect(report).toContain('expected fires 4m, resolves 7m; saw fired 5m, resolved 7m');
    expect(report).toContain('2 cases: 1 passed, 1 failed');
  });

  it('fails on an alert that fires for labels no expectation names', async () => {
    // Prepare
    const path = join(dir, 'unexpected.test.yaml');
    await writeFile(
      path,
      `rule_files: [rules.yaml]
tests:
  - name: two services
    series:
      - series: 'spans{service="checkout", status="error"}'
        values: '10x5'
      - series: 'spans{service="cart", status="error"}'
        values: '10x5'
    alerts:
      - alertname: CheckoutErrors
        labels: { service: checkout }
        fires_at: 2m
`,
    );
    // Act
    const result = await runRuleTestFile(path);
    // Assess
    expect(result.passed).toBe(false);
    expect(result.cases[0]?.unexpected).toEqual(['CheckoutErrors{service="cart", severity="critical"} fired at 2m']);
  });

  it('reports a test file that names a missing rule file as failed', async () => {
    // Prepare
    const path = join(dir, 'missing.test.yaml');
    await writeFile(path, testFile('5m', '7m').replace('rules.yaml', 'nope.yaml'));
    // Act
    const result = await runRuleTestFile(path);
    // Assess
    expect(result).toMatchObject({ passed: false, error: expect.stringContaining('rule files are invalid') });
  });
});

describe('rule test inputs', () => {
  it.each([
    { text: '0x2 5 1+1x3 _', expected: [0, 0, 5, 1, 2, 3, null] },
    { text: '10-2x3 _x2', expected: [10, 8, 6, null, null] },
    { text: '1.5', expected: [1.5] },
  ])('expands $text', ({ text, expected }) => {
    // Act
    const values = expandSeries(text);
    // Assess
    expect(values).toEqual(expected);
  });

  it('rejects a term it cannot read, naming it', () => {
    // Act
    const expand = () => expandSeries('1x2 abc', 'spans values');
    // Assess
    expect(expand).toThrow(/spans values: cannot read 'abc'/);
  });

  it('parses a series selector with escaped values', () => {
    // Act
    const selector = parseSeriesSelector('logs{service="a\\"b", attr.http.route="/x"}');
    // Assess
    expect(selector.table).toBe('logs');
    expect([...selector.labels]).toEqual([
      ['service', 'a"b'],
      ['attr.http.route', '/x'],
    ]);
  });
});

describe('rule tests shipped with the example rules', () => {
  it('all pass', async () => {
    // Prepare
    const examples = join(import.meta.dirname, '..', '..', 'rules', 'examples');
    const files = (await readdir(examples)).filter((f) => f.endsWith('.test.yaml')).sort();
    // Act
    const results = await Promise.all(files.map((f) => runRuleTestFile(join(examples, f))));
    // Assess
    expect(files.length).toBeGreaterThanOrEqual(3);
    expect(formatRuleTestReport(results)).not.toContain('FAIL');
    for (const r of results) expect(r.cases.length).toBeGreaterThanOrEqual(2);
  });
});

describe('evaluateCapturedRollups', () => {
  it('reports when alerts would fire and resolve over captured rollups, writing nothing to the source', async () => {
    // Prepare
    const loaded = loadRules([{ path: 'rules.yaml', text: RULES }]);
    if (!loaded.ok) throw new Error('rules');
    const rules = compileRules(loaded.groups);
    const source = memoryObjectStore();
    const m0 = 29_000_000;
    for (let i = 0; i < 6; i++) {
      const errors = i >= 1 && i <= 3 ? 10 : 1;
      const spans = Array.from({ length: errors }, () =>
        aSpanRecord({ start_time: (m0 + i) * 60_000, status_code: 'ERROR', service_name: 'checkout' }),
      );
      const arrival = (m0 + i) * 60_000 + 59_000;
      const key = rollupObjectKey({ shardId: 's', firstSequenceNumber: String(i + 1), firstArrivalMs: arrival });
      await source.put(key, encodeRollup(computeRollup([], spans, rules.measures, arrival)), ROLLUP_CONTENT_TYPE);
    }
    const before = [...source.objects.keys()];
    // Act
    const result = await evaluateCapturedRollups(rules, source);
    // Assess
    expect(result.transitions.map((t) => [t.status, t.evaluated_at])).toEqual([
      ['firing', new Date((m0 + 3) * 60_000).toISOString()],
      ['resolved', new Date((m0 + 4) * 60_000).toISOString()],
    ]);
    expect([...source.objects.keys()]).toEqual(before);
  });

  it('evaluates only the minutes the captured watermarks make complete, and notes those live evaluated incomplete', async () => {
    // Prepare: minutes m0…m2 of errors on one shard whose watermark reached end(m1) + L only; the live evaluator
    // recorded m1 as evaluated without shard s2
    const loaded = loadRules([{ path: 'rules.yaml', text: RULES }]);
    if (!loaded.ok) throw new Error('rules');
    const rules = compileRules(loaded.groups);
    const source = memoryObjectStore();
    const m0 = 29_000_000;
    for (let i = 0; i < 3; i++) {
      const spans = Array.from({ length: 10 }, () =>
        aSpanRecord({ start_time: (m0 + i) * 60_000, status_code: 'ERROR', service_name: 'checkout' }),
      );
      const arrival = (m0 + i) * 60_000 + 59_000;
      const mark = { arrival_ms: (m0 + i + 1) * 60_000 + (i === 2 ? 10_000 : 31_000), sequence_number: String(i + 1) };
      const rollup = computeRollup([], spans, rules.measures, arrival, { shard: { shardId: 's', mark } });
      const key = rollupObjectKey({ shardId: 's', firstSequenceNumber: String(i + 1), firstArrivalMs: arrival });
      await source.put(key, encodeRollup(rollup), ROLLUP_CONTENT_TYPE);
    }
    const incomplete = [{ minute: m0 + 1, evaluated_at_ms: 0, shards: [{ shard_id: 's2', behind_ms: 95_000 }] }];
    const progress = { version: 1, shards: {}, incomplete };
    await source.put(EVALUATION_PROGRESS_KEY, new TextEncoder().encode(JSON.stringify(progress)), 'application/json');
    // Act
    const result = await evaluateCapturedRollups(rules, source);
    const report = formatDataReport(result, '.skein');
    // Assess: m2 is not complete (its shard got 10 s past its end, L is 30 s)
    expect([result.fromMinute, result.toMinute]).toEqual([m0, m0 + 1]);
    expect(result.incomplete).toEqual(incomplete);
    expect(report).toContain('note: minute 2025-02-19 21:21 evaluated without s2 (95 s behind) live');
  });
});

describe('rulesTestCommand', () => {
  it('exits 1 when a case fails and 0 when all pass', async () => {
    // Prepare
    const out = {
      text: '',
      write(s: string) {
        this.text += s;
      },
    };
    const io = { stdout: out, stderr: { write: () => true } };
    // Act
    const failing = await rulesTestCommand([join(dir, 'bad.test.yaml')], io);
    const passing = await rulesTestCommand([join(dir, 'good.test.yaml')], io);
    // Assess
    expect([failing, passing]).toEqual([1, 0]);
    expect(out.text).toContain('PASS  errors fire');
  });
});
