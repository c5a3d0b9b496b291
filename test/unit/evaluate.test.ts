import { describe, expect, it } from 'vitest';
import { alertsCommand } from '../../cli/alerts-command.ts';
import { memoryLogger } from '../../functions/core/logger.ts';
import { memoryObjectStore } from '../../functions/core/object-store.ts';
import { evaluateOnce, MAX_CATCH_UP_MINUTES, plannedMinutes } from '../../functions/evaluate/evaluate.ts';
import { evaluateCapturedRollups, readOutbox } from '../../functions/evaluate/rule-tests.ts';
import { readProgress, type ShardProgress } from '../../functions/evaluate/shard-progress.ts';
import { readGroupState } from '../../functions/evaluate/state-store.ts';
import { computeRollup, encodeRollup, ROLLUP_CONTENT_TYPE, rollupObjectKey } from '../../functions/shared/rollup.ts';
import { type CompiledRuleSet, compileRules } from '../../functions/shared/rules/compile-rules.ts';
import { loadRules } from '../../functions/shared/rules/load-rules.ts';
import {
  DEFAULT_ALLOWED_LATENESS_MS,
  DEFAULT_MAX_WAIT_MS,
  minuteDeadlineMs,
} from '../../functions/shared/watermark.ts';
import { alertStateKey } from '../../schemas/alert-state.ts';
import { captureIo } from '../builders/cli-io.ts';
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

/** A batch on `shardId` whose watermark is `markMs` (its newest arrival), with `errors` error spans dated M. */
async function writeShardBatch(
  store: ReturnType<typeof memoryObjectStore>,
  rules: CompiledRuleSet,
  shardId: string,
  markMs: number,
  errors: number,
): Promise<void> {
  const spans = Array.from({ length: errors }, () =>
    aSpanRecord({ start_time: M * 60_000 + 1_000, status_code: 'ERROR', service_name: 'checkout' }),
  );
  const seq = String(++sequence);
  const rollup = computeRollup([], spans, rules.measures, markMs, {
    latenessMs: L,
    shard: { shardId, mark: { arrival_ms: markMs, sequence_number: seq } },
  });
  const key = rollupObjectKey({ shardId, firstSequenceNumber: seq, firstArrivalMs: markMs });
  await store.put(key, encodeRollup(rollup), ROLLUP_CONTENT_TYPE);
}

/** A stream whose shards have nothing unprocessed, except `pending` (shard → arrival of its first unprocessed record). */
function stream(shards: readonly string[], pending: Readonly<Record<string, number>> = {}): ShardProgress {
  return {
    listShards: async () => shards.map((shardId) => ({ shardId, closed: false })),
    iterator: async (shardId) => shardId,
    read: async (iterator) => {
      const arrivalMs = pending[iterator];
      return {
        records: arrivalMs === undefined ? [] : [{ arrivalMs, sequenceNumber: '999' }],
        nextIterator: iterator,
        millisBehindLatest: 0,
      };
    },
  };
}

describe('evaluateOnce on watermarks (D15)', () => {
  const end = (M + 1) * 60_000;

  it('evaluates a minute only once every shard is ingested past its end plus the allowed lateness', async () => {
    // Prepare: shard-0 has got 10 s past the end of M (L is 30 s), with 8 errors dated M
    const store = memoryObjectStore();
    const rules = compiled();
    await writeShardBatch(store, rules, 'shardId-0', end + 10_000, 8);
    const first = await evaluateOnce(deps(store, rules, M).deps);
    const quiet = await readOutbox(store);
    // Act: the next batch of shard-0 arrives past end(M) + L
    await writeShardBatch(store, rules, 'shardId-0', end + L + 1_000, 0);
    const second = await evaluateOnce(deps(store, rules, M).deps);
    // Assess: M waited for the watermark, then was evaluated once, with all its data
    expect(first).toMatchObject({ minute: M - 1, completeMinute: M - 1, incompleteMinutes: [] });
    expect(quiet).toEqual([]);
    expect(second).toMatchObject({ minute: M, completeMinute: M, minutesEvaluated: 1 });
    expect((await readOutbox(store)).map((t) => [t.status, t.evaluated_at, t.value])).toEqual([
      ['firing', new Date(M * 60_000).toISOString(), 8],
    ]);
  });

  it('asks the stream about shards its rollups show behind: idle ones hold nothing back', async () => {
    // Prepare: shard-0 stopped 10 s after M ended and is idle; shard-1 never had a record
    const store = memoryObjectStore();
    const rules = compiled();
    await writeShardBatch(store, rules, 'shardId-0', end + 10_000, 8);
    const { deps: d } = deps(store, rules, M);
    // Act
    const summary = await evaluateOnce({ ...d, progress: stream(['shardId-0', 'shardId-1']) });
    // Assess
    expect(summary).toMatchObject({ minute: M, completeMinute: M, shardsProbed: 2, incompleteMinutes: [] });
    expect(await readOutbox(store)).toHaveLength(1);
    const progress = (await readProgress(store)).progress;
    expect(Object.keys(progress.shards)).toEqual(['shardId-0', 'shardId-1']);
  });

  it('decides on the rollups’ watermarks when the stream cannot be asked, and says so', async () => {
    // Prepare: shard-0 is past end(M) + L by its rollups; the stream refuses every call
    const store = memoryObjectStore();
    const rules = compiled();
    await writeShardBatch(store, rules, 'shardId-0', end + 10_000, 8);
    await writeShardBatch(store, rules, 'shardId-0', end + L + 1_000, 0);
    const refusing: ShardProgress = {
      listShards: async () => {
        throw new Error('ThrottlingException');
      },
      iterator: async () => {
        throw new Error('ThrottlingException');
      },
      read: async () => {
        throw new Error('ThrottlingException');
      },
    };
    const { logger, deps: d } = deps(store, rules, M);
    // Act
    const summary = await evaluateOnce({ ...d, progress: refusing });
    // Assess
    expect(summary).toMatchObject({ minute: M, completeMinute: M });
    expect(await readOutbox(store)).toHaveLength(1);
    expect(logger.lines.some((l) => l.includes('listing the stream shards failed'))).toBe(true);
  });

  it('waits for a shard with unprocessed records older than the end plus lateness', async () => {
    // Prepare: shard-1 has a record that arrived 10 s before M ended and is not ingested yet
    const store = memoryObjectStore();
    const rules = compiled();
    await writeShardBatch(store, rules, 'shardId-0', end + 10_000, 8);
    await writeShardBatch(store, rules, 'shardId-0', end + L + 1_000, 0);
    const { deps: d } = deps(store, rules, M);
    // Act
    const summary = await evaluateOnce({
      ...d,
      progress: stream(['shardId-0', 'shardId-1'], { 'shardId-1': end - 10_000 }),
    });
    // Assess
    expect(summary).toMatchObject({ minute: M - 1, completeMinute: M - 1, incompleteMinutes: [] });
    expect(await readOutbox(store)).toEqual([]);
  });

  it('evaluates a minute a stalled shard holds back once its maximum wait ran out: logged, counted, kept for skein alerts', async () => {
    // Prepare: as above, but the clock is past end(M) + L + the maximum wait
    const store = memoryObjectStore();
    const rules = compiled();
    await writeShardBatch(store, rules, 'shardId-0', end + 10_000, 8);
    await writeShardBatch(store, rules, 'shardId-0', end + L + 1_000, 0);
    const logger = memoryLogger();
    const lines: string[] = [];
    const now = minuteDeadlineMs(M, L) + DEFAULT_MAX_WAIT_MS + 5_000;
    // Act
    const summary = await evaluateOnce({
      store,
      rules,
      clock: () => now,
      logger,
      config: CONFIG,
      progress: stream(['shardId-0', 'shardId-1'], { 'shardId-1': end - 10_000 }),
      metrics: (line) => lines.push(line),
    });
    const io = captureIo();
    await alertsCommand([], io, { store });
    // Assess
    const behind = now - (end - 10_000);
    expect(summary).toMatchObject({ minute: M, completeMinute: M - 1 });
    expect(summary.incompleteMinutes).toEqual([
      { minute: M, evaluated_at_ms: now, shards: [{ shard_id: 'shardId-1', behind_ms: behind }] },
    ]);
    expect(await readOutbox(store)).toHaveLength(1);
    const warning = logger.lines.map((l) => JSON.parse(l)).find((l) => l.level === 'warn');
    expect(warning).toMatchObject({ minute: M, shards: [{ shard_id: 'shardId-1', behind_ms: behind }] });
    expect(lines.map((l) => JSON.parse(l))).toContainEqual(expect.objectContaining({ MinutesEvaluatedIncomplete: 1 }));
    expect((await readProgress(store)).progress.incomplete).toEqual(summary.incompleteMinutes);
    expect(io.out()).toContain(
      `note: minute ${new Date(M * 60_000).toISOString().slice(0, 16).replace('T', ' ')} evaluated without shardId-1 (${Math.round(behind / 1000)} s behind)`,
    );
  });

  it('agrees minute for minute with the offline evaluation of the same rollups', async () => {
    // Prepare: 12 minutes of batches on two shards, each minute's arriving 0–20 s after it ends (one more than L
    // late, so it counts in the next minute); the live evaluator runs every 10 s as the batches land.
    const store = memoryObjectStore();
    const rules = compiled(`
groups:
  - name: checkout
    rules:
      - name: CheckoutErrors
        expr: count(spans{status="error"}) by (service) [2m] > 5
        for: 1m
        labels: { severity: critical }
`);
    const errors = [0, 3, 9, 9, 2, 0, 7, 7, 7, 0, 0, 4];
    const start = M * 60_000;
    const batches = errors.flatMap((n, i) => [
      {
        shard: 'shardId-0',
        event: start + i * 60_000 + 20_000,
        arrival: start + (i + 1) * 60_000 + 3_000 + i * 1_500,
        n,
      },
      { shard: 'shardId-1', event: start + i * 60_000 + 50_000, arrival: start + (i + 1) * 60_000 + 5_000, n: n % 2 },
    ]);
    const pending: Record<string, number> = {};
    const written = new Set<number>();
    for (let now = start + 60_000; now <= start + 14 * 60_000; now += 10_000) {
      for (const [b, batch] of batches.entries()) {
        if (written.has(b) || batch.arrival + 2_000 > now) continue;
        written.add(b);
        const spans = Array.from({ length: batch.n }, () =>
          aSpanRecord({ start_time: batch.event, status_code: 'ERROR', service_name: 'checkout' }),
        );
        const seq = String(1_000 + b);
        const rollup = computeRollup([], spans, rules.measures, batch.arrival, {
          latenessMs: L,
          shard: { shardId: batch.shard, mark: { arrival_ms: batch.arrival, sequence_number: seq } },
        });
        const key = rollupObjectKey({ shardId: batch.shard, firstSequenceNumber: seq, firstArrivalMs: batch.arrival });
        await store.put(key, encodeRollup(rollup), ROLLUP_CONTENT_TYPE);
      }
      // Records on the stream not yet ingested: those that arrived but whose batch is not written.
      for (const shard of ['shardId-0', 'shardId-1']) {
        const first = batches.findIndex((x, b) => x.shard === shard && !written.has(b) && x.arrival <= now);
        if (first >= 0) pending[shard] = batches[first]?.arrival ?? 0;
        else delete pending[shard];
      }
      await evaluateOnce({
        store,
        rules,
        clock: () => now,
        logger: memoryLogger(),
        config: CONFIG,
        progress: stream(['shardId-0', 'shardId-1'], { ...pending }),
      });
    }
    const live = (await readOutbox(store)).map((t) => [t.status, t.evaluated_at, t.value, t.fingerprint]);
    // Act: the offline evaluation over a copy of the rollups (and the progress object) the live run left
    const captured = memoryObjectStore();
    for (const key of await store.list('rollups/')) {
      const body = await store.get(key);
      if (body !== undefined) await captured.put(key, body, ROLLUP_CONTENT_TYPE);
    }
    const offline = await evaluateCapturedRollups(rules, captured);
    // Assess: the same transitions at the same minutes, and live made some
    expect(offline.transitions.map((t) => [t.status, t.evaluated_at, t.value, t.fingerprint])).toEqual(live);
    expect(live.length).toBeGreaterThanOrEqual(2);
    expect(offline.incomplete).toEqual([]);
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
