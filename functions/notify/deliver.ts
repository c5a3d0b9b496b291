import type { Route } from '../../schemas/notify-config.ts';
import { claimItems, recordOutcome } from './delivery-claims.ts';
import type { Endpoint } from './endpoints.ts';
import { groupReady, markGroupSent } from './group-timers.ts';
import type { Pass, WorkItem } from './notify-pass.ts';
import { groupHash } from './routing.ts';
import { attemptSend } from './senders.ts';

/**
 * Sends one endpoint's due items, in the given (outbox) order. Alertmanager gets each alert as it comes (it groups
 * itself); PagerDuty and Slack items are grouped by route and `group_by`, and a group goes out when its timers allow
 * — one PagerDuty event per alert, one Slack message per group. Retries of a batch already sent once are not held
 * back by the group timers.
 */
export async function deliverToEndpoint(pass: Pass, items: readonly WorkItem[]): Promise<void> {
  const first = items[0];
  if (!first) return;
  const endpoint = first.target.endpoint;
  if (endpoint.kind === 'alertmanager') {
    for (const item of items) await deliverBatch(pass, endpoint, [item]);
    return;
  }
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
    const delivered: WorkItem[] = [];
    if (endpoint.kind === 'slack') delivered.push(...(await deliverBatch(pass, endpoint, batch)));
    else for (const item of batch) delivered.push(...(await deliverBatch(pass, endpoint, [item])));
    if (delivered.length > 0) await markGroupSent(pass, endpoint, hash, group.route, delivered);
  }
}

/**
 * Claims the items, sends them as one notification, then records the outcome on every claimed item. Returns the
 * items delivered.
 */
async function deliverBatch(pass: Pass, endpoint: Endpoint, items: readonly WorkItem[]): Promise<WorkItem[]> {
  if (pass.breakers.isOpen(endpoint.id)) {
    pass.deps.logger.debug('circuit open, skipping', { endpoint: endpoint.id, pending: items.length });
    return [];
  }
  const claims = await claimItems(pass, endpoint, items);
  if (claims.length === 0) return [];
  const { outcome, response } = await attemptSend(
    pass,
    endpoint,
    claims.map((c) => c.item.entry.transition),
  );
  return recordOutcome(pass, endpoint, claims, outcome, response);
}
