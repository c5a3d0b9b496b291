import { mapLimit } from '../core/map-limit.ts';
import { recordAlertState } from './alert-states.ts';
import { deliverToEndpoint } from './deliver.ts';
import { classifyTarget } from './delivery-claims.ts';
import { doneKey, putJson } from './delivery-store.ts';
import { writePassMetrics } from './notify-metrics.ts';
import {
  type Entry,
  iso,
  type NotifyDeps,
  type NotifySummary,
  type Pass,
  READ_CONCURRENCY,
  startPass,
  type WorkItem,
} from './notify-pass.ts';
import { candidateKeys, loadEntry } from './outbox.ts';
import { renotifyFiring } from './renotify.ts';

export type { NotifyDeps, NotifySummary } from './notify-pass.ts';

export interface NotifyRequest {
  /** Outbox keys from an S3 event; omitted: scan for pending work and run the periodic re-sends. */
  readonly keys?: readonly string[];
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
  const pass = startPass(deps);
  const entries = await readOutbox(pass, request.keys);
  // Alert states first: a firing transition older than the alert's latest one is never sent.
  for (const entry of entries) await recordAlertState(pass, entry);
  const due = await dueByEndpoint(pass, entries);
  await deliverAll(pass, due);
  await countAndMarkDone(pass, entries);
  if (request.keys === undefined) await renotifyFiring(pass);
  if (deps.metrics) writePassMetrics(deps.metrics, pass.now, { ...pass.summary, deadByEndpoint: pass.deadByEndpoint });
  deps.logger.info('notify pass', { ...pass.summary });
  return pass.summary;
}

/** The readable outbox entries of the pass, routed (unreadable ones are dead-lettered on the way). */
async function readOutbox(pass: Pass, keys: readonly string[] | undefined): Promise<Entry[]> {
  const candidates = await candidateKeys(pass.deps.store, keys);
  const entries = (await mapLimit(candidates, READ_CONCURRENCY, (key) => loadEntry(pass, key))).filter(
    (e): e is Entry => e !== undefined,
  );
  pass.summary.transitions = entries.length + pass.summary.invalid;
  return entries;
}

/** The (entry, endpoint) pairs due now, per endpoint, in outbox (time) order. */
async function dueByEndpoint(pass: Pass, entries: readonly Entry[]): Promise<Map<string, WorkItem[]>> {
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
  for (const items of due.values())
    items.sort((a, b) => (a.entry.key < b.entry.key ? -1 : a.entry.key > b.entry.key ? 1 : 0));
  return due;
}

/** Endpoints in parallel; within one endpoint in outbox order, so an alert's resolve follows its trigger. */
async function deliverAll(pass: Pass, due: ReadonlyMap<string, readonly WorkItem[]>): Promise<void> {
  await Promise.all([...due.values()].map((items) => deliverToEndpoint(pass, items)));
}

/** Counts every target's final status and marks the entries whose targets are all terminal done. */
async function countAndMarkDone(pass: Pass, entries: readonly Entry[]): Promise<void> {
  for (const entry of entries) {
    let terminal = true;
    for (const t of entry.targets) {
      pass.summary.deliveries++;
      pass.summary[t.status]++;
      if (t.status === 'pending') terminal = false;
    }
    if (terminal) await putJson(pass.deps.store, doneKey(entry.stem), { done_at: iso(pass.now) });
  }
}
