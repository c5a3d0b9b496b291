import { type AttemptOutcome, retryDelayMs } from './delivery-policy.ts';
import {
  type DeadLetter,
  DeliveryRecord,
  type DisabledEndpoint,
  deadLetterKey,
  deliveryKey,
  disabledKey,
  isDue,
  putJson,
  putJsonIf,
  readJson,
  TERMINAL,
} from './delivery-store.ts';
import type { Endpoint } from './endpoints.ts';
import type { HttpResponse } from './http-sender.ts';
import { writeEndpointDisabled } from './notify-metrics.ts';
import { type Entry, isDisabled, iso, type Pass, scrub, type Target, type WorkItem } from './notify-pass.ts';

/** How long a claimed (transition, endpoint) stays ours: the sends of one pass fit well inside it. */
const LEASE_EXTRA_MS = 10_000;
const ERROR_EXCERPT_CHARS = 200;

/** A work item this pass holds the claim on: the claim's ETag and the record it replaced. */
export interface Claim {
  readonly item: WorkItem;
  readonly etag: string;
  readonly previous: DeliveryRecord | undefined;
}

/** Reads the target's record: sets its final status when terminal (or disabled), true when it is due now. */
export async function classifyTarget(pass: Pass, entry: Entry, target: Target): Promise<boolean> {
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

/**
 * Claims each item (conditional write of `sending` with a lease). An item another notifier claimed first is left to
 * it; a firing transition older than the alert's latest one is recorded delivered (superseded) without sending.
 * Returns the claims to send.
 */
export async function claimItems(pass: Pass, endpoint: Endpoint, items: readonly WorkItem[]): Promise<Claim[]> {
  const { store, config } = pass.deps;
  const claimed: Claim[] = [];
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
  return claimed;
}

/**
 * Records one attempt's outcome on every claim: delivered; given back untouched when the breaker refused the
 * attempt; retried with backoff while the budget lasts; else dead-lettered, or the endpoint disabled when it
 * answered as gone. Error text is scrubbed before it is stored or logged. Returns the items delivered.
 */
export async function recordOutcome(
  pass: Pass,
  endpoint: Endpoint,
  claims: readonly Claim[],
  outcome: AttemptOutcome | undefined,
  response: HttpResponse | undefined,
): Promise<WorkItem[]> {
  const { config, logger } = pass.deps;
  const delivered: WorkItem[] = [];
  for (const { item, etag, previous } of claims) {
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
  if (pass.deps.metrics) writeEndpointDisabled(pass.deps.metrics, pass.now, endpoint.id);
}

/** The outcome's error plus a short excerpt of the response body (what a 400 says is wrong). */
function errorText(outcome: AttemptOutcome, response: HttpResponse | undefined): string {
  const error = 'error' in outcome ? outcome.error : 'failed';
  if (!response || response.body.trim() === '' || outcome.kind === 'retry') return error;
  const excerpt = response.body.replace(/\s+/g, ' ').trim().slice(0, ERROR_EXCERPT_CHARS);
  return `${error}: ${excerpt}`;
}
