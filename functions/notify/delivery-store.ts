import { z } from 'zod';
import { AlertTransition, OUTBOX_PREFIX } from '../../schemas/alerts.ts';
import type { ObjectStore } from '../core/object-store.ts';

/**
 * Delivery state, next to the outbox so a crash or a redelivered event loses nothing. Every write that decides who
 * sends is conditional (`putIf`): two notifiers never both claim one (transition, endpoint).
 *
 * - `alerts/notify/<outbox stem>/<endpoint id>.json`: one {@link DeliveryRecord} per transition and endpoint;
 * - `alerts/notify/<outbox stem>/_done.json`: every routed endpoint of the transition is terminal (a scan skips it);
 * - `alerts/dead-letter/<outbox stem>/<endpoint id>.json`: a {@link DeadLetter};
 * - `alerts/notify-state/endpoints/<endpoint id>.json`: the endpoint is disabled (it answered 404/410);
 * - `alerts/notify-state/alerts/<fingerprint>.json`: the latest transition of an alert, for Alertmanager re-sends
 *   and for skipping stale firing transitions;
 * - `alerts/notify-state/groups/<endpoint id>/<group hash>.json`: grouping timers for PagerDuty and Slack.
 */
export const NOTIFY_PREFIX = 'alerts/notify/';
export const DEAD_LETTER_PREFIX = 'alerts/dead-letter/';
export const NOTIFY_STATE_PREFIX = 'alerts/notify-state/';
export const DISABLED_PREFIX = `${NOTIFY_STATE_PREFIX}endpoints/`;
export const ALERT_STATE_PREFIX = `${NOTIFY_STATE_PREFIX}alerts/`;
export const GROUP_STATE_PREFIX = `${NOTIFY_STATE_PREFIX}groups/`;
export const DONE_NAME = '_done';

const JSON_TYPE = 'application/json';

export const DeliveryStatus = z.enum(['sending', 'pending', 'delivered', 'dead', 'disabled']);
export type DeliveryStatus = z.infer<typeof DeliveryStatus>;
export const TERMINAL: ReadonlySet<DeliveryStatus> = new Set(['delivered', 'dead', 'disabled']);

export const DeliveryRecord = z.object({
  version: z.literal(1),
  outbox_key: z.string(),
  endpoint: z.string(),
  status: DeliveryStatus,
  /** Attempts that reached the endpoint (or failed trying). */
  attempts: z.number().int().nonnegative(),
  first_attempt_at: z.string().optional(),
  /** `pending`: not before this time. */
  next_attempt_at: z.string().optional(),
  /** `sending`: claimed by a notifier until this time; after it, another may take over (the sender crashed). */
  lease_until: z.string().optional(),
  /** Redacted, never holds a URL or key. */
  last_error: z.string().optional(),
  delivered_at: z.string().optional(),
  /** `delivered` without sending: a newer transition of the same alert had already been sent. */
  superseded: z.boolean().optional(),
});
export type DeliveryRecord = z.infer<typeof DeliveryRecord>;

export const DeadLetter = z.object({
  version: z.literal(1),
  outbox_key: z.string(),
  endpoint: z.string(),
  attempts: z.number().int().nonnegative(),
  last_error: z.string(),
  dead_at: z.string(),
  /** The transition, or `null` when the outbox entry itself was unreadable. */
  transition: AlertTransition.nullable(),
});
export type DeadLetter = z.infer<typeof DeadLetter>;

export const DisabledEndpoint = z.object({ endpoint: z.string(), reason: z.string(), disabled_at: z.string() });
export type DisabledEndpoint = z.infer<typeof DisabledEndpoint>;

export const AlertState = z.object({
  fingerprint: z.string(),
  seq: z.number().int().positive(),
  status: z.enum(['firing', 'resolved']),
  outbox_key: z.string(),
  updated_at: z.string(),
  last_resent_at: z.string().optional(),
});
export type AlertState = z.infer<typeof AlertState>;

export const GroupState = z.object({
  endpoint: z.string(),
  created_at: z.string(),
  last_sent_at: z.string().optional(),
  /** Firing alerts of the group: fingerprint → outbox key of its firing transition. */
  firing: z.record(z.string(), z.string()),
  /** The route's repeat_interval when the group was last notified. */
  repeat_interval_ms: z.number().int().nonnegative().optional(),
});
export type GroupState = z.infer<typeof GroupState>;

/** `alerts/outbox/2026-11-25T2130Z-…-000001.json` → `2026-11-25T2130Z-…-000001`. */
export function outboxStem(outboxKey: string): string {
  const name = outboxKey.startsWith(OUTBOX_PREFIX) ? outboxKey.slice(OUTBOX_PREFIX.length) : outboxKey;
  return name.endsWith('.json') ? name.slice(0, -'.json'.length) : name;
}

export const deliveryKey = (stem: string, endpoint: string) => `${NOTIFY_PREFIX}${stem}/${endpoint}.json`;
export const doneKey = (stem: string) => `${NOTIFY_PREFIX}${stem}/${DONE_NAME}.json`;
export const deadLetterKey = (stem: string, endpoint: string) => `${DEAD_LETTER_PREFIX}${stem}/${endpoint}.json`;
export const disabledKey = (endpoint: string) => `${DISABLED_PREFIX}${endpoint}.json`;
export const alertStateKey = (fingerprint: string) => `${ALERT_STATE_PREFIX}${fingerprint}.json`;
export const groupStateKey = (endpoint: string, hash: string) => `${GROUP_STATE_PREFIX}${endpoint}/${hash}.json`;

/** A stored JSON document and its ETag (for the next conditional write). */
export interface Versioned<T> {
  readonly value: T;
  readonly etag: string;
}

/**
 * The document at `key` parsed with `schema`; `undefined` when absent. A document that does not parse is returned
 * as `invalid` so callers can overwrite it conditionally instead of failing forever.
 */
export async function readJson<T>(
  store: ObjectStore,
  key: string,
  schema: z.ZodType<T>,
): Promise<Versioned<T> | { readonly invalid: true; readonly etag: string } | undefined> {
  const got = await store.getVersioned(key);
  if (!got) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(got.body).toString('utf8'));
  } catch {
    return { invalid: true, etag: got.etag };
  }
  const parsed = schema.safeParse(raw);
  return parsed.success ? { value: parsed.data, etag: got.etag } : { invalid: true, etag: got.etag };
}

/** Conditional JSON write: the new ETag, or `undefined` when someone else wrote first. */
export function putJsonIf(
  store: ObjectStore,
  key: string,
  value: unknown,
  etag: string | undefined,
): Promise<string | undefined> {
  const body = Buffer.from(JSON.stringify(value));
  return store.putIf(key, body, JSON_TYPE, etag === undefined ? { ifNoneMatch: '*' } : { ifMatch: etag });
}

/** Unconditional JSON write (dead letters, done markers: idempotent by key). */
export function putJson(store: ObjectStore, key: string, value: unknown): Promise<void> {
  return store.put(key, Buffer.from(JSON.stringify(value)), JSON_TYPE);
}

/** True when the record may be claimed at `nowMs`: pending and due, or a sender's lease ran out. */
export function isDue(record: DeliveryRecord, nowMs: number): boolean {
  if (record.status === 'pending')
    return record.next_attempt_at === undefined || Date.parse(record.next_attempt_at) <= nowMs;
  if (record.status === 'sending') return record.lease_until === undefined || Date.parse(record.lease_until) <= nowMs;
  return false;
}
