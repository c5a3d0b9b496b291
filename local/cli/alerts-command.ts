import { UsageError } from '../../functions/core/errors.ts';
import type { ObjectStore } from '../../functions/core/object-store.ts';
import { ALERT_STATE_PREFIX, type AlertGroupState, type SeriesStatus } from '../../schemas/alert-state.ts';
import { type CliIo, EXIT, parseCommandArgs, runGuarded, usageHint } from './io.ts';
import { BUCKET_OPTIONS } from './quarantine-command.ts';

export const ALERTS_USAGE = `Usage: skein alerts [--local <dir> | --bucket <name> [--region <region>]] [--state firing|pending|resolved|all] [--json]

Lists the alerts as the evaluator last left them (alerts/state/*.json): pending (the condition
holds, waiting for 'for'), firing, and resolved within the last 15 minutes; firing first, then pending, then
resolved, each oldest first. Then the minutes the evaluator had to evaluate before every shard was ingested
past them (a stalled shard, its maximum wait ran out), e.g. 'minute 2026-12-03 12:04 evaluated without
shardId-000000000000 (95 s behind)'.

Options:
  --local <dir>     the local stack in <dir> (default .skein; reads <dir>/endpoints.json); --dir is the same
  --bucket <name>   the data bucket on AWS (credentials from the usual AWS environment)
  --region <region> AWS region for --bucket
  --state <state>  only alerts in this state: firing, pending, resolved, or all (default all)
  --json           one JSON object per alert (ndjson): group, rule, state, fingerprint, labels, value, active_at,
                   fired_at, resolved_at (ISO), last_evaluated_at
  -h, --help       show this help

Examples:
  skein alerts
  skein alerts --bucket skein-data-123456789012 --state firing
  skein alerts --state firing --json | jq -r '.labels.alertname'
`;

/** Test seams: the store (otherwise the local stack's S3 from <dir>/endpoints.json). */
export interface AlertsCommandDeps {
  readonly store?: ObjectStore;
}

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
}

const STATES = ['firing', 'pending', 'resolved', 'all'] as const;
const ORDER: Readonly<Record<SeriesStatus, number>> = { firing: 0, pending: 1, resolved: 2 };

/** `skein alerts`: the current alert states of the local stack. */
export function alertsCommand(args: string[], io: CliIo, deps: AlertsCommandDeps = {}): Promise<number> {
  return runGuarded(io, usageHint(ALERTS_USAGE, 'skein alerts'), async () => {
    const { values, positionals } = parseCommandArgs(args, {
      ...BUCKET_OPTIONS,
      state: { type: 'string' },
      json: { type: 'boolean' },
    });
    if (values.help) {
      io.stdout.write(ALERTS_USAGE);
      return EXIT.ok;
    }
    if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
    const state = values.state ?? 'all';
    if (!(STATES as readonly string[]).includes(state))
      throw new UsageError(`unknown --state '${state}': one of ${STATES.join(', ')}`);
    let alerts: ListedAlert[];
    let incomplete: string[];
    const read = async (store: ObjectStore) => [await listAlerts(store), await incompleteMinutes(store)] as const;
    if (deps.store !== undefined) [alerts, incomplete] = await read(deps.store);
    else {
      const { openBucket } = await import('./quarantine-command.ts');
      const bucket = await openBucket(values);
      try {
        [alerts, incomplete] = await bucket.read(() => read(bucket.store));
      } finally {
        bucket.close();
      }
    }
    const shown = alerts.filter((a) => state === 'all' || a.state === state);
    if (values.json) {
      for (const a of shown) io.stdout.write(`${JSON.stringify(a)}\n`);
      return EXIT.ok;
    }
    io.stdout.write(shown.length === 0 ? `no ${state === 'all' ? '' : `${state} `}alerts\n` : formatAlerts(shown));
    // Minutes evaluated before every shard was ingested past them: their alerts may lack data (D15).
    for (const line of incomplete) io.stdout.write(`note: ${line}\n`);
    return EXIT.ok;
  });
}

/** Every alert series in `alerts/state/*.json`, firing first, then pending, then resolved; oldest first in each. */
export async function listAlerts(store: ObjectStore): Promise<ListedAlert[]> {
  const { parseGroupState } = await import('../../functions/evaluate/state-store.ts');
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
  const { readProgress } = await import('../../functions/evaluate/shard-progress.ts');
  const { formatIncompleteMinute } = await import('../../functions/evaluate/incomplete.ts');
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
      });
    }
  }
  return out;
}

/** A table: state, alert name, labels (without alertname), value, since (fired, or active when pending). */
export function formatAlerts(alerts: readonly ListedAlert[]): string {
  const header = ['STATE', 'ALERT', 'GROUP', 'VALUE', 'SINCE', 'LABELS'];
  const rows = alerts.map((a) => [
    a.state.toUpperCase(),
    a.labels.alertname ?? a.rule,
    a.group,
    a.value === null ? '-' : formatValue(a.value),
    (a.state === 'resolved' ? (a.resolved_at ?? a.active_at) : (a.fired_at ?? a.active_at))
      .replace('T', ' ')
      .slice(0, 16),
    Object.entries(a.labels)
      .filter(([k]) => k !== 'alertname')
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(' '),
  ]);
  const all = [header, ...rows];
  const widths = header.map((_, c) => Math.max(...all.map((r) => r[c]?.length ?? 0)));
  return `${all.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c] ?? 0))).join('  ')).join('\n')}\n`;
}

function formatValue(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toPrecision(4);
}

function iso(minute: number): string {
  return new Date(minute * 60_000).toISOString();
}
