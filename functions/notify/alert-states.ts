import type { ObjectStore } from '../core/object-store.ts';
import { AlertState, alertStateKey, putJsonIf, readJson } from './delivery-store.ts';
import { type Entry, iso, type Pass } from './notify-pass.ts';

/**
 * Keeps `alerts/notify-state/alerts/<fingerprint>.json` at the alert's newest transition (conditional writes), and
 * remembers it in the pass: a firing transition older than the alert's latest one is never sent.
 */
export async function recordAlertState(pass: Pass, entry: Entry): Promise<void> {
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

/** The alert's stored state, `undefined` when absent or unreadable. */
export async function readAlertState(store: ObjectStore, fingerprint: string): Promise<AlertState | undefined> {
  const got = await readJson(store, alertStateKey(fingerprint), AlertState);
  return got && 'value' in got ? got.value : undefined;
}
