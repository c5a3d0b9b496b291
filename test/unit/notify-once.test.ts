import { describe, expect, it } from 'vitest';
import { memoryLogger } from '../../functions/core/logger.ts';
import { memoryObjectStore } from '../../functions/core/object-store.ts';
import { createRedactor } from '../../functions/core/redact.ts';
import { endpointBreakers } from '../../functions/notify/delivery-policy.ts';
import {
  DeadLetter,
  DeliveryRecord,
  deadLetterKey,
  deliveryKey,
  disabledKey,
  outboxStem,
} from '../../functions/notify/delivery-store.ts';
import type { HttpRequest, HttpSender } from '../../functions/notify/http-sender.ts';
import { outboxKeysOfEvent } from '../../functions/notify/notify-event.ts';
import { type NotifyDeps, notifyOnce } from '../../functions/notify/notify-once.ts';
import { staticSecretProvider } from '../../functions/notify/secrets.ts';
import { parseNotifyConfig } from '../../schemas/notify-config.ts';
import { aTransition, fakeHttp, NOTIFY_T0, notifyYaml, putOutbox, type ScriptedReply } from '../builders/notify.ts';

const AM = 'https://am.test';
const PD = 'https://pd.test/v2/enqueue';
const ROUTING_KEY = 'R0UTINGKEY0123456789abcdef';
const SLACK_URL = 'https://hooks.slack.com/services/T0000/B0000/SECRETslackTOKEN42';
const ALL = notifyYaml({ am: [AM], pd: PD, slack: true });

function setup(yaml: string, script: Record<string, ScriptedReply[]> = {}) {
  const store = memoryObjectStore();
  const http = fakeHttp(script);
  const logger = memoryLogger();
  const metricLines: string[] = [];
  const clock = { now: NOTIFY_T0 };
  const deps: NotifyDeps = {
    store,
    config: parseNotifyConfig(yaml, { allowLoopbackHttp: true }),
    secrets: staticSecretProvider({ 'pd-key': ROUTING_KEY, 'slack-url': SLACK_URL }),
    http,
    clock: () => clock.now,
    logger,
    random: () => 0.5,
    metrics: (line) => metricLines.push(line),
  };
  return { store, http, logger, metricLines, clock, deps };
}

/** `<url> <alertname>` for every alert one request carried (Alertmanager, PagerDuty or Slack body). */
function alertsCarried(req: HttpRequest): string[] {
  const body: unknown = JSON.parse(req.body ?? 'null');
  const text = JSON.stringify(body);
  if (Array.isArray(body)) return body.map((a) => `${req.url} ${String(a?.labels?.alertname)}`);
  if (req.url === PD) return [`${req.url} ${/"class":"([^"]+)"/.exec(text)?.[1] ?? '?'}`];
  return [...text.matchAll(/alertname=([A-Za-z]+)/g)].map((m) => `${req.url} ${m[1]}`);
}

async function record(store: ReturnType<typeof memoryObjectStore>, key: string, endpoint: string) {
  const body = await store.get(deliveryKey(outboxStem(key), endpoint));
  return body ? DeliveryRecord.parse(JSON.parse(Buffer.from(body).toString('utf8'))) : undefined;
}

describe('notifyOnce delivery', () => {
  it('delivers a transition once to each routed endpoint and never again when redelivered', async () => {
    // Prepare
    const { store, http, deps } = setup(ALL);
    const keys = await putOutbox(store, [aTransition()]);

    // Act
    const first = await notifyOnce(deps, { keys });
    const again = await notifyOnce(deps, { keys });
    const scan = await notifyOnce(deps, {});

    // Assess
    expect(http.requests.map((r) => r.url)).toEqual([`${AM}/api/v2/alerts`, PD, SLACK_URL]);
    expect(first).toMatchObject({ transitions: 1, deliveries: 3, delivered: 3, dead: 0, pending: 0 });
    expect(again).toMatchObject({ delivered: 3 });
    expect(scan).toMatchObject({ transitions: 0, deliveries: 0 });
    expect(http.requests).toHaveLength(3);
    expect(await record(store, keys[0] ?? '', 'pd.pagerduty')).toMatchObject({ status: 'delivered', attempts: 1 });
  });

  it('links every exemplar to the console in all three receivers when console_url is set', async () => {
    // Prepare
    const { store, http, deps } = setup(`${ALL}\nconsole_url: https://console.example.test/`);
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const exemplar = { trace_id: traceId, request_id: 'req-1', time_ms: NOTIFY_T0 - 30_000, value: 1, service: 'api' };
    const keys = await putOutbox(store, [aTransition({ exemplars: [exemplar] })]);

    // Act
    await notifyOnce(deps, { keys });

    // Assess
    const link = `https://console.example.test/trace/${traceId}`;
    expect(http.requests.map((r) => r.url)).toEqual([`${AM}/api/v2/alerts`, PD, SLACK_URL]);
    for (const req of http.requests) expect(req.body).toContain(link);
  });

  it('sends exactly once per endpoint when two notifiers process the same transitions concurrently', async () => {
    const a = setup(ALL);
    const httpB = fakeHttp();
    const keys = await putOutbox(a.store, [
      aTransition(),
      aTransition({ labels: { alertname: 'Latency', severity: 'warning', service: 'web' } }),
    ]);

    const [sa, sb] = await Promise.all([
      notifyOnce(a.deps, { keys }),
      notifyOnce({ ...a.deps, http: httpB }, { keys }),
    ]);

    const carried = [...a.http.requests, ...httpB.requests].flatMap(alertsCarried);
    expect(carried.sort()).toEqual(
      [
        `${AM}/api/v2/alerts HighErrorRate`,
        `${AM}/api/v2/alerts Latency`,
        `${PD} HighErrorRate`,
        `${PD} Latency`,
        `${SLACK_URL} HighErrorRate`,
        `${SLACK_URL} Latency`,
      ].sort(),
    );
    expect(sa.delivered + sb.delivered).toBeGreaterThanOrEqual(6);
    for (const key of keys)
      for (const ep of ['am.alertmanager.0', 'pd.pagerduty', 'chat.slack'])
        expect((await record(a.store, key, ep))?.status).toBe('delivered');
  });

  it('retries a 503 after a jittered backoff and records the attempts', async () => {
    const { store, http, clock, deps } = setup(notifyYaml({ pd: PD }), { [PD]: [503] });
    const keys = await putOutbox(store, [aTransition()]);

    const failed = await notifyOnce(deps, {});
    const early = await notifyOnce(deps, {});
    clock.now += 1000;
    const retried = await notifyOnce(deps, {});

    expect(failed).toMatchObject({ pending: 1, delivered: 0 });
    expect(early).toMatchObject({ pending: 1 });
    expect(http.requests).toHaveLength(2);
    expect(retried).toMatchObject({ delivered: 1, pending: 0 });
    expect(await record(store, keys[0] ?? '', 'pd.pagerduty')).toMatchObject({ status: 'delivered', attempts: 2 });
  });

  it('waits at least Retry-After before retrying a 429', async () => {
    const { store, deps } = setup(notifyYaml({ pd: PD }), {
      [PD]: [{ status: 429, headers: { 'retry-after': '120' } }],
    });
    const keys = await putOutbox(store, [aTransition()]);

    await notifyOnce(deps, { keys });

    expect(await record(store, keys[0] ?? '', 'pd.pagerduty')).toMatchObject({
      status: 'pending',
      attempts: 1,
      last_error: 'HTTP 429',
      next_attempt_at: new Date(NOTIFY_T0 + 120_000).toISOString(),
    });
  });

  it('dead-letters after the retry budget with the last error, and every delivery is accounted for', async () => {
    // Prepare
    const yaml = notifyYaml({
      am: [AM],
      pd: PD,
      delivery: '  timeout: 200ms\n  max_attempts: 3\n  base_delay: 10ms\n  max_delay: 10ms\n  breaker_threshold: 50',
    });
    const { store, http, clock, deps, metricLines } = setup(yaml, { [PD]: [500, 'timeout', 'reset', 500] });
    const keys = await putOutbox(store, [aTransition()]);

    // Act
    const passes = [];
    for (let i = 0; i < 4; i++) {
      passes.push(await notifyOnce(deps, {}));
      clock.now += 1000;
    }

    // Assess
    expect(http.requests.filter((r) => r.url === PD)).toHaveLength(3);
    expect(passes[2]).toMatchObject({ deliveries: 2, delivered: 1, dead: 1, disabled: 0, pending: 0 });
    const stem = outboxStem(keys[0] ?? '');
    const letter = DeadLetter.parse(
      JSON.parse(Buffer.from((await store.get(deadLetterKey(stem, 'pd.pagerduty'))) ?? []).toString()),
    );
    expect(letter).toMatchObject({
      endpoint: 'pd.pagerduty',
      attempts: 3,
      last_error: 'connection failed: ECONNRESET',
    });
    expect(letter.transition?.fingerprint).toBe(aTransition().fingerprint);
    expect(JSON.stringify(letter)).not.toContain('pd.test');
    expect(metricLines.some((l) => l.includes('"DeadLettered":1') && l.includes('"Endpoint":"pd.pagerduty"'))).toBe(
      true,
    );
    expect(passes[3]).toMatchObject({ transitions: 0 });
  });

  it('does not retry a 400 and dead-letters it at once with a redacted excerpt of the answer', async () => {
    const { store, http, deps } = setup(notifyYaml({ pd: PD }), {
      [PD]: [{ status: 400, body: `{"status":"invalid event","message":"bad routing_key ${ROUTING_KEY}"}` }],
    });
    const keys = await putOutbox(store, [aTransition()]);

    const summary = await notifyOnce(deps, { keys });

    expect(summary).toMatchObject({ dead: 1 });
    expect(http.requests).toHaveLength(1);
    const rec = await record(store, keys[0] ?? '', 'pd.pagerduty');
    expect(rec?.last_error).toMatch(/^HTTP 400: .*invalid event/);
    expect(rec?.last_error).not.toContain(ROUTING_KEY);
  });

  it('disables an endpoint answering 404, reports it, and sends it nothing more', async () => {
    const { store, http, logger, deps, metricLines } = setup(notifyYaml({ am: [AM], pd: PD }), { [PD]: [404] });
    await putOutbox(store, [aTransition()]);

    const first = await notifyOnce(deps, {});
    await putOutbox(store, [aTransition({ labels: { alertname: 'Other', severity: 'info' } })]);
    const second = await notifyOnce(deps, {});

    expect(first).toMatchObject({ delivered: 1, disabled: 1 });
    expect(second).toMatchObject({ transitions: 1, delivered: 1, disabled: 1 });
    expect(http.requests.filter((r) => r.url === PD)).toHaveLength(1);
    expect(await store.get(disabledKey('pd.pagerduty'))).toBeDefined();
    expect(logger.lines.some((l) => l.includes('endpoint disabled') && l.includes('pd.pagerduty'))).toBe(true);
    expect(metricLines.some((l) => l.includes('"EndpointDisabled":1'))).toBe(true);
  });

  it('never writes a routing key or webhook URL into logs, records, dead letters or metrics', async () => {
    // Prepare: failures whose answers echo the secrets, then a dead letter.
    const yaml = notifyYaml({
      pd: PD,
      slack: true,
      delivery: '  timeout: 200ms\n  max_attempts: 2\n  base_delay: 10ms\n  max_delay: 10ms',
    });
    const echo = `routing_key=${ROUTING_KEY} url ${SLACK_URL}`;
    const { store, logger, clock, deps, metricLines } = setup(yaml, {
      [PD]: [
        { status: 500, body: echo },
        { status: 401, body: echo },
      ],
      [SLACK_URL]: [{ status: 503, body: echo }, 'reset'],
    });
    await putOutbox(store, [aTransition()]);

    // Act
    for (let i = 0; i < 3; i++) {
      await notifyOnce(deps, {});
      clock.now += 1000;
    }

    // Assess
    const stored = [...store.objects.entries()]
      .filter(([k]) => !k.startsWith('alerts/outbox/'))
      .map(([, v]) => Buffer.from(v).toString());
    const everything = [...logger.lines, ...stored, ...metricLines].join('\n');
    expect(stored.some((s) => s.includes('"status":"dead"'))).toBe(true);
    expect(everything).not.toContain(ROUTING_KEY);
    expect(everything).not.toContain('SECRETslackTOKEN42');
    expect(everything).not.toContain(SLACK_URL);
  });

  it('refuses a Slack webhook URL from the secret whose host is not allowed, without sending', async () => {
    const { store, http, deps } = setup(notifyYaml({ slack: true, delivery: '  max_attempts: 1' }));
    const bad = { ...deps, secrets: staticSecretProvider({ 'slack-url': 'https://evil.example.net/hook/SECRET' }) };
    const keys = await putOutbox(store, [aTransition()]);

    const summary = await notifyOnce(bad, { keys });

    expect(summary).toMatchObject({ dead: 1 });
    expect(http.requests).toHaveLength(0);
    expect((await record(store, keys[0] ?? '', 'chat.slack'))?.last_error).toMatch(
      /evil\.example\.net is not in allowed_hosts/,
    );
  });

  it('takes over a claim whose sender crashed once its lease ran out', async () => {
    const { store, http, clock, deps } = setup(notifyYaml({ pd: PD }));
    const keys = await putOutbox(store, [aTransition()]);
    const key = deliveryKey(outboxStem(keys[0] ?? ''), 'pd.pagerduty');
    const crashed: DeliveryRecord = {
      version: 1,
      outbox_key: keys[0] ?? '',
      endpoint: 'pd.pagerduty',
      status: 'sending',
      attempts: 0,
      lease_until: new Date(NOTIFY_T0 + 10_000).toISOString(),
    };
    await store.put(key, Buffer.from(JSON.stringify(crashed)), 'application/json');

    const during = await notifyOnce(deps, {});
    clock.now += 10_001;
    const after = await notifyOnce(deps, {});

    expect(during).toMatchObject({ pending: 1 });
    expect(after).toMatchObject({ delivered: 1 });
    expect(http.requests).toHaveLength(1);
  });

  it('leaves an endpoint alone while its breaker is open', async () => {
    const yaml = notifyYaml({
      pd: PD,
      delivery:
        '  max_attempts: 10\n  base_delay: 1ms\n  max_delay: 1ms\n  breaker_threshold: 2\n  breaker_half_open_after: 1h',
    });
    const { store, http, clock, deps } = setup(yaml, { [PD]: [503, 503, 503] });
    const breakers = endpointBreakers(deps.config.delivery);
    await putOutbox(store, [aTransition()]);

    for (let i = 0; i < 4; i++) {
      await notifyOnce({ ...deps, breakers }, {});
      clock.now += 1000;
    }

    expect(http.requests).toHaveLength(2);
    expect(breakers.state('pd.pagerduty')).toBe('open');
  });

  it('does not send a stale trigger after the alert resolved', async () => {
    // Prepare: the trigger fails and waits for its retry; the resolve arrives and goes out first.
    const { store, http, clock, deps } = setup(notifyYaml({ pd: PD }), { [PD]: [503] });
    const firing = aTransition();
    const [firingKey] = await putOutbox(store, [firing]);
    await notifyOnce(deps, {});
    clock.now += 60_000;
    const resolved = aTransition({ status: 'resolved', evaluated_at: new Date(NOTIFY_T0 + 60_000).toISOString() });
    const [resolvedKey] = await putOutbox(store, [resolved]);

    // Act
    await notifyOnce(deps, { keys: [resolvedKey ?? ''] });
    const later = await notifyOnce(deps, {});

    // Assess
    const bodies = http.requests.map((r) => JSON.parse(r.body ?? '{}').event_action);
    expect(bodies).toEqual(['trigger', 'resolve']);
    expect(later).toMatchObject({ delivered: 1 });
    expect(await record(store, firingKey ?? '', 'pd.pagerduty')).toMatchObject({
      status: 'delivered',
      superseded: true,
    });
  });
});

describe('notifyOnce Alertmanager re-sends', () => {
  it('re-sends a firing alert every resend_interval with endsAt ahead, and stops after the resolve', async () => {
    const { store, http, clock, deps } = setup(notifyYaml({ am: [AM, 'https://am.test:9094'] }));
    await putOutbox(store, [aTransition()]);

    await notifyOnce(deps, {});
    clock.now += 30_000;
    const tooSoon = await notifyOnce(deps, {});
    clock.now += 31_000;
    const resend = await notifyOnce(deps, {});
    clock.now += 60_000;
    await putOutbox(store, [aTransition({ status: 'resolved', evaluated_at: new Date(clock.now).toISOString() })]);
    await notifyOnce(deps, {});
    clock.now += 120_000;
    const afterResolve = await notifyOnce(deps, {});

    expect(tooSoon.resent).toBe(0);
    expect(resend.resent).toBe(2);
    expect(afterResolve.resent).toBe(0);
    const ends = http.requests.map((r) => JSON.parse(r.body ?? '[]')[0].endsAt);
    expect(ends[2]).toBe(new Date(NOTIFY_T0 + 61_000 + 240_000).toISOString());
    expect(http.requests).toHaveLength(6);
    expect(ends[5]).toBe(new Date(NOTIFY_T0 + 121_000).toISOString());
  });
});

describe('notifyOnce grouping for Slack and PagerDuty', () => {
  const yaml = notifyYaml({
    slack: true,
    route:
      'route:\n  receiver: chat\n  group_by: [service]\n  group_wait: 30s\n  group_interval: 5m\n  repeat_interval: 1h',
  });

  it('waits group_wait, sends one message for the group, then at most one per group_interval', async () => {
    const { store, http, clock, deps } = setup(yaml);
    await putOutbox(store, [
      aTransition(),
      aTransition({ labels: { alertname: 'Latency', severity: 'warning', service: 'api' } }),
    ]);

    const waiting = await notifyOnce(deps, {});
    clock.now += 30_000;
    const grouped = await notifyOnce(deps, {});
    clock.now += 60_000;
    await putOutbox(store, [
      aTransition({
        labels: { alertname: 'Saturation', severity: 'error', service: 'api' },
        evaluated_at: new Date(clock.now).toISOString(),
      }),
    ]);
    const held = await notifyOnce(deps, {});
    clock.now += 240_000;
    const next = await notifyOnce(deps, {});

    expect(waiting).toMatchObject({ pending: 2 });
    expect(grouped).toMatchObject({ delivered: 2 });
    expect(held).toMatchObject({ pending: 1 });
    expect(next).toMatchObject({ delivered: 1 });
    expect(http.requests).toHaveLength(2);
    expect(JSON.parse(http.requests[0]?.body ?? '{}').text).toContain('[FIRING:2] HighErrorRate, Latency');
  });

  it('repeats a firing group every repeat_interval', async () => {
    const { store, http, clock, deps } = setup(yaml);
    await putOutbox(store, [aTransition()]);

    await notifyOnce(deps, {});
    clock.now += 30_000;
    await notifyOnce(deps, {});
    clock.now += 3_600_000;
    const repeat = await notifyOnce(deps, {});

    expect(repeat.repeated).toBe(1);
    expect(JSON.parse(http.requests[1]?.body ?? '{}').text).toContain('(still firing)');
  });
});

describe('notifyOnce re-notifications scrub endpoint errors', () => {
  const TOKEN = 'Zq7uT0kenFromAProxy9931';
  /** A credential header the deployment names as secret: only the notifier's redactor knows it, not the logger's. */
  const redactor = createRedactor(['x-proxy-credential']);

  /** An HTTP sender that answers the first request 200, then throws an error echoing a credential and the URL. */
  function leakyAfterFirst(): HttpSender & { readonly requests: HttpRequest[] } {
    const requests: HttpRequest[] = [];
    return {
      requests,
      async send(req) {
        requests.push(req);
        if (requests.length === 1) return { status: 200, headers: {}, body: '' };
        throw new Error(`proxy refused ${req.url} (x-proxy-credential=${TOKEN})`);
      },
    };
  }

  it('never logs a secret from a failed Alertmanager re-send', async () => {
    // Prepare: a firing alert delivered once, then an endpoint whose error echoes a credential.
    const { store, logger, clock, deps } = setup(notifyYaml({ am: [AM] }));
    const http = leakyAfterFirst();
    await putOutbox(store, [aTransition()]);
    await notifyOnce({ ...deps, http, redactor }, {});
    clock.now += 61_000;

    // Act
    const resend = await notifyOnce({ ...deps, http, redactor }, {});

    // Assess
    expect(resend.resent).toBe(0);
    expect(http.requests).toHaveLength(2);
    const failed = logger.lines.filter((l) => l.includes('alertmanager re-send failed'));
    expect(failed).toHaveLength(1);
    expect(failed[0]).toContain('[REDACTED]');
    expect(logger.lines.join('\n')).not.toContain(TOKEN);
  });

  it('never logs a secret from a failed Slack repeat', async () => {
    // Prepare: a group notified once, then a webhook whose error echoes its URL and a credential.
    const yaml = notifyYaml({
      slack: true,
      route: 'route:\n  receiver: chat\n  group_by: [service]\n  group_wait: 0s\n  repeat_interval: 1h',
    });
    const { store, logger, clock, deps } = setup(yaml);
    const http = leakyAfterFirst();
    await putOutbox(store, [aTransition()]);
    await notifyOnce({ ...deps, http, redactor }, {});
    clock.now += 3_600_000;

    // Act
    const repeat = await notifyOnce({ ...deps, http, redactor }, {});

    // Assess
    expect(repeat.repeated).toBe(0);
    expect(http.requests).toHaveLength(2);
    const failed = logger.lines.filter((l) => l.includes('repeat notification failed'));
    expect(failed).toHaveLength(1);
    const everything = logger.lines.join('\n');
    expect(everything).not.toContain(TOKEN);
    expect(everything).not.toContain('SECRETslackTOKEN42');
  });
});

describe('outboxKeysOfEvent', () => {
  it('reads the URL-encoded keys of an S3 event and treats anything else as a scheduled scan', () => {
    const event = {
      Records: [
        { s3: { object: { key: 'alerts/outbox/2026-11-25T2130Z-abc-000001.json' } } },
        { s3: { object: { key: 'other/x' } } },
      ],
    };

    expect(outboxKeysOfEvent(event)).toEqual(['alerts/outbox/2026-11-25T2130Z-abc-000001.json']);
    expect(outboxKeysOfEvent({ 'detail-type': 'Scheduled Event' })).toBeUndefined();
  });
});
