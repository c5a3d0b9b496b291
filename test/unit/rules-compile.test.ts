import { describe, expect, it } from 'vitest';
import { newSketch, sketchAdd, sketchToData } from '../../functions/core/sketch.ts';
import { renderAnnotations } from '../../functions/shared/rules/annotations.ts';
import { alertLabelName, type CompiledRule, compileRules } from '../../functions/shared/rules/compile-rules.ts';
import { measureId } from '../../functions/shared/rules/measure-id.ts';
import { MeasureSpec } from '../../schemas/measures.ts';
import { RuleGroup } from '../../schemas/rules.ts';
import { aWindowView, groupKey } from '../builders/rules.ts';

function compileOne(
  expr: string,
  extra: Record<string, unknown> = {},
): { rule: CompiledRule; measures: MeasureSpec[] } {
  const group = RuleGroup.parse({ name: 'g', rules: [{ name: 'R', expr, labels: { severity: 'warning' }, ...extra }] });
  const set = compileRules([group]);
  const rule = set.rules[0];
  if (rule === undefined) throw new Error('no rule');
  return { rule, measures: [...set.measures] };
}

describe('measureId', () => {
  it('is the same for the same measure however matchers and by are ordered', () => {
    // Prepare
    const a = {
      selector: {
        table: 'logs' as const,
        matchers: [
          { label: 'service', op: '=' as const, value: 'a' },
          { label: 'body', op: '=~' as const, value: 'x' },
        ],
      },
      by: ['service', 'attr.node'],
      kind: 'count' as const,
    };
    const b = {
      ...a,
      selector: { ...a.selector, matchers: [...a.selector.matchers].reverse() },
      by: ['attr.node', 'service'],
    };

    // Act / Assess
    expect(measureId(a)).toMatch(/^[0-9a-f]{16}$/);
    expect(measureId(b)).toBe(measureId(a));
    expect(measureId({ ...a, kind: 'stats', field: 'attr.x' })).not.toBe(measureId(a));
  });
});

describe('compileRules', () => {
  it('compiles each function to its measure kind, with field and sorted by', () => {
    const kinds = {
      'count(logs) by (service) [1m] > 0': ['count'],
      'rate(logs) [1m] > 0': ['count'],
      'ratio(spans{status="error"}, spans) [1m] > 0': ['count', 'count'],
      'absent(logs) [1m]': ['count'],
      'quantile(0.9, duration, spans) [1m] > 0': ['sketch'],
      'max(attr.lag, logs) [1m] > 0': ['stats'],
      'avg(attr.lag, logs) [1m] > 0': ['stats'],
    };
    for (const [expr, expected] of Object.entries(kinds)) {
      const { rule, measures } = compileOne(expr);
      expect(measures.map((m) => m.kind)).toEqual(expected);
      expect(rule.measureIds).toEqual(measures.map((m) => m.id));
      for (const m of measures) expect(MeasureSpec.parse(m)).toEqual(m);
    }
    const { measures } = compileOne('max(attr.lag, logs{service="a"}) by (service, attr.group) [1m] > 0');
    expect(measures[0]).toMatchObject({ by: ['attr.group', 'service'], field: 'attr.lag', kind: 'stats' });
  });

  it('shares one measure between rules that mean the same rows and grouping', () => {
    // Prepare
    const group = RuleGroup.parse({
      name: 'g',
      rules: [
        {
          name: 'A',
          expr: 'count(logs{service="a", severity="error"}) by (service) [5m] > 1',
          labels: { severity: 'info' },
        },
        {
          name: 'B',
          expr: 'rate(logs{severity="error", service="a"}) by (service) [1m] > 1',
          labels: { severity: 'info' },
        },
        {
          name: 'C',
          expr: 'ratio(logs{severity="error", service="a"}, logs) by (service) [1m] > 1',
          labels: { severity: 'info' },
        },
      ],
    });

    // Act
    const set = compileRules([group]);

    // Assess
    expect(set.measures).toHaveLength(2);
    const [a, b, c] = set.rules;
    expect(a?.measureIds).toEqual(b?.measureIds);
    expect(c?.measureIds[0]).toBe(a?.measureIds[0]);
  });

  it('carries durations, labels, annotations, route and no_data onto the compiled rule', () => {
    const { rule } = compileOne('count(logs) [5m] > 1', {
      for: '10m',
      keep_firing_for: '1h30m',
      route: 'pager',
      no_data: 'alerting',
      annotations: { summary: '{{ $value }}' },
    });
    expect(rule).toMatchObject({
      group: 'g',
      name: 'R',
      intervalMs: 60_000,
      forMs: 600_000,
      keepFiringForMs: 5_400_000,
      windowMs: 300_000,
      labels: { severity: 'warning' },
      annotations: { summary: '{{ $value }}' },
      route: 'pager',
      noData: 'alerting',
      absent: false,
    });
    expect(compileOne('absent(logs) [1m]').rule).toMatchObject({ absent: true, noData: 'ok' });
  });

  it('throws a rule_invalid error for an expression loadRules would reject', () => {
    expect(() => compileOne('count(logs) [5m]')).toThrow(/rule g\/R: expected a comparison/);
  });
});

describe('CompiledRule.evaluate', () => {
  it('ratio: one sample per group, no value when the denominator has no rows', () => {
    // Prepare
    const { rule } = compileOne('ratio(spans{status="error"}, spans) by (service) [5m] > 0.1');
    const [errors = '', total = ''] = rule.measureIds;
    const view = aWindowView({
      [errors]: { [groupKey('api')]: { n: 3 }, [groupKey('gone')]: { n: 1 } },
      [total]: { [groupKey('api')]: { n: 20 }, [groupKey('web')]: { n: 50 } },
    });

    // Act
    const samples = rule.evaluate(view);

    // Assess
    expect(new Set(samples)).toEqual(
      new Set([
        { labels: { service: 'api' }, value: 0.15, active: true },
        { labels: { service: 'web' }, value: 0, active: false },
        { labels: { service: 'gone' }, value: null, active: false },
      ]),
    );
    expect(view.windows).toEqual([300_000, 300_000]);
  });

  it('count and rate: zero for a known group without rows, and one sample without by', () => {
    const counted = compileOne('count(logs) by (service) [1m] > 0').rule;
    const id = counted.measureIds[0] ?? '';
    const samples = counted.evaluate(aWindowView({ [id]: { [groupKey('a')]: { n: 2 } } }, { [id]: [groupKey('b')] }));
    expect(samples).toEqual([
      { labels: { service: 'b' }, value: 0, active: false },
      { labels: { service: 'a' }, value: 2, active: true },
    ]);
    const rate = compileOne('rate(logs) [2m] > 1').rule;
    expect(rate.evaluate(aWindowView({ [rate.measureIds[0] ?? '']: { '[]': { n: 360 } } }))).toEqual([
      { labels: {}, value: 3, active: true },
    ]);
    expect(rate.evaluate(aWindowView({}))).toEqual([{ labels: {}, value: 0, active: false }]);
  });

  it('max, min, avg and sum read the stats; a series without values has no value', () => {
    const stats = { n: 4, sum: 10, min: 1, max: 6 };
    const expected = { max: 6, min: 1, avg: 2.5, sum: 10 };
    for (const [func, value] of Object.entries(expected)) {
      const { rule } = compileOne(`${func}(attr.lag, logs) by (attr.group) [1m] > 2`);
      const id = rule.measureIds[0] ?? '';
      const samples = rule.evaluate(aWindowView({ [id]: { [groupKey('g1')]: stats } }, { [id]: [groupKey('g2')] }));
      expect(samples).toEqual([
        { labels: { attr_group: 'g2' }, value: null, active: false },
        { labels: { attr_group: 'g1' }, value, active: value > 2 },
      ]);
    }
  });

  it('quantile reads the merged sketch', () => {
    // Prepare
    const { rule } = compileOne('quantile(0.99, duration, spans) by (service) [5m] > 500ms');
    const sketch = newSketch();
    for (let ms = 1; ms <= 1000; ms++) sketchAdd(sketch, ms);
    const view = aWindowView({
      [rule.measureIds[0] ?? '']: { [groupKey('api')]: { n: 1000, sketch: sketchToData(sketch) } },
    });

    // Act
    const [sample] = rule.evaluate(view);

    // Assess
    expect(sample?.active).toBe(true);
    expect(sample?.value).toBeGreaterThan(980);
    expect(sample?.value).toBeLessThan(1000 * 1.02);
  });

  it('absent without by: one sample, active when no row matched in the range', () => {
    const { rule } = compileOne('absent(logs{body=~".*heartbeat.*"}) [1m]');
    const id = rule.measureIds[0] ?? '';
    expect(rule.evaluate(aWindowView({}))).toEqual([{ labels: {}, value: 1, active: true }]);
    expect(rule.evaluate(aWindowView({ [id]: { '[]': { n: 5 } } }))).toEqual([
      { labels: {}, value: null, active: false },
    ]);
  });

  it('absent by labels: active for each known group missing from the window, inactive for present ones', () => {
    // Prepare
    const { rule } = compileOne('absent(logs{body=~".*heartbeat.*"}) by (attr.node) [1m]');
    const id = rule.measureIds[0] ?? '';
    const view = aWindowView({ [id]: { [groupKey('n1')]: { n: 2 } } }, { [id]: [groupKey('n1'), groupKey('n2')] });

    // Act
    const samples = rule.evaluate(view);

    // Assess
    expect(samples).toEqual([
      { labels: { attr_node: 'n1' }, value: null, active: false },
      { labels: { attr_node: 'n2' }, value: 1, active: true },
    ]);
  });

  it('skips group keys that are not JSON arrays of the by values', () => {
    const { rule } = compileOne('count(logs) by (service) [1m] > 0');
    const id = rule.measureIds[0] ?? '';
    const view = aWindowView({ [id]: { 'not json': { n: 1 }, '[1]': { n: 1 }, '["a","b"]': { n: 1 } } });
    expect(rule.evaluate(view)).toEqual([]);
  });
});

describe('alert labels and annotations', () => {
  it('names by labels as Alertmanager accepts them', () => {
    expect(alertLabelName('attr.http.route')).toBe('attr_http_route');
    expect(alertLabelName('resource.k8s-pod')).toBe('resource_k8s_pod');
    expect(alertLabelName('service')).toBe('service');
  });

  it('renders annotations with series labels, rule labels over them, and the value', () => {
    // Prepare
    const { rule } = compileOne('ratio(spans{status="error"}, spans) by (service) [5m] > 0.1', {
      labels: { severity: 'critical', service: 'from-rule', team: 'core' },
      annotations: {
        summary: '{{ $labels.service }}/{{ $labels.team }}: {{ $value | humanizePercentage }}{{ $labels.nope }}',
      },
    });

    // Act
    const rendered = renderAnnotations(rule, { labels: { service: 'api' }, value: 0.1234 });

    // Assess
    expect(rendered).toEqual({ summary: 'from-rule/core: 12.34%' });
  });

  it('returns a template that does not parse as written instead of throwing', () => {
    const rendered = renderAnnotations(
      { labels: { severity: 'info' }, annotations: { summary: '{{ $value ' } },
      { labels: {}, value: 1 },
    );
    expect(rendered).toEqual({ summary: '{{ $value ' });
  });
});
