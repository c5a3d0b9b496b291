import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { z } from 'zod';
import {
  AlertmanagerError,
  alertmanagerConfig,
  findAlertmanager,
  type RunningAlertmanager,
  SETUP_HINT,
  startAlertmanager,
} from '../../local/alertmanager.ts';
import type { ReceivedRequest, Sink } from '../../local/sinks.ts';
import { type AlertmanagerWithSink, startAlertmanagerWithSink } from '../support/alertmanager.ts';

/** Alertmanager's webhook payload (version "4"), the parts these tests read. */
const WebhookPayload = z.object({
  version: z.string(),
  status: z.enum(['firing', 'resolved']),
  alerts: z.array(z.object({ status: z.string(), labels: z.record(z.string(), z.string()) })),
});
const ApiAlerts = z.array(
  z.object({ labels: z.record(z.string(), z.string()), status: z.object({ state: z.string() }) }),
);

function payload(request: ReceivedRequest) {
  return WebhookPayload.safeParse(request.body).data;
}

function anAlert(labels: Record<string, string>, endsAt: Date) {
  return {
    labels,
    annotations: { summary: 'checkout error ratio above 5 %' },
    startsAt: new Date(Date.now() - 60_000).toISOString(),
    endsAt: endsAt.toISOString(),
    generatorURL: 'http://127.0.0.1/skein/rules/checkout-errors',
  };
}

async function postAlerts(am: RunningAlertmanager, alerts: unknown[]): Promise<number> {
  const response = await fetch(`${am.url}/api/v2/alerts`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(alerts),
  });
  await response.arrayBuffer();
  return response.status;
}

describe('the real Alertmanager', () => {
  let running: AlertmanagerWithSink | undefined;
  let dir: string;
  let sink: Sink;
  let am: RunningAlertmanager;

  beforeAll(async () => {
    running = await startAlertmanagerWithSink('skein-alertmanager-');
    ({ dir, sink, am } = running);
  });

  afterAll(async () => {
    await running?.stop();
  });

  it('is ready on 127.0.0.1 with the configured webhook receiver', async () => {
    // Act
    const ready = await fetch(`${am.url}/-/ready`);
    const config = parse(await readFile(join(dir, 'alertmanager.yml'), 'utf8'));
    // Assess
    expect(ready.status).toBe(200);
    expect(am.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(config).toMatchObject({
      route: { receiver: 'skein-webhook', group_wait: '1s', group_interval: '1s', repeat_interval: '1h' },
      receivers: [{ name: 'skein-webhook', webhook_configs: [{ url: sink.url, send_resolved: true }] }],
    });
  });

  it('lists a posted alert, notifies the webhook that it fires, then that it resolved', async () => {
    // Prepare
    const labels = { alertname: 'CheckoutErrors', service: 'checkout', severity: 'critical' };
    const isFor = (status: 'firing' | 'resolved') => (r: ReceivedRequest) => {
      const p = payload(r);
      return p?.status === status && p.alerts.some((a) => a.labels.alertname === 'CheckoutErrors');
    };
    // Act: firing, with endsAt ahead as the notifier sends it
    const posted = await postAlerts(am, [anAlert(labels, new Date(Date.now() + 5 * 60_000))]);
    const listed = ApiAlerts.parse(await (await fetch(`${am.url}/api/v2/alerts`)).json());
    const firing = await sink.waitFor(isFor('firing'), 15_000);
    // Act: resolved, by re-sending it with endsAt = now
    const resolvedPost = await postAlerts(am, [anAlert(labels, new Date())]);
    const resolved = await sink.waitFor(isFor('resolved'), 15_000);
    // Assess
    expect(posted).toBe(200);
    expect(listed).toEqual([expect.objectContaining({ labels, status: expect.objectContaining({ state: 'active' }) })]);
    expect(payload(firing)).toMatchObject({ version: '4', status: 'firing', alerts: [{ status: 'firing', labels }] });
    expect(resolvedPost).toBe(200);
    expect(payload(resolved)).toMatchObject({
      version: '4',
      status: 'resolved',
      alerts: [{ status: 'resolved', labels }],
    });
    expect(resolved.time).toBeGreaterThanOrEqual(firing.time);
  });
});

describe('starting Alertmanager when it cannot run', () => {
  let dir: string;
  let blocker: Server | undefined;
  const blocked = new Set<Socket>();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'skein-alertmanager-fail-'));
  });

  afterAll(async () => {
    for (const socket of blocked) socket.destroy();
    await new Promise((resolve) => (blocker ? blocker.close(resolve) : resolve(undefined)));
    await rm(dir, { recursive: true, force: true });
  });

  it('fails with the tail of its stderr, and no webhook secret, when its port is taken', async () => {
    // Prepare
    if (!findAlertmanager()) throw new Error(`prometheus-alertmanager is not installed: ${SETUP_HINT}`);
    blocker = createServer((socket) => blocked.add(socket));
    const taken = await new Promise<number>((resolve) => {
      blocker?.listen(0, '127.0.0.1', () => {
        const address = blocker?.address();
        resolve(typeof address === 'object' && address ? address.port : 0);
      });
    });
    const webhookUrl = 'http://127.0.0.1:9/hook?token=s3cr3t-t0ken';
    // Act
    const attempt = startAlertmanager({ dir, webhookUrl, port: taken, readyTimeoutMs: 5_000 });
    // Assess
    const error = await attempt.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AlertmanagerError);
    expect(String(error)).toMatch(/exited before it was ready; its stderr ended with:\n[\s\S]*address already in use/);
    expect(String(error)).not.toContain('s3cr3t-t0ken');
  });

  it('says how to install it when the binary is missing', async () => {
    // Act
    const attempt = startAlertmanager({ dir, webhookUrl: 'http://127.0.0.1:9/', binary: join(dir, 'missing') });
    // Assess
    await expect(attempt).rejects.toThrow(/exited before it was ready \(spawn .*ENOENT\)/);
    expect(findAlertmanager('')).toBe(findAlertmanager('/nonexistent')); // PATH miss falls back to /usr/bin only
  });
});

describe('alertmanagerConfig', () => {
  it('routes everything to one webhook receiver with the given timings', () => {
    // Act
    const config = parse(
      alertmanagerConfig({
        dir: '/x',
        webhookUrl: 'http://127.0.0.1:1/webhook',
        groupWait: '2s',
        groupBy: ['alertname'],
        sendResolved: false,
      }),
    );
    // Assess
    expect(config).toEqual({
      route: {
        receiver: 'skein-webhook',
        group_by: ['alertname'],
        group_wait: '2s',
        group_interval: '1s',
        repeat_interval: '1h',
      },
      receivers: [
        { name: 'skein-webhook', webhook_configs: [{ url: 'http://127.0.0.1:1/webhook', send_resolved: false }] },
      ],
    });
  });
});
