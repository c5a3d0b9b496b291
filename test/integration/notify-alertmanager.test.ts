import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { systemClock } from '../../functions/core/clock.ts';
import { memoryLogger } from '../../functions/core/logger.ts';
import { memoryObjectStore } from '../../functions/core/object-store.ts';
import { nodeHttpSender } from '../../functions/notify/http-sender.ts';
import { type NotifyDeps, notifyOnce } from '../../functions/notify/notify-once.ts';
import { staticSecretProvider } from '../../functions/notify/secrets.ts';
import type { RunningAlertmanager } from '../../local/alertmanager.ts';
import type { ReceivedRequest, Sink } from '../../local/sinks.ts';
import { parseNotifyConfig } from '../../schemas/notify-config.ts';
import { aTransition, putOutbox } from '../builders/notify.ts';
import { type AlertmanagerWithSink, startAlertmanagerWithSink } from '../support/alertmanager.ts';

/** Alertmanager's webhook payload (version "4"), the parts this test reads. */
const WebhookPayload = z.object({
  version: z.literal('4'),
  status: z.enum(['firing', 'resolved']),
  alerts: z.array(z.object({ status: z.string(), labels: z.record(z.string(), z.string()), generatorURL: z.string() })),
});
const ApiAlerts = z.array(
  z.object({
    labels: z.record(z.string(), z.string()),
    endsAt: z.string(),
    generatorURL: z.string().optional(),
    status: z.object({ state: z.string() }),
  }),
);

const webhook = (status: 'firing' | 'resolved', alertname: string) => (r: ReceivedRequest) => {
  const p = WebhookPayload.safeParse(r.body);
  return p.success && p.data.status === status && p.data.alerts.some((a) => a.labels.alertname === alertname);
};

describe('notifier → the real Alertmanager → its webhook receiver', () => {
  let running: AlertmanagerWithSink | undefined;
  let sink: Sink;
  let am: RunningAlertmanager;

  beforeAll(async () => {
    running = await startAlertmanagerWithSink('skein-notify-am-');
    ({ sink, am } = running);
  });

  afterAll(async () => {
    await running?.stop();
  });

  it('shows the firing alert in the API, notifies the webhook (version 4) and resolves it', async () => {
    // Prepare
    const store = memoryObjectStore();
    const config = parseNotifyConfig(
      `receivers:\n  - name: am\n    alertmanager:\n      urls: [${am.url}]\nroute:\n  receiver: am\nallowed_hosts: [127.0.0.1]\nquery_url_template: 'http://127.0.0.1:8080/alerts/{{fingerprint}}'\n`,
      { allowLoopbackHttp: true },
    );
    const deps: NotifyDeps = {
      store,
      config,
      secrets: staticSecretProvider({}),
      http: nodeHttpSender(),
      clock: systemClock,
      logger: memoryLogger(),
      random: Math.random,
    };
    const now = new Date();
    const labels = { alertname: 'NotifierE2E', severity: 'critical', service: 'checkout' };
    const firing = aTransition({ labels, evaluated_at: now.toISOString(), starts_at: now.toISOString() });
    const [firingKey] = await putOutbox(store, [firing]);

    // Act: the firing transition
    const sent = await notifyOnce(deps, { keys: [firingKey ?? ''] });
    const api = await fetch(`${am.url}/api/v2/alerts?filter=alertname%3D%22NotifierE2E%22`);
    const active = ApiAlerts.parse(await api.json());
    const firingNotice = await sink.waitFor(webhook('firing', 'NotifierE2E'), 20_000);

    // Assess
    expect(sent).toMatchObject({ delivered: 1 });
    expect(active).toHaveLength(1);
    expect(active[0]?.labels).toEqual(labels);
    expect(active[0]?.status.state).toBe('active');
    expect(active[0]?.generatorURL).toBe(`http://127.0.0.1:8080/alerts/${firing.fingerprint}`);
    expect(Date.parse(active[0]?.endsAt ?? '')).toBeGreaterThan(Date.now() + 3 * 60_000);
    expect(WebhookPayload.parse(firingNotice.body).version).toBe('4');

    // Act: the resolve
    const resolved = aTransition({
      labels,
      status: 'resolved',
      evaluated_at: new Date(Date.now() + 60_000).toISOString(),
    });
    const [resolvedKey] = await putOutbox(store, [resolved]);
    await notifyOnce(deps, { keys: [resolvedKey ?? ''] });
    const resolvedNotice = await sink.waitFor(webhook('resolved', 'NotifierE2E'), 20_000);

    // Assess
    expect(WebhookPayload.parse(resolvedNotice.body).alerts[0]?.status).toBe('resolved');
    const after = ApiAlerts.parse(
      await (
        await fetch(
          `${am.url}/api/v2/alerts?filter=alertname%3D%22NotifierE2E%22&active=true&silenced=false&inhibited=false`,
        )
      ).json(),
    );
    expect(after.filter((a) => a.status.state === 'active')).toHaveLength(0);
  });
});
