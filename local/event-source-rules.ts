import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';

/**
 * The rules of Lambda's Kinesis event source mapping, as pure functions the poller (poller.ts) applies: how a
 * handler's answer is read, what is retried, bisected, checkpointed or discarded, how batches are cut and what the
 * event looks like.
 */

/** One record read from a shard, before it is put into an event. */
export interface StreamRecord {
  readonly sequenceNumber: string;
  readonly partitionKey: string;
  readonly data: Uint8Array;
  /** `ApproximateArrivalTimestamp`, ms since the epoch. */
  readonly arrivalMs: number;
}

/** Why records were given up on: the `condition` Lambda writes into its on-failure destination record. */
export type FailureReason = 'RetryAttemptsExhausted' | 'RecordAgeExceeded';

// Lambda's limit: synchronous invocation payload 6 MB.
export const MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;
const MAX_BACKOFF_MS = 5_000;

/** How an invocation ended, from the event source mapping's point of view. */
export type InvokeOutcome =
  | { readonly kind: 'success' }
  /** `failedIndex`: position in the batch of the failed record with the lowest sequence number. */
  | { readonly kind: 'partial'; readonly failedIndex: number }
  | { readonly kind: 'error'; readonly error: string };

/**
 * Reads a handler's answer as Lambda does with `ReportBatchItemFailures`: no answer, no `batchItemFailures` or an
 * empty list is success; failures name records by `itemIdentifier` (the sequence number) and the lowest one becomes
 * the checkpoint; an item without a non-empty string identifier, or one not in the batch, fails the whole batch.
 */
export function classifyResponse(response: unknown, sequenceNumbers: readonly string[]): InvokeOutcome {
  if (response === undefined || response === null || typeof response !== 'object') return { kind: 'success' };
  const failures: unknown = (response as { batchItemFailures?: unknown }).batchItemFailures;
  if (failures === undefined || failures === null) return { kind: 'success' };
  if (!Array.isArray(failures)) return { kind: 'error', error: 'invalid response: batchItemFailures is not a list' };
  if (failures.length === 0) return { kind: 'success' };
  let lowest = Number.POSITIVE_INFINITY;
  for (const item of failures) {
    const id: unknown =
      item !== null && typeof item === 'object' ? (item as { itemIdentifier?: unknown }).itemIdentifier : undefined;
    if (typeof id !== 'string' || id === '')
      return { kind: 'error', error: 'invalid response: empty or missing itemIdentifier' };
    const index = sequenceNumbers.indexOf(id);
    if (index === -1) return { kind: 'error', error: `invalid response: itemIdentifier ${id} is not in the batch` };
    if (index < lowest) lowest = index;
  }
  return { kind: 'partial', failedIndex: lowest };
}

/** Records still to be sent, and how many retries they have used. */
export interface Segment<R> {
  readonly records: readonly R[];
  readonly retries: number;
  /** Invocations these records have seen (for the on-failure report). */
  readonly invocations: number;
  readonly lastError?: string;
}

export interface RetryPolicy {
  /** -1 = unlimited */
  readonly maximumRetryAttempts: number;
  readonly bisectBatchOnError: boolean;
}

/** What to do after an invocation of `segment`. */
export interface Step<R> {
  /** Processed: the checkpoint moves past them. */
  readonly done: readonly R[];
  /** Given up on: the checkpoint moves past them too, and they are reported. */
  readonly discarded?: { readonly records: readonly R[]; readonly reason: FailureReason; readonly segment: Segment<R> };
  /** Sent next, before any new record, in this order. */
  readonly next: readonly Segment<R>[];
  readonly bisected: boolean;
}

/**
 * The event source mapping's decision after one invocation. Success checkpoints the whole batch. A partial failure
 * checkpoints before the lowest failed record and retries from it (one retry attempt). A function error retries the
 * whole batch (one attempt) or, with bisect on and more than one record, splits it in two halves sent one after the
 * other (no attempt used, as in Lambda). Past `maximumRetryAttempts` the records are discarded.
 */
export function afterInvoke<R>(segment: Segment<R>, outcome: InvokeOutcome, policy: RetryPolicy): Step<R> {
  const { records } = segment;
  if (outcome.kind === 'success') return { done: records, next: [], bisected: false };
  const invocations = segment.invocations;
  if (outcome.kind === 'error' && policy.bisectBatchOnError && records.length > 1) {
    const half = Math.ceil(records.length / 2);
    const base = { retries: segment.retries, invocations, lastError: outcome.error };
    return {
      done: [],
      next: [
        { ...base, records: records.slice(0, half) },
        { ...base, records: records.slice(half) },
      ],
      bisected: true,
    };
  }
  const done = outcome.kind === 'partial' ? records.slice(0, outcome.failedIndex) : [];
  const rest = outcome.kind === 'partial' ? records.slice(outcome.failedIndex) : records;
  const lastError =
    outcome.kind === 'error' ? outcome.error : `batchItemFailures from sequence number ${describeFirst(rest)}`;
  const retried: Segment<R> = { records: rest, retries: segment.retries + 1, invocations, lastError };
  if (policy.maximumRetryAttempts >= 0 && retried.retries > policy.maximumRetryAttempts)
    return {
      done,
      discarded: { records: rest, reason: 'RetryAttemptsExhausted', segment: retried },
      next: [],
      bisected: false,
    };
  return { done, next: [retried], bisected: false };
}

/** Splits off the leading records older than `maximumRecordAgeMs` (-1: none are too old). */
export function expireRecords<R extends { readonly arrivalMs: number }>(
  segment: Segment<R>,
  nowMs: number,
  maximumRecordAgeMs: number,
): { readonly expired: readonly R[]; readonly rest: Segment<R> | undefined } {
  if (maximumRecordAgeMs < 0) return { expired: [], rest: segment };
  let n = 0;
  while (n < segment.records.length && nowMs - (segment.records[n]?.arrivalMs ?? nowMs) > maximumRecordAgeMs) n++;
  if (n === 0) return { expired: [], rest: segment };
  const rest = segment.records.slice(n);
  return { expired: segment.records.slice(0, n), rest: rest.length ? { ...segment, records: rest } : undefined };
}

/** Takes the next batch off `buffer`: at most `batchSize` records and about 6 MB of event (at least one record). */
export function takeBatch(buffer: StreamRecord[], batchSize: number): StreamRecord[] {
  let bytes = 0;
  let n = 0;
  while (n < buffer.length && n < batchSize) {
    const size = eventRecordBytes(buffer[n] as StreamRecord);
    if (n > 0 && bytes + size > MAX_PAYLOAD_BYTES) break;
    bytes += size;
    n++;
  }
  return buffer.splice(0, n);
}

/** Approximate JSON size of one record in the event: base64 data, the ids twice, the fixed fields and ARNs. */
function eventRecordBytes(record: StreamRecord): number {
  return (
    Math.ceil(record.data.byteLength / 3) * 4 + record.partitionKey.length + 2 * record.sequenceNumber.length + 450
  );
}

/** Approximate event size of the buffered records. */
export function bufferBytes(buffer: readonly StreamRecord[]): number {
  let bytes = 0;
  for (const record of buffer) bytes += eventRecordBytes(record);
  return bytes;
}

/** Builds the event Lambda would send for `records` of one shard. */
export function buildEvent(
  records: readonly StreamRecord[],
  source: {
    readonly shardId: string;
    readonly streamArn: string;
    readonly region: string;
    readonly invokeIdentityArn: string;
  },
): KinesisStreamEvent {
  const out: KinesisStreamRecord[] = new Array(records.length);
  for (let i = 0; i < records.length; i++) {
    const r = records[i] as StreamRecord;
    out[i] = {
      kinesis: {
        kinesisSchemaVersion: '1.0',
        partitionKey: r.partitionKey,
        sequenceNumber: r.sequenceNumber,
        data: Buffer.from(r.data.buffer, r.data.byteOffset, r.data.byteLength).toString('base64'),
        approximateArrivalTimestamp: r.arrivalMs / 1000,
      },
      eventSource: 'aws:kinesis',
      eventVersion: '1.0',
      eventID: `${source.shardId}:${r.sequenceNumber}`,
      eventName: 'aws:kinesis:record',
      invokeIdentityArn: source.invokeIdentityArn,
      awsRegion: source.region,
      eventSourceARN: source.streamArn,
    };
  }
  return { Records: out };
}

function describeFirst<R>(records: readonly R[]): string {
  const first = records[0] as { sequenceNumber?: string } | undefined;
  return first?.sequenceNumber ?? '?';
}

/** Delay before retry `retries` (≥ 1): doubling from `baseMs`, at most 5 s; 0 when `baseMs` is 0. */
export function backoff(baseMs: number, retries: number): number {
  if (baseMs <= 0) return 0;
  return Math.min(MAX_BACKOFF_MS, baseMs * 2 ** Math.max(0, retries - 1));
}
