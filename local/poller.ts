import { setTimeout as delay } from 'node:timers/promises';
import {
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  ListShardsCommand,
  type ShardIteratorType,
} from '@aws-sdk/client-kinesis';
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { type Clock, systemClock } from '../functions/core/clock.ts';
import { describeError } from '../schemas/errors.ts';
import {
  afterInvoke,
  backoff,
  bufferBytes,
  buildEvent,
  classifyResponse,
  expireRecords,
  type FailureReason,
  type InvokeOutcome,
  MAX_PAYLOAD_BYTES,
  type RetryPolicy,
  type Segment,
  type StreamRecord,
  takeBatch,
} from './event-source-rules.ts';

export {
  afterInvoke,
  buildEvent,
  classifyResponse,
  expireRecords,
  type FailureReason,
  type InvokeOutcome,
  type RetryPolicy,
  type Segment,
  type Step,
  type StreamRecord,
  takeBatch,
} from './event-source-rules.ts';

/** What the event source mapping invokes: the Lambda handler's signature. */
// biome-ignore lint/suspicious/noConfusingVoidType: a Lambda handler may return nothing; aws-lambda's KinesisStreamHandler says the same
export type KinesisBatchHandler = (event: KinesisStreamEvent) => Promise<KinesisStreamBatchResponse | undefined | void>;

/** What Lambda sends to an on-failure destination for a Kinesis source (its `KinesisBatchInfo`, plus the reason). */
export interface FailureInfo {
  readonly reason: FailureReason;
  readonly shardId: string;
  readonly startSequenceNumber: string;
  readonly endSequenceNumber: string;
  readonly batchSize: number;
  /** ISO 8601 */
  readonly approximateArrivalOfFirstRecord: string;
  readonly approximateArrivalOfLastRecord: string;
  readonly streamArn: string;
  /** Invocations of these records, the first one included. */
  readonly approximateInvokeCount: number;
  /** The last function error or invalid response, when there was one. */
  readonly lastError?: string;
}

export interface PollerOptions {
  readonly kinesis: KinesisClient;
  readonly streamName: string;
  readonly handler: KinesisBatchHandler;
  /** Records per invocation, 1–10 000 (Lambda's default for Kinesis: 100). */
  readonly batchSize?: number;
  /** Gather records this long before invoking (0 = invoke as soon as a read returns records). Lambda: 0–300 s. */
  readonly maximumBatchingWindowMs?: number;
  readonly startingPosition?: 'TRIM_HORIZON' | 'LATEST';
  /** Resume after these sequence numbers (shard id → sequence number), e.g. from an earlier `stats().shards`. */
  readonly checkpoints?: Readonly<Record<string, string>>;
  /** Retries after the first attempt; -1 (default) retries until the records expire. */
  readonly maximumRetryAttempts?: number;
  /** Records older than this are not sent but reported to `onFailure`; -1 (default) = no limit. */
  readonly maximumRecordAgeMs?: number;
  /** On a function error split the batch in two and retry each half; splitting costs no retry attempt. */
  readonly bisectBatchOnError?: boolean;
  /** Wait between reads of an idle shard (default 200 ms; Lambda polls about once a second). */
  readonly pollIntervalMs?: number;
  /** Wait before the first retry; doubles per retry up to 5 s (default 100 ms, 0 in tests). */
  readonly retryBackoffMs?: number;
  /** The on-failure destination. */
  readonly onFailure?: (info: FailureInfo) => void | Promise<void>;
  /**
   * Persists a shard's checkpoint (Lambda's event source mapping keeps it in its own store). Called when the
   * checkpoint moves: after the handler succeeded for records (after a partial failure: up to the lowest failed one)
   * or records were given up on. Awaited, and retried until it succeeds or the poller stops, before that shard's next
   * invocation: so at most one batch per shard is ever processed past the persisted checkpoint, and it starts right
   * after it — a restart re-delivers exactly that batch's first record first (see decision D16).
   */
  readonly onCheckpoint?: (
    shardId: string,
    last: { readonly sequenceNumber: string; readonly arrivalMs: number },
  ) => Promise<void>;
  /** Errors of the poller itself (reads, the on-failure callback); the poller keeps going. */
  readonly onError?: (error: unknown, shardId: string) => void;
  readonly clock?: Clock;
  /** Shown as the event's `invokeIdentityArn`. */
  readonly invokeIdentityArn?: string;
}

export interface ShardStats {
  readonly shardId: string;
  /** Sequence number of the last record processed or given up on: resume after it. */
  readonly checkpoint: string | undefined;
  /** The checkpoint last persisted through `onCheckpoint` (or the one the poller started from). */
  readonly persisted: string | undefined;
  /** Age of the last record of the last invocation when it was sent (Lambda's `IteratorAge`). */
  readonly iteratorAgeMs: number;
}

export interface PollerStats {
  /** Invocations of the handler, retries included. */
  readonly batches: number;
  /** Records the handler processed successfully. */
  readonly records: number;
  /** Records read from the stream. */
  readonly recordsRead: number;
  /** Invocations that repeated records after a failure (bisected halves included). */
  readonly retries: number;
  /** Invocations that threw or answered with an invalid response. */
  readonly functionErrors: number;
  /** Invocations that answered with `batchItemFailures`. */
  readonly partialFailures: number;
  /** Reports to `onFailure`, and the records in them. */
  readonly failures: number;
  readonly discardedRecords: number;
  /** Largest iterator age over the shards. */
  readonly iteratorAgeMs: number;
  readonly shards: readonly ShardStats[];
}

export interface Poller {
  readonly streamArn: string;
  stats(): PollerStats;
  /** Stops reading, waits for the invocations in flight to finish. Records not yet processed are left in the stream. */
  stop(): Promise<void>;
}

// Lambda's limit: batch size 10 000 for Kinesis; GetRecords returns ≤ 10 000 (the 6 MB payload: event-source-rules.ts).
const MAX_BATCH_SIZE = 10_000;

/**
 * Starts one polling loop per shard of `streamName` with the semantics of Lambda's Kinesis event source mapping:
 * in-order batches per shard, batching window, partial batch responses (`ReportBatchItemFailures`), retries,
 * bisect on error, maximum record age and an on-failure callback.
 *
 * @example
 * const poller = await startPoller({ kinesis, streamName: 'skein', handler: (event) => ingestBatch(event, deps) });
 * // …
 * await poller.stop();
 */
export async function startPoller(options: PollerOptions): Promise<Poller> {
  const batchSize = options.batchSize ?? 100;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH_SIZE)
    throw new RangeError(`batchSize must be an integer from 1 to ${MAX_BATCH_SIZE}, got ${batchSize}`);
  const { kinesis, streamName } = options;
  const summary = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: streamName }));
  const streamArn =
    summary.StreamDescriptionSummary?.StreamARN ?? `arn:aws:kinesis:us-east-1:000000000000:stream/${streamName}`;
  const region = streamArn.split(':')[3] ?? 'us-east-1';
  const account = streamArn.split(':')[4] ?? '000000000000';
  const shardIds = await listShardIds(kinesis, streamName);
  const counters = newCounters();
  const abort = new AbortController();
  const config: ShardConfig = {
    kinesis,
    streamName,
    streamArn,
    region,
    invokeIdentityArn: options.invokeIdentityArn ?? `arn:aws:iam::${account}:role/skein-local-ingest`,
    handler: options.handler,
    batchSize,
    windowMs: options.maximumBatchingWindowMs ?? 0,
    startingPosition: options.startingPosition ?? 'TRIM_HORIZON',
    policy: {
      maximumRetryAttempts: options.maximumRetryAttempts ?? -1,
      bisectBatchOnError: options.bisectBatchOnError ?? false,
    },
    maximumRecordAgeMs: options.maximumRecordAgeMs ?? -1,
    pollIntervalMs: options.pollIntervalMs ?? 200,
    retryBackoffMs: options.retryBackoffMs ?? 100,
    onFailure: options.onFailure,
    onCheckpoint: options.onCheckpoint,
    onError: options.onError ?? (() => undefined),
    clock: options.clock ?? systemClock,
    signal: abort.signal,
    counters,
  };
  const workers = shardIds.map((shardId) => new ShardWorker(config, shardId, options.checkpoints?.[shardId]));
  const loops = workers.map((worker) => worker.run());
  return {
    streamArn,
    stats: () => ({
      ...counters,
      iteratorAgeMs: Math.max(0, ...workers.map((w) => w.iteratorAgeMs)),
      shards: workers.map((w) => ({
        shardId: w.shardId,
        checkpoint: w.checkpoint,
        persisted: w.persisted,
        iteratorAgeMs: w.iteratorAgeMs,
      })),
    }),
    async stop() {
      abort.abort();
      await Promise.all(loops);
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The loop per shard.

interface ShardConfig {
  readonly kinesis: KinesisClient;
  readonly streamName: string;
  readonly streamArn: string;
  readonly region: string;
  readonly invokeIdentityArn: string;
  readonly handler: KinesisBatchHandler;
  readonly batchSize: number;
  readonly windowMs: number;
  readonly startingPosition: 'TRIM_HORIZON' | 'LATEST';
  readonly policy: RetryPolicy;
  readonly maximumRecordAgeMs: number;
  readonly pollIntervalMs: number;
  readonly retryBackoffMs: number;
  readonly onFailure: ((info: FailureInfo) => void | Promise<void>) | undefined;
  readonly onCheckpoint: PollerOptions['onCheckpoint'];
  readonly onError: (error: unknown, shardId: string) => void;
  readonly clock: Clock;
  readonly signal: AbortSignal;
  readonly counters: Counters;
}

type Counters = { -readonly [K in Exclude<keyof PollerStats, 'iteratorAgeMs' | 'shards'>]: number };

function newCounters(): Counters {
  return {
    batches: 0,
    records: 0,
    recordsRead: 0,
    retries: 0,
    functionErrors: 0,
    partialFailures: 0,
    failures: 0,
    discardedRecords: 0,
  };
}

class ShardWorker {
  checkpoint: string | undefined;
  /** The checkpoint `onCheckpoint` last wrote (the resume point until then). */
  persisted: string | undefined;
  iteratorAgeMs = 0;
  private iterator: string | undefined;
  /** Last sequence number read: a new iterator starts after it. */
  private lastRead: string | undefined;
  private closed = false;
  private readonly buffer: StreamRecord[] = [];
  private readonly queue: Segment<StreamRecord>[] = [];

  constructor(
    private readonly config: ShardConfig,
    readonly shardId: string,
    resumeAfter: string | undefined,
  ) {
    this.checkpoint = resumeAfter;
    this.persisted = resumeAfter;
    this.lastRead = resumeAfter;
  }

  async run(): Promise<void> {
    const { config } = this;
    while (!config.signal.aborted) {
      let segment = this.queue.shift();
      if (!segment) {
        const batch = await this.collectBatch();
        if (!batch) {
          if (this.closed) return;
          continue;
        }
        segment = { records: batch, retries: 0, invocations: 0 };
      }
      const { expired, rest } = expireRecords(segment, config.clock(), config.maximumRecordAgeMs);
      if (expired.length) {
        await this.discard(expired, 'RecordAgeExceeded', segment);
        await this.persist(expired[expired.length - 1] as StreamRecord);
      }
      if (!rest) continue;
      const isRetry = rest.invocations > 0;
      if (isRetry) {
        const wait = backoff(config.retryBackoffMs, rest.retries);
        if (wait > 0) await this.sleep(wait);
        if (config.signal.aborted) return;
      }
      const outcome = await this.invoke(rest.records, isRetry);
      const step = afterInvoke({ ...rest, invocations: rest.invocations + 1 }, outcome, config.policy);
      let moved: StreamRecord | undefined;
      if (step.done.length) {
        config.counters.records += step.done.length;
        moved = step.done[step.done.length - 1] as StreamRecord;
        this.checkpoint = moved.sequenceNumber;
      }
      if (step.discarded) {
        await this.discard(step.discarded.records, step.discarded.reason, step.discarded.segment);
        moved = step.discarded.records[step.discarded.records.length - 1] as StreamRecord;
      }
      // Even when stopping: the invocation in flight finished, so its checkpoint is kept.
      if (moved) await this.persist(moved);
      this.queue.unshift(...step.next);
    }
  }

  /** Persists the checkpoint at `last` (already the in-memory one); retried until written or the poller stops. */
  private async persist(last: StreamRecord): Promise<void> {
    const { config } = this;
    if (!config.onCheckpoint) return;
    for (let attempt = 1; ; attempt++) {
      try {
        await config.onCheckpoint(this.shardId, { sequenceNumber: last.sequenceNumber, arrivalMs: last.arrivalMs });
        this.persisted = last.sequenceNumber;
        return;
      } catch (error) {
        config.onError(error, this.shardId);
        // Stopping: the persisted checkpoint stays behind, which only means a re-delivery at the next start.
        if (config.signal.aborted) return;
        await this.sleep(backoff(Math.max(config.retryBackoffMs, 10), attempt));
      }
    }
  }

  private async invoke(records: readonly StreamRecord[], isRetry: boolean): Promise<InvokeOutcome> {
    const { config } = this;
    const last = records[records.length - 1] as StreamRecord;
    this.iteratorAgeMs = Math.max(0, config.clock() - last.arrivalMs);
    config.counters.batches++;
    if (isRetry) config.counters.retries++;
    const event = buildEvent(records, { shardId: this.shardId, ...config });
    let outcome: InvokeOutcome;
    try {
      outcome = classifyResponse(
        await config.handler(event),
        records.map((r) => r.sequenceNumber),
      );
    } catch (error) {
      outcome = { kind: 'error', error: describeError(error) };
    }
    if (outcome.kind === 'error') config.counters.functionErrors++;
    if (outcome.kind === 'partial') config.counters.partialFailures++;
    return outcome;
  }

  private async discard(records: readonly StreamRecord[], reason: FailureReason, segment: Segment<StreamRecord>) {
    const { config } = this;
    const first = records[0] as StreamRecord;
    const last = records[records.length - 1] as StreamRecord;
    this.checkpoint = last.sequenceNumber;
    config.counters.failures++;
    config.counters.discardedRecords += records.length;
    const info: FailureInfo = {
      reason,
      shardId: this.shardId,
      startSequenceNumber: first.sequenceNumber,
      endSequenceNumber: last.sequenceNumber,
      batchSize: records.length,
      approximateArrivalOfFirstRecord: new Date(first.arrivalMs).toISOString(),
      approximateArrivalOfLastRecord: new Date(last.arrivalMs).toISOString(),
      streamArn: config.streamArn,
      approximateInvokeCount: segment.invocations,
      ...(segment.lastError ? { lastError: segment.lastError } : {}),
    };
    try {
      await config.onFailure?.(info);
    } catch (error) {
      config.onError(error, this.shardId);
    }
  }

  /** Reads until a batch is due (full, ~6 MB, or the batching window passed); `undefined` when stopped or the shard closed. */
  private async collectBatch(): Promise<StreamRecord[] | undefined> {
    const { config } = this;
    let windowEnds = this.buffer.length ? config.clock() + config.windowMs : undefined;
    while (!config.signal.aborted) {
      if (this.buffer.length >= config.batchSize || bufferBytes(this.buffer) >= MAX_PAYLOAD_BYTES)
        return takeBatch(this.buffer, config.batchSize);
      if (windowEnds !== undefined && config.clock() >= windowEnds) return takeBatch(this.buffer, config.batchSize);
      if (this.closed) return this.buffer.length ? takeBatch(this.buffer, config.batchSize) : undefined;
      const wanted = config.batchSize - this.buffer.length;
      const got = await this.read(wanted);
      if (got > 0 && windowEnds === undefined) windowEnds = config.clock() + config.windowMs;
      if (got < wanted && (windowEnds === undefined || config.clock() < windowEnds)) {
        // Caught up with the shard: wait for more, but not past the batching window.
        const wait =
          windowEnds === undefined
            ? config.pollIntervalMs
            : Math.min(config.pollIntervalMs, windowEnds - config.clock());
        if (wait > 0) await this.sleep(wait);
      }
    }
    return undefined;
  }

  /** One GetRecords call; the number of records it added to the buffer. */
  private async read(limit: number): Promise<number> {
    const { config } = this;
    try {
      if (this.iterator === undefined) this.iterator = await this.newIterator();
      const out = await config.kinesis.send(
        new GetRecordsCommand({ ShardIterator: this.iterator, Limit: Math.min(limit, MAX_BATCH_SIZE) }),
        {
          abortSignal: config.signal,
        },
      );
      this.iterator = out.NextShardIterator;
      // A closed shard (after a split or merge) has no next iterator. Child shards are not followed.
      if (this.iterator === undefined) this.closed = true;
      const now = config.clock();
      for (const record of out.Records ?? []) {
        if (!record.SequenceNumber) continue;
        this.buffer.push({
          sequenceNumber: record.SequenceNumber,
          partitionKey: record.PartitionKey ?? '',
          data: record.Data ?? new Uint8Array(),
          arrivalMs: record.ApproximateArrivalTimestamp?.getTime() ?? now,
        });
        this.lastRead = record.SequenceNumber;
      }
      config.counters.recordsRead += out.Records?.length ?? 0;
      return out.Records?.length ?? 0;
    } catch (error) {
      if (config.signal.aborted) return 0;
      // Iterators expire after 5 minutes (an invocation that slow, or a long backoff): get a new one after lastRead.
      this.iterator = undefined;
      if (!(error instanceof Error && error.name === 'ExpiredIteratorException')) {
        config.onError(error, this.shardId);
        await this.sleep(config.pollIntervalMs);
      }
      return 0;
    }
  }

  private async newIterator(): Promise<string | undefined> {
    const { config } = this;
    const type: ShardIteratorType = this.lastRead ? 'AFTER_SEQUENCE_NUMBER' : config.startingPosition;
    const out = await config.kinesis.send(
      new GetShardIteratorCommand({
        StreamName: config.streamName,
        ShardId: this.shardId,
        ShardIteratorType: type,
        ...(this.lastRead ? { StartingSequenceNumber: this.lastRead } : {}),
      }),
      { abortSignal: config.signal },
    );
    return out.ShardIterator;
  }

  private async sleep(ms: number): Promise<void> {
    await delay(ms, undefined, { signal: this.config.signal }).catch(() => undefined);
  }
}

async function listShardIds(kinesis: KinesisClient, streamName: string): Promise<string[]> {
  const ids: string[] = [];
  let nextToken: string | undefined;
  do {
    const out = await kinesis.send(
      new ListShardsCommand(nextToken ? { NextToken: nextToken } : { StreamName: streamName }),
    );
    for (const shard of out.Shards ?? []) if (shard.ShardId) ids.push(shard.ShardId);
    nextToken = out.NextToken;
  } while (nextToken);
  return ids;
}
