import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type KinesisClient, PutRecordsCommand, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_RULES } from '../../cli/local-up-command.ts';
import { memoryLogger } from '../../functions/core/logger.ts';
import type { ObjectStore } from '../../functions/core/object-store.ts';
import { type EvaluationSummary, evaluateOnce } from '../../functions/evaluate/evaluate.ts';
import { kinesisShardProgress, type ShardProgress } from '../../functions/evaluate/shard-progress.ts';
import type { CompiledRuleSet } from '../../functions/shared/rules/compile-rules.ts';
import { loadCompiledRules } from '../../functions/shared/rules/load-compiled-rules.ts';
import { DEFAULT_MAX_WAIT_MS, MAX_ALLOWED_LATENESS_MS, minuteDeadlineMs } from '../../functions/shared/watermark.ts';
import { type DemoRequest, generateRequest, type Rng, seededRng } from '../../local/demo-workload.ts';
import type { LocalStack } from '../../local/stack.ts';
import { AlertTransition, OUTBOX_PREFIX } from '../../schemas/alerts.ts';
import { type CountingStack, startCountingStack } from '../support/counting-stack.ts';

const MINUTE_MS = 60_000;
/**
 * The data of minutes m0…m5 is sent at once, up to 4 minutes late: with the largest allowed lateness (5 minutes) every
 * row still counts in its own event minute, as a batching producer's data would.
 */
const LATENESS_MS = MAX_ALLOWED_LATENESS_MS;
/** The incident: orders' database pool is exhausted, so its requests (and the gateway's in front of them) fail. */
const INCIDENT_ROUTE = 'GET /api/orders/{id}';
const FAILING = ['orders', 'web-gateway'] as const;
const HEALTHY = ['inventory', 'payments'] as const;
/** Minutes m0…m5: healthy, three minutes of incident, healthy again. */
const INCIDENT = [false, true, true, true, false, false] as const;

/**
 * One minute of traffic: 60 requests through every route failing at 5 %, plus, in an incident minute, 120 requests of
 * {@link INCIDENT_ROUTE} failing at 90 % (other routes the generator picks meanwhile are left out).
 */
function minuteOfTraffic(rng: Rng, minute: number, incident: boolean): DemoRequest[] {
  const start = minute * MINUTE_MS;
  const out: DemoRequest[] = [];
  // Requests start in the first 50 s, so their log lines (a payment timeout ends 5 s later) stay in the minute.
  for (let i = 0; i < 60; i++) out.push(generateRequest(rng, start + Math.floor(i * (50_000 / 60)), 0.05));
  for (let n = 0; incident && n < 120; ) {
    const request = generateRequest(rng, start + Math.floor(n * (50_000 / 120)), 0.9);
    if (request.route !== INCIDENT_ROUTE) continue;
    out.push(request);
    n++;
  }
  return out;
}

async function putAll(kinesis: KinesisClient, stream: string, requests: readonly DemoRequest[]): Promise<number> {
  const entries: PutRecordsRequestEntry[] = requests.flatMap((r) =>
    r.records.map((record) => ({ PartitionKey: record.partitionKey, Data: record.data })),
  );
  for (let i = 0; i < entries.length; i += 500) {
    const out = await kinesis.send(new PutRecordsCommand({ StreamName: stream, Records: entries.slice(i, i + 500) }));
    if ((out.FailedRecordCount ?? 0) > 0) throw new Error(`kinesalite refused ${out.FailedRecordCount} records`);
  }
  return entries.length;
}

async function readOutbox(store: ObjectStore): Promise<Map<string, AlertTransition>> {
  const out = new Map<string, AlertTransition>();
  for (const key of await store.list(OUTBOX_PREFIX)) {
    const body = await store.get(key);
    if (body === undefined) throw new Error(`${key} listed but gone`);
    out.set(key, AlertTransition.parse(JSON.parse(new TextDecoder().decode(body))));
  }
  return out;
}

/** `DemoHighErrorRate orders firing @m1` per transition, sorted: what the assertions compare. */
function describeTransitions(outbox: ReadonlyMap<string, AlertTransition>, m0: number): string[] {
  return [...outbox.values()]
    .map((t) => {
      const minute = Date.parse(t.evaluated_at) / MINUTE_MS - m0;
      return `${t.labels.alertname} ${t.labels.service ?? '-'} ${t.status} @m${minute}`;
    })
    .sort();
}

/** Runs `evaluators` real evaluators at once for every minute from `from` to `to`, on a clock set to each minute. */
async function evaluateMinutes(
  store: ObjectStore,
  progress: ShardProgress,
  rules: CompiledRuleSet,
  from: number,
  to: number,
  evaluators: number,
): Promise<EvaluationSummary[]> {
  const summaries: EvaluationSummary[] = [];
  for (let minute = from; minute <= to; minute++) {
    // Past the minute's end + lateness, and past the clock margin of the stream probe: kinesalite has nothing after
    // the last record ingested, so every shard is caught up and the minute is complete.
    const clock = () => minuteDeadlineMs(minute, LATENESS_MS) + 2_000;
    const runs = Array.from({ length: evaluators }, () =>
      evaluateOnce({
        store,
        rules,
        clock,
        logger: memoryLogger(),
        config: { latenessMs: LATENESS_MS, maxWaitMs: DEFAULT_MAX_WAIT_MS },
        progress,
      }),
    );
    summaries.push(...(await Promise.all(runs)));
  }
  return summaries;
}

describe('alerting on the local stack: ingest rollups → the real evaluator → the outbox', () => {
  let dir: string;
  let stack: LocalStack;
  let kinesis: KinesisClient;
  let progress: ShardProgress;
  let running: CountingStack | undefined;
  let store: ObjectStore;
  let rules: CompiledRuleSet;
  let m0 = 0;
  let firstPass: Map<string, AlertTransition>;

  beforeAll(async () => {
    rules = await loadCompiledRules(DEFAULT_RULES);
    dir = await mkdtemp(join(tmpdir(), 'skein-alerting-'));
    running = await startCountingStack(
      { dir, shards: 2, pollIntervalMs: 50, batchSize: 500, retryBackoffMs: 0 },
      { measures: rules.measures, latenessMs: LATENESS_MS },
    );
    ({ stack, kinesis, store } = running);
    progress = kinesisShardProgress(kinesis, stack.endpoints.stream, { atTimestamp: false });
  });

  afterAll(async () => {
    await running?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('fires once and resolves once for the services of an incident, and never for the healthy ones', async () => {
    // Prepare: minutes m0…m5 end one minute ahead of the clock. Rollups count a row in its event minute clamped to
    // [arrival − 5, arrival] (lateness 5 minutes), so all six fit whether the batches arrive in this minute or the
    // next (m5, dated ahead, then counts in m4: both healthy).
    const arrival = Math.floor(Date.now() / MINUTE_MS);
    m0 = arrival - 4;
    const rng = seededRng(20_260_501);
    const requests = INCIDENT.flatMap((incident, i) => minuteOfTraffic(rng, m0 + i, incident));
    const sent = await putAll(kinesis, stack.endpoints.stream, requests);
    await running?.waitForIngested(sent);

    // Act: the real evaluator, minute by minute on a fake clock, from m0 to two minutes after the last one
    const summaries = await evaluateMinutes(store, progress, rules, m0, m0 + 7, 1);
    firstPass = await readOutbox(store);

    // Assess
    expect(running?.ingested()).toBe(sent);
    expect(summaries.every((s) => s.minutesEvaluated > 0)).toBe(true);
    const expected = FAILING.flatMap((service) =>
      ['DemoErrorLogs', 'DemoHighErrorRate'].flatMap((alert) => [
        `${alert} ${service} firing @m1`,
        `${alert} ${service} resolved @m4`,
      ]),
    ).sort();
    expect(describeTransitions(firstPass, m0)).toEqual(expected);
    const services = new Set([...firstPass.values()].map((t) => t.labels.service));
    for (const healthy of HEALTHY) expect(services.has(healthy)).toBe(false);
    const firing = [...firstPass.values()].find(
      (t) => t.labels.alertname === 'DemoHighErrorRate' && t.labels.service === 'orders' && t.status === 'firing',
    );
    expect(firing?.labels.severity).toBe('critical');
    expect(firing?.value).toBeGreaterThan(0.5);
    expect(firing?.annotations.summary).toMatch(/^orders: \d+(\.\d+)?% of requests fail$/);
  });

  it('three evaluators at every minute, through the conditional-write proxy, write the same transitions once', async () => {
    // Prepare: a fresh alert state and outbox over the same rollups
    expect(firstPass?.size).toBeGreaterThan(0);
    for (const key of await store.list('alerts/')) await store.delete(key);
    expect(await store.list('alerts/')).toEqual([]);

    // Act
    const summaries = await evaluateMinutes(store, progress, rules, m0, m0 + 7, 3);
    const secondPass = await readOutbox(store);

    // Assess: the same keys and bodies; each transition computed by exactly one of the three evaluators
    expect([...secondPass.keys()]).toEqual([...firstPass.keys()]);
    for (const [key, transition] of firstPass) expect(secondPass.get(key)).toEqual(transition);
    expect(summaries.reduce((n, s) => n + s.transitions, 0)).toBe(firstPass.size);
    expect(summaries.reduce((n, s) => n + s.conflicts, 0)).toBeGreaterThan(0);
  });
});
