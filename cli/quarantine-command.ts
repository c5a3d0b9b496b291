import type { ObjectStore } from '../functions/core/object-store.ts';
import { QUARANTINE_REASONS } from '../functions/ingest/decoded.ts';
import type { QuarantinedEntry, QuarantineScan } from '../functions/ingest/replay.ts';
import { readEndpoints } from '../local/endpoints.ts';
import { parseTimeArg } from '../query/time-range.ts';
import { describeError, SkeinError, UsageError } from '../schemas/errors.ts';
import { type CliIo, EXIT, parseFlags, runGuarded, usageHint } from './io.ts';
import { LOCAL_DIR_OPTIONS, localDir } from './local-dir.ts';

const REASON_LIST = Object.keys(QUARANTINE_REASONS).join(', ');

export const QUARANTINE_USAGE = `Usage: skein quarantine ls [--local <dir> | --bucket <name> [--region <region>]] [--since <time>]
                           [--reason <code>] [--all] [--json]

Lists what ingest could not decode (records, or single lines of JSON-lines records) with the reason, oldest
first, and a count per reason. A record quarantined twice because Lambda retried its batch in halves is listed
once. Entries already re-ingested by 'skein replay' are left out unless --all is given.

Options:
  --local <dir>      the local stack in <dir> (default .skein; reads <dir>/endpoints.json); --dir is the same
  --bucket <name>    the data bucket on AWS (credentials from the usual AWS environment)
  --region <region>  AWS region for --bucket (default: AWS_REGION or your AWS profile)
  --since <time>     entries that arrived from this time on: ISO 8601 (2024-05-01T07:30:00Z) or a duration
                     ago (90s, 15m, 2h, 1d, 1w)
  --reason <code>    only entries quarantined for this reason
  --all              also list replayed entries, with a status column
  --json             one JSON object per entry (ndjson): the quarantine entry (bytes as base64 in "data") plus
                     "status", "object_key" and "size"; the summary goes to stderr
  -h, --help         show this help

Reasons: ${REASON_LIST}.

Examples:
  skein quarantine ls --local .skein
  skein quarantine ls --bucket skein-data-123456789012 --since 1d --reason invalid_json
  skein quarantine ls --local .skein --json | jq -r 'select(.line == null) | .data' | head -1 | base64 -d
`;

const GROUP_USAGE = `Usage: skein quarantine ls [options]

Commands:
  ls    list quarantined entries; 'skein quarantine ls --help' lists its options
`;

/** Test seams: the store (otherwise an S3 client for --local/--bucket) and the clock for --since. */
export interface BucketCommandDeps {
  readonly store?: ObjectStore;
  readonly now?: () => number;
}

/** `skein quarantine <sub>`: only `ls` for now. */
export function quarantineCommand(args: string[], io: CliIo, deps: BucketCommandDeps = {}): Promise<number> {
  return runGuarded(io, GROUP_USAGE, async () => {
    const [sub, ...rest] = args;
    if (sub === undefined) throw new UsageError('missing quarantine command: skein quarantine ls');
    if (sub === '--help' || sub === '-h' || sub === 'help') {
      io.stdout.write(QUARANTINE_USAGE);
      return EXIT.ok;
    }
    if (sub !== 'ls') throw new UsageError(`unknown command 'quarantine ${sub}'`);
    return runGuarded(io, usageHint(QUARANTINE_USAGE, 'skein quarantine ls'), () => listCommand(rest, io, deps));
  });
}

async function listCommand(args: string[], io: CliIo, deps: BucketCommandDeps): Promise<number> {
  const values = parseFlags(args, QUARANTINE_LS_OPTIONS, QUARANTINE_USAGE, io);
  if (values === undefined) return EXIT.ok;
  const since =
    values.since === undefined ? undefined : parseTimeArg('--since', values.since, (deps.now ?? Date.now)());
  const reason = parseReason(values.reason);
  const bucket = await openBucket(values, deps.store);

  const { matchesFilter, scanQuarantine } = await import('../functions/ingest/replay.ts');
  let scan: QuarantineScan;
  try {
    scan = await bucket.read(() => scanQuarantine(bucket.store, { since }));
  } finally {
    bucket.close();
  }
  const entries = scan.objects
    .flatMap((o) => o.entries)
    .filter((e) => (values.all || e.status === 'quarantined') && matchesFilter(e, { since, reason }))
    .sort(byArrival);
  for (const u of scan.unreadable) io.stderr.write(`skein: skipped unreadable ${u.key} line ${u.line}: ${u.error}\n`);

  if (values.json) {
    for (const e of entries) io.stdout.write(`${JSON.stringify(jsonEntry(e))}\n`);
    io.stderr.write(summaryText(entries, scan, bucket.where, values.all === true));
    return EXIT.ok;
  }
  if (entries.length > 0) io.stdout.write(`${formatTable(entries, values.all === true)}\n`);
  io.stdout.write(summaryText(entries, scan, bucket.where, values.all === true));
  return EXIT.ok;
}

/** The options every command on the data bucket takes. */
export const BUCKET_OPTIONS = {
  ...LOCAL_DIR_OPTIONS,
  bucket: { type: 'string' },
  region: { type: 'string' },
} as const;

const QUARANTINE_LS_OPTIONS = {
  ...BUCKET_OPTIONS,
  since: { type: 'string' },
  reason: { type: 'string' },
  all: { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

export interface OpenBucket {
  readonly store: ObjectStore;
  readonly bucket: string;
  /** `s3://<bucket>` (and the local folder) for messages. */
  readonly where: string;
  /** Runs store calls, turning a failure into one clear error with a hint. */
  read<T>(body: () => Promise<T>): Promise<T>;
  close(): void;
}

/**
 * The data bucket of the local stack (`--local <dir>`, default .skein; from its endpoints.json) or `--bucket <name>`
 * on AWS, as an `ObjectStore`. The AWS SDK is imported here, so `--help` and usage errors answer without loading it.
 */
export async function openBucket(
  values: {
    readonly local?: string | undefined;
    readonly dir?: string | undefined;
    readonly bucket?: string | undefined;
    readonly region?: string | undefined;
  },
  injected?: ObjectStore,
): Promise<OpenBucket> {
  const local = localDir(values, { flag: '--bucket <name>', value: values.bucket });
  if (values.region !== undefined && values.bucket === undefined)
    throw new UsageError('--region applies to --bucket only');
  if (values.bucket !== undefined && values.bucket.trim() === '') throw new UsageError('--bucket needs a bucket name');

  let bucket: string;
  let target: { endpoint?: string; region?: string | undefined };
  let hint: string;
  if (local !== undefined) {
    const endpoints = await readEndpoints(local);
    bucket = endpoints.bucket;
    target = { endpoint: endpoints.s3 };
    hint = `is the local stack in ${local} still running?`;
  } else {
    bucket = values.bucket ?? '';
    target = { region: values.region };
    hint = 'check the bucket name, region and AWS credentials';
  }
  const where = `s3://${bucket}`;
  const read = async <T>(body: () => Promise<T>): Promise<T> => {
    try {
      return await body();
    } catch (error) {
      if (error instanceof UsageError) throw error;
      throw new SkeinError('store_failed', `reading ${where} failed: ${describeError(error)} (${hint})`, {
        cause: error,
      });
    }
  };
  if (injected) return { store: injected, bucket, where, read, close: () => {} };
  const [{ s3Client }, { s3ObjectStore }] = await Promise.all([
    import('../functions/core/aws-clients.ts'),
    import('../functions/core/object-store.ts'),
  ]);
  const client = s3Client(target);
  return { store: s3ObjectStore(client, bucket), bucket, where, read, close: () => client.destroy() };
}

/** `--reason` checked against the reason codes ingest writes. */
export function parseReason(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  if (!Object.hasOwn(QUARANTINE_REASONS, raw)) throw new UsageError(`unknown --reason '${raw}': one of ${REASON_LIST}`);
  return raw;
}

function byArrival(a: QuarantinedEntry, b: QuarantinedEntry): number {
  if (a.arrivalMs !== b.arrivalMs) return a.arrivalMs - b.arrivalMs;
  const as = a.entry.sequence_number;
  const bs = b.entry.sequence_number;
  if (as !== bs) return as.length !== bs.length ? as.length - bs.length : as < bs ? -1 : 1;
  if (a.subSequenceNumber !== b.subSequenceNumber) return a.subSequenceNumber - b.subSequenceNumber;
  return (a.entry.line ?? 0) - (b.entry.line ?? 0);
}

function jsonEntry(e: QuarantinedEntry): Record<string, unknown> {
  return {
    status: e.status,
    object_key: e.objectKey,
    ...e.entry,
    sub_sequence_number: e.subSequenceNumber,
    size: e.size,
    ...(e.replayedAtMs === undefined ? {} : { replayed_at: new Date(e.replayedAtMs).toISOString() }),
  };
}

const MESSAGE_WIDTH = 100;

/** Columns padded to their widest cell; the message last, shortened, control characters escaped. */
export function formatTable(entries: readonly QuarantinedEntry[], withStatus: boolean): string {
  const header = ['ARRIVED', 'SHARD', 'SEQUENCE', 'LINE', 'REASON', 'SIZE', 'MESSAGE'];
  const rows = entries.map((e) => [
    new Date(e.arrivalMs).toISOString().replace('T', ' ').slice(0, 19),
    e.entry.shard_id,
    e.subSequenceNumber > 0 ? `${e.entry.sequence_number}/${e.subSequenceNumber}` : e.entry.sequence_number,
    e.entry.line === null ? '-' : String(e.entry.line),
    e.entry.reason,
    formatSize(e.size),
    printable(e.entry.message, MESSAGE_WIDTH),
  ]);
  if (withStatus) {
    header.unshift('STATUS');
    rows.forEach((row, i) => {
      row.unshift(entries[i]?.status ?? '');
    });
  }
  const all = [header, ...rows];
  const widths = header.map((_, c) => Math.max(...all.map((row) => row[c]?.length ?? 0)));
  const rightAligned = new Set([header.indexOf('LINE'), header.indexOf('SIZE')]);
  return all
    .map((row) =>
      row
        .map((cell, c) => {
          if (c === row.length - 1) return cell;
          const width = widths[c] ?? 0;
          return rightAligned.has(c) ? cell.padStart(width) : cell.padEnd(width);
        })
        .join('  '),
    )
    .join('\n');
}

function summaryText(entries: readonly QuarantinedEntry[], scan: QuarantineScan, where: string, all: boolean): string {
  const objects = new Set(entries.map((e) => e.objectKey)).size;
  const duplicates =
    scan.duplicates > 0 ? ` (${plural(scan.duplicates, 'duplicate')} of retried batches not shown)` : '';
  if (entries.length === 0) return `no quarantined entries in ${where}${duplicates}\n`;
  const replayed = entries.filter((e) => e.status === 'replayed').length;
  const status = all
    ? `${entries.length - replayed} quarantined, ${replayed} replayed`
    : plural(entries.length, 'entry', 'entries');
  const lines = [`${status} in ${plural(objects, 'quarantine object')} of ${where}${duplicates}`];
  const byReason = new Map<string, number>();
  for (const e of entries) byReason.set(e.entry.reason, (byReason.get(e.entry.reason) ?? 0) + 1);
  const width = Math.max(...[...byReason.keys()].map((r) => r.length));
  for (const [reason, n] of [...byReason].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)))
    lines.push(`  ${reason.padEnd(width)}  ${String(n).padStart(6)}`);
  return `${lines.join('\n')}\n`;
}

function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/** Control characters escaped (a message may quote the bad bytes), cut to `max` characters. */
function printable(text: string, max: number): string {
  const escaped = JSON.stringify(text).slice(1, -1);
  return escaped.length > max ? `${escaped.slice(0, max - 1)}…` : escaped;
}

export function plural(n: number, noun: string, nouns = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : nouns}`;
}
