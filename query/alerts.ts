import type { ObjectStore } from '../functions/core/object-store.ts';
import { ALERT_STATE_PREFIX, type AlertGroupState, type SeriesStatus } from '../schemas/alert-state.ts';
import type { Exemplar } from '../schemas/exemplars.ts';

/** One alert series as listed. */
export interface ListedAlert {
  readonly group: string;
  readonly rule: string;
  readonly state: SeriesStatus;
  readonly fingerprint: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number | null;
  readonly active_at: string;
  readonly fired_at?: string;
  readonly resolved_at?: string;
  readonly last_evaluated_at: string | null;
  /** Example rows of the window that made it fire, when the evaluator kept them. */
  readonly exemplars?: readonly Exemplar[];
}

const ORDER: Readonly<Record<SeriesStatus, number>> = { firing: 0, pending: 1, resolved: 2 };

/** Every alert series in `alerts/state/*.json`, firing first, then pending, then resolved; oldest first in each. */
export async function listAlerts(store: ObjectStore): Promise<ListedAlert[]> {
  const { parseGroupState } = await import('../functions/evaluate/state-store.ts');
  const keys = (await store.list(ALERT_STATE_PREFIX)).filter((k) => k.endsWith('.json'));
  const out: ListedAlert[] = [];
  for (const key of keys) {
    const body = await store.get(key);
    if (body === undefined) continue;
    out.push(...alertsOf(parseGroupState(key, { body })));
  }
  return out.sort((a, b) => ORDER[a.state] - ORDER[b.state] || a.active_at.localeCompare(b.active_at));
}

/**
 * The minutes the evaluator evaluated before every shard was ingested past them (its maximum wait ran out), as kept in
 * the evaluator's progress object: `minute 2026-12-03 12:04 evaluated without shardId-000000000000 (95 s behind)`.
 */
export async function incompleteMinutes(store: ObjectStore): Promise<string[]> {
  const { readProgress } = await import('../functions/evaluate/shard-progress.ts');
  const { formatIncompleteMinute } = await import('../functions/evaluate/incomplete.ts');
  const { progress } = await readProgress(store);
  return progress.incomplete.map(formatIncompleteMinute);
}

function alertsOf(state: AlertGroupState): ListedAlert[] {
  const out: ListedAlert[] = [];
  const last = state.last_evaluated_minute === null ? null : iso(state.last_evaluated_minute);
  for (const [rule, series] of Object.entries(state.rules)) {
    for (const [fingerprint, s] of Object.entries(series)) {
      out.push({
        group: state.group,
        rule,
        state: s.status,
        fingerprint,
        labels: s.labels,
        value: s.value,
        active_at: iso(s.active_at),
        ...(s.fired_at === undefined ? {} : { fired_at: iso(s.fired_at) }),
        ...(s.resolved_at === undefined ? {} : { resolved_at: iso(s.resolved_at) }),
        last_evaluated_at: last,
        ...(s.exemplars === undefined ? {} : { exemplars: s.exemplars }),
      });
    }
  }
  return out;
}

function iso(minute: number): string {
  return new Date(minute * 60_000).toISOString();
}
