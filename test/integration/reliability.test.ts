import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KinesisStreamEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { disabledKey, putJson } from '../../functions/notify/delivery-store.ts';
import { type Sink, startSink } from '../../local/sinks.ts';
import { parseNotifyConfig } from '../../schemas/notify-config.ts';
import { aTransition, NOTIFY_T0, putOutbox } from '../builders/notify.ts';
import { aLogLine, anOtlpTraceRequest } from '../builders/telemetry.ts';
import { type GeneratedRecord, mixedRecords } from '../reliability/hostile-records.ts';
import { reconcile, reconciliationFailures } from '../reliability/reconcile.ts';
import {
  type ChaosStack,
  compactionFaults,
  compactUntilDone,
  ingestFaults,
  notifyUntilSettled,
  pushGenerated,
  startChaosStack,
  waitForProcessed,
} from '../reliability/scenarios.ts';
import { type AlertmanagerWithSink, startAlertmanagerWithSink } from '../support/alertmanager.ts';

/** A promise and the function that settles it. */
function signal(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/**
 * The bounded reliability suite (docs/reliability.md; `npm run chaos` runs the same scenarios longer): black box on
 * kinesalite, the Lambda-like poller, s3rver behind the S3 proxy with a fault schedule, the real Alertmanager and the
 * PagerDuty/Slack sinks. After each scenario, a reconciliation names every missing, doubled or misfiled id.
 */
describe('reliability on the local stack', () => {
  const started: { chaos: ChaosStack; dir: string }[] = [];

  /** A fresh chaos stack per scenario, so one scenario's leftovers cannot blur another's reconciliation. */
  async function chaosStack(): Promise<ChaosStack> {
    const dir = await mkdtemp(join(tmpdir(), 'skein-reliability-'));
    const chaos = await startChaosStack({ dir, shards: 2, batchSize: 250, redeliverEvery: 3, requestTimeoutMs: 1_000 });
    started.push({ chaos, dir });
    return chaos;
  }

  afterAll(async () => {
    for (const { chaos, dir } of started) {
      await chaos.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('ingests hostile records among good ones under S3 faults and re-deliveries: every good record once, every bad one quarantined with its reason', async () => {
    // Prepare: 2,000 hostile records (100 of each kind) and 1,000 good ones; `npm run chaos` runs ≥ 10,000.
    const chaos = await chaosStack();
    const records = mixedRecords({ good: 1_000, hostile: 2_000, seed: 11, nowMs: Date.now(), prefix: 'mix' });
    chaos.faults.clear();
    for (const rule of ingestFaults(2)) chaos.faults.add(rule);
    const before = chaos.stack.poller.stats().records;

    // Act
    await pushGenerated(chaos.stack, records);
    await waitForProcessed(chaos.stack, before, records.length, 120_000);
    const injected = chaos.faults.injected();
    chaos.faults.clear();

    // Assess
    const result = await reconcile(chaos.stack.endpoints, records, { idPrefix: 'mix-' });
    expect(reconciliationFailures(result)).toEqual([]);
    expect(result.foundRows).toBe(result.expectedRows);
    expect(Object.keys(result.quarantinedByReason).sort()).toEqual([
      'corrupt_compression',
      'invalid_json',
      'invalid_kpl',
      'invalid_otlp',
      'invalid_span',
      'not_a_json_object',
      'too_deep',
    ]);
    expect(injected['slow-down'] + injected['internal-error'] + injected.reset + injected.hang).toBeGreaterThan(0);
    expect(chaos.redelivered()).toBeGreaterThan(0);
  });

  it('drops a bisected retry that arrives after its hour was compacted (under compaction S3 faults): no row twice', async () => {
    // Prepare: one batch of 60 records on one shard; its first attempt writes everything, then the function fails.
    const chaos = await chaosStack();
    const records: GeneratedRecord[] = Array.from({ length: 60 }, (_, i) => {
      const id = `late-${i}`;
      return {
        data: Buffer.from(aLogLine({ msg: `good ${id}`, timeMs: Date.now() })),
        partitionKey: 'one-shard',
        label: `good log ${id}`,
        expect: { kind: 'log', id, body: `good ${id}` },
      };
    });
    const later = Date.now() + 2 * 3_600_000;
    const firstAttempt = signal();
    const compacted = signal();
    const attempts: number[] = [];
    chaos.setHandler(async (event: KinesisStreamEvent) => {
      attempts.push(event.Records.length);
      if (attempts.length === 1) {
        await chaos.ingestWith(Date.now)(event);
        firstAttempt.resolve();
        throw new Error('the function timed out after writing'); // Lambda bisects and retries
      }
      await compacted.promise;
      return chaos.ingestWith(() => later)(event);
    });
    const before = chaos.stack.poller.stats().records;

    // Act: while the retry waits, the hour is compacted and cleaned up two hours "later", through S3 faults.
    await pushGenerated(chaos.stack, records);
    await firstAttempt.promise;
    for (const rule of compactionFaults()) chaos.faults.add(rule);
    const runs = await compactUntilDone(chaos.store, later);
    const injected = chaos.faults.injected();
    const compactionInjected = injected['internal-error'] + injected['slow-down'] + injected.reset;
    chaos.faults.clear();
    compacted.resolve();
    await waitForProcessed(chaos.stack, before, records.length, 60_000);

    // Assess
    expect(attempts[0]).toBe(60);
    expect(attempts.length).toBeGreaterThanOrEqual(3); // the two halves (at least) came after compaction
    expect(runs.length).toBeGreaterThan(0);
    expect(compactionInjected).toBeGreaterThan(0);
    const result = await reconcile(chaos.stack.endpoints, records, { idPrefix: 'late-' });
    expect(reconciliationFailures(result)).toEqual([]);
  });

  it('keeps no secret in the quarantine and shows a re-sent span once (D17, D18)', async () => {
    // Prepare: invalid lines carrying an AWS key, a password and a Slack webhook; one span sent twice by its producer.
    const chaos = await chaosStack();
    const secrets = ['AKIAIOSFODNN7EXAMPLE', 'hunter2-very-secret', 'T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX'];
    const bad: GeneratedRecord[] = Array.from({ length: 20 }, (_, i) => ({
      data: Buffer.from(
        `{"msg":"secret ${i}","aws_key":"${secrets[0]}","password":"${secrets[1]}","hook":"https://hooks.slack.com/services/${secrets[2]}", broken`,
      ),
      partitionKey: `sec-${i}`,
      label: `secret-bearing invalid line ${i}`,
      expect: { kind: 'quarantine', id: `sec-${i}`, reason: 'invalid_json' },
    }));
    const traceId = 'abcdef0123456789abcdef0123456789';
    const span = Buffer.from(anOtlpTraceRequest('resent', [{ traceId, spanId: '0123456789abcdef', name: 'resent' }]));
    const resent: GeneratedRecord = {
      data: span,
      partitionKey: 'resent',
      label: 'a span re-sent by its producer',
      expect: { kind: 'span', id: 'resent', spanId: '0123456789abcdef', traceId },
    };
    const before = chaos.stack.poller.stats().records;

    // Act: push, then compact the hour as the scheduled compactor will.
    await pushGenerated(chaos.stack, [...bad, resent, { ...resent, partitionKey: 'resent-again' }]);
    await waitForProcessed(chaos.stack, before, bad.length + 2, 60_000);
    await compactUntilDone(chaos.direct, Date.now() + 2 * 3_600_000);

    // Assess
    const kept: string[] = [];
    for (const key of await chaos.direct.list('quarantine/')) {
      const text = Buffer.from((await chaos.direct.get(key)) ?? []).toString('utf8');
      for (const line of text.split('\n').filter(Boolean)) {
        const entry = JSON.parse(line) as { data?: string; message?: string; partition_key?: string };
        const raw = `${Buffer.from(entry.data ?? '', 'base64').toString('utf8')} ${entry.message ?? ''}`;
        for (const secret of secrets)
          if (raw.includes(secret)) kept.push(`${entry.partition_key}: ${secret.slice(0, 6)}…`);
      }
    }
    expect(kept).toEqual([]);
    expect(reconciliationFailures(await reconcile(chaos.stack.endpoints, bad, { idPrefix: 'sec-' }))).toEqual([]);
    expect(reconciliationFailures(await reconcile(chaos.stack.endpoints, [resent], { idPrefix: 'resent' }))).toEqual(
      [],
    );
  });

  describe('notifications under receiver and S3 faults', () => {
    let am: AlertmanagerWithSink;
    let pd: Sink;
    let slack: Sink;
    let down: Sink;

    beforeAll(async () => {
      am = await startAlertmanagerWithSink('skein-reliability-am-');
      [pd, slack, down] = await Promise.all([
        startSink({ kind: 'pagerduty' }),
        startSink({ kind: 'slack' }),
        startSink({ kind: 'pagerduty' }),
      ]);
      await down.stop(); // its port now refuses connections: a receiver that is down
    });

    afterAll(async () => {
      await Promise.all([am?.stop(), pd?.stop(), slack?.stop()]);
    });

    it('accounts for every transition × endpoint as delivered, dead-lettered or disabled', async () => {
      const chaos = await chaosStack();
      // Prepare: 4 transitions to Alertmanager, PagerDuty (429 with Retry-After, 5xx), Slack (resets, 5xx), a
      // PagerDuty that is down, and a Slack an operator disabled; S3 faults on the notifier's own records.
      const config = parseNotifyConfig(
        `receivers:
  - name: am
    alertmanager: { urls: [${am.am.url}] }
  - name: pd
    pagerduty: { routing_key_secret: pd-key, url: ${pd.url} }
  - name: chat
    slack: { webhook_url_secret: slack-url }
  - name: gone
    pagerduty: { routing_key_secret: pd-key, url: ${down.url} }
  - name: muted
    slack: { webhook_url_secret: slack-url }
route:
  receiver: am
  group_wait: 0s
  group_interval: 0s
  routes:
    - { receiver: am, continue: true }
    - { receiver: pd, continue: true }
    - { receiver: chat, continue: true }
    - { receiver: gone, continue: true }
    - { receiver: muted, continue: true }
delivery: { timeout: 500ms, max_attempts: 4, max_age: 1h, base_delay: 100ms, max_delay: 2s, breaker_threshold: 100, resend_interval: 1h }
allowed_hosts: [127.0.0.1]
`,
        { allowLoopbackHttp: true },
      );
      pd.faults.push({ status: 429, retryAfterSeconds: 2 }, { status: 500 }, { status: 429, retryAfterSeconds: 1 });
      slack.faults.push({ reset: true }, { status: 500 }, { hang: true });
      const transitions = Array.from({ length: 4 }, (_, i) =>
        aTransition({ labels: { alertname: `Rel${i}`, severity: 'error', service: 'api' } }),
      );
      const keys = await putOutbox(chaos.store, transitions);
      await putJson(chaos.store, disabledKey('muted.slack'), {
        endpoint: 'muted.slack',
        reason: 'muted by the operator',
        disabled_at: new Date(NOTIFY_T0).toISOString(),
      });
      chaos.faults.add({ kind: 'slow-down', operations: ['put'], keyPrefix: 'alerts/notify/', every: 4 });
      chaos.faults.add({ kind: 'internal-error', operations: ['get'], keyPrefix: 'alerts/', every: 9 });
      chaos.faults.add({ kind: 'reset', operations: ['put'], keyPrefix: 'alerts/notify/', every: 7, afterWrite: true });

      // Act
      const tally = await notifyUntilSettled(
        {
          store: chaos.store,
          config,
          secrets: { 'pd-key': 'R0UTINGKEYreliability0000', 'slack-url': slack.url },
          startMs: NOTIFY_T0,
        },
        keys,
        ['am.alertmanager.0', 'pd.pagerduty', 'chat.slack', 'gone.pagerduty', 'muted.slack'],
        chaos.direct,
      );
      chaos.faults.clear();

      // Assess
      expect(tally.unaccounted).toEqual([]);
      expect(tally.delivered + tally.dead + tally.disabled).toBe(tally.expected);
      expect(tally).toMatchObject({ delivered: 4 * 3, dead: 4, disabled: 4 });
      for (const sink of [pd, slack]) {
        const accepted = sink.received.filter((r) => typeof r.answer === 'number' && r.answer < 300);
        const names = accepted.flatMap((r) => [...r.rawBody.matchAll(/Rel(\d)/g)].map((m) => m[0]));
        expect(new Set(names).size, sink.kind).toBe(4);
      }
    });
  });
});
