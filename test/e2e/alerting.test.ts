import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { alertsCommand } from '../../cli/alerts-command.ts';
import { ingestHandler, type LocalUpStarted, runLocalUp } from '../../cli/local-up-command.ts';
import { queryCommand } from '../../cli/query-command.ts';
import { LOG_FILE } from '../../cli/terminal.ts';
import { findAlertmanager, SETUP_HINT } from '../../local/alertmanager.ts';
import type { ReceivedRequest } from '../../local/sinks.ts';
import { MAX_EXEMPLARS } from '../../schemas/exemplars.ts';
import { captureIo } from '../builders/cli-io.ts';

const ALERT = 'DemoHighErrorRate';
/** Every request passes the gateway: with 90 % of requests failing, its error ratio is far above the rule's 25 %. */
const SERVICE = 'web-gateway';
/** Bounded waits: a minute must close (≤ 60 s, or 120 s when the burst starts late in one) before it is evaluated. */
const NOTIFICATION_TIMEOUT_MS = 150_000;

const AlertmanagerWebhook = z.object({
  version: z.literal('4'),
  status: z.enum(['firing', 'resolved']),
  alerts: z.array(
    z.object({
      status: z.string(),
      labels: z.record(z.string(), z.string()),
      annotations: z.record(z.string(), z.string()).optional(),
    }),
  ),
});
const PagerDutyTrigger = z.object({
  routing_key: z.string(),
  event_action: z.literal('trigger'),
  dedup_key: z.string(),
  payload: z.object({
    class: z.string(),
    source: z.string(),
    severity: z.string(),
    summary: z.string(),
    custom_details: z.object({
      exemplars: z.array(z.object({ trace_id: z.string().nullable(), query: z.string() })).optional(),
    }),
  }),
});
/** A row of `skein query trace <id> --json`. */
const QueriedRow = z.object({
  table: z.string(),
  service_name: z.string().nullable(),
  status_code: z.string().optional(),
});
const PagerDutyResolve = z.object({
  routing_key: z.string(),
  event_action: z.literal('resolve'),
  dedup_key: z.string(),
});
const SlackMessage = z.object({ text: z.string() });

const alertmanagerSays = (status: 'firing' | 'resolved') => (r: ReceivedRequest) => {
  const body = AlertmanagerWebhook.safeParse(r.body);
  return (
    body.success &&
    body.data.alerts.some((a) => a.status === status && a.labels.alertname === ALERT && a.labels.service === SERVICE)
  );
};
const slackSays = (status: 'FIRING' | 'RESOLVED') => (r: ReceivedRequest) => {
  const body = SlackMessage.safeParse(r.body);
  return (
    body.success &&
    body.data.text.includes(`[${status}:`) &&
    body.data.text.includes(ALERT) &&
    r.rawBody.includes(`service=${SERVICE}`)
  );
};

/** The demo's error burst reaches Alertmanager (real), PagerDuty and Slack, and so does its end. */
describe('alerting end to end: skein local up → burst → Alertmanager, PagerDuty, Slack', () => {
  let dir = '';
  const stop = new AbortController();
  let running: Promise<number> | undefined;

  afterAll(async () => {
    stop.abort();
    await running;
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('notifies all three of the firing alert and of its resolve, and no secret reaches a log line', async () => {
    // Prepare: the whole local stack in-process, with the real Alertmanager (never skipped: CI installs it)
    if (!findAlertmanager()) throw new Error(`prometheus-alertmanager is not installed: ${SETUP_HINT}`);
    dir = await mkdtemp(join(tmpdir(), 'skein-alerting-e2e-'));
    const io = captureIo();
    let started!: (value: LocalUpStarted) => void;
    const up = new Promise<LocalUpStarted>((resolve) => {
      started = resolve;
    });
    running = runLocalUp(['--dir', dir, '--shards', '1', '--evaluate-every', '2s', '--allowed-lateness', '5s'], io, {
      makeHandler: ingestHandler,
      signal: stop.signal,
      progressIntervalMs: 5_000,
      demoRatePerSecond: 5,
      demoIncidents: null,
      notifyEveryMs: 1_000,
      alertmanager: 'required',
      onStarted: started,
    });
    const stack = await Promise.race([
      up,
      running.then((code) => {
        throw new Error(`skein local up exited ${code} before it was ready: ${io.err()}`);
      }),
    ]);
    const { workload, sinks, alertmanager } = stack;
    if (!workload || !sinks || !alertmanager) throw new Error('local up started without the demo or alerting');

    // Act: an error burst, until every receiver has the firing alert
    const burstAt = workload.setFailureRate(0.9);
    const [amFiring, pdTrigger, slackFiring] = await Promise.all([
      sinks.webhook.waitFor(alertmanagerSays('firing'), NOTIFICATION_TIMEOUT_MS),
      sinks.pagerduty.waitFor((r) => {
        const body = PagerDutyTrigger.safeParse(r.body);
        return body.success && body.data.payload.class === ALERT && body.data.payload.source === SERVICE;
      }, NOTIFICATION_TIMEOUT_MS),
      sinks.slack.waitFor(slackSays('FIRING'), NOTIFICATION_TIMEOUT_MS),
    ]);
    const alerts = captureIo();
    const alertsCode = await alertsCommand(['--local', dir, '--state', 'firing'], alerts);
    const trigger = PagerDutyTrigger.parse(pdTrigger.body);

    // Assess (issue 12): each payload names failing requests of the service, and `skein query trace <id>` opens them
    const amAlert = AlertmanagerWebhook.parse(amFiring.body).alerts.find(
      (a) => a.status === 'firing' && a.labels.alertname === ALERT && a.labels.service === SERVICE,
    );
    const exemplarIds = {
      alertmanager: amAlert?.annotations?.exemplar_trace_ids?.split(',') ?? [],
      pagerduty: (trigger.payload.custom_details.exemplars ?? []).flatMap((e) =>
        e.trace_id === null ? [] : [e.trace_id],
      ),
      slack: [...slackFiring.rawBody.matchAll(/skein query trace ([0-9a-f]{32})/g)].map((m) => m[1] ?? ''),
    };
    const opened = new Map<string, z.infer<typeof QueriedRow>[]>();
    for (const id of new Set(Object.values(exemplarIds).flat())) {
      const query = captureIo();
      expect(await queryCommand(['trace', id, '--local', dir, '--json'], query)).toBe(0);
      const rows = query
        .out()
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => QueriedRow.parse(JSON.parse(l)));
      opened.set(id, rows);
    }

    // Act: the burst ends, until every receiver has the resolve
    const endAt = workload.setFailureRate(undefined);
    const [amResolved, pdResolve, slackResolved] = await Promise.all([
      sinks.webhook.waitFor((r) => r.time > endAt && alertmanagerSays('resolved')(r), NOTIFICATION_TIMEOUT_MS),
      sinks.pagerduty.waitFor((r) => {
        const body = PagerDutyResolve.safeParse(r.body);
        return body.success && body.data.dedup_key === trigger.dedup_key;
      }, NOTIFICATION_TIMEOUT_MS),
      sinks.slack.waitFor((r) => r.time > endAt && slackSays('RESOLVED')(r), NOTIFICATION_TIMEOUT_MS),
    ]);
    const slackUrl = sinks.slack.url;
    stop.abort();
    const code = await running;

    // Assess: the delays the note needs, from the first failing record (± one 250 ms workload tick)
    const delays = {
      firing: {
        alertmanager: amFiring.time - burstAt,
        pagerduty: pdTrigger.time - burstAt,
        slack: slackFiring.time - burstAt,
      },
      resolved: {
        alertmanager: amResolved.time - endAt,
        pagerduty: pdResolve.time - endAt,
        slack: slackResolved.time - endAt,
      },
    };
    console.log(
      `alerting e2e: notification delays in ms (firing: from the burst; resolved: from its end) ${JSON.stringify(delays)}`,
    );
    expect(code).toBe(0);
    expect(AlertmanagerWebhook.parse(amFiring.body).version).toBe('4');
    expect(AlertmanagerWebhook.parse(amResolved.body).status).toBe('resolved');
    expect(trigger.dedup_key).toMatch(/^[0-9a-f]{16}$/);
    console.log(`alerting e2e: exemplar trace ids ${JSON.stringify(exemplarIds)}`);
    for (const [receiver, ids] of Object.entries(exemplarIds)) {
      expect(ids.length, receiver).toBeGreaterThan(0);
      expect(ids.length, receiver).toBeLessThanOrEqual(MAX_EXEMPLARS);
      for (const id of ids) {
        const failing = (opened.get(id) ?? []).filter(
          (r) => r.table === 'spans' && r.service_name === SERVICE && r.status_code === 'ERROR',
        );
        expect(failing.length, `${receiver}: trace ${id} has a failing ${SERVICE} span`).toBeGreaterThan(0);
      }
    }
    expect(alerts.out()).toMatch(
      new RegExp(
        `^examples ${ALERT} service="${SERVICE}": [0-9a-f]{32}.* · open one: skein query trace [0-9a-f]{32} --local `,
        'm',
      ),
    );
    expect(trigger.payload.severity).toBe('critical');
    expect(PagerDutyResolve.parse(pdResolve.body).routing_key).toBe(trigger.routing_key);
    expect(SlackMessage.parse(slackResolved.body).text).toContain('[RESOLVED:');
    for (const d of [...Object.values(delays.firing), ...Object.values(delays.resolved)]) expect(d).toBeGreaterThan(0);
    // visible while firing: `skein alerts` and the progress line
    expect(alertsCode).toBe(0);
    expect(alerts.out()).toContain(ALERT);
    expect(alerts.out()).toMatch(new RegExp(`^FIRING +${ALERT} .*service="${SERVICE}"`, 'm'));
    expect(io.out()).toMatch(/alerts [1-9]\d* firing/);
    expect(io.out()).toContain(`Alertmanager ${alertmanager.url}`);
    expect(io.out()).toMatch(/Stopped\. Ingested \d+ records/);

    // Assess: secrets appear in no log line, printed line or sink log file
    const sinkLogs = await Promise.all(
      (await readdir(join(dir, 'sinks'))).map((f) => readFile(join(dir, 'sinks', f), 'utf8')),
    );
    const slackPath = new URL(slackUrl).pathname;
    const logFile = await readFile(join(dir, LOG_FILE), 'utf8');
    const logged = [io.out(), io.err(), logFile, ...sinkLogs].join('\n');
    expect(sinkLogs.length).toBe(3);
    expect(logFile.split('\n').filter((l) => l.trim() !== '').length).toBeGreaterThan(10);
    expect(trigger.routing_key).toMatch(/^[0-9a-f]{32}$/);
    expect(logged).not.toContain(trigger.routing_key);
    expect(logged).not.toContain(slackUrl);
    expect(logged).not.toContain(slackPath);
  }, 330_000);
});
