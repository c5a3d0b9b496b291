import { AlertTransition, OUTBOX_PREFIX } from '../../schemas/alerts.ts';
import type { ObjectStore } from '../core/object-store.ts';
import {
  DEAD_LETTER_PREFIX,
  DeadLetter,
  DeliveryRecord,
  DISABLED_PREFIX,
  DisabledEndpoint,
  DONE_NAME,
  deadLetterKey,
  deliveryKey,
  doneKey,
  NOTIFY_PREFIX,
  outboxStem,
  putJsonIf,
  readJson,
} from './delivery-store.ts';

/** One outbox entry and where its deliveries stand. */
export interface OutboxEntryStatus {
  readonly key: string;
  readonly transition?: AlertTransition;
  readonly done: boolean;
  /** Per endpoint id: its record, as far as one exists (none yet: not picked up). */
  readonly deliveries: Readonly<Record<string, DeliveryRecord>>;
}

/**
 * The outbox with each entry's delivery records, oldest first; entries all of whose deliveries are terminal are left
 * out unless `all`.
 */
export async function listOutbox(store: ObjectStore, options: { all?: boolean } = {}): Promise<OutboxEntryStatus[]> {
  const [outbox, notify] = await Promise.all([store.list(OUTBOX_PREFIX), store.list(NOTIFY_PREFIX)]);
  const byStem = new Map<string, string[]>();
  for (const key of notify) {
    const rest = key.slice(NOTIFY_PREFIX.length);
    const slash = rest.indexOf('/');
    if (slash < 0) continue;
    const stem = rest.slice(0, slash);
    const list = byStem.get(stem) ?? [];
    list.push(rest.slice(slash + 1, -'.json'.length));
    byStem.set(stem, list);
  }
  const out: OutboxEntryStatus[] = [];
  for (const key of outbox) {
    const stem = outboxStem(key);
    const names = byStem.get(stem) ?? [];
    const done = names.includes(DONE_NAME);
    if (done && !options.all) continue;
    const deliveries: Record<string, DeliveryRecord> = {};
    for (const name of names) {
      if (name === DONE_NAME) continue;
      const got = await readJson(store, deliveryKey(stem, name), DeliveryRecord);
      if (got && 'value' in got) deliveries[name] = got.value;
    }
    const body = await store.get(key);
    const parsed = body ? AlertTransition.safeParse(parseJson(body)) : undefined;
    out.push({ key, done, deliveries, ...(parsed?.success ? { transition: parsed.data } : {}) });
  }
  return out;
}

/** Every dead letter, oldest first, with its key. */
export async function listDeadLetters(store: ObjectStore): Promise<{ key: string; letter: DeadLetter }[]> {
  const out: { key: string; letter: DeadLetter }[] = [];
  for (const key of await store.list(DEAD_LETTER_PREFIX)) {
    const got = await readJson(store, key, DeadLetter);
    if (got && 'value' in got) out.push({ key, letter: got.value });
  }
  return out;
}

/** Endpoints disabled because they answered 404/410. */
export async function listDisabledEndpoints(store: ObjectStore): Promise<DisabledEndpoint[]> {
  const out: DisabledEndpoint[] = [];
  for (const key of await store.list(DISABLED_PREFIX)) {
    const got = await readJson(store, key, DisabledEndpoint);
    if (got && 'value' in got) out.push(got.value);
  }
  return out;
}

/**
 * Re-drives dead letters: each one's delivery record goes back to `pending` with a fresh retry budget (conditional
 * write), the dead letter and the entry's done marker are removed, so the next scheduled notifier pass sends it again.
 * `target` is an outbox key, an outbox file stem, a dead-letter key, or `all`. Returns the dead-letter keys re-driven.
 */
export async function redriveDeadLetters(store: ObjectStore, target: string | 'all', nowMs: number): Promise<string[]> {
  const letters = await listDeadLetters(store);
  const wanted =
    target === 'all'
      ? letters
      : letters.filter(
          ({ key, letter }) =>
            key === target || letter.outbox_key === target || outboxStem(letter.outbox_key) === target,
        );
  const done: string[] = [];
  for (const { key, letter } of wanted) {
    const stem = outboxStem(letter.outbox_key);
    if (letter.endpoint !== '_invalid') {
      const recordKey = deliveryKey(stem, letter.endpoint);
      const current = await readJson(store, recordKey, DeliveryRecord);
      if (current && 'value' in current && current.value.status !== 'dead') continue;
      const reset: DeliveryRecord = {
        version: 1,
        outbox_key: letter.outbox_key,
        endpoint: letter.endpoint,
        status: 'pending',
        attempts: 0,
        next_attempt_at: new Date(nowMs).toISOString(),
        last_error: `re-driven after: ${letter.last_error}`,
      };
      if (!(await putJsonIf(store, recordKey, reset, current?.etag))) continue;
    }
    await store.delete(deadLetterKey(stem, letter.endpoint));
    await store.delete(doneKey(stem));
    done.push(key);
  }
  return done;
}

function parseJson(body: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(body).toString('utf8'));
  } catch {
    return undefined;
  }
}
