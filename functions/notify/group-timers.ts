import type { Route } from '../../schemas/notify-config.ts';
import { GroupState, groupStateKey, putJsonIf, readJson } from './delivery-store.ts';
import type { Endpoint } from './endpoints.ts';
import { iso, type Pass, type WorkItem } from './notify-pass.ts';

/**
 * True when a new notification of the group may go out now: `group_wait` after it appeared, then `group_interval`.
 * A group seen for the first time is created (its `group_wait` starts now).
 */
export async function groupReady(pass: Pass, endpoint: Endpoint, hash: string, route: Route): Promise<boolean> {
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

/** Records a notification of the group: its send time, and which of its alerts are firing (for repeats). */
export async function markGroupSent(
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
