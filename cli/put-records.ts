import type { PutRecordsInput, PutRecordsOutput } from '@aws-sdk/client-kinesis';
import { describeError, SkeinError } from '../schemas/errors.ts';
import { RecordRanges } from './record-ranges.ts';

/** The one Kinesis call `skein push` makes, injected so tests can fake partial failures. */
export type PutRecordsFn = (input: PutRecordsInput) => Promise<PutRecordsOutput>;

/** One record to send, with where it came from (`file`, `file:line`) for error messages. */
export interface OutgoingRecord {
  readonly data: Uint8Array;
  readonly partitionKey: string;
  readonly origin: string;
}

/**
 * Kinesis `PutRecords` limits (Kinesis Data Streams quotas, API reference "PutRecords"): at most 500 records and
 * 5 MiB per request, each record at most 1 MiB; sizes count the data blob (before base64) plus the partition key.
 */
export const KINESIS_LIMITS = {
  maxRecordsPerRequest: 500,
  maxBytesPerRequest: 5 * 1024 * 1024,
  maxBytesPerRecord: 1024 * 1024,
  maxPartitionKeyLength: 256,
} as const;

export type PutLimits = { readonly [K in keyof typeof KINESIS_LIMITS]: number };

/** Per-entry error codes worth another attempt: throttling and transient service failures. */
const RETRYABLE_CODES: ReadonlySet<string> = new Set([
  'ProvisionedThroughputExceededException',
  'InternalFailure',
  'KMSThrottlingException',
]);

export interface PushProgress {
  /** Records Kinesis accepted in this run. */
  readonly records: number;
  readonly bytes: number;
  readonly requests: number;
  readonly retried: number;
}

export interface PushSummary extends PushProgress {
  /** Records left out because `skip` held them. */
  readonly skipped: number;
}

/**
 * A push that stopped: what Kinesis accepted is known record by record, so a later push can skip exactly those
 * (`--skip`), and the message says so. Records of a request that got no answer at all (`unanswered`) may or may not
 * have been accepted: Kinesis has no idempotency, so resuming re-sends them (readers drop the copies, D18).
 */
export class PushFailedError extends SkeinError {
  constructor(
    message: string,
    /** Record numbers accepted in this run. */
    readonly accepted: RecordRanges,
    /** Records whose request got no answer (network, timeout): maybe accepted. */
    readonly unanswered: number,
    options?: { cause?: unknown },
  ) {
    super('push_failed', message, options);
  }
}

export interface PushOptions {
  readonly stream: string;
  readonly putRecords: PutRecordsFn;
  readonly limits?: Partial<PutLimits>;
  /** Attempts per record, first one included. */
  readonly maxAttempts?: number;
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Uniform in [0, 1): the jitter source. */
  readonly random?: () => number;
  /** Called after every request. */
  readonly onProgress?: (progress: PushProgress) => void;
  /** Record numbers (1-based, in input order) not to send: accepted by an earlier push. */
  readonly skip?: RecordRanges;
  /** Input is lines (`--lines`): shapes the advice for a record over the size limit. */
  readonly lines?: boolean;
}

/** One record of the input with its 1-based number in input order. */
interface Numbered {
  readonly record: OutgoingRecord;
  readonly n: number;
}

const DEFAULT_MAX_ATTEMPTS = 8;
const DEFAULT_BASE_DELAY_MS = 100;
const DEFAULT_MAX_DELAY_MS = 5_000;

/** Byte size of a record as Kinesis counts it against its limits: data plus UTF-8 partition key. */
export function recordSize(record: OutgoingRecord): number {
  return record.data.byteLength + Buffer.byteLength(record.partitionKey, 'utf8');
}

/**
 * "Full jitter" exponential backoff (AWS Architecture Blog, "Exponential Backoff And Jitter"): a uniformly random
 * delay between 0 and min(cap, base·2^retry).
 */
export function fullJitterDelay(retry: number, baseMs: number, capMs: number, random: () => number): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** retry);
  return Math.floor(random() * ceiling);
}

/**
 * Sends records to a stream with `PutRecords`, packing each request up to the service limits, and re-sending only
 * the entries that come back with a retryable `ErrorCode` (with full-jitter backoff, bounded attempts): an accepted
 * entry is never sent again. Records are numbered from 1 in input order; those in `skip` are not sent. Throws a
 * {@link PushFailedError} (which records were accepted, how many got no answer) when a record is over a limit
 * (callers check every record first with {@link checkRecords}), when entries still fail after the last attempt, are
 * refused, or a request gets no answer. Requests go one at a time, in input order.
 */
export async function pushRecords(
  records: AsyncIterable<OutgoingRecord> | Iterable<OutgoingRecord>,
  options: PushOptions,
): Promise<PushSummary> {
  const limits: PutLimits = { ...KINESIS_LIMITS, ...options.limits };
  const progress = { records: 0, bytes: 0, requests: 0, retried: 0 };
  const accepted = new RecordRanges();
  let skipped = 0;
  let batch: Numbered[] = [];
  let batchBytes = 0;

  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const sent = batch;
    batch = [];
    batchBytes = 0;
    await sendWithRetries(sent, options, progress, accepted);
  };

  let n = 0;
  for await (const record of records) {
    n++;
    if (options.skip?.has(n)) {
      skipped++;
      continue;
    }
    const problem = recordProblem(record, limits, options.lines === true);
    if (problem !== undefined) {
      throw new PushFailedError(`${problem}; ${progress.records} records were pushed before it`, accepted, 0);
    }
    const size = recordSize(record);
    if (batch.length >= limits.maxRecordsPerRequest || batchBytes + size > limits.maxBytesPerRequest) await flush();
    batch.push({ record, n });
    batchBytes += size;
  }
  await flush();
  return { ...progress, skipped };
}

/** What every record of the input is checked against before anything is sent. */
export interface RecordCheck {
  /** Records read (blank lines are not records). */
  readonly records: number;
  readonly bytes: number;
  /** One message per record over a limit, naming it (`file:line`), in input order. */
  readonly problems: readonly string[];
}

/**
 * Reads every record once and checks it against the Kinesis limits, so that a push can refuse before it sends
 * anything. Records numbers held by `skip` are not checked (they are not sent).
 */
export async function checkRecords(
  records: AsyncIterable<OutgoingRecord> | Iterable<OutgoingRecord>,
  options: { readonly limits?: Partial<PutLimits>; readonly lines?: boolean; readonly skip?: RecordRanges } = {},
): Promise<RecordCheck> {
  const limits: PutLimits = { ...KINESIS_LIMITS, ...options.limits };
  const problems: string[] = [];
  let count = 0;
  let bytes = 0;
  for await (const record of records) {
    count++;
    if (options.skip?.has(count)) continue;
    bytes += record.data.byteLength;
    const problem = recordProblem(record, limits, options.lines === true);
    if (problem !== undefined) problems.push(problem);
  }
  return { records: count, bytes, problems };
}

/** Why Kinesis would refuse this record, and what would work instead; undefined when it fits. */
export function recordProblem(record: OutgoingRecord, limits: PutLimits, lines: boolean): string | undefined {
  const keyLength = record.partitionKey.length;
  if (keyLength === 0 || keyLength > limits.maxPartitionKeyLength)
    return `${record.origin}: a partition key must be 1–${limits.maxPartitionKeyLength} characters, got ${keyLength} (give one with --partition-key)`;
  const size = recordSize(record);
  if (size <= limits.maxBytesPerRecord) return undefined;
  const fix = lines
    ? 'shorten the line (ingest keeps at most 64 KiB of a body and of the attributes anyway), or split an OTLP export over several lines'
    : 'push it line by line with --lines if it holds JSON lines, or split it into several files';
  return `${record.origin} is ${size} bytes with its partition key; a Kinesis record is at most ${limits.maxBytesPerRecord} bytes: ${fix}`;
}

async function sendWithRetries(
  batch: readonly Numbered[],
  options: PushOptions,
  progress: { records: number; bytes: number; requests: number; retried: number },
  accepted: RecordRanges,
): Promise<void> {
  const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  const sleep = options.sleep ?? defaultSleep;
  const random = options.random ?? Math.random;
  let pending = batch;
  for (let attempt = 1; ; attempt++) {
    let output: PutRecordsOutput;
    try {
      output = await options.putRecords({
        StreamName: options.stream,
        Records: pending.map(({ record }) => ({ Data: record.data, PartitionKey: record.partitionKey })),
      });
    } catch (error) {
      // No answer: Kinesis may have stored any of these entries, or none.
      throw new PushFailedError(
        `${error instanceof SkeinError ? error.message : describeError(error)}; ${progress.records} records were pushed`,
        accepted,
        pending.length,
        { cause: error },
      );
    }
    progress.requests++;
    const results = output.Records ?? [];
    if (results.length !== pending.length)
      throw new PushFailedError(
        `PutRecords answered ${results.length} results for ${pending.length} records; nothing is known about this batch (${progress.records} records were pushed before it)`,
        accepted,
        pending.length,
      );

    const failed: Numbered[] = [];
    let lastError = '';
    let fatal: string | undefined;
    for (let i = 0; i < pending.length; i++) {
      const entry = pending[i];
      const result = results[i];
      if (entry === undefined || result === undefined) continue;
      if (result.ErrorCode === undefined) {
        progress.records++;
        progress.bytes += entry.record.data.byteLength;
        accepted.add(entry.n);
        continue;
      }
      lastError = `${result.ErrorCode}${result.ErrorMessage ? `: ${result.ErrorMessage}` : ''}`;
      if (!RETRYABLE_CODES.has(result.ErrorCode)) fatal ??= `${entry.record.origin}: ${lastError}`;
      failed.push(entry);
    }
    options.onProgress?.({ ...progress });
    if (failed.length === 0) return;
    if (fatal !== undefined)
      throw new PushFailedError(
        `${failed.length} records were refused (${fatal}); ${progress.records} records were pushed`,
        accepted,
        0,
      );
    if (attempt >= maxAttempts)
      throw new PushFailedError(
        `${failed.length} records still failing after ${maxAttempts} attempts (last error ${lastError}); ${progress.records} records were pushed — try again later or add shards to the stream`,
        accepted,
        0,
      );
    progress.retried += failed.length;
    // Only the entries that failed go again: the accepted ones are on the stream already.
    pending = failed;
    await sleep(
      fullJitterDelay(
        attempt - 1,
        options.baseDelayMs ?? DEFAULT_BASE_DELAY_MS,
        options.maxDelayMs ?? DEFAULT_MAX_DELAY_MS,
        random,
      ),
    );
  }
}

function defaultSleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
