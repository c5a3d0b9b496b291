import type { ReplayReport } from '../functions/ingest/replay.ts';
import { parseTimeArg } from '../query/time-range.ts';
import { type CliIo, EXIT, parseFlags, runGuarded, usageHint } from './io.ts';
import { BUCKET_OPTIONS, type BucketCommandDeps, openBucket, parseReason, plural } from './quarantine-command.ts';

export const REPLAY_USAGE = `Usage: skein replay [--local <dir> | --bucket <name> [--region <region>]] [--since <time>] [--reason <code>]
                    [--dry-run]

Re-ingests quarantined entries that decode now (after a decoder fix, or a settings change such as a larger
SKEIN_MAX_RECORD_BYTES) and writes their rows next to the rest of their batch's hour, exactly once: replaying
again, or replaying a record quarantined twice by a retried batch, never duplicates a row. Entries that still
fail stay quarantined and are listed with their new reason. What was replayed is recorded beside each quarantine
object ('skein quarantine ls --all' shows it).

Options:
  --local <dir>      the local stack in <dir> (default .skein; reads <dir>/endpoints.json); --dir is the same
  --bucket <name>    the data bucket on AWS (credentials from the usual AWS environment)
  --region <region>  AWS region for --bucket (default: AWS_REGION or your AWS profile)
  --since <time>     only entries that arrived from this time on: ISO 8601 or a duration ago (15m, 2h, 1d)
  --reason <code>    only entries quarantined for this reason (see 'skein quarantine ls --help')
  --dry-run          decode and report what would be written; write nothing
  -h, --help         show this help

Runs with your AWS credentials, not the ingest function's: it needs s3:ListBucket, s3:GetObject and
s3:PutObject on the data bucket. It decodes with the ingest settings in your environment (SKEIN_FORMAT,
SKEIN_MAX_RECORD_BYTES, SKEIN_REDACT_KEYS, SKEIN_MAX_BODY_BYTES, SKEIN_ROW_GROUP_ROWS, …): set them as the
deployed function has them. Replay entries only
once their batches are no longer being retried (the stack's iterator age alarm is clear).

Examples:
  skein replay --local .skein --dry-run
  skein replay --bucket skein-data-123456789012 --since 2d --reason invalid_json
`;

/** How often the progress line may be rewritten. */
const PROGRESS_INTERVAL_MS = 1_000;

/** `skein replay`: see {@link REPLAY_USAGE}. */
export function replayCommand(args: string[], io: CliIo, deps: BucketCommandDeps = {}): Promise<number> {
  return runGuarded(io, usageHint(REPLAY_USAGE, 'skein replay'), async () => {
    const values = parseFlags(
      args,
      {
        ...BUCKET_OPTIONS,
        since: { type: 'string' },
        reason: { type: 'string' },
        'dry-run': { type: 'boolean' },
      },
      REPLAY_USAGE,
      io,
    );
    if (values === undefined) return EXIT.ok;
    const now = deps.now ?? Date.now;
    const since = values.since === undefined ? undefined : parseTimeArg('--since', values.since, now());
    const reason = parseReason(values.reason);
    const dryRun = values['dry-run'] === true;
    const bucket = await openBucket(values, deps.store);

    const [{ loadIngestConfig }, { replayQuarantine }] = await Promise.all([
      import('../functions/ingest/config.ts'),
      import('../functions/ingest/replay.ts'),
    ]);
    // The ingest function's settings, read from the environment the same way (the bucket is ours).
    const config = loadIngestConfig({ ...(io.env ?? process.env), SKEIN_BUCKET: bucket.bucket });

    let lastShown = now();
    let shown = false;
    let report: ReplayReport;
    try {
      report = await bucket.read(() =>
        replayQuarantine(bucket.store, {
          since,
          reason,
          dryRun,
          config,
          clock: now,
          onProgress: (done, total) => {
            const t = now();
            if (t - lastShown < PROGRESS_INTERVAL_MS) return;
            lastShown = t;
            shown = true;
            const line = `replaying: ${done}/${plural(total, 'quarantine object')}…`;
            io.stderr.write(io.stderr.isTTY ? `\r${line}` : `${line}\n`);
          },
        }),
      );
    } finally {
      bucket.close();
      if (shown && io.stderr.isTTY) io.stderr.write('\n');
    }
    io.stdout.write(reportText(report, bucket.where, dryRun));
    for (const s of report.skipped) io.stderr.write(`skein: left ${s.objectKey} as it is: ${s.why}\n`);
    return EXIT.ok;
  });
}

/** The summary of a replay: what was (or would be) written, and what still fails. */
export function reportText(report: ReplayReport, where: string, dryRun: boolean): string {
  const lines: string[] = [];
  const would = dryRun ? 'would replay' : 'replayed';
  if (report.selected === 0) {
    lines.push(`nothing to replay in ${where}${report.objectsScanned === 0 ? ' (the quarantine is empty)' : ''}`);
  } else {
    const formats = Object.entries(report.rowsByFormat)
      .map(([f, n]) => `${f} ${n}`)
      .join(', ');
    const from = report.objectsReplayed > 0 ? ` from ${plural(report.objectsReplayed, 'quarantine object')}` : '';
    lines.push(
      `${would} ${plural(report.replayed, 'entry', 'entries')} of ${report.selected} selected${from}` +
        (formats ? ` (rows: ${formats})` : ''),
    );
  }
  if (report.stillFailing.length > 0) {
    const byReason = new Map<string, number>();
    for (const f of report.stillFailing) byReason.set(f.reason, (byReason.get(f.reason) ?? 0) + 1);
    lines.push(
      `${plural(report.stillFailing.length, 'entry', 'entries')} still ${report.stillFailing.length === 1 ? 'fails' : 'fail'} and stay${report.stillFailing.length === 1 ? 's' : ''} quarantined:`,
    );
    const width = Math.max(...[...byReason.keys()].map((r) => r.length));
    for (const [reason, n] of byReason) lines.push(`  ${reason.padEnd(width)}  ${String(n).padStart(6)}`);
    const first = report.stillFailing[0];
    if (first) lines.push(`  first: ${first.entry.shard_id} ${first.entry.sequence_number}: ${first.message}`);
  }
  if (report.duplicates > 0)
    lines.push(`${plural(report.duplicates, 'duplicate entry', 'duplicate entries')} of retried batches skipped`);
  if (report.keys.length > 0) {
    lines.push(dryRun ? 'would write:' : 'wrote:');
    for (const key of report.keys) lines.push(`  ${key}`);
  }
  return `${lines.join('\n')}\n`;
}
