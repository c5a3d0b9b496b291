import type { ClientTarget } from '../../functions/core/aws-clients.ts';
import { describeError, SkeinError, UsageError } from '../../functions/core/errors.ts';
import { readEndpoints } from '../endpoints.ts';
import { type CliIo, EXIT, parseCommandArgs, runGuarded, usageHint } from './io.ts';
import { KINESIS_LIMITS, type PushProgress, type PushSummary, type PutRecordsFn, pushRecords } from './put-records.ts';
import { readRecords } from './read-records.ts';

export const PUSH_USAGE = `Usage: skein push (--local <dir> | --stream <name> [--region <region>]) [--lines] [--partition-key <key>] <file…>

Sends each file as one Kinesis record (its raw bytes), or with --lines each non-empty line as one record.
"-" reads stdin.

Options:
  --local <dir>          push to the local stack running in <dir> (reads <dir>/endpoints.json)
  --stream <name>        push to a Kinesis stream on AWS (credentials from the usual AWS environment)
  --region <region>      AWS region for --stream (default: AWS_REGION or your AWS profile)
  --lines                one record per non-empty line; a JSON line's trace_id/traceId is its partition key
  --partition-key <key>  use this partition key for every record (default: the line's trace id, else random)
  -h, --help             show this help

Requests hold at most 500 records and 5 MiB; a record over 1 MiB is an error. Entries the stream throttles
are retried with backoff.

Examples:
  skein push --local .skein --lines app.log
  kubectl logs deploy/api | skein push --local .skein --lines -
  skein push --stream telemetry --region eu-west-1 export.pb
`;

/** How often the progress line may be rewritten, and how long a push runs before it is shown at all. */
const PROGRESS_INTERVAL_MS = 1_000;

/** Dependencies a test can replace: the Kinesis call (otherwise built from --local/--stream) and the clock. */
export interface PushCommandDeps {
  readonly putRecords?: PutRecordsFn;
  readonly now?: () => number;
}

/** `skein push`: see {@link PUSH_USAGE}. */
export function pushCommand(args: string[], io: CliIo, deps: PushCommandDeps = {}): Promise<number> {
  return runGuarded(io, usageHint(PUSH_USAGE, 'skein push'), async () => {
    const { values, positionals } = parseCommandArgs(args, {
      local: { type: 'string' },
      stream: { type: 'string' },
      region: { type: 'string' },
      lines: { type: 'boolean' },
      'partition-key': { type: 'string' },
    });
    if (values.help) {
      io.stdout.write(PUSH_USAGE);
      return EXIT.ok;
    }
    if (values.local !== undefined && values.stream !== undefined)
      throw new UsageError('give either --local <dir> or --stream <name>, not both');
    if (values.local === undefined && values.stream === undefined)
      throw new UsageError('say where to push: --local <dir> or --stream <name>');
    if (values.region !== undefined && values.stream === undefined)
      throw new UsageError('--region applies to --stream only');
    const key = values['partition-key'];
    if (key !== undefined && (key.length === 0 || key.length > KINESIS_LIMITS.maxPartitionKeyLength))
      throw new UsageError(`--partition-key must be 1–${KINESIS_LIMITS.maxPartitionKeyLength} characters`);
    if (positionals.length === 0) throw new UsageError('no input files (use - for stdin)');
    if (positionals.filter((f) => f === '-').length > 1) throw new UsageError('stdin (-) can be read only once');

    const target = await resolveTarget(values.local, values.stream, values.region, deps.putRecords);
    const now = deps.now ?? Date.now;
    const started = now();
    let lastShown = started;
    let shown = false;
    const showProgress = (p: PushProgress): void => {
      const t = now();
      if (t - lastShown < PROGRESS_INTERVAL_MS) return;
      lastShown = t;
      shown = true;
      const line = `pushed ${plural(p.records, 'record')} (${formatBytes(p.bytes)}) in ${plural(p.requests, 'request')}…`;
      io.stderr.write(io.stderr.isTTY ? `\r${line}` : `${line}\n`);
    };

    const records = readRecords(positionals, {
      lines: values.lines === true,
      partitionKey: key,
      maxRecordBytes: KINESIS_LIMITS.maxBytesPerRecord,
      stdin: io.stdin ?? process.stdin,
    });
    let summary: PushSummary;
    try {
      summary = await pushRecords(records, {
        stream: target.stream,
        putRecords: target.putRecords,
        onProgress: showProgress,
      });
    } finally {
      target.close();
      // End the rewritten progress line, so the summary or the error starts on a line of its own.
      if (shown && io.stderr.isTTY) io.stderr.write('\n');
    }
    const seconds = ((now() - started) / 1000).toFixed(1);
    io.stderr.write(
      `pushed ${plural(summary.records, 'record')} in ${plural(summary.requests, 'request')} (${summary.retried} retried) to ${target.stream} in ${seconds} s\n`,
    );
    return EXIT.ok;
  });
}

interface Target {
  readonly stream: string;
  readonly putRecords: PutRecordsFn;
  readonly close: () => void;
}

async function resolveTarget(
  local: string | undefined,
  stream: string | undefined,
  region: string | undefined,
  injected: PutRecordsFn | undefined,
): Promise<Target> {
  if (local !== undefined) {
    const endpoints = await readEndpoints(local);
    const hint = `is the local stack in ${local} still running?`;
    return injected
      ? { stream: endpoints.stream, putRecords: injected, close: () => {} }
      : sender(endpoints.stream, { endpoint: endpoints.kinesis }, hint);
  }
  if (stream === undefined || stream.length === 0) throw new UsageError('--stream needs a stream name');
  return injected
    ? { stream, putRecords: injected, close: () => {} }
    : sender(stream, { region }, 'check the stream name, region and AWS credentials');
}

/**
 * A real Kinesis client; a failed call (after the SDK's own retries) becomes one clear error. The SDK is imported
 * here, not at the top, so `--help` and usage errors answer without loading it (about a second).
 */
async function sender(stream: string, target: ClientTarget, hint: string): Promise<Target> {
  const [{ PutRecordsCommand }, { kinesisClient }] = await Promise.all([
    import('@aws-sdk/client-kinesis'),
    import('../../functions/core/aws-clients.ts'),
  ]);
  const client = kinesisClient(target);
  return {
    stream,
    putRecords: async (input) => {
      try {
        return await client.send(new PutRecordsCommand(input));
      } catch (error) {
        throw new SkeinError('push_failed', `PutRecords to ${stream} failed: ${describeError(error)} (${hint})`, {
          cause: error,
        });
      }
    },
    close: () => client.destroy(),
  };
}

function formatBytes(bytes: number): string {
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
