import { describe, expect, it } from 'vitest';
import { alertsCommand } from '../../cli/alerts-command.ts';
import { memoryLogger } from '../../functions/core/logger.ts';
import { memoryObjectStore } from '../../functions/core/object-store.ts';
import { createRedactor } from '../../functions/core/redact.ts';
import { evaluateOnce } from '../../functions/evaluate/evaluate.ts';
import { readOutbox } from '../../functions/evaluate/rule-tests.ts';
import { readGroupState } from '../../functions/evaluate/state-store.ts';
import { alertmanagerAlert } from '../../functions/notify/alertmanager-payload.ts';
import { pagerDutyEvent } from '../../functions/notify/pagerduty-payload.ts';
import { slackMessage } from '../../functions/notify/slack-payload.ts';
import { computeRollup, encodeRollup, ROLLUP_CONTENT_TYPE, rollupObjectKey } from '../../functions/shared/rollup.ts';
import { type CompiledRuleSet, compileRules } from '../../functions/shared/rules/compile-rules.ts';
import { loadRules } from '../../functions/shared/rules/load-rules.ts';
import {
  DEFAULT_ALLOWED_LATENESS_MS,
  DEFAULT_MAX_WAIT_MS,
  minuteDeadlineMs,
} from '../../functions/shared/watermark.ts';
import { AlertGroupState } from '../../schemas/alert-state.ts';
import { AlertTransition } from '../../schemas/alerts.ts';
import type { Exemplar } from '../../schemas/exemplars.ts';
import { parseNotifyConfig } from '../../schemas/notify-config.ts';
import type { SpanRecord } from '../../schemas/records.ts';
import { captureIo } from '../builders/cli-io.ts';
import { aTransition, NOTIFY_T0 } from '../builders/notify.ts';
import { aSpanRecord } from '../builders/rows.ts';
import { aWindowView } from '../builders/rules.ts';

const M = 29_000_000;
const L = DEFAULT_ALLOWED_LATENESS_MS;
const redactor = createRedactor();

function compiled(text: string): CompiledRuleSet {
  const loaded = loadRules([{ path: 'test.yaml', text }]);
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
  return compileRules(loaded.groups);
}

const RULES = `
groups:
  - name: shop
    rules:
      - name: HighErrorRate
        expr: ratio(spans{status="error"}, spans{}) by (service) [1m] > 25%
        labels: { severity: critical }
      - name: OrdersGone
        expr: absent(spans{service="orders"}) by (service) [1m]
        labels: { severity: warning }
`;

let sequence = 0;
async function writeBatch(store: ReturnType<typeof memoryObjectStore>, rules: CompiledRuleSet, spans: SpanRecord[]) {
  const arrivalMs = M * 60_000 + 30_000;
  const key = rollupObjectKey({
    shardId: 'shardId-0',
    firstSequenceNumber: String(++sequence),
    firstArrivalMs: arrivalMs,
  });
  await store.put(key, encodeRollup(computeRollup([], spans, rules.measures, arrivalMs)), ROLLUP_CONTENT_TYPE);
}

const trace = (n: number) => n.toString(16).padStart(32, '0');

function evaluateAt(store: ReturnType<typeof memoryObjectStore>, rules: CompiledRuleSet, minute: number) {
  return evaluateOnce({
    store,
    rules,
    clock: () => minuteDeadlineMs(minute, L) + 5_000,
    logger: memoryLogger(),
    config: { latenessMs: L, maxWaitMs: DEFAULT_MAX_WAIT_MS },
  });
}

describe('the evaluator attaches exemplars (D22)', () => {
  it('a firing error-ratio alert carries the latest failing requests of the window, in its transition and state', async () => {
    // Prepare: 10 requests of orders at minute M, 6 failing (trace ids 1..6 fail, the latest at the end)
    const store = memoryObjectStore();
    const rules = compiled(RULES);
    const spans = Array.from({ length: 10 }, (_, i) =>
      aSpanRecord({
        trace_id: trace(i + 1),
        start_time: M * 60_000 + i * 1000,
        status_code: i < 6 ? 'ERROR' : 'OK',
        service_name: 'orders',
      }),
    );
    await writeBatch(store, rules, spans);

    // Act
    await evaluateAt(store, rules, M);
    const { state } = await readGroupState(store, 'shop');

    // Assess: the five latest of the six failing requests, newest first; never a request that succeeded
    const firing = (await readOutbox(store)).find((t) => t.rule === 'HighErrorRate');
    expect(firing?.status).toBe('firing');
    expect(firing?.exemplars?.map((e) => e.trace_id)).toEqual([6, 5, 4, 3, 2].map(trace));
    expect(firing?.exemplars?.[0]).toEqual({
      trace_id: trace(6),
      request_id: null,
      time_ms: M * 60_000 + 5000,
      value: 1,
      service: 'orders',
    });
    const series = Object.values(state.rules.HighErrorRate ?? {});
    expect(series[0]?.exemplars).toEqual(firing?.exemplars);
    expect(AlertTransition.parse(firing).exemplars).toHaveLength(5);

    // Act / Assess: `skein alerts` shows them with the command that opens one; --json carries them
    const text = captureIo();
    const json = captureIo();
    expect(await alertsCommand(['--local', 'demo', '--state', 'firing'], text, { store })).toBe(0);
    expect(await alertsCommand(['--state', 'firing', '--json'], json, { store })).toBe(0);
    expect(text.out()).toContain(
      `examples HighErrorRate service="orders": ${[6, 5, 4, 3, 2].map(trace).join(', ')} · open one: skein query trace ${trace(6)} --local demo\n`,
    );
    const listed = json
      .out()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(listed.find((a) => a.rule === 'HighErrorRate')?.exemplars).toEqual(firing?.exemplars);
  });

  it('an absent() alert carries the last requests seen before the silence', async () => {
    // Prepare: orders answers at minute M, then nothing
    const store = memoryObjectStore();
    const rules = compiled(RULES);
    await writeBatch(store, rules, [
      aSpanRecord({ trace_id: trace(41), start_time: M * 60_000 + 1000, service_name: 'orders' }),
      aSpanRecord({ trace_id: trace(42), start_time: M * 60_000 + 2000, service_name: 'orders' }),
    ]);

    // Act
    await evaluateAt(store, rules, M);
    await evaluateAt(store, rules, M + 2);
    const { state } = await readGroupState(store, 'shop');

    // Assess
    const gone = (await readOutbox(store)).find((t) => t.rule === 'OrdersGone' && t.status === 'firing');
    expect(gone?.exemplars?.map((e) => e.trace_id)).toEqual([trace(42), trace(41)]);
    expect(Object.keys(state.known_exemplars ?? {})).toHaveLength(1);
  });

  it('state and transitions written before exemplars still parse', () => {
    const old = {
      version: 1,
      group: 'g',
      last_evaluated_minute: M,
      rules: { R: { abc: { status: 'firing', labels: {}, active_at: M, last_held: M, value: 1, seq: 1 } } },
      retired: {},
      known_groups: {},
      unflushed: [{ ...aTransition(), exemplars: undefined }],
    };
    expect(AlertGroupState.safeParse(JSON.parse(JSON.stringify(old))).success).toBe(true);
  });

  it('min() rules show the smallest values, max() the largest', () => {
    const rules = compiled(`
groups:
  - name: g
    rules:
      - name: Low
        expr: min(duration, spans{}) [1m] < 1000
        labels: { severity: info }
      - name: High
        expr: max(duration, spans{}) [1m] > 0
        labels: { severity: info }
`);
    const low: Exemplar = { trace_id: trace(1), request_id: null, time_ms: 0, value: 2 };
    const high: Exemplar = { trace_id: trace(2), request_id: null, time_ms: 0, value: 900 };
    const id = rules.rules[0]?.measureIds[0] ?? '';
    const view = aWindowView({
      [id]: { '[]': { n: 2, sum: 902, min: 2, max: 900, exemplars: [high], exemplars_low: [low] } },
    });
    expect(rules.rules[0]?.evaluate(view)[0]?.exemplars).toEqual([low]);
    expect(rules.rules[1]?.evaluate(view)[0]?.exemplars).toEqual([high]);
  });
});

const EXEMPLARS: Exemplar[] = [
  { trace_id: 'ab'.repeat(16), request_id: 'req-1', time_ms: NOTIFY_T0 - 2000, value: 1, service: 'api' },
  { trace_id: null, request_id: 'job 7', time_ms: NOTIFY_T0 - 3000, value: 1, service: 'api' },
];
const CONSOLE = 'http://127.0.0.1:4000';

describe('notifications carry exemplars (D22)', () => {
  it('Alertmanager: trace ids, request ids, the command and the console link as annotations', () => {
    const t = aTransition({ exemplars: EXEMPLARS });
    const withConsole = alertmanagerAlert(t, {
      nowMs: NOTIFY_T0,
      resendIntervalMs: 60_000,
      consoleUrl: CONSOLE,
      redactor,
    });
    const without = alertmanagerAlert(t, { nowMs: NOTIFY_T0, resendIntervalMs: 60_000, redactor });

    expect(withConsole.annotations).toMatchObject({
      exemplar_trace_ids: 'ab'.repeat(16),
      exemplar_request_ids: 'job 7',
      skein_query: `skein query trace ${'ab'.repeat(16)}`,
      exemplar_url: `${CONSOLE}/trace/${'ab'.repeat(16)}`,
      summary: 'Error rate above 5% on api',
    });
    expect(without.annotations).not.toHaveProperty('exemplar_url');
    expect(without.annotations.skein_query).toBe(`skein query trace ${'ab'.repeat(16)}`);
  });

  it('PagerDuty: custom_details.exemplars always, one link each only with a console URL', () => {
    const t = aTransition({ exemplars: EXEMPLARS });
    const event = pagerDutyEvent(t, { routingKey: 'k'.repeat(32), severityMap: {}, consoleUrl: CONSOLE, redactor });
    const plain = pagerDutyEvent(t, { routingKey: 'k'.repeat(32), severityMap: {}, redactor });

    expect(event.payload?.custom_details.exemplars).toEqual([
      {
        trace_id: 'ab'.repeat(16),
        request_id: 'req-1',
        time: new Date(NOTIFY_T0 - 2000).toISOString(),
        value: 1,
        service: 'api',
        query: `skein query trace ${'ab'.repeat(16)}`,
        url: `${CONSOLE}/trace/${'ab'.repeat(16)}`,
      },
      {
        trace_id: null,
        request_id: 'job 7',
        time: new Date(NOTIFY_T0 - 3000).toISOString(),
        value: 1,
        service: 'api',
        query: 'skein query request job 7',
        url: `${CONSOLE}/request/job%207`,
      },
    ]);
    expect(event.links).toEqual([
      { href: `${CONSOLE}/trace/${'ab'.repeat(16)}`, text: `Trace ${'ab'.repeat(16)} (api)` },
      { href: `${CONSOLE}/request/job%207`, text: 'Request job 7 (api)' },
    ]);
    expect(plain).not.toHaveProperty('links');
    expect(plain.payload?.custom_details.exemplars).toHaveLength(2);
  });

  it('Slack: one line per exemplar with its command and console link; none on a resolve', () => {
    const firing = aTransition({ exemplars: EXEMPLARS });
    const resolved = aTransition({ status: 'resolved', exemplars: EXEMPLARS });
    const message = slackMessage([firing, resolved], { consoleUrl: CONSOLE, redactor });
    const [alertBlock, resolvedBlock] = (message.attachments[0]?.blocks ?? []).slice(1);
    const text = alertBlock?.type === 'section' ? alertBlock.text.text : '';

    expect(text).toContain('*Example requests:*');
    expect(text).toContain(
      `\`skein query trace ${'ab'.repeat(16)}\` · <${CONSOLE}/trace/${'ab'.repeat(16)}|open in console>`,
    );
    expect(text).toContain('`skein query request job 7`');
    expect(JSON.stringify(resolvedBlock)).not.toContain('Example requests');
  });

  it('redacts a secret someone put in a request id', () => {
    const t = aTransition({
      exemplars: [{ trace_id: null, request_id: 'token=abc123secret', time_ms: NOTIFY_T0, value: 1 }],
    });
    const alert = alertmanagerAlert(t, { nowMs: NOTIFY_T0, resendIntervalMs: 60_000, redactor });
    const event = pagerDutyEvent(t, { routingKey: 'k'.repeat(32), severityMap: {}, redactor });
    expect(JSON.stringify([alert, event, slackMessage([t], { redactor })])).not.toContain('abc123secret');
  });

  it('console_url is an optional http(s) URL in the notifier config, kept without its trailing slash', () => {
    const yaml = (url: string) =>
      `receivers:\n  - name: am\n    alertmanager:\n      urls: [https://am.example.com]\nroute:\n  receiver: am\nallowed_hosts: [am.example.com]\nconsole_url: '${url}'\n`;
    expect(parseNotifyConfig(yaml('https://skein.example.com/')).consoleUrl).toBe('https://skein.example.com');
    expect(() => parseNotifyConfig(yaml('javascript:alert(1)'))).toThrow();
  });
});
