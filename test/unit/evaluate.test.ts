import { describe, expect, it } from 'vitest';
import { memoryLogger } from '../../functions/core/logger.ts';
import { memoryObjectStore } from '../../functions/core/object-store.ts';
import { evaluateOnce, MAX_CATCH_UP_MINUTES, plannedMinutes } from '../../functions/evaluate/evaluate.ts';
import { readOutbox } from '../../functions/evaluate/rule-tests.ts';
import { type CompiledRuleSet, compileRules } from '../../functions/evaluate/rules/compile-rules.ts';
import { loadRules } from '../../functions/evaluate/rules/load-rules.ts';
import { readGroupState } from '../../functions/evaluate/state-store.ts';
import { computeRollup, encodeRollup, ROLLUP_CONTENT_TYPE, rollupObjectKey } from '../../functions/ingest/rollup.ts';
import {
  DEFAULT_ALLOWED_LATENESS_MS,
  DEFAULT_MAX_WAIT_MS,
  minuteDeadlineMs,
} from '../../functions/watermark/watermark.ts';
import { alertStateKey } from '../../schemas/alert-state.ts';
import { aSpanRecord } from '../builders/rows.ts';

const M = 29_000_000; // an epoch minute
const L = DEFAULT_ALLOWED_LATENESS_MS;
const CONFIG = { latenessMs: L, maxWaitMs: DEFAULT_MAX_WAIT_MS };

const RULES = `
groups:
  - name: checkout
    rules:
      - name: CheckoutErrors
        expr: count(spans{status="error"}) by (service) [1m] > 5
        labels: { severity: critical }
        annotations: { summary: "{{ $labels.service }}: {{ $value }} errors" }
`;

function compiled(text = RULES): CompiledRuleSet {
  const loaded = loadRules([{ path: 'test.yaml', text }]);
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
  return compileRules(loaded.groups);
}

let sequence = 0;
/** One ingest batch arriving in `arrivalMinute` with `errors` error spans of checkout at `eventMinute`. */
async function writeBatch(
  store: ReturnType<typeof memoryObjectStore>,
  rules: CompiledRuleSet,
  eventMinute: number,
  errors: number,
  arrivalMinute = eventMinute,
): Promise<void> {
  const spans = Array.from({ length: errors }, () =>
    aSpanRecord({ start_time: eventMinute * 60_000 + 1_000, status_code: 'ERROR', service_name: 'checkout' }),
  );
  const arrivalMs = arrivalMinute * 60_000 + 30_000;
  const rollup = computeRollup([], spans, rules.measures, arrivalMs);
  const key = rollupObjectKey({
    shardId: 'shardId-0',
    firstSequenceNumber: String(++sequence),
    firstArrivalMs: arrivalMs,
  });
  await store.put(key, encodeRollup(rollup), ROLLUP_CONTENT_TYPE);
}

/** The clock at which `minute` is the last minute due (its end + allowed lateness passed). */
const at = (minute: number) => () => minuteDeadlineMs(minute, L) + 5_000;

function deps(store: ReturnType<typeof memoryObjectStore>, rules: CompiledRuleSet, minute: number) {
  const logger = memoryLogger();
  return { logger, deps: { store, rules, clock: at(minute), logger, config: CONFIG } };
}

describe('evaluateOnce', () => {
  it('does not evaluate a newly added rule until every rollup of its window carries its measures', async () => {
    // Prepare: a minute of rollups written before the absent rule existed (no measures at all), then the rule.
    const store = memoryObjectStore();
    const before = compiled();
    await writeBatch(store, { ...before, measures: [] }, M, 0);
    const rules = compiled(`
groups:
  - name: heartbeat
    rules:
      - name: NoSpans
        expr: absent(spans) [1m]
        labels: { severity: warning }
`);
    const { deps: d } = deps(store, rules, M);
    // Act
    const summary = await evaluateOnce(d);
    // Assess: absent() would fire on the old rollup; it waits instead.
    expect(summary.rulesWaiting).toBe(1);
    expect(await readOutbox(store)).toEqual([]);
  });

  it('evaluates the minute a delay behind the clock and writes a firing transition to the outbox', async () => {
    // Prepare
    const store = memoryObjectStore();
    const rules = compiled();
    await writeBatch(store, rules, M, 8);
    const { logger, deps: d } = deps(store, rules, M);
    // Act
    const summary = await evaluateOnce(d);
    // Assess
    const outbox = await readOutbox(store);
    expect(summary).toMatchObject({ minute: M, minutesEvaluated: 1, rules: 1, series: 1, transitions: 1 });
    expect(outbox).toHaveLength(1);
    expect(outbox[0]).toMatchObject({
      status: 'firing',
      labels: { alertname: 'CheckoutErrors', service: 'checkout', severity: 'critical' },
      annotations: { summary: 'checkout: 8 errors' },
      value: 8,
      evaluated_at: new Date(M * 60_000).toISOString(),
    });
    const lines = logger.lines.map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.msg === 'evaluation finished')).toHaveLength(1);
  });

  it('counts data later than the allowed lateness in a later minute, never in a minute already evaluated', async () => {
    // Prepare: minute M is evaluated below the threshold, then a batch arriving at M+1:30 (later than end + L)
    // brings 10 errors dated M.
    const store = memoryObjectStore();
    const rules = compiled();
    await writeBatch(store, rules, M, 2);
    await evaluateOnce(deps(store, rules, M).deps);
    await writeBatch(store, rules, M, 10, M + 1);
    // Act
    const summary = await evaluateOnce(deps(store, rules, M + 1).deps);
    // Assess: M's evaluation stands; the late errors count in M + 1, where they fire.
    const outbox = await readOutbox(store);
    expect(summary.minutesEvaluated).toBe(1);
    expect(outbox.map((t) => [t.status, t.evaluated_at, t.value])).toEqual([
      ['firing', new Date((M + 1) * 60_000).toISOString(), 10],
    ]);
    expect((await readGroupState(store, 'checkout')).state.last_evaluated_minute).toBe(M + 1);
  });

  it('evaluates missed minutes in order, each with its own time', async () => {
    // Prepare
    const store = memoryObjectStore();
    const rules = compiled();
    await evaluateOnce(deps(store, rules, M).deps);
    await writeBatch(store, rules, M + 2, 9);
    // Act
    const summary = await evaluateOnce(deps(store, rules, M + 4).deps);
    // Assess
    const outbox = await readOutbox(store);
    expect(summary.minutesEvaluated).toBe(4);
    expect(outbox.map((t) => [t.status, t.evaluated_at])).toEqual([
      ['firing', new Date((M + 2) * 60_000).toISOString()],
      ['resolved', new Date((M + 3) * 60_000).toISOString()],
    ]);
  });

  it('bounds the catch-up after a clock jump forward, counting and logging the skipped minutes', async () => {
    // Prepare
    const store = memoryObjectStore();
    const rules = compiled();
    await evaluateOnce(deps(store, rules, M).deps);
    const { logger, deps: d } = deps(store, rules, M + 60);
    // Act
    const summary = await evaluateOnce(d);
    // Assess
    expect(summary).toMatchObject({
      minutesEvaluated: MAX_CATCH_UP_MINUTES,
      minutesSkipped: 60 - MAX_CATCH_UP_MINUTES,
    });
    expect(logger.lines.some((l) => l.includes('evaluation minutes skipped'))).toBe(true);
  });

  it('evaluates nothing and leaves the state alone after a clock jump backward', async () => {
    // Prepare
    const store = memoryObjectStore();
    const rules = compiled();
    await writeBatch(store, rules, M - 10, 50);
    await evaluateOnce(deps(store, rules, M).deps);
    const before = await store.getVersioned(alertStateKey('checkout'));
    // Act
    const summary = await evaluateOnce(deps(store, rules, M - 10).deps);
    // Assess
    expect(summary).toMatchObject({ minutesEvaluated: 0, transitions: 0 });
    expect((await store.getVersioned(alertStateKey('checkout')))?.etag).toBe(before?.etag);
    expect(await readOutbox(store)).toEqual([]);
  });

  it('compacts the rollup minutes that closed with the minutes it evaluated', async () => {
    // Prepare
    const store = memoryObjectStore();
    const rules = compiled();
    const closed = M - 2;
    await writeBatch(store, rules, closed, 1);
    await writeBatch(store, rules, closed, 1);
    // Act
    const summary = await evaluateOnce(deps(store, rules, M).deps);
    // Assess
    expect(summary.minutesCompacted).toBe(1);
    expect((await store.list('rollups/')).some((k) => k.includes('compacted-g1'))).toBe(true);
  });

  it('reads each rollup once per run however many rules and minutes use it', async () => {
    // Prepare
    const store = memoryObjectStore();
    const many = `groups:\n  - name: checkout\n    rules:\n${Array.from(
      { length: 20 },
      (_, i) =>
        `      - name: R${i}\n        expr: count(spans{status="error"}) by (service) [5m] > ${i}\n        labels: { severity: info }\n`,
    ).join('')}`;
    const rules = compiled(many);
    for (let m = M - 5; m <= M; m++) await writeBatch(store, rules, m, 1);
    await evaluateOnce(deps(store, rules, M - 3).deps);
    // Act
    const summary = await evaluateOnce(deps(store, rules, M).deps);
    // Assess
    expect(summary).toMatchObject({ rules: 20, minutesEvaluated: 3 });
    expect(summary.objectsRead).toBeLessThanOrEqual(6);
  });
});

describe('plannedMinutes', () => {
  it.each([
    { last: null, minute: 100, expected: { minutes: [100], skipped: 0 } },
    { last: 97, minute: 100, expected: { minutes: [98, 99, 100], skipped: 0 } },
    { last: 100, minute: 100, expected: { minutes: [], skipped: 0 } },
    { last: 120, minute: 100, expected: { minutes: [], skipped: 0 } },
    { last: 50, minute: 100, expected: { minutes: [96, 97, 98, 99, 100], skipped: 45 } },
  ])('last $last, minute $minute', ({ last, minute, expected }) => {
    // Act
    const planned = plannedMinutes(last, minute, 5);
    // Assess
    expect(planned).toEqual(expected);
  });
});
