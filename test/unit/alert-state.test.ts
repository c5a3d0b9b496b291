import { describe, expect, it } from 'vitest';
import {
  alertFingerprint,
  alertLabels,
  RESOLVED_RETENTION_MINUTES,
  type StateRule,
  type StateSample,
  stepRule,
} from '../../functions/evaluate/alert-state.ts';
import { AlertGroupState, emptyGroupState } from '../../schemas/alert-state.ts';
import { AlertTransition } from '../../schemas/alerts.ts';

const T0 = 29_000_000; // an epoch minute (2025-02-21)

function aRule(overrides: Partial<StateRule> = {}): StateRule {
  return {
    group: 'checkout',
    name: 'HighErrorRate',
    expr: 'ratio(spans{status="error"}, spans{}) > 0.05',
    forMs: 0,
    keepFiringForMs: 0,
    labels: { severity: 'page' },
    noData: 'ok',
    ...overrides,
  };
}

/**
 * Runs one series through the state machine, one character per minute from T0: `1` the condition holds, `0` it
 * does not, `_` a sample with no data, `-` no sample at all. Returns the transitions as `<minute>:<status>#<seq>`.
 */
function run(rule: StateRule, timeline: string, state = emptyGroupState(rule.group), from = T0): string[] {
  const out: string[] = [];
  [...timeline].forEach((c, i) => {
    const samples: StateSample[] =
      c === '-' ? [] : [{ labels: { service: 'checkout' }, value: c === '_' ? null : Number(c), active: c === '1' }];
    for (const t of stepRule(rule, state, samples, from + i, () => ({})))
      out.push(`${from + i - T0}:${t.status}#${t.seq}`);
  });
  return out;
}

describe('stepRule', () => {
  it.each([
    {
      name: 'fires after holding for `for`, resolves when it stops',
      rule: { forMs: 180_000 },
      timeline: '0111110000',
      expected: ['4:firing#1', '6:resolved#2'],
    },
    {
      name: 'fires at once with for: 0',
      rule: { forMs: 0 },
      timeline: '0110',
      expected: ['1:firing#1', '3:resolved#2'],
    },
    { name: 'never fires when it flaps inside `for`', rule: { forMs: 180_000 }, timeline: '1101101110', expected: [] },
    {
      name: 'fires once it holds for `for` without a gap',
      rule: { forMs: 180_000 },
      timeline: '11011011110',
      expected: ['9:firing#1', '10:resolved#2'],
    },
    {
      name: 'keeps firing through a dip shorter than keep_firing_for and resolves after',
      rule: { keepFiringForMs: 180_000 },
      timeline: '1100100000',
      expected: ['0:firing#1', '7:resolved#2'],
    },
    {
      name: 'no data as ok resolves and fires again with the next seq',
      rule: { noData: 'ok' },
      timeline: '11__1',
      expected: ['0:firing#1', '2:resolved#2', '4:firing#3'],
    },
    {
      name: 'no data with keep_state changes nothing',
      rule: { noData: 'keep_state' },
      timeline: '11___0',
      expected: ['0:firing#1', '5:resolved#2'],
    },
    {
      name: 'no data as alerting fires',
      rule: { noData: 'alerting' },
      timeline: '00__0',
      expected: ['2:firing#1', '4:resolved#2'],
    },
    {
      name: 'a missing sample counts as no data',
      rule: { noData: 'ok' },
      timeline: '11--',
      expected: ['0:firing#1', '2:resolved#2'],
    },
    {
      name: 'a missing sample under keep_state keeps firing',
      rule: { noData: 'keep_state' },
      timeline: '1---0',
      expected: ['0:firing#1', '4:resolved#2'],
    },
  ] as const)('$name', ({ rule, timeline, expected }) => {
    // Prepare
    const r = aRule(rule);
    // Act
    const transitions = run(r, timeline);
    // Assess
    expect(transitions).toEqual(expected);
  });

  it('keeps a pending series out of the outbox and forgets it when the condition stops', () => {
    // Prepare
    const state = emptyGroupState('checkout');
    const rule = aRule({ forMs: 600_000 });
    // Act
    const transitions = run(rule, '11', state);
    const pending = Object.values(state.rules[rule.name] ?? {}).map((s) => s.status);
    run(rule, '0', state, T0 + 2);
    // Assess
    expect(transitions).toEqual([]);
    expect(pending).toEqual(['pending']);
    expect(state.rules[rule.name]).toBeUndefined();
  });

  it('forgets a resolved series after the retention and continues its seq when it returns', () => {
    // Prepare
    const state = emptyGroupState('checkout');
    const rule = aRule();
    run(rule, '10', state);
    // Act
    run(rule, '0'.repeat(RESOLVED_RETENTION_MINUTES), state, T0 + 2);
    const forgotten = state.rules[rule.name] === undefined;
    const again = run(rule, '1', state, T0 + 2 + RESOLVED_RETENTION_MINUTES);
    // Assess
    expect(forgotten).toBe(true);
    expect(again).toEqual([`${2 + RESOLVED_RETENTION_MINUTES}:firing#3`]);
  });

  it('tracks each series of a rule separately', () => {
    // Prepare
    const state = emptyGroupState('checkout');
    const rule = aRule();
    const sample = (service: string, active: boolean): StateSample => ({ labels: { service }, value: 1, active });
    // Act
    const first = stepRule(rule, state, [sample('a', true), sample('b', false)], T0, () => ({}));
    const second = stepRule(rule, state, [sample('a', true), sample('b', true)], T0 + 1, () => ({}));
    // Assess
    expect(first.map((t) => t.labels.service)).toEqual(['a']);
    expect(second.map((t) => t.labels.service)).toEqual(['b']);
  });

  it('emits transitions that satisfy the outbox contract, with times of the evaluation minute', () => {
    // Prepare
    const state = emptyGroupState('checkout');
    const rule = aRule({ forMs: 120_000, route: 'payments' });
    const annotate = (labels: Readonly<Record<string, string>>, value: number | null) => ({
      summary: `${labels.service} errors at ${value}`,
    });
    const at = (minute: number, value: number, active: boolean) =>
      stepRule(rule, state, [{ labels: { service: 'checkout' }, value, active }], minute, annotate);
    // Act
    at(T0, 0.2, true);
    at(T0 + 1, 0.3, true);
    const [fired] = at(T0 + 2, 0.4, true);
    const [resolved] = at(T0 + 3, 0.01, false);
    // Assess
    expect(AlertTransition.parse(fired)).toMatchObject({
      status: 'firing',
      seq: 1,
      group: 'checkout',
      rule: 'HighErrorRate',
      labels: { alertname: 'HighErrorRate', service: 'checkout', severity: 'page' },
      annotations: { summary: 'checkout errors at 0.4' },
      value: 0.4,
      active_at: new Date(T0 * 60_000).toISOString(),
      starts_at: new Date((T0 + 2) * 60_000).toISOString(),
      evaluated_at: new Date((T0 + 2) * 60_000).toISOString(),
      route: 'payments',
      expr: rule.expr,
    });
    expect(fired?.ends_at).toBeUndefined();
    expect(AlertTransition.parse(resolved)).toMatchObject({
      status: 'resolved',
      seq: 2,
      value: 0.01,
      starts_at: new Date((T0 + 2) * 60_000).toISOString(),
      ends_at: new Date((T0 + 3) * 60_000).toISOString(),
    });
    expect(fired?.fingerprint).toBe(resolved?.fingerprint);
    expect(AlertGroupState.safeParse(state).success).toBe(true);
  });
});

describe('alertFingerprint', () => {
  it('is 16 hex digits and ignores label order', () => {
    // Prepare
    const a = { alertname: 'X', service: 'checkout', severity: 'page' };
    const b = { severity: 'page', service: 'checkout', alertname: 'X' };
    // Act
    const fa = alertFingerprint(a);
    const fb = alertFingerprint(b);
    // Assess
    expect(fa).toMatch(/^[0-9a-f]{16}$/);
    expect(fa).toBe(fb);
  });

  it('differs when any label value differs', () => {
    // Prepare
    const base = { alertname: 'X', service: 'checkout' };
    // Act
    const fingerprints = new Set([
      alertFingerprint(base),
      alertFingerprint({ ...base, service: 'cart' }),
      alertFingerprint({ ...base, alertname: 'Y' }),
      alertFingerprint({ ...base, extra: '' }),
    ]);
    // Assess
    expect(fingerprints.size).toBe(4);
  });
});

describe('alertLabels', () => {
  it('lets rule labels override series labels and sets alertname last', () => {
    // Prepare
    const rule = aRule({ labels: { severity: 'page', team: 'payments' } });
    // Act
    const labels = alertLabels(rule, { service: 'checkout', team: 'other', alertname: 'spoofed' });
    // Assess
    expect(labels).toEqual({ service: 'checkout', team: 'payments', severity: 'page', alertname: 'HighErrorRate' });
  });
});
