import type { ObjectStore } from '../functions/core/object-store.ts';
import { incompleteMinutes, type ListedAlert, listAlerts } from '../query/alerts.ts';
import { UsageError } from '../schemas/errors.ts';
import { type CliIo, EXIT, parseFlags, runGuarded, usageHint } from './io.ts';
import { localDir } from './local-dir.ts';
import { BUCKET_OPTIONS } from './quarantine-command.ts';

export const ALERTS_USAGE = `Usage: skein alerts [--local <dir> | --bucket <name> [--region <region>]] [--state firing|pending|resolved|all] [--json]

Lists the alerts as the evaluator last left them (alerts/state/*.json): pending (the condition
holds, waiting for 'for'), firing, and resolved within the last 15 minutes; firing first, then pending, then
resolved, each oldest first. Under the table, one line per firing alert with example requests of the window
that made it fire (exemplars: for an error rate the latest failing requests) and the command that opens one.
Then the minutes the evaluator had to evaluate before every shard was ingested
past them (a stalled shard, its maximum wait ran out), e.g. 'minute 2026-12-03 12:04 evaluated without
shardId-000000000000 (95 s behind)'.

Options:
  --local <dir>     the local stack in <dir> (default .skein; reads <dir>/endpoints.json); --dir is the same
  --bucket <name>   the data bucket on AWS (credentials from the usual AWS environment)
  --region <region> AWS region for --bucket
  --state <state>  only alerts in this state: firing, pending, resolved, or all (default all)
  --json           one JSON object per alert (ndjson): group, rule, state, fingerprint, labels, value, active_at,
                   fired_at, resolved_at (ISO), last_evaluated_at, exemplars (trace_id, request_id, time_ms,
                   value, service)
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

const STATES = ['firing', 'pending', 'resolved', 'all'] as const;

/** `skein alerts`: the current alert states of the local stack. */
export function alertsCommand(args: string[], io: CliIo, deps: AlertsCommandDeps = {}): Promise<number> {
  return runGuarded(io, usageHint(ALERTS_USAGE, 'skein alerts'), async () => {
    const values = parseFlags(
      args,
      {
        ...BUCKET_OPTIONS,
        state: { type: 'string' },
        json: { type: 'boolean' },
      },
      ALERTS_USAGE,
      io,
    );
    if (values === undefined) return EXIT.ok;
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
    const dir = localDir(values, { flag: '--bucket', value: values.bucket });
    for (const line of exemplarLines(shown, dir === undefined ? ' --athena' : ` --local ${dir}`)) io.stdout.write(line);
    // Minutes evaluated before every shard was ingested past them: their alerts may lack data (D15).
    for (const line of incomplete) io.stdout.write(`note: ${line}\n`);
    return EXIT.ok;
  });
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

/**
 * One line per firing alert with exemplars: `examples DemoHighErrorRate service="orders": <trace ids> · open one:
 * skein query trace <id> --local .skein`. A row without a trace id is named by its request id.
 */
export function exemplarLines(alerts: readonly ListedAlert[], target: string): string[] {
  const lines: string[] = [];
  for (const a of alerts) {
    const first = a.exemplars?.[0];
    if (a.state !== 'firing' || first === undefined) continue;
    const ids = (a.exemplars ?? []).map((e) => e.trace_id ?? `request ${e.request_id ?? ''}`);
    const labels = Object.entries(a.labels)
      .filter(([k]) => k !== 'alertname' && k !== 'severity')
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(' ');
    const open =
      first.trace_id === null ? `skein query request ${first.request_id ?? ''}` : `skein query trace ${first.trace_id}`;
    lines.push(`examples ${a.labels.alertname ?? a.rule} ${labels}: ${ids.join(', ')} · open one: ${open}${target}\n`);
  }
  return lines;
}

function formatValue(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toPrecision(4);
}
