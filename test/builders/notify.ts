import { createHash } from 'node:crypto';
import type { ObjectStore } from '../../functions/core/object-store.ts';
import type { HttpRequest, HttpResponse, HttpSender } from '../../functions/notify/http-sender.ts';
import { HttpSendError } from '../../functions/notify/http-sender.ts';
import { type AlertTransition, outboxKey } from '../../schemas/alerts.ts';

export const NOTIFY_T0 = Date.UTC(2026, 10, 25, 21, 30);

/** A firing transition of `HighErrorRate` for service `api`; override anything. Fingerprint follows the labels. */
export function aTransition(overrides: Partial<AlertTransition> = {}): AlertTransition {
  const labels = overrides.labels ?? { alertname: 'HighErrorRate', severity: 'critical', service: 'api' };
  const fingerprint =
    overrides.fingerprint ??
    createHash('sha256')
      .update(JSON.stringify(Object.entries(labels).sort()))
      .digest('hex')
      .slice(0, 16);
  const status = overrides.status ?? 'firing';
  return {
    version: 1,
    fingerprint,
    seq: status === 'firing' ? 1 : 2,
    status,
    group: 'api-slo',
    rule: labels.alertname ?? 'HighErrorRate',
    labels,
    annotations: { summary: 'Error rate above 5% on api', description: 'api answers 5xx for 7.5% of requests' },
    value: 0.075,
    active_at: new Date(NOTIFY_T0 - 180_000).toISOString(),
    starts_at: new Date(NOTIFY_T0 - 60_000).toISOString(),
    ...(status === 'resolved' ? { ends_at: new Date(NOTIFY_T0).toISOString() } : {}),
    evaluated_at: new Date(NOTIFY_T0).toISOString(),
    expr: 'ratio(count(status>=500), count()) by (service) > 0.05',
    ...overrides,
  };
}

/** Writes transitions to the outbox as the evaluator does; returns their keys. */
export async function putOutbox(store: ObjectStore, transitions: readonly AlertTransition[]): Promise<string[]> {
  const keys: string[] = [];
  for (const t of transitions) {
    const key = outboxKey(t);
    await store.put(key, Buffer.from(JSON.stringify(t)), 'application/json');
    keys.push(key);
  }
  return keys;
}

export type ScriptedReply =
  | number
  | { status: number; headers?: Record<string, string>; body?: string }
  | 'timeout'
  | 'reset';

/**
 * An `HttpSender` that records every request and answers from a script per URL prefix (then 200): numbers are
 * statuses, 'timeout'/'reset' throw as the real sender does.
 */
export function fakeHttp(
  script: Record<string, ScriptedReply[]> = {},
): HttpSender & { readonly requests: HttpRequest[] } {
  const requests: HttpRequest[] = [];
  return {
    requests,
    async send(req) {
      requests.push(req);
      const prefix = Object.keys(script).find((p) => req.url.startsWith(p));
      const reply = prefix === undefined ? undefined : script[prefix]?.shift();
      if (reply === 'timeout') throw new HttpSendError('timeout', `no response within ${req.timeoutMs} ms`);
      if (reply === 'reset') throw new HttpSendError('connection', 'connection failed: ECONNRESET');
      if (reply === undefined) return { status: 200, headers: {}, body: '' } satisfies HttpResponse;
      if (typeof reply === 'number') return { status: reply, headers: {}, body: '' };
      return { status: reply.status, headers: reply.headers ?? {}, body: reply.body ?? '' };
    },
  };
}

/**
 * A configuration sending every alert to each receiver given (Alertmanager `am`, PagerDuty `pd`, Slack `chat`), with
 * grouping timers at 0 and small delays; `delivery` and `route` replace those sections (YAML text).
 */
export function notifyYaml(o: { am?: string[]; pd?: string; slack?: boolean; delivery?: string; route?: string } = {}) {
  const receivers: string[] = [];
  const names: string[] = [];
  if (o.am) {
    receivers.push(`  - name: am\n    alertmanager:\n      urls: [${o.am.join(', ')}]`);
    names.push('am');
  }
  if (o.pd) {
    receivers.push(`  - name: pd\n    pagerduty:\n      routing_key_secret: pd-key\n      url: ${o.pd}`);
    names.push('pd');
  }
  if (o.slack) {
    receivers.push('  - name: chat\n    slack:\n      webhook_url_secret: slack-url\n      channel: "#alerts"');
    names.push('chat');
  }
  const children = names.map((n) => `    - receiver: ${n}\n      continue: true`).join('\n');
  const route =
    o.route ?? `route:\n  receiver: ${names[0]}\n  group_wait: 0s\n  group_interval: 0s\n  routes:\n${children}`;
  const delivery =
    o.delivery ?? '  timeout: 200ms\n  max_attempts: 4\n  base_delay: 100ms\n  max_delay: 1s\n  breaker_threshold: 50';
  return [
    `receivers:\n${receivers.join('\n')}`,
    route,
    `delivery:\n${delivery}`,
    'allowed_hosts: [127.0.0.1, am.test, pd.test, hooks.slack.com]',
    "query_url_template: 'http://127.0.0.1:3000/alerts/{{fingerprint}}?trace={{trace_id}}'",
    '',
  ].join('\n');
}
