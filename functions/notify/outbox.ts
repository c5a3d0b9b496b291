import { AlertTransition, OUTBOX_PREFIX } from '../../schemas/alerts.ts';
import type { ObjectStore } from '../core/object-store.ts';
import {
  type DeadLetter,
  DONE_NAME,
  deadLetterKey,
  doneKey,
  NOTIFY_PREFIX,
  outboxStem,
  putJson,
} from './delivery-store.ts';
import { type Entry, iso, type Pass } from './notify-pass.ts';
import { routedEndpoints } from './routing.ts';

/**
 * The outbox keys a pass looks at: those of an S3 event (outbox JSON objects only, each once, in time order), or,
 * for a scheduled scan, every outbox entry without a done marker.
 */
export async function candidateKeys(store: ObjectStore, keys: readonly string[] | undefined): Promise<string[]> {
  if (keys !== undefined)
    return [...new Set(keys.filter((k) => k.startsWith(OUTBOX_PREFIX) && k.endsWith('.json')))].sort();
  const [outbox, notify] = await Promise.all([store.list(OUTBOX_PREFIX), store.list(NOTIFY_PREFIX)]);
  const doneSuffix = `/${DONE_NAME}.json`;
  const done = new Set<string>();
  for (const k of notify) if (k.endsWith(doneSuffix)) done.add(k.slice(NOTIFY_PREFIX.length, -doneSuffix.length));
  return outbox.filter((k) => k.endsWith('.json') && !done.has(outboxStem(k)));
}

/**
 * The outbox entry at `key` with every endpoint its route matches; `undefined` when it is gone, or when it does not
 * parse: then it is dead-lettered as `_invalid`, marked done and counted.
 */
export async function loadEntry(pass: Pass, key: string): Promise<Entry | undefined> {
  const { store, config, logger } = pass.deps;
  const stem = outboxStem(key);
  const body = await store.get(key);
  if (body === undefined) return undefined;
  const parsed = parseTransition(body);
  if (!parsed.ok) {
    const letter: DeadLetter = {
      version: 1,
      outbox_key: key,
      endpoint: '_invalid',
      attempts: 0,
      last_error: parsed.reason,
      dead_at: iso(pass.now),
      transition: null,
    };
    await putJson(store, deadLetterKey(stem, '_invalid'), letter);
    await putJson(store, doneKey(stem), { done_at: iso(pass.now), invalid: true });
    logger.error('outbox entry unreadable, dead-lettered', { outbox_key: key, error: parsed.reason });
    pass.summary.invalid++;
    return undefined;
  }
  const targets = routedEndpoints(config, parsed.value).map(({ endpoint, route }) => ({
    endpoint,
    route,
    status: 'pending' as const,
  }));
  return { key, stem, transition: parsed.value, targets };
}

/** The transition stored at `key`; `undefined` when it is gone or does not parse. */
export async function readTransition(store: ObjectStore, key: string): Promise<AlertTransition | undefined> {
  const body = await store.get(key);
  if (body === undefined) return undefined;
  const parsed = parseTransition(body);
  return parsed.ok ? parsed.value : undefined;
}

function parseTransition(
  body: Uint8Array,
): { readonly ok: true; readonly value: AlertTransition } | { readonly ok: false; readonly reason: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(body).toString('utf8'));
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  const parsed = AlertTransition.safeParse(raw);
  if (parsed.success) return { ok: true, value: parsed.data };
  return { ok: false, reason: `invalid transition: ${parsed.error.issues[0]?.message ?? 'invalid'}` };
}
