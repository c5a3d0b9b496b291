import { stat } from 'node:fs/promises';
import type { ClientTarget } from '../functions/core/aws-clients.ts';
import { readEndpoints } from '../local/endpoints.ts';
import { describeError, SkeinError, UsageError } from '../schemas/errors.ts';
import { type CliIo, EXIT, parseCommandArgs, runGuarded, usageHint } from './io.ts';
import { LOCAL_DIR_OPTIONS, localDir } from './local-dir.ts';
import {
  checkRecords,
  KINESIS_LIMITS,
  PushFailedError,
  type PushProgress,
  type PushSummary,
  type PutRecordsFn,
  pushRecords,
} from './put-records.ts';
import { readRecords } from './read-records.ts';
import { RecordRanges } from './record-ranges.ts';

export const PUSH_USAGE = `Usage: skein push [--local <dir> | --stream <name> [--region <region>]] [--lines] [--partition-key <key>] [--skip <records>] <file…>

Sends each file as one Kinesis record (its raw bytes), or with --lines each non-empty line as one record.
"-" reads stdin (read completely before anything is sent).

Options:
  --local <dir>          push to the local stack in <dir> (default .skein; reads <dir>/endpoints.json); --dir is the same
  --stream <name>        push to a Kinesis stream on AWS (credentials from the usual AWS environment)
  --region <region>      AWS region for --stream (default: AWS_REGION or your AWS profile)
  --lines                one record per non-empty line; a JSON line's trace_id/traceId is its partition key
  --partition-key <key>  use this partition key for every record (default: the line's trace id, else random)
  --skip <records>       do not send these records (numbers from 1 in input order, e.g. 1-1000,1003): the ones
                         a failed push reports as accepted; it prints the command to resume with
  -h, --help             show this help

Every record is checked against the Kinesis limits first (1 MiB with its partition key, keys of 1–256
characters); if any is over, all of them are listed and nothing is sent. Requests hold at most 500 records and
5 MiB. Entries the stream throttles are retried with backoff; entries it accepted are never sent again. When a
push stops part way it says how many records Kinesis accepted and prints the command that sends the rest.

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
  /** The wait between retries of throttled entries. */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** `skein push`: see {@link PUSH_USAGE}. */
export function pushCommand(args: string[], io: CliIo, deps: PushCommandDeps = {}): Promise<number> {
  return runGuarded(io, usageHint(PUSH_USAGE, 'skein push'), async () => {
    const { values, positionals } = parseCommandArgs(args, {
      ...LOCAL_DIR_OPTIONS,
      stream: { type: 'string' },
      region: { type: 'string' },
      lines: { type: 'boolean' },
      'partition-key': { type: 'string' },
      skip: { type: 'string' },
    });
    if (values.help) {
      io.stdout.write(PUSH_USAGE);
      return EXIT.ok;
    }
    const local = localDir(values, { flag: '--stream <name>', value: values.stream });
    if (values.region !== undefined && values.stream === undefined)
      throw new UsageError('--region applies to --stream only');
    const key = values['partition-key'];
    if (key !== undefined && (key.length === 0 || key.length > KINESIS_LIMITS.maxPartitionKeyLength))
      throw new UsageError(`--partition-key must be 1–${KINESIS_LIMITS.maxPartitionKeyLength} characters`);
    if (positionals.length === 0) throw new UsageError('no input files (use - for stdin)');
    if (positionals.filter((f) => f === '-').length > 1) throw new UsageError('stdin (-) can be read only once');

    const skip = values.skip === undefined ? undefined : RecordRanges.parse(values.skip);
    const lines = values.lines === true;

    // Every record is read and checked before the first is sent, so stdin is kept to be read twice.
    const stdin = positionals.includes('-') ? await readAll(io.stdin ?? process.stdin) : undefined;
    const read = () =>
      readRecords(positionals, {
        lines,
        partitionKey: key,
        maxRecordBytes: KINESIS_LIMITS.maxBytesPerRecord,
        stdin: replay(stdin),
      });
    const problems = lines ? [] : await oversizeFiles(positionals);
    const check = problems.length > 0 ? undefined : await checkRecords(read(), { lines, ...(skip ? { skip } : {}) });
    problems.push(...(check?.problems ?? []));
    if (problems.length > 0) {
      reportProblems(io, problems);
      return EXIT.failure;
    }

    const target = await resolveTarget(local, values.stream, values.region, deps.putRecords);
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

    let summary: PushSummary;
    try {
      summary = await pushRecords(read(), {
        stream: target.stream,
        putRecords: target.putRecords,
        onProgress: showProgress,
        lines,
        ...(skip ? { skip } : {}),
        ...(deps.sleep ? { sleep: deps.sleep } : {}),
      });
    } catch (error) {
      if (!(error instanceof PushFailedError)) throw error;
      if (shown && io.stderr.isTTY) io.stderr.write('\n');
      reportStopped(io, target.stream, error, { args, skip, toSend: sendable(check, skip) });
      return EXIT.failure;
    } finally {
      target.close();
    }
    // End the rewritten progress line, so the summary starts on a line of its own.
    if (shown && io.stderr.isTTY) io.stderr.write('\n');
    const seconds = ((now() - started) / 1000).toFixed(1);
    const skipped = summary.skipped > 0 ? `, ${summary.skipped} skipped` : '';
    io.stderr.write(
      `pushed ${plural(summary.records, 'record')} in ${plural(summary.requests, 'request')} (${summary.retried} retried${skipped}) to ${target.stream} in ${seconds} s\n`,
    );
    return EXIT.ok;
  });
}

/** Records the check found to send (those `--skip` does not hold). */
function sendable(check: { readonly records: number } | undefined, skip: RecordRanges | undefined): number | undefined {
  if (check === undefined) return undefined;
  let skipped = 0;
  if (skip !== undefined) for (let n = 1; n <= check.records; n++) if (skip.has(n)) skipped++;
  return check.records - skipped;
}

/** Every record over a limit, one per line (one line in all when there is one): nothing was sent. */
function reportProblems(io: CliIo, problems: readonly string[]): void {
  if (problems.length === 1) {
    io.stderr.write(`skein: ${problems[0]}; nothing was sent\n`);
    return;
  }
  io.stderr.write(`skein: ${problems.length} records are over the Kinesis limits; nothing was sent:\n`);
  for (const problem of problems) io.stderr.write(`  ${problem}\n`);
}

/**
 * A push that stopped part way: what Kinesis accepted, and the command that sends the rest without re-sending it
 * (the same arguments with `--skip` = what was skipped before plus what was accepted now).
 */
function reportStopped(
  io: CliIo,
  stream: string,
  error: PushFailedError,
  run: {
    readonly args: readonly string[];
    readonly skip: RecordRanges | undefined;
    readonly toSend: number | undefined;
  },
): void {
  const done = run.skip?.clone() ?? new RecordRanges();
  const accepted = error.accepted.toString();
  if (accepted !== '') for (const part of accepted.split(',')) done.addRange(...rangeOf(part));
  const of = run.toSend === undefined ? '' : ` of ${run.toSend}`;
  const lines = [
    `skein: push to ${stream} stopped: ${error.message}`,
    `Kinesis accepted ${plural(error.accepted.size, 'record')}${of}${accepted === '' ? '' : ` (records ${accepted})`}.`,
  ];
  if (error.unanswered > 0)
    lines.push(
      `The last request, ${plural(error.unanswered, 'record')}, got no answer: Kinesis may hold some of them; resuming sends them again, and lookups show each span and each re-sent line once (docs/decisions.md D18).`,
    );
  const resume = ['skein', 'push', ...withoutSkip(run.args), ...(done.size > 0 ? ['--skip', done.toString()] : [])];
  const stdin = run.args.includes('-') ? ' (with the same input on stdin)' : '';
  lines.push(`To send the rest without re-sending what was accepted${stdin}:`, `  ${resume.map(shellQuote).join(' ')}`);
  io.stderr.write(`${lines.join('\n')}\n`);
}

function rangeOf(part: string): [number, number] {
  const [lo = '0', hi = lo] = part.split('-');
  return [Number(lo), Number(hi)];
}

/** The arguments without a `--skip` option (either spelling). */
function withoutSkip(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg === '--skip') i++;
    else if (!arg.startsWith('--skip=')) out.push(arg);
  }
  return out;
}

/** An argument as a POSIX shell reads it back: bare when safe, else single-quoted. */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** Whole files over the record limit, by their size on disk (not read). */
async function oversizeFiles(files: readonly string[]): Promise<string[]> {
  const problems: string[] = [];
  for (const file of files) {
    if (file === '-') continue;
    const info = await stat(file).catch(() => undefined);
    // A file that cannot be read fails with its own message when it is read.
    if (info?.isFile() && info.size > KINESIS_LIMITS.maxBytesPerRecord)
      problems.push(
        `${file} is ${info.size} bytes; a Kinesis record is at most ${KINESIS_LIMITS.maxBytesPerRecord} bytes with its partition key: push it line by line with --lines if it holds JSON lines, or split it into several files`,
      );
  }
  return problems;
}

async function readAll(stream: AsyncIterable<Uint8Array | string>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk));
  return Buffer.concat(chunks);
}

async function* replay(bytes: Buffer | undefined): AsyncGenerator<Buffer> {
  if (bytes !== undefined && bytes.length > 0) yield bytes;
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
    import('../functions/core/aws-clients.ts'),
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
