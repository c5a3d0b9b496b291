import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { S3Client } from '@aws-sdk/client-s3';
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { kinesisClient, s3Client } from '../../functions/core/aws-clients.ts';
import { type Logger, memoryLogger } from '../../functions/core/logger.ts';
import { type ObjectStore, s3ObjectStore } from '../../functions/core/object-store.ts';
import { type HandlerOptions, ingestHandler } from '../../local/ingest-handler.ts';
import { IngestTally } from '../../local/ingest-tally.ts';
import type { KinesisBatchHandler } from '../../local/poller.ts';
import { type LocalStack, type LocalStackOptions, startLocalStack } from '../../local/stack.ts';
import { describeError } from '../../schemas/errors.ts';

/** The local stack with the real ingest handler behind its poller, counting what it ingests (a test's view). */
export interface CountingStack {
  readonly stack: LocalStack;
  readonly kinesis: KinesisClient;
  readonly s3: S3Client;
  readonly store: ObjectStore;
  /** Records of batches ingested without a failure so far. */
  ingested(): number;
  /**
   * Resolves once at least `count` records are ingested; rejects after `timeoutMs` (default 90 s, well inside the
   * integration timeout) with what the poller did meanwhile, so a stall says why instead of timing the test out.
   */
  waitForIngested(count: number, timeoutMs?: number): Promise<void>;
  /** Destroys the clients and stops the stack. */
  stop(): Promise<void>;
}

/**
 * Starts kinesalite, s3rver and the poller on `dir` with the real ingest handler (rollups of `handler.measures` at
 * `handler.latenessMs`), as `skein local up` runs them. The poller starts before the endpoints the handler needs
 * exist: its first invocations wait for the handler.
 */
export async function startCountingStack(
  options: Omit<LocalStackOptions, 'handler'>,
  handler: HandlerOptions,
  logger: Logger = memoryLogger(),
): Promise<CountingStack> {
  const problems: string[] = [];
  const note = (problem: string) => {
    problems.push(`${new Date().toISOString()} ${problem}`);
    if (problems.length > 10) problems.shift();
  };
  let ready!: (handler: KinesisBatchHandler) => void;
  const real = new Promise<KinesisBatchHandler>((resolve) => {
    ready = resolve;
  });
  let ingested = 0;
  const waiters: { until: number; resolve: () => void }[] = [];
  const counting = async (event: KinesisStreamEvent) => {
    let response: KinesisStreamBatchResponse | undefined;
    try {
      response = (await (await real)(event)) as KinesisStreamBatchResponse | undefined;
    } catch (error) {
      note(`handler threw: ${describeError(error)}`);
      throw error;
    }
    if ((response?.batchItemFailures.length ?? 0) === 0) ingested += event.Records.length;
    else note(`batch of ${event.Records.length} answered with batchItemFailures (see the ingest log)`);
    for (const w of waiters.filter((w) => ingested >= w.until)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
    return response;
  };
  const stack = await startLocalStack({
    ...options,
    handler: counting,
    onError: (error, shardId) => {
      note(`poller on ${shardId}: ${describeError(error)}`);
      options.onError?.(error, shardId);
    },
  });
  ready(await ingestHandler(stack.endpoints, logger, new IngestTally(), handler));
  const stalled = (count: number, timeoutMs: number) => {
    const stats = stack.poller.stats();
    const shards = stats.shards.map((s) => `${s.shardId} at ${s.checkpoint ?? 'start'}`).join(', ');
    return new Error(
      `ingested ${ingested} of ${count} records in ${timeoutMs / 1000} s; poller: ${stats.recordsRead} read, ` +
        `${stats.batches} invocations, ${stats.functionErrors} function errors, ${stats.partialFailures} partial ` +
        `failures; shards: ${shards}; last problems: ${problems.length ? problems.join(' | ') : 'none'}`,
    );
  };
  const kinesis = kinesisClient({ endpoint: stack.endpoints.kinesis });
  const s3 = s3Client({ endpoint: stack.endpoints.s3 });
  return {
    stack,
    kinesis,
    s3,
    store: s3ObjectStore(s3, stack.endpoints.bucket),
    ingested: () => ingested,
    waitForIngested: (count, timeoutMs = 90_000) =>
      new Promise<void>((resolve, reject) => {
        if (ingested >= count) return resolve();
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(stalled(count, timeoutMs));
        }, timeoutMs);
        const waiter = {
          until: count,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        };
        waiters.push(waiter);
      }),
    async stop() {
      kinesis.destroy();
      s3.destroy();
      await stack.stop();
    },
  };
}
