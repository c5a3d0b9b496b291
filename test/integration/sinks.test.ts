import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type Sink, type SinkOptions, startSink } from '../../local/sinks.ts';

const started: Sink[] = [];
async function sink(options: SinkOptions): Promise<Sink> {
  const s = await startSink(options);
  started.push(s);
  return s;
}

function postJson(url: string, body: unknown): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
}

const trigger = (overrides: Record<string, unknown> = {}) => ({
  routing_key: 'R0UTINGKEY0000000000000000000000',
  event_action: 'trigger',
  dedup_key: 'fp-0123456789abcdef',
  payload: { summary: 'checkout error ratio above 5 %', source: 'skein', severity: 'critical' },
  ...overrides,
});

const WithStatus = z.object({ status: z.string() });

afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.stop()));
});

describe('the webhook sink', () => {
  it('records method, path, headers, parsed JSON body and arrival time, and answers 200', async () => {
    // Prepare
    const webhook = await sink({ kind: 'webhook', clock: () => 1_700_000_000_000 });
    // Act
    const response = await postJson(webhook.url, { version: '4', status: 'firing' });
    // Assess
    expect(response.status).toBe(200);
    expect(webhook.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/webhook$/);
    expect(webhook.received).toEqual([
      expect.objectContaining({
        method: 'POST',
        path: '/webhook',
        body: { version: '4', status: 'firing' },
        rawBody: '{"version":"4","status":"firing"}',
        time: 1_700_000_000_000,
        answer: 200,
      }),
    ]);
    expect(webhook.received[0]?.headers['content-type']).toBe('application/json');
  });
});

describe('the PagerDuty sink', () => {
  it('accepts a trigger with 202 and echoes its dedup_key, like Events API v2', async () => {
    // Prepare
    const pagerduty = await sink({ kind: 'pagerduty' });
    // Act
    const response = await postJson(pagerduty.url, trigger());
    // Assess
    expect(pagerduty.url).toMatch(/\/v2\/enqueue$/);
    expect(response.status).toBe(202);
    expect(await response.json()).toEqual({
      status: 'success',
      message: 'Event processed',
      dedup_key: 'fp-0123456789abcdef',
    });
  });

  it('makes up a dedup_key when a trigger has none', async () => {
    // Prepare
    const pagerduty = await sink({ kind: 'pagerduty' });
    // Act
    const response = await postJson(pagerduty.url, trigger({ dedup_key: undefined }));
    // Assess
    expect(response.status).toBe(202);
    expect(await response.json()).toMatchObject({ dedup_key: expect.stringMatching(/^[0-9a-f]{32}$/) });
  });

  it.each([
    ['a trigger without a summary', trigger({ payload: { source: 'skein', severity: 'critical' } })],
    ['an unknown severity', trigger({ payload: { summary: 's', source: 'skein', severity: 'fatal' } })],
    ['a resolve without a dedup_key', { routing_key: 'k', event_action: 'resolve' }],
    ['no routing_key', trigger({ routing_key: undefined })],
  ])('refuses %s with 400 invalid event', async (_name, event) => {
    // Prepare
    const pagerduty = await sink({ kind: 'pagerduty' });
    // Act
    const response = await postJson(pagerduty.url, event);
    // Assess
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ status: 'invalid event', message: 'Event object is invalid' });
    expect(pagerduty.received[0]?.answer).toBe(400);
  });
});

describe('the Slack sink', () => {
  it('answers a message with 200 ok, as an incoming webhook does', async () => {
    // Prepare
    const slack = await sink({ kind: 'slack' });
    // Act
    const response = await postJson(slack.url, { text: 'checkout is failing' });
    // Assess
    expect(slack.url).toMatch(/\/services\/[^/]+\/[^/]+\/[^/]+$/);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('ok');
  });

  it('refuses a body that is not JSON with invalid_payload and one without text with no_text', async () => {
    // Prepare
    const slack = await sink({ kind: 'slack' });
    // Act
    const notJson = await fetch(slack.url, { method: 'POST', body: 'text=hi' });
    const noText = await postJson(slack.url, { channel: '#alerts' });
    // Assess
    expect([notJson.status, await notJson.text()]).toEqual([400, 'invalid_payload']);
    expect([noText.status, await noText.text()]).toEqual([400, 'no_text']);
  });
});

describe('scripted faults', () => {
  it('answers the next requests with the scripted statuses in order, then normally again', async () => {
    // Prepare
    const pagerduty = await sink({ kind: 'pagerduty' });
    pagerduty.faults.push({ status: 429, retryAfterSeconds: 7 }, { status: 500 });
    pagerduty.faults.push({ status: 400 });
    // Act
    const responses = [];
    for (let i = 0; i < 4; i++) responses.push(await postJson(pagerduty.url, trigger()));
    // Assess
    expect(responses.map((r) => r.status)).toEqual([429, 500, 400, 202]);
    expect(responses[0]?.headers.get('retry-after')).toBe('7');
    expect(pagerduty.received.map((r) => r.answer)).toEqual([429, 500, 400, 202]);
    expect(pagerduty.faults).toEqual([]);
  });

  it('replaces the scripted faults with setFault, and clears them with no argument', async () => {
    // Prepare
    const slack = await sink({ kind: 'slack' });
    slack.faults.push({ status: 500 }, { status: 500 });
    // Act
    slack.setFault({ status: 429 });
    const throttled = await postJson(slack.url, { text: 'a' });
    slack.setFault({ status: 500 });
    slack.setFault();
    const normal = await postJson(slack.url, { text: 'b' });
    // Assess
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get('retry-after')).toBeNull();
    expect(normal.status).toBe(200);
  });

  it('cuts the connection off for a reset fault', async () => {
    // Prepare
    const webhook = await sink({ kind: 'webhook' });
    webhook.faults.push({ reset: true });
    // Act
    const attempt = postJson(webhook.url, { n: 1 });
    // Assess
    await expect(attempt).rejects.toThrow(TypeError); // undici: "fetch failed", cause: socket closed
    expect(webhook.received.map((r) => r.answer)).toEqual(['reset']);
    expect((await postJson(webhook.url, { n: 2 })).status).toBe(200);
  });

  it('never answers a hung request, until the sink stops', async () => {
    // Prepare
    const webhook = await sink({ kind: 'webhook' });
    webhook.faults.push({ hang: true });
    let settled = false;
    const attempt = postJson(webhook.url, { n: 1 }).finally(() => {
      settled = true;
    });
    attempt.catch(() => undefined);
    // Act
    const hung = await webhook.waitFor((r) => r.answer === 'hang', 5_000);
    const next = await postJson(webhook.url, { n: 2 }); // other requests are still served meanwhile
    const settledBeforeStop = settled;
    await webhook.stop();
    // Assess
    expect(hung.body).toEqual({ n: 1 });
    expect(next.status).toBe(200);
    expect(settledBeforeStop).toBe(false);
    await expect(attempt).rejects.toThrow(TypeError);
  });
});

describe('waitFor', () => {
  it('resolves when a matching request arrives later, and at once for one already received', async () => {
    // Prepare
    const webhook = await sink({ kind: 'webhook' });
    await postJson(webhook.url, { status: 'firing' });
    // Act
    const later = webhook.waitFor((r) => WithStatus.safeParse(r.body).data?.status === 'resolved', 5_000);
    await postJson(webhook.url, { status: 'resolved' });
    const already = await webhook.waitFor((r) => r.rawBody.includes('firing'), 1);
    // Assess
    expect((await later).rawBody).toBe('{"status":"resolved"}');
    expect(already.rawBody).toBe('{"status":"firing"}');
  });

  it('rejects after the timeout, saying what did arrive', async () => {
    // Prepare
    const webhook = await sink({ kind: 'webhook' });
    await postJson(webhook.url, { status: 'firing' });
    // Act
    const waiting = webhook.waitFor(() => false, 50);
    // Assess
    await expect(waiting).rejects.toThrow(/no matching request within 50 ms \(1 received: POST \/webhook → 200\)/);
  });

  it('rejects pending waits when the sink stops', async () => {
    // Prepare
    const webhook = await sink({ kind: 'webhook' });
    const waiting = webhook.waitFor(() => true, 60_000);
    // Act
    await webhook.stop();
    // Assess
    await expect(waiting).rejects.toThrow('webhook sink stopped while waiting');
  });
});

describe('the NDJSON request log', () => {
  it('appends one line per request with routing keys and the Slack secret path redacted', async () => {
    // Prepare
    const dir = await mkdtemp(join(tmpdir(), 'skein-sinks-'));
    const pagerduty = await sink({ kind: 'pagerduty', logFile: join(dir, 'pagerduty.ndjson') });
    const slack = await sink({ kind: 'slack', logFile: join(dir, 'slack.ndjson') });
    // Act
    await postJson(pagerduty.url, trigger());
    await postJson(slack.url, { text: 'hi' });
    await pagerduty.stop();
    await slack.stop();
    const pagerdutyLog = await readFile(join(dir, 'pagerduty.ndjson'), 'utf8');
    const slackLog = await readFile(join(dir, 'slack.ndjson'), 'utf8');
    await rm(dir, { recursive: true, force: true });
    // Assess
    expect(pagerdutyLog.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(pagerdutyLog)).toMatchObject({
      method: 'POST',
      path: '/v2/enqueue',
      body: { routing_key: '[REDACTED]', dedup_key: 'fp-0123456789abcdef' },
      answer: 202,
    });
    expect(pagerdutyLog).not.toContain('R0UTINGKEY');
    expect(JSON.parse(slackLog)).toMatchObject({ path: '/services/[REDACTED]', body: { text: 'hi' }, answer: 200 });
    expect(slackLog).not.toContain('skeinlocal');
    // the in-memory record keeps what was sent, so tests can check the notifier sent the right key
    expect(pagerduty.received[0]?.body).toMatchObject({ routing_key: 'R0UTINGKEY0000000000000000000000' });
  });
});
