import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryLogger } from '../../functions/core/logger.ts';
import { memoryObjectStore } from '../../functions/core/object-store.ts';
import {
  DeadLetter,
  DeliveryRecord,
  deadLetterKey,
  deliveryKey,
  outboxStem,
} from '../../functions/notify/delivery-store.ts';
import { nodeHttpSender } from '../../functions/notify/http-sender.ts';
import { type NotifySummary, notifyOnce } from '../../functions/notify/notify-once.ts';
import { staticSecretProvider } from '../../functions/notify/secrets.ts';
import { type ReceivedRequest, type Sink, startSink } from '../../local/sinks.ts';
import { parseNotifyConfig } from '../../schemas/notify-config.ts';
import { aTransition, NOTIFY_T0, putOutbox } from '../builders/notify.ts';

const N = 6;
const ROUTING_KEY = 'R0UTINGKEYfaults0123456789';

/** Alertmanager-API stand-in, PagerDuty, Slack, and a PagerDuty that always fails. */
let am: Sink;
let pd: Sink;
let slack: Sink;
let broken: Sink;

beforeAll(async () => {
  [am, pd, slack, broken] = await Promise.all([
    startSink({ kind: 'webhook' }),
    startSink({ kind: 'pagerduty' }),
    startSink({ kind: 'slack' }),
    startSink({ kind: 'pagerduty' }),
  ]);
});

afterAll(async () => {
  await Promise.all([am, pd, slack, broken].map((s) => s?.stop()));
});

function config() {
  return parseNotifyConfig(
    `receivers:
  - name: am
    alertmanager:
      urls: [${am.url}]
  - name: pd
    pagerduty:
      routing_key_secret: pd-key
      url: ${pd.url}
  - name: chat
    slack:
      webhook_url_secret: slack-url
  - name: broken
    pagerduty:
      routing_key_secret: pd-key
      url: ${broken.url}
route:
  receiver: am
  group_wait: 0s
  group_interval: 0s
  routes:
    - { receiver: am, continue: true }
    - { receiver: pd, continue: true }
    - { receiver: chat, continue: true }
    - { receiver: broken, continue: true }
delivery:
  timeout: 300ms
  max_attempts: 5
  max_age: 1h
  base_delay: 100ms
  max_delay: 2s
  breaker_threshold: 100
  resend_interval: 1h
allowed_hosts: [127.0.0.1]
`,
    { allowLoopbackHttp: true },
  );
}

/** The alert names one accepted request carried, whatever the receiver's format. */
function carried(r: ReceivedRequest): string[] {
  return [...r.rawBody.matchAll(/Alert(\d+)/g)].map((m) => `Alert${m[1]}`).filter((v, i, all) => all.indexOf(v) === i);
}

describe('notifier against faulty endpoints over real sockets', () => {
  it('delivers every transition exactly once per endpoint or dead-letters it with its error', async () => {
    // Prepare: N alerts; every endpoint throttles, fails, hangs and resets before it answers; one never recovers.
    am.faults.push({ hang: true }, { status: 500 }, { reset: true });
    pd.faults.push({ status: 429, retryAfterSeconds: 1 }, { status: 500 }, { hang: true }, { reset: true });
    slack.faults.push({ reset: true }, { status: 429, retryAfterSeconds: 2 }, { hang: true });
    for (let i = 0; i < 100; i++) broken.faults.push({ status: 500 });
    const store = memoryObjectStore();
    const transitions = Array.from({ length: N }, (_, i) =>
      aTransition({ labels: { alertname: `Alert${i}`, severity: 'error', service: 'api' } }),
    );
    const keys = await putOutbox(store, transitions);
    const logger = memoryLogger();
    const clock = { now: NOTIFY_T0 };
    const deps = {
      store,
      config: config(),
      secrets: staticSecretProvider({ 'pd-key': ROUTING_KEY, 'slack-url': slack.url }),
      http: nodeHttpSender(),
      clock: () => clock.now,
      logger,
      random: Math.random,
    };

    // Act: the first pass comes from the S3 event, then the scheduled scans, each 5 s later, until nothing is pending.
    let summary: NotifySummary = await notifyOnce(deps, { keys });
    const all: NotifySummary[] = [summary];
    for (let pass = 0; pass < 40 && summary.pending > 0; pass++) {
      clock.now += 5000;
      summary = await notifyOnce(deps, {});
      all.push(summary);
    }

    // Assess: count in = delivered + dead-lettered, per (transition, endpoint) record.
    const endpoints = ['am.alertmanager.0', 'pd.pagerduty', 'chat.slack', 'broken.pagerduty'];
    const status = new Map<string, number>();
    for (const key of keys)
      for (const ep of endpoints) {
        const body = await store.get(deliveryKey(outboxStem(key), ep));
        const rec = DeliveryRecord.parse(JSON.parse(Buffer.from(body ?? []).toString()));
        status.set(`${ep} ${rec.status}`, (status.get(`${ep} ${rec.status}`) ?? 0) + 1);
      }
    expect(Object.fromEntries(status)).toEqual({
      'am.alertmanager.0 delivered': N,
      'pd.pagerduty delivered': N,
      'chat.slack delivered': N,
      'broken.pagerduty dead': N,
    });
    expect(all[0]).toMatchObject({ deliveries: N * endpoints.length });

    // Each receiver accepted each alert exactly once (faulted requests were answered with errors or not at all).
    for (const sink of [am, pd, slack]) {
      const accepted = sink.received.filter((r) => typeof r.answer === 'number' && r.answer < 300).flatMap(carried);
      expect(accepted.sort(), sink.kind).toEqual(transitions.map((t) => t.labels.alertname).sort());
    }
    expect(pd.received.some((r) => r.answer === 'hang')).toBe(true);
    expect(pd.received.some((r) => r.answer === 'reset')).toBe(true);
    expect(pd.received.some((r) => r.answer === 429)).toBe(true);

    // The dead letters name the endpoint and the last error, never the key.
    for (const key of keys) {
      const letter = DeadLetter.parse(
        JSON.parse(Buffer.from((await store.get(deadLetterKey(outboxStem(key), 'broken.pagerduty'))) ?? []).toString()),
      );
      expect(letter).toMatchObject({ endpoint: 'broken.pagerduty', attempts: 5, last_error: 'HTTP 500' });
    }
    expect(logger.lines.join('\n')).not.toContain(ROUTING_KEY);
  });
});
