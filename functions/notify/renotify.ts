import type { z } from 'zod';
import type { AlertTransition } from '../../schemas/alerts.ts';
import { mapLimit } from '../core/map-limit.ts';
import { readAlertState } from './alert-states.ts';
import {
  ALERT_STATE_PREFIX,
  AlertState,
  GROUP_STATE_PREFIX,
  GroupState,
  putJsonIf,
  readJson,
} from './delivery-store.ts';
import { allEndpoints, type Endpoint } from './endpoints.ts';
import { isDisabled, iso, type Pass, READ_CONCURRENCY, scrub } from './notify-pass.ts';
import { readTransition } from './outbox.ts';
import { routedEndpoints } from './routing.ts';
import { attemptSend } from './senders.ts';

/** Resolved alert states are kept this long (to recognise a late, stale firing transition), then deleted. */
const RESOLVED_STATE_RETENTION_MS = 24 * 3_600_000;
/** A group state written before groups recorded their route's `repeat_interval`: Alertmanager's default. */
const DEFAULT_REPEAT_INTERVAL_MS = 4 * 3_600_000;

/** What one stored state calls for now: the notifications to send again, and the state that records them sent. */
interface Renotification<S> {
  readonly endpoints: readonly Endpoint[];
  /** Each batch is one notification (per endpoint). */
  readonly batches: readonly (readonly AlertTransition[])[];
  readonly advanced: S;
}

/** A kind of stored state whose firing alerts are notified again on a timer. */
interface RenotifySource<S> {
  readonly prefix: string;
  readonly schema: z.ZodType<S>;
  /** The summary counter a successful send adds to, and the warning a failed one logs. */
  readonly counter: 'resent' | 'repeated';
  readonly failure: string;
  /** What is due for the state at `key` (clean-up of finished states happens here); `undefined`: nothing now. */
  plan(pass: Pass, key: string, state: S): Promise<Renotification<S> | undefined>;
}

/**
 * Alertmanager forgets an alert at its `endsAt`: firing alerts are re-sent every `resend_interval` with `endsAt`
 * pushed ahead, to every Alertmanager endpoint their route matches.
 */
const alertmanagerResends: RenotifySource<AlertState> = {
  prefix: ALERT_STATE_PREFIX,
  schema: AlertState,
  counter: 'resent',
  failure: 'alertmanager re-send failed',
  async plan(pass, key, state) {
    const { store, config } = pass.deps;
    if (state.status === 'resolved') {
      if (pass.now - Date.parse(state.updated_at) > RESOLVED_STATE_RETENTION_MS) await store.delete(key);
      return undefined;
    }
    const last = Date.parse(state.last_resent_at ?? state.updated_at);
    if (pass.now < last + config.delivery.resendIntervalMs) return undefined;
    const t = await readTransition(store, state.outbox_key);
    if (t === undefined) return undefined;
    const endpoints = routedEndpoints(config, t)
      .map((r) => r.endpoint)
      .filter((e) => e.kind === 'alertmanager');
    if (endpoints.length === 0) return undefined;
    return { endpoints, batches: [[t]], advanced: { ...state, last_resent_at: iso(pass.now) } };
  },
};

/**
 * PagerDuty and Slack groups with firing alerts are notified again every `repeat_interval` (Alertmanager's
 * semantics): a Slack message "still firing", PagerDuty triggers with the same `dedup_key` (PagerDuty keeps one
 * incident). A group that no longer fires is deleted once its interval has passed.
 */
const groupRepeats: RenotifySource<GroupState> = {
  prefix: GROUP_STATE_PREFIX,
  schema: GroupState,
  counter: 'repeated',
  failure: 'repeat notification failed',
  async plan(pass, key, g) {
    const { store, config } = pass.deps;
    if (g.last_sent_at === undefined) return undefined;
    const dueAt = Date.parse(g.last_sent_at) + (g.repeat_interval_ms ?? DEFAULT_REPEAT_INTERVAL_MS);
    const fingerprints = Object.keys(g.firing);
    if (fingerprints.length === 0) {
      if (pass.now >= dueAt) await store.delete(key);
      return undefined;
    }
    const endpoint = allEndpoints(config).get(g.endpoint);
    if (!endpoint || pass.now < dueAt) return undefined;
    // Not advanced while the endpoint cannot be reached: the repeat goes out once it can.
    if ((await isDisabled(pass, endpoint.id)) || pass.breakers.isOpen(endpoint.id)) return undefined;
    const transitions: AlertTransition[] = [];
    for (const fp of fingerprints) {
      const outboxKey = g.firing[fp];
      const state = pass.alertStates.get(fp) ?? (await readAlertState(store, fp));
      if (!outboxKey || state?.status !== 'firing') continue;
      const t = await readTransition(store, outboxKey);
      if (t !== undefined) transitions.push(t);
    }
    const batches = endpoint.kind === 'slack' ? [transitions] : transitions.map((t) => [t]);
    return {
      endpoints: [endpoint],
      batches: transitions.length === 0 ? [] : batches,
      advanced: { ...g, last_sent_at: iso(pass.now) },
    };
  },
};

/**
 * The scheduled pass's re-notifications of firing alerts: Alertmanager re-sends, then PagerDuty/Slack repeats. Each
 * state is advanced by a conditional write before sending, so concurrent notifiers send once per interval. Best
 * effort: a failed send is logged (scrubbed) and tried again at the next interval; the delivery of the transition
 * itself is tracked by its record.
 */
export async function renotifyFiring(pass: Pass): Promise<void> {
  await renotifyFrom(pass, alertmanagerResends);
  await renotifyFrom(pass, groupRepeats);
}

async function renotifyFrom<S>(pass: Pass, source: RenotifySource<S>): Promise<void> {
  const { store } = pass.deps;
  const keys = await store.list(source.prefix);
  await mapLimit(keys, READ_CONCURRENCY, async (key) => {
    const current = await readJson(store, key, source.schema);
    if (!current || !('value' in current)) return;
    const due = await source.plan(pass, key, current.value);
    if (!due) return;
    if (!(await putJsonIf(store, key, due.advanced, current.etag))) return;
    for (const endpoint of due.endpoints) await sendAgain(pass, endpoint, due.batches, source);
  });
}

/** The one send path of every re-notification: through the breaker, counted when delivered, else logged scrubbed. */
async function sendAgain<S>(
  pass: Pass,
  endpoint: Endpoint,
  batches: readonly (readonly AlertTransition[])[],
  source: RenotifySource<S>,
): Promise<void> {
  if (batches.length === 0) return;
  if ((await isDisabled(pass, endpoint.id)) || pass.breakers.isOpen(endpoint.id)) return;
  for (const batch of batches) {
    const { outcome } = await attemptSend(pass, endpoint, batch, source.counter === 'repeated');
    if (outcome?.kind === 'delivered') {
      pass.summary[source.counter]++;
      continue;
    }
    const only = batch.length === 1 ? batch[0] : undefined;
    pass.deps.logger.warn(source.failure, {
      endpoint: endpoint.id,
      ...(only ? { fingerprint: only.fingerprint } : {}),
      error: outcome && 'error' in outcome ? scrub(pass, outcome.error) : 'circuit open',
    });
  }
}
