import type { DeliveryRecord } from '../functions/notify/delivery-store.ts';
import type { OutboxEntryStatus } from '../functions/notify/redrive.ts';
import { UsageError } from '../schemas/errors.ts';
import { type CliIo, EXIT, parseCommandArgs, parseFlags, runGuarded, usageHint } from './io.ts';
import { BUCKET_OPTIONS, type BucketCommandDeps, openBucket, plural } from './quarantine-command.ts';

export const OUTBOX_LS_USAGE = `Usage: skein outbox ls [--local <dir> | --bucket <name> [--region <region>]] [--pending | --dead] [--json]

Lists the alert transitions in the notifier's outbox, oldest first: when they were evaluated, the alert, its
labels, and the state of each delivery (endpoint=delivered, or pending/dead with attempts and the last error);
then the endpoints disabled because they answered 404/410.

Options:
  --local <dir>      the local stack in <dir> (default .skein; reads <dir>/endpoints.json); --dir is the same
  --bucket <name>    the data bucket on AWS (credentials from the usual AWS environment)
  --region <region>  AWS region for --bucket
  --pending          only the transitions still in flight (some delivery not finished)
  --dead             list dead letters instead: transition, endpoint, attempts, last error
  --all              every transition, delivered ones included (the default; kept for scripts)
  --json             one JSON object per line; the summary goes to stderr
  -h, --help         show this help

Examples:
  skein outbox ls --local .skein
  skein outbox ls --bucket skein-data-123456789012 --dead --json | jq .last_error
`;

export const OUTBOX_RETRY_USAGE = `Usage: skein outbox retry (<key> | --all-dead) [--local <dir> | --bucket <name> [--region <region>]]

Re-drives dead-lettered notifications: their delivery goes back to pending with a fresh retry budget and the next
notifier run sends it again. <key> is an outbox key, its file name without .json, or a dead-letter key.

Options:
  --all-dead         re-drive every dead letter
  --local <dir>      the local stack in <dir> (default .skein; reads <dir>/endpoints.json); --dir is the same
  --bucket <name>    the data bucket on AWS
  --region <region>  AWS region for --bucket
  -h, --help         show this help

Examples:
  skein outbox retry --local .skein --all-dead
  skein outbox retry alerts/dead-letter/2026-11-25T2130Z-3f2a9c1b5d7e8f60-000001/oncall.pagerduty.json --bucket b
`;

const GROUP_USAGE = `Usage: skein outbox <command> [options]

Commands:
  ls      deliveries waiting or dead-lettered; 'skein outbox ls --help' lists its options
  retry   re-drive dead letters; 'skein outbox retry --help' lists its options
`;

/** `skein outbox ls|retry`: inspect and re-drive the notifier's outbox. */
export function outboxCommand(args: string[], io: CliIo, deps: BucketCommandDeps = {}): Promise<number> {
  return runGuarded(io, GROUP_USAGE, async () => {
    const [sub, ...rest] = args;
    if (sub === undefined) throw new UsageError('missing outbox command: skein outbox ls | retry');
    if (sub === '--help' || sub === '-h' || sub === 'help') {
      io.stdout.write(GROUP_USAGE);
      return EXIT.ok;
    }
    if (sub === 'ls') return runGuarded(io, usageHint(OUTBOX_LS_USAGE, 'skein outbox ls'), () => ls(rest, io, deps));
    if (sub === 'retry')
      return runGuarded(io, usageHint(OUTBOX_RETRY_USAGE, 'skein outbox retry'), () => retry(rest, io, deps));
    throw new UsageError(`unknown command 'outbox ${sub}'`);
  });
}

const OUTBOX_LS_OPTIONS = {
  ...BUCKET_OPTIONS,
  dead: { type: 'boolean' },
  pending: { type: 'boolean' },
  all: { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

async function ls(args: string[], io: CliIo, deps: BucketCommandDeps): Promise<number> {
  const values = parseFlags(args, OUTBOX_LS_OPTIONS, OUTBOX_LS_USAGE, io);
  if (values === undefined) return EXIT.ok;
  if (values.pending && (values.all || values.dead))
    throw new UsageError('--pending goes with neither --all nor --dead');
  const bucket = await openBucket(values, deps.store);
  const { listDeadLetters, listDisabledEndpoints, listOutbox } = await import('../functions/notify/redrive.ts');
  try {
    const disabled = await bucket.read(() => listDisabledEndpoints(bucket.store));
    const disabledText = disabled.map((d) => `endpoint ${d.endpoint} disabled since ${d.disabled_at}: ${d.reason}\n`);
    if (values.dead) {
      const letters = await bucket.read(() => listDeadLetters(bucket.store));
      if (values.json) {
        for (const { key, letter } of letters) io.stdout.write(`${JSON.stringify({ key, ...letter })}\n`);
      } else if (letters.length > 0) {
        const rows = letters.map(({ letter }) => [
          letter.dead_at.replace('T', ' ').slice(0, 19),
          letter.transition?.labels.alertname ?? '-',
          letter.transition?.status ?? '-',
          letter.endpoint,
          String(letter.attempts),
          printable(letter.last_error),
          letter.outbox_key,
        ]);
        io.stdout.write(
          `${table(['DEAD AT', 'ALERT', 'STATUS', 'ENDPOINT', 'ATTEMPTS', 'LAST ERROR', 'OUTBOX KEY'], rows)}\n`,
        );
      }
      (values.json ? io.stderr : io.stdout).write(
        `${plural(letters.length, 'dead letter')} in ${bucket.where}\n${disabledText.join('')}`,
      );
      return EXIT.ok;
    }
    const entries = await bucket.read(() => listOutbox(bucket.store, { all: values.pending !== true }));
    if (values.json) {
      for (const e of entries) io.stdout.write(`${JSON.stringify(jsonEntry(e))}\n`);
    } else if (entries.length > 0) {
      const rows = entries.map((e) => [
        e.transition?.evaluated_at.replace('T', ' ').slice(0, 16) ?? '-',
        e.transition?.labels.alertname ?? '(unreadable)',
        e.transition?.status ?? '-',
        e.transition === undefined ? '-' : labelsText(e.transition.labels),
        Object.keys(e.deliveries).length === 0
          ? 'not picked up yet'
          : Object.entries(e.deliveries)
              .map(([ep, r]) => deliveryText(ep, r))
              .join(' '),
      ]);
      io.stdout.write(`${table(['EVALUATED', 'ALERT', 'STATUS', 'LABELS', 'DELIVERIES'], rows)}\n`);
    }
    const inFlight = entries.filter((e) => !e.done).length;
    const summary = values.pending
      ? plural(inFlight, 'transition in flight', 'transitions in flight')
      : `${plural(entries.length, 'transition')} (${inFlight} in flight, ${entries.length - inFlight} finished)`;
    (values.json ? io.stderr : io.stdout).write(`${summary} in ${bucket.where}\n${disabledText.join('')}`);
    return EXIT.ok;
  } finally {
    bucket.close();
  }
}

async function retry(args: string[], io: CliIo, deps: BucketCommandDeps): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, { ...BUCKET_OPTIONS, 'all-dead': { type: 'boolean' } });
  if (values.help) {
    io.stdout.write(OUTBOX_RETRY_USAGE);
    return EXIT.ok;
  }
  const [key, extra] = positionals;
  if (extra !== undefined) throw new UsageError(`unexpected argument '${extra}'`);
  if (key === undefined && !values['all-dead']) throw new UsageError('say what to re-drive: <key> or --all-dead');
  if (key !== undefined && values['all-dead']) throw new UsageError('give either <key> or --all-dead, not both');
  const bucket = await openBucket(values, deps.store);
  const { redriveDeadLetters } = await import('../functions/notify/redrive.ts');
  try {
    const done = await bucket.read(() => redriveDeadLetters(bucket.store, key ?? 'all', (deps.now ?? Date.now)()));
    if (done.length === 0) {
      if (key !== undefined) throw new UsageError(`no dead letter matches '${key}' (see 'skein outbox ls --dead')`);
      io.stdout.write(`no dead letters in ${bucket.where}\n`);
      return EXIT.ok;
    }
    for (const k of done) io.stdout.write(`re-driven ${k}\n`);
    io.stdout.write(`${plural(done.length, 'dead letter')} re-driven: the next notifier run sends them\n`);
    return EXIT.ok;
  } finally {
    bucket.close();
  }
}

function deliveryText(endpoint: string, r: DeliveryRecord): string {
  if (r.status === 'delivered' || r.status === 'disabled') return `${endpoint}=${r.status}`;
  const parts = [`${r.attempts} attempts`];
  if (r.status === 'pending' && r.next_attempt_at) parts.push(`next ${r.next_attempt_at.slice(11, 19)}`);
  if (r.last_error) parts.push(printable(r.last_error));
  return `${endpoint}=${r.status}(${parts.join(', ')})`;
}

/** The labels that tell one alert of a rule from another (`alertname` is its own column), as `k=v,k=v`. */
function labelsText(labels: Readonly<Record<string, string>>): string {
  const parts = Object.entries(labels)
    .filter(([k]) => k !== 'alertname')
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${printable(v)}`);
  return parts.length === 0 ? '-' : parts.join(',');
}

function jsonEntry(e: OutboxEntryStatus): Record<string, unknown> {
  return {
    key: e.key,
    done: e.done,
    alertname: e.transition?.labels.alertname ?? null,
    status: e.transition?.status ?? null,
    labels: e.transition?.labels ?? null,
    fingerprint: e.transition?.fingerprint ?? null,
    deliveries: e.deliveries,
  };
}

function table(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, c) => Math.max(...all.map((row) => row[c]?.length ?? 0)));
  return all
    .map((row) => row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c] ?? 0))).join('  '))
    .join('\n');
}

function printable(text: string): string {
  const escaped = JSON.stringify(text).slice(1, -1);
  return escaped.length > 80 ? `${escaped.slice(0, 79)}…` : escaped;
}
