import type { PutRecordsInput, PutRecordsOutput } from '@aws-sdk/client-kinesis';
import { SkeinError } from '../../functions/core/errors.ts';

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
  readonly records: number;
  readonly bytes: number;
  readonly requests: number;
  readonly retried: number;
}

export interface PushSummary extends PushProgress {}

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
 * the entries that come back with a retryable `ErrorCode` (with full-jitter backoff, bounded attempts). Throws a
 * `SkeinError` naming the record when one is over the size limit, and when entries still fail after the last attempt.
 * Requests go one at a time, in input order.
 */
export async function pushRecords(
  records: AsyncIterable<OutgoingRecord> | Iterable<OutgoingRecord>,
  options: PushOptions,
): Promise<PushSummary> {
  const limits: PutLimits = { ...KINESIS_LIMITS, ...options.limits };
  const progress = { records: 0, bytes: 0, requests: 0, retried: 0 };
  let batch: OutgoingRecord[] = [];
  let batchBytes = 0;

  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const sent = batch;
    batch = [];
    batchBytes = 0;
    await sendWithRetries(sent, options, progress);
  };

  for await (const record of records) {
    checkRecord(record, limits);
    const size = recordSize(record);
    if (batch.length >= limits.maxRecordsPerRequest || batchBytes + size > limits.maxBytesPerRequest) await flush();
    batch.push(record);
    batchBytes += size;
  }
  await flush();
  return { ...progress };
}

function checkRecord(record: OutgoingRecord, limits: PutLimits): void {
  const keyLength = record.partitionKey.length;
  if (keyLength === 0 || keyLength > limits.maxPartitionKeyLength)
    throw new SkeinError(
      'record_invalid',
      `${record.origin}: a partition key must be 1–${limits.maxPartitionKeyLength} characters, got ${keyLength}`,
    );
  const size = recordSize(record);
  if (size > limits.maxBytesPerRecord)
    throw new SkeinError(
      'record_too_large',
      `${record.origin} is ${size} bytes with its partition key; a Kinesis record is at most ${limits.maxBytesPerRecord} bytes (split it, or push it line by line with --lines)`,
    );
}

async function sendWithRetries(
  batch: readonly OutgoingRecord[],
  options: PushOptions,
  progress: { records: number; bytes: number; requests: number; retried: number },
): Promise<void> {
  const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  const sleep = options.sleep ?? defaultSleep;
  const random = options.random ?? Math.random;
  let pending = batch;
  for (let attempt = 1; ; attempt++) {
    const output = await options.putRecords({
      StreamName: options.stream,
      Records: pending.map((r) => ({ Data: r.data, PartitionKey: r.partitionKey })),
    });
    progress.requests++;
    const results = output.Records ?? [];
    if (results.length !== pending.length)
      throw new SkeinError(
        'push_failed',
        `PutRecords answered ${results.length} results for ${pending.length} records; nothing is known about this batch (${progress.records} records were pushed before it)`,
      );

    const failed: OutgoingRecord[] = [];
    let lastError = '';
    let fatal: string | undefined;
    for (let i = 0; i < pending.length; i++) {
      const record = pending[i];
      const result = results[i];
      if (record === undefined || result === undefined) continue;
      if (result.ErrorCode === undefined) {
        progress.records++;
        progress.bytes += record.data.byteLength;
        continue;
      }
      lastError = `${result.ErrorCode}${result.ErrorMessage ? `: ${result.ErrorMessage}` : ''}`;
      if (!RETRYABLE_CODES.has(result.ErrorCode)) fatal ??= `${record.origin}: ${lastError}`;
      failed.push(record);
    }
    options.onProgress?.({ ...progress });
    if (failed.length === 0) return;
    if (fatal !== undefined)
      throw new SkeinError(
        'push_failed',
        `${failed.length} records were refused (${fatal}); ${progress.records} records were pushed`,
      );
    if (attempt >= maxAttempts)
      throw new SkeinError(
        'push_failed',
        `${failed.length} records still failing after ${maxAttempts} attempts (last error ${lastError}); ${progress.records} records were pushed — try again later or add shards to the stream`,
      );
    progress.retried += failed.length;
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
