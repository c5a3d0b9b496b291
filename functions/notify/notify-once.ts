import { createHash } from 'node:crypto';
import { AlertTransition, OUTBOX_PREFIX } from '../../schemas/alerts.ts';
import { SkeinError } from '../../schemas/errors.ts';
import { endpointUrlProblem, type NotifyConfig, type Route } from '../../schemas/notify-config.ts';
import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/logger.ts';
import { mapLimit } from '../core/map-limit.ts';
import { emfDocument, type MetricWriter } from '../core/metrics.ts';
import type { ObjectStore } from '../core/object-store.ts';
import { createRedactor, REDACTED, type TextRedactor } from '../core/redact.ts';
import { alertmanagerAlert } from './alertmanager-payload.ts';
import {
  type AttemptOutcome,
  classifyError,
  classifyResponse,
  type EndpointBreakers,
  endpointBreakers,
  retryDelayMs,
} from './delivery-policy.ts';
import {
  ALERT_STATE_PREFIX,
  AlertState,
  alertStateKey,
  type DeadLetter,
  DeliveryRecord,
  type DisabledEndpoint,
  DONE_NAME,
  deadLetterKey,
  deliveryKey,
  disabledKey,
  doneKey,
  GROUP_STATE_PREFIX,
  GroupState,
  groupStateKey,
  isDue,
  NOTIFY_PREFIX,
  outboxStem,
  putJson,
  putJsonIf,
  readJson,
  TERMINAL,
  type Versioned,
} from './delivery-store.ts';
import { allEndpoints, type Endpoint, receiverEndpoints } from './endpoints.ts';
import type { HttpResponse, HttpSender } from './http-sender.ts';
import { pagerDutyEvent } from './pagerduty-payload.ts';
import { routeAlert } from './routing.ts';
import { SecretError, type SecretProvider } from './secrets.ts';
import { slackMessage } from './slack-payload.ts';

/** What the notifier runs with: everything it touches is a parameter, so the same code runs on AWS, locally and in tests. */
export interface NotifyDeps {
  readonly store: ObjectStore;
  readonly config: NotifyConfig;
  readonly secrets: SecretProvider;
  readonly http: HttpSender;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Uniform in [0, 1): backoff jitter. */
  readonly random: () => number;
  /** EMF lines (stdout in Lambda); omitted: no metrics. */
  readonly metrics?: MetricWriter;
  /** Circuit breakers kept across invocations (module scope of the handler); omitted: fresh ones per call. */
  readonly breakers?: EndpointBreakers;
  readonly redactor?: TextRedactor;
}

export interface NotifyRequest {
  /** Outbox keys from an S3 event; omitted: scan for pending work and run the periodic re-sends. */
  readonly keys?: readonly string[];
}

/** Counts of one pass. `delivered + dead + disabled + pending` = `deliveries`. */
export interface NotifySummary {
  /** Outbox entries looked at. */
  transitions: number;
  /** (transition, endpoint) pairs they route to. */
  deliveries: number;
  delivered: number;
  dead: number;
  disabled: number;
  /** Not terminal yet: waiting for a retry, a group timer, an open breaker or another notifier's lease. */
  pending: number;
  /** Outbox entries that did not parse (dead-lettered as `_invalid`). */
  invalid: number;
  /** Alertmanager re-sends of firing alerts, and PagerDuty/Slack repeat notifications. */
  resent: number;
  repeated: number;
}

/** Metric names the notifier writes (namespace Skein). */
export const NOTIFY_METRICS = {
  delivered: 'NotificationsDelivered',
  deadLettered: 'DeadLettered',
  endpointDisabled: 'EndpointDisabled',
  pending: 'NotificationsPending',
} as const;

/** How long a claimed (transition, endpoint) stays ours: the sends of one pass fit well inside it. */
const LEASE_EXTRA_MS = 10_000;
/** Resolved alert states are kept this long (to recognise a late, stale firing transition), then deleted. */
const RESOLVED_STATE_RETENTION_MS = 24 * 3_600_000;
const READ_CONCURRENCY = 16;
const ERROR_EXCERPT_CHARS = 200;

interface Target {
  readonly endpoint: Endpoint;
  readonly route: Route;
  status: 'delivered' | 'dead' | 'disabled' | 'pending';
  record?: Versioned<DeliveryRecord>;
  /** The record exists but does not parse: overwritten conditionally on this ETag. */
  brokenEtag?: string;
}

interface Entry {
  readonly key: string;
  readonly stem: string;
  readonly transition: AlertTransition;
  readonly targets: Target[];
}

interface WorkItem {
  readonly entry: Entry;
  readonly target: Target;
}

interface Pass {
  readonly deps: NotifyDeps;
  readonly now: number;
  readonly breakers: EndpointBreakers;
  readonly redactor: TextRedactor;
  /** Every secret value read in this pass: scrubbed from error text on top of the redactor's patterns. */
  readonly secretValues: Set<string>;
  readonly disabled: Map<string, boolean>;
  readonly alertStates: Map<string, AlertState | undefined>;
  readonly summary: NotifySummary;
  readonly deadByEndpoint: Map<string, number>;
}

/**
 * One notifier pass: delivers the transitions of the given outbox keys (S3 event), or of every outbox entry not yet
 * done (scheduled run), to each endpoint their route matches — each at most once as the receiver sees it, retried
 * with backoff across passes, dead-lettered after the retry budget. A scheduled pass also re-sends firing alerts to
 * Alertmanager every `resend_interval` and repeats PagerDuty/Slack notifications of firing groups every
 * `repeat_interval`. Never throws for a failing endpoint; store failures propagate (the pass is safe to re-run).
 * @example await notifyOnce({ store, config, secrets, http: nodeHttpSender(), clock: Date.now, logger, random: Math.random }, {});
 */
export async function notifyOnce(deps: NotifyDeps, request: NotifyRequest = {}): Promise<NotifySummary> {
  const pass: Pass = {
    deps,
    now: deps.clock(),
    breakers: deps.breakers ?? endpointBreakers(deps.config.delivery),
    redactor: deps.redactor ?? createRedactor(),
    secretValues: new Set(),
    disabled: new Map(),
    alertStates: new Map(),
    summary: {
      transitions: 0,
      deliveries: 0,
      delivered: 0,
      dead: 0,
      disabled: 0,
      pending: 0,
      invalid: 0,
      resent: 0,
      repeated: 0,
    },
    deadByEndpoint: new Map(),
  };
  const keys = await candidateKeys(deps.store, request.keys);
  const entries = (await mapLimit(keys, READ_CONCURRENCY, (key) => loadEntry(pass, key))).filter(
    (e): e is Entry => e !== undefined,
  );
  pass.summary.transitions = entries.length + pass.summary.invalid;

  // Alert states first: a firing transition older than the alert's latest one is never sent.
  for (const entry of entries) await recordAlertState(pass, entry);

  const due = new Map<string, WorkItem[]>();
  await mapLimit(entries, READ_CONCURRENCY, async (entry) => {
    for (const target of entry.targets) {
      if (await classifyTarget(pass, entry, target)) {
        const list = due.get(target.endpoint.id) ?? [];
        list.push({ entry, target });
        due.set(target.endpoint.id, list);
      }
    }
  });

  // Endpoints in parallel; within one endpoint in outbox (time) order, so an alert's resolve follows its trigger.
  await Promise.all(
    [...due.values()].map((items) => {
      items.sort((a, b) => (a.entry.key < b.entry.key ? -1 : a.entry.key > b.entry.key ? 1 : 0));
      return deliverToEndpoint(pass, items);
    }),
  );

  for (const entry of entries) {
    let terminal = true;
    for (const t of entry.targets) {
      pass.summary.deliveries++;
      pass.summary[t.status]++;
      if (t.status === 'pending') terminal = false;
    }
    if (terminal) await putJson(deps.store, doneKey(entry.stem), { done_at: iso(pass.now) });
  }

  if (request.keys === undefined) {
    await resendFiringToAlertmanager(pass);
    await repeatGroups(pass);
  }
  emitMetrics(pass);
  deps.logger.info('notify pass', { ...pass.summary });
  return pass.summary;
}

async function candidateKeys(store: ObjectStore, keys: readonly string[] | undefined): Promise<string[]> {
  if (keys !== undefined)
    return [...new Set(keys.filter((k) => k.startsWith(OUTBOX_PREFIX) && k.endsWith('.json')))].sort();
  const [outbox, notify] = await Promise.all([store.list(OUTBOX_PREFIX), store.list(NOTIFY_PREFIX)]);
  const doneSuffix = `/${DONE_NAME}.json`;
  const done = new Set<string>();
  for (const k of notify) if (k.endsWith(doneSuffix)) done.add(k.slice(NOTIFY_PREFIX.length, -doneSuffix.length));
  return outbox.filter((k) => k.endsWith('.json') && !done.has(outboxStem(k)));
}

async function loadEntry(pass: Pass, key: string): Promise<Entry | undefined> {
  const { store, config, logger } = pass.deps;
  const stem = outboxStem(key);
  const body = await store.get(key);
  if (body === undefined) return undefined;
  let raw: unknown;
  let parsed: ReturnType<typeof AlertTransition.safeParse> | undefined;
  try {
    raw = JSON.parse(Buffer.from(body).toString('utf8'));
    parsed = AlertTransition.safeParse(raw);
  } catch {
    parsed = undefined;
  }
  if (!parsed?.success) {
    const error = parsed ? `invalid transition: ${parsed.error.issues[0]?.message ?? 'invalid'}` : 'not JSON';
    const letter: DeadLetter = {
      version: 1,
      outbox_key: key,
      endpoint: '_invalid',
      attempts: 0,
      last_error: error,
      dead_at: iso(pass.now),
      transition: null,
    };
    await putJson(store, deadLetterKey(stem, '_invalid'), letter);
    await putJson(store, doneKey(stem), { done_at: iso(pass.now), invalid: true });
    logger.error('outbox entry unreadable, dead-lettered', { outbox_key: key, error });
    pass.summary.invalid++;
    return undefined;
  }
  const transition = parsed.data;
  const labels =
    transition.route === undefined ? transition.labels : { ...transition.labels, __route__: transition.route };
  const targets: Target[] = [];
  const seen = new Set<string>();
  for (const route of routeAlert(config.route, labels)) {
    const receiver = config.receivers.get(route.receiver);
    if (!receiver) continue;
    for (const endpoint of receiverEndpoints(receiver)) {
      if (seen.has(endpoint.id)) continue;
      seen.add(endpoint.id);
      targets.push({ endpoint, route, status: 'pending' });
    }
  }
  return { key, stem, transition, targets };
}

/** Keeps `alerts/notify-state/alerts/<fingerprint>.json` at the alert's newest transition (conditional writes). */
async function recordAlertState(pass: Pass, entry: Entry): Promise<void> {
  const { store } = pass.deps;
  const t = entry.transition;
  for (let tries = 0; tries < 3; tries++) {
    const current = await readJson(store, alertStateKey(t.fingerprint), AlertState);
    const value = current && 'value' in current ? current.value : undefined;
    if (value && value.seq >= t.seq) {
      pass.alertStates.set(t.fingerprint, value);
      return;
    }
    const next: AlertState = {
      fingerprint: t.fingerprint,
      seq: t.seq,
      status: t.status,
      outbox_key: entry.key,
      updated_at: iso(pass.now),
      ...(t.status === 'firing' ? { last_resent_at: iso(pass.now) } : {}),
    };
    if (await putJsonIf(store, alertStateKey(t.fingerprint), next, current?.etag)) {
      pass.alertStates.set(t.fingerprint, next);
      return;
    }
  }
}

/** Reads the target's record: sets its final status when terminal (or disabled), true when it is due now. */
async function classifyTarget(pass: Pass, entry: Entry, target: Target): Promise<boolean> {
  const { store } = pass.deps;
  const key = deliveryKey(entry.stem, target.endpoint.id);
  const current = await readJson(store, key, DeliveryRecord);
  if (current && 'value' in current) {
    target.record = current;
    const status = current.value.status;
    if (TERMINAL.has(status)) {
      target.status = status as Target['status'];
      return false;
    }
  } else if (current) target.brokenEtag = current.etag;
  if (await isDisabled(pass, target.endpoint.id)) {
    const base = target.record?.value;
    const record: DeliveryRecord = {
      version: 1,
      outbox_key: entry.key,
      endpoint: target.endpoint.id,
      status: 'disabled',
      attempts: base?.attempts ?? 0,
      last_error: 'endpoint disabled',
    };
    if (await putJsonIf(store, key, record, target.record?.etag ?? target.brokenEtag)) target.status = 'disabled';
    return false;
  }
  return target.record === undefined || isDue(target.record.value, pass.now);
}

async function isDisabled(pass: Pass, endpointId: string): Promise<boolean> {
  let disabled = pass.disabled.get(endpointId);
  if (disabled === undefined) {
    disabled = (await pass.deps.store.get(disabledKey(endpointId))) !== undefined;
    pass.disabled.set(endpointId, disabled);
  }
  return disabled;
}

async function deliverToEndpoint(pass: Pass, items: WorkItem[]): Promise<void> {
  const first = items[0];
  if (!first) return;
  const endpoint = first.target.endpoint;
  if (endpoint.kind === 'alertmanager') {
    for (const item of items) await deliverBatch(pass, endpoint, [item]);
    return;
  }
  // PagerDuty and Slack: grouped. Retries of a batch already sent once are not held back by the group timers.
  const groups = new Map<string, { route: Route; items: WorkItem[] }>();
  for (const item of items) {
    const hash = groupHash(item.target.route, item.entry.transition);
    const group = groups.get(hash) ?? { route: item.target.route, items: [] };
    group.items.push(item);
    groups.set(hash, group);
  }
  for (const [hash, group] of groups) {
    const retries = group.items.filter((i) => (i.target.record?.value.attempts ?? 0) > 0);
    const fresh = group.items.filter((i) => (i.target.record?.value.attempts ?? 0) === 0);
    const ready = fresh.length > 0 && (await groupReady(pass, endpoint, hash, group.route));
    const batch = ready ? [...retries, ...fresh] : retries;
    if (batch.length === 0) continue;
    const delivered =
      endpoint.kind === 'slack'
        ? await deliverBatch(pass, endpoint, batch)
        : (await mapSeries(batch, (item) => deliverBatch(pass, endpoint, [item]))).flat();
    if (delivered.length > 0) await markGroupSent(pass, endpoint, hash, group.route, delivered);
  }
}

/** The group of a transition on a route: the route's position and its `group_by` label values (`...`: all labels). */
function groupHash(route: Route, t: AlertTransition): string {
  const parts = [route.path];
  if (route.groupBy.includes('...')) parts.push(t.fingerprint);
  else for (const name of route.groupBy) parts.push(`${name}=${t.labels[name] ?? ''}`);
  return createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 16);
}

/** True when a new notification of the group may go out now: `group_wait` after it appeared, then `group_interval`. */
async function groupReady(pass: Pass, endpoint: Endpoint, hash: string, route: Route): Promise<boolean> {
  const { store } = pass.deps;
  const key = groupStateKey(endpoint.id, hash);
  const current = await readJson(store, key, GroupState);
  if (!current || !('value' in current)) {
    const created: GroupState = { endpoint: endpoint.id, created_at: iso(pass.now), firing: {} };
    await putJsonIf(store, key, created, current?.etag);
    return route.groupWaitMs <= 0;
  }
  const g = current.value;
  if (g.last_sent_at === undefined) return pass.now >= Date.parse(g.created_at) + route.groupWaitMs;
  return pass.now >= Date.parse(g.last_sent_at) + route.groupIntervalMs;
}

async function markGroupSent(
  pass: Pass,
  endpoint: Endpoint,
  hash: string,
  route: Route,
  delivered: readonly WorkItem[],
): Promise<void> {
  const { store } = pass.deps;
  const key = groupStateKey(endpoint.id, hash);
  for (let tries = 0; tries < 3; tries++) {
    const current = await readJson(store, key, GroupState);
    const base = current && 'value' in current ? current.value : undefined;
    const firing = { ...(base?.firing ?? {}) };
    for (const { entry } of delivered) {
      if (entry.transition.status === 'firing') firing[entry.transition.fingerprint] = entry.key;
      else delete firing[entry.transition.fingerprint];
    }
    const next = {
      endpoint: endpoint.id,
      created_at: base?.created_at ?? iso(pass.now),
      last_sent_at: iso(pass.now),
      firing,
      repeat_interval_ms: route.repeatIntervalMs,
    };
    if (await putJsonIf(store, key, next, current?.etag)) return;
  }
}

/**
 * Claims each item (conditional write of `sending` with a lease), sends them as one notification (one alert for
 * Alertmanager and PagerDuty, one message for a Slack group), then records the outcome on every claimed item.
 * Returns the items delivered.
 */
async function deliverBatch(pass: Pass, endpoint: Endpoint, items: readonly WorkItem[]): Promise<WorkItem[]> {
  const { store, config, logger } = pass.deps;
  if (pass.breakers.isOpen(endpoint.id)) {
    logger.debug('circuit open, skipping', { endpoint: endpoint.id, pending: items.length });
    return [];
  }
  const claimed: { item: WorkItem; etag: string; previous: DeliveryRecord | undefined }[] = [];
  for (const item of items) {
    const previous = item.target.record?.value;
    const key = deliveryKey(item.entry.stem, endpoint.id);
    const sending: DeliveryRecord = {
      version: 1,
      outbox_key: item.entry.key,
      endpoint: endpoint.id,
      status: 'sending',
      attempts: previous?.attempts ?? 0,
      first_attempt_at: previous?.first_attempt_at ?? iso(pass.now),
      lease_until: iso(pass.now + config.delivery.timeoutMs * 2 + LEASE_EXTRA_MS),
      ...(previous?.last_error === undefined ? {} : { last_error: previous.last_error }),
    };
    const etag = await putJsonIf(store, key, sending, item.target.record?.etag ?? item.target.brokenEtag);
    if (etag === undefined) continue; // another notifier claimed it first: it is theirs to send.
    const t = item.entry.transition;
    const latest = pass.alertStates.get(t.fingerprint);
    if (t.status === 'firing' && latest !== undefined && latest.seq > t.seq) {
      item.target.status = 'delivered';
      await finish(pass, item, key, etag, {
        ...sending,
        status: 'delivered',
        delivered_at: iso(pass.now),
        superseded: true,
      });
      continue;
    }
    claimed.push({ item, etag, previous });
  }
  if (claimed.length === 0) return [];

  let response: HttpResponse | undefined;
  const outcome = await pass.breakers.run(endpoint.id, async () => {
    try {
      response = await send(
        pass,
        endpoint,
        claimed.map((c) => c.item.entry.transition),
      );
      return classifyResponse(response, pass.deps.clock());
    } catch (error) {
      return error instanceof SecretError ? { kind: 'retry', error: error.message } : classifyError(error);
    }
  });

  const delivered: WorkItem[] = [];
  for (const { item, etag, previous } of claimed) {
    const key = deliveryKey(item.entry.stem, endpoint.id);
    const base = {
      version: 1 as const,
      outbox_key: item.entry.key,
      endpoint: endpoint.id,
      first_attempt_at: previous?.first_attempt_at ?? iso(pass.now),
    };
    if (outcome === undefined) {
      // The breaker opened while this batch waited: give the claim back untouched.
      await finish(pass, item, key, etag, {
        ...base,
        status: 'pending',
        attempts: previous?.attempts ?? 0,
        next_attempt_at: iso(pass.now),
        ...(previous?.last_error === undefined ? {} : { last_error: previous.last_error }),
      });
      continue;
    }
    const attempts = (previous?.attempts ?? 0) + 1;
    if (outcome.kind === 'delivered') {
      item.target.status = 'delivered';
      await finish(pass, item, key, etag, { ...base, status: 'delivered', attempts, delivered_at: iso(pass.now) });
      delivered.push(item);
      logger.info('notification delivered', {
        endpoint: endpoint.id,
        outbox_key: item.entry.key,
        fingerprint: item.entry.transition.fingerprint,
        status: item.entry.transition.status,
        attempts,
      });
      continue;
    }
    const error = scrub(pass, errorText(outcome, response));
    if (outcome.kind === 'disable') {
      await disableEndpoint(pass, endpoint, error);
      item.target.status = 'disabled';
      await finish(pass, item, key, etag, { ...base, status: 'disabled', attempts, last_error: error });
      continue;
    }
    const age = pass.now - Date.parse(base.first_attempt_at);
    const budgetLeft = attempts < config.delivery.maxAttempts && age < config.delivery.maxAgeMs;
    if (outcome.kind === 'retry' && budgetLeft) {
      const delay = retryDelayMs(attempts, config.delivery, pass.deps.random, outcome.retryAfterMs);
      await finish(pass, item, key, etag, {
        ...base,
        status: 'pending',
        attempts,
        next_attempt_at: iso(pass.now + delay),
        last_error: error,
      });
      logger.warn('notification failed, will retry', {
        endpoint: endpoint.id,
        outbox_key: item.entry.key,
        attempts,
        retry_in_ms: delay,
        error,
      });
      continue;
    }
    await deadLetter(pass, item, endpoint, attempts, error);
    item.target.status = 'dead';
    await finish(pass, item, key, etag, { ...base, status: 'dead', attempts, last_error: error });
  }
  return delivered;
}

/** Writes the outcome over our claim; a lost lease (someone took over after it expired) is logged, not fatal. */
async function finish(pass: Pass, item: WorkItem, key: string, etag: string, record: DeliveryRecord): Promise<void> {
  const written = await putJsonIf(pass.deps.store, key, record, etag);
  if (written === undefined) {
    pass.deps.logger.warn('delivery record changed while sending (lease expired?)', {
      endpoint: record.endpoint,
      outbox_key: item.entry.key,
    });
    item.target.status = 'pending';
  }
}

async function deadLetter(pass: Pass, item: WorkItem, endpoint: Endpoint, attempts: number, error: string) {
  const letter: DeadLetter = {
    version: 1,
    outbox_key: item.entry.key,
    endpoint: endpoint.id,
    attempts,
    last_error: error,
    dead_at: iso(pass.now),
    transition: item.entry.transition,
  };
  await putJson(pass.deps.store, deadLetterKey(item.entry.stem, endpoint.id), letter);
  pass.deadByEndpoint.set(endpoint.id, (pass.deadByEndpoint.get(endpoint.id) ?? 0) + 1);
  pass.deps.logger.error('notification dead-lettered', {
    endpoint: endpoint.id,
    outbox_key: item.entry.key,
    fingerprint: item.entry.transition.fingerprint,
    attempts,
    error,
  });
}

async function disableEndpoint(pass: Pass, endpoint: Endpoint, error: string): Promise<void> {
  if (pass.disabled.get(endpoint.id) === true) return;
  pass.disabled.set(endpoint.id, true);
  const marker: DisabledEndpoint = { endpoint: endpoint.id, reason: error, disabled_at: iso(pass.now) };
  await putJsonIf(pass.deps.store, disabledKey(endpoint.id), marker, undefined);
  pass.deps.logger.error('endpoint disabled: it answered as gone; fix the configuration, then re-enable it', {
    endpoint: endpoint.id,
    error,
  });
  pass.deps.metrics?.(
    emfDocument(pass.now, { Endpoint: endpoint.id }, {}, [
      { name: NOTIFY_METRICS.endpointDisabled, unit: 'Count', value: 1 },
    ]),
  );
}

/** One HTTP call carrying `transitions` to `endpoint`; `repeat` marks a Slack re-notification ("still firing"). */
async function send(
  pass: Pass,
  endpoint: Endpoint,
  transitions: readonly AlertTransition[],
  repeat = false,
): Promise<HttpResponse> {
  const { config, http } = pass.deps;
  const common = { method: 'POST' as const, timeoutMs: config.delivery.timeoutMs };
  const headers = { 'content-type': 'application/json', 'user-agent': 'skein-notifier' };
  switch (endpoint.kind) {
    case 'alertmanager': {
      const alerts = transitions.map((t) =>
        alertmanagerAlert(t, {
          nowMs: pass.now,
          resendIntervalMs: config.delivery.resendIntervalMs,
          queryUrlTemplate: config.queryUrlTemplate,
          redactor: pass.redactor,
        }),
      );
      return http.send({ ...common, url: alertsUrl(endpoint.url ?? ''), headers, body: JSON.stringify(alerts) });
    }
    case 'pagerduty': {
      const pd = endpoint.receiver.pagerduty;
      const t = transitions[0];
      if (!pd || !t || transitions.length !== 1) throw new Error('one PagerDuty event per call');
      const routingKey = await secret(pass, pd.routingKeySecret);
      const event = pagerDutyEvent(t, {
        routingKey,
        severityMap: pd.severityMap,
        queryUrlTemplate: config.queryUrlTemplate,
        redactor: pass.redactor,
      });
      return http.send({ ...common, url: pd.url, headers, body: JSON.stringify(event) });
    }
    case 'slack': {
      const slack = endpoint.receiver.slack;
      if (!slack) throw new Error('no slack settings');
      const url = await secret(pass, slack.webhookUrlSecret);
      const problem = endpointUrlProblem(url, config.allowedHosts, config.allowLoopbackHttp);
      if (problem) throw refused(slack.webhookUrlSecret, problem);
      const message = slackMessage(transitions, {
        channel: slack.channel,
        queryUrlTemplate: config.queryUrlTemplate,
        redactor: pass.redactor,
        repeat,
      });
      return http.send({ ...common, url, headers, body: JSON.stringify(message) });
    }
  }
}

/** A webhook URL from a secret that the allowlist or the https rule refuses: permanent, so dead-lettered. */
function refused(secretId: string, problem: string): SkeinError {
  return new SkeinError('endpoint_refused', `webhook URL in secret ${secretId} refused: ${problem}`);
}

async function secret(pass: Pass, id: string): Promise<string> {
  const value = await pass.deps.secrets.get(id);
  if (value.length >= 4) pass.secretValues.add(value);
  return value;
}

function alertsUrl(base: string): string {
  return `${base.replace(/\/+$/, '')}/api/v2/alerts`;
}

/** The outcome's error plus a short excerpt of the response body (what a 400 says is wrong). */
function errorText(outcome: AttemptOutcome, response: HttpResponse | undefined): string {
  const error = 'error' in outcome ? outcome.error : 'failed';
  if (!response || response.body.trim() === '' || outcome.kind === 'retry') return error;
  const excerpt = response.body.replace(/\s+/g, ' ').trim().slice(0, ERROR_EXCERPT_CHARS);
  return `${error}: ${excerpt}`;
}

/** Secret-looking text and every secret value this pass read, replaced by `[REDACTED]`. */
function scrub(pass: Pass, text: string): string {
  let out = pass.redactor.redactText(text);
  for (const value of pass.secretValues) out = out.replaceAll(value, REDACTED);
  return out;
}

/**
 * Alertmanager forgets an alert at its `endsAt`: firing alerts are re-sent every `resend_interval` with `endsAt`
 * pushed ahead. The alert state's `last_resent_at` is advanced by a conditional write before sending, so concurrent
 * notifiers re-send once per interval; a failed re-send is logged and repeated at the next interval (the delivery
 * of the transition itself is tracked by its record).
 */
async function resendFiringToAlertmanager(pass: Pass): Promise<void> {
  const { store, config, logger } = pass.deps;
  const keys = await store.list(ALERT_STATE_PREFIX);
  const endpoints = allEndpoints(config);
  await mapLimit(keys, READ_CONCURRENCY, async (key) => {
    const current = await readJson(store, key, AlertState);
    if (!current || !('value' in current)) return;
    const state = current.value;
    if (state.status === 'resolved') {
      if (pass.now - Date.parse(state.updated_at) > RESOLVED_STATE_RETENTION_MS) await store.delete(key);
      return;
    }
    const last = Date.parse(state.last_resent_at ?? state.updated_at);
    if (pass.now < last + config.delivery.resendIntervalMs) return;
    const body = await store.get(state.outbox_key);
    const parsed = body ? AlertTransition.safeParse(safeJson(body)) : undefined;
    if (!parsed?.success) return;
    const t = parsed.data;
    const targets = alertmanagerTargets(config, t, endpoints);
    if (targets.length === 0) return;
    if (!(await putJsonIf(store, key, { ...state, last_resent_at: iso(pass.now) }, current.etag))) return;
    for (const endpoint of targets) {
      if ((await isDisabled(pass, endpoint.id)) || pass.breakers.isOpen(endpoint.id)) continue;
      const outcome = await pass.breakers.run(endpoint.id, async () => {
        try {
          return classifyResponse(await send(pass, endpoint, [t]), pass.deps.clock());
        } catch (error) {
          return classifyError(error);
        }
      });
      if (outcome?.kind === 'delivered') pass.summary.resent++;
      else
        logger.warn('alertmanager re-send failed', {
          endpoint: endpoint.id,
          fingerprint: t.fingerprint,
          error: outcome && 'error' in outcome ? outcome.error : 'circuit open',
        });
    }
  });
}

function alertmanagerTargets(config: NotifyConfig, t: AlertTransition, endpoints: Map<string, Endpoint>): Endpoint[] {
  const labels = t.route === undefined ? t.labels : { ...t.labels, __route__: t.route };
  const out = new Map<string, Endpoint>();
  for (const route of routeAlert(config.route, labels)) {
    const receiver = config.receivers.get(route.receiver);
    if (!receiver) continue;
    for (const e of receiverEndpoints(receiver)) if (e.kind === 'alertmanager') out.set(e.id, endpoints.get(e.id) ?? e);
  }
  return [...out.values()];
}

/**
 * PagerDuty and Slack groups with firing alerts are notified again every `repeat_interval` (Alertmanager's
 * semantics): a Slack message "still firing", PagerDuty triggers with the same `dedup_key` (PagerDuty keeps one
 * incident). Best effort: a failed repeat is logged and tried at the next interval.
 */
async function repeatGroups(pass: Pass): Promise<void> {
  const { store, config, logger } = pass.deps;
  const endpoints = allEndpoints(config);
  const keys = await store.list(GROUP_STATE_PREFIX);
  await mapLimit(keys, READ_CONCURRENCY, async (key) => {
    const current = await readJson(store, key, GroupState);
    if (!current || !('value' in current)) return;
    const g = current.value;
    const endpoint = endpoints.get(g.endpoint);
    const fingerprints = Object.keys(g.firing);
    const repeatMs = g.repeat_interval_ms ?? 4 * 3_600_000;
    if (g.last_sent_at === undefined) return;
    const dueAt = Date.parse(g.last_sent_at) + repeatMs;
    if (fingerprints.length === 0) {
      if (pass.now >= dueAt) await store.delete(key);
      return;
    }
    if (!endpoint || pass.now < dueAt) return;
    if ((await isDisabled(pass, endpoint.id)) || pass.breakers.isOpen(endpoint.id)) return;
    const transitions: AlertTransition[] = [];
    for (const fp of fingerprints) {
      const outboxKey = g.firing[fp];
      const state = pass.alertStates.get(fp) ?? (await readAlertState(store, fp));
      if (!outboxKey || state?.status !== 'firing') continue;
      const body = await store.get(outboxKey);
      const parsed = body ? AlertTransition.safeParse(safeJson(body)) : undefined;
      if (parsed?.success) transitions.push(parsed.data);
    }
    if (!(await putJsonIf(store, key, { ...g, last_sent_at: iso(pass.now) }, current.etag))) return;
    if (transitions.length === 0) return;
    const batches = endpoint.kind === 'slack' ? [transitions] : transitions.map((t) => [t]);
    for (const batch of batches) {
      const outcome = await pass.breakers.run(endpoint.id, async () => {
        try {
          return classifyResponse(await send(pass, endpoint, batch, true), pass.deps.clock());
        } catch (error) {
          return classifyError(error);
        }
      });
      if (outcome?.kind === 'delivered') pass.summary.repeated++;
      else
        logger.warn('repeat notification failed', {
          endpoint: endpoint.id,
          error: outcome && 'error' in outcome ? scrub(pass, outcome.error) : 'circuit open',
        });
    }
  });
}

async function readAlertState(store: ObjectStore, fingerprint: string): Promise<AlertState | undefined> {
  const got = await readJson(store, alertStateKey(fingerprint), AlertState);
  return got && 'value' in got ? got.value : undefined;
}

function emitMetrics(pass: Pass): void {
  const write = pass.deps.metrics;
  if (!write) return;
  const s = pass.summary;
  write(
    emfDocument(pass.now, {}, {}, [
      { name: NOTIFY_METRICS.delivered, unit: 'Count', value: s.delivered },
      {
        name: NOTIFY_METRICS.deadLettered,
        unit: 'Count',
        value: [...pass.deadByEndpoint.values()].reduce((a, b) => a + b, 0),
      },
      { name: NOTIFY_METRICS.pending, unit: 'Count', value: s.pending },
    ]),
  );
  for (const [endpoint, count] of pass.deadByEndpoint)
    write(
      emfDocument(pass.now, { Endpoint: endpoint }, {}, [
        { name: NOTIFY_METRICS.deadLettered, unit: 'Count', value: count },
      ]),
    );
}

function safeJson(body: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(body).toString('utf8'));
  } catch {
    return undefined;
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

async function mapSeries<T, R>(items: readonly T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (const item of items) out.push(await fn(item));
  return out;
}
