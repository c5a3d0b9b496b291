import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { pushRecords } from '../../cli/put-records.ts';
import { loadCompactConfig } from '../../functions/compact/config.ts';
import { type CompactionRunSummary, runCompaction } from '../../functions/compact/run-compaction.ts';
import { kinesisClient, s3Client } from '../../functions/core/aws-clients.ts';
import { memoryLogger } from '../../functions/core/logger.ts';
import { type ObjectStore, s3ObjectStore } from '../../functions/core/object-store.ts';
import { loadIngestConfig } from '../../functions/ingest/config.ts';
import { ingest } from '../../functions/ingest/ingest-batch.ts';
import { DeliveryRecord, deliveryKey, outboxStem } from '../../functions/notify/delivery-store.ts';
import { nodeHttpSender } from '../../functions/notify/http-sender.ts';
import { type NotifyDeps, type NotifySummary, notifyOnce } from '../../functions/notify/notify-once.ts';
import { staticSecretProvider } from '../../functions/notify/secrets.ts';
import { type ConditionalS3Proxy, type S3FaultRule, startConditionalS3Proxy } from '../../local/conditional-s3.ts';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import type { NotifyConfig } from '../../schemas/notify-config.ts';
import type { GeneratedRecord } from './hostile-records.ts';

/**
 * The reliability suite's stack: the local stack (kinesalite, the Lambda-like poller, s3rver behind the conditional
 * proxy) with every S3 client of the scenario reaching it through a second proxy whose fault schedule the scenario
 * controls. The clients give up on a request after `requestTimeoutMs` (the local stand-in for the Lambda timeout),
 * so a hang costs a timeout and an SDK retry, never a stuck shard.
 */
export interface ChaosStack {
  readonly stack: LocalStack;
  readonly faults: ConditionalS3Proxy['faults'];
  /** The bucket through the faulty proxy. */
  readonly store: ObjectStore;
  /** The bucket without faults (for reconciliation). */
  readonly direct: ObjectStore;
  /** Replaces what the poller invokes (default: ingest through the faulty proxy, with re-deliveries as configured). */
  setHandler(handler: (event: KinesisStreamEvent) => Promise<KinesisStreamBatchResponse>): void;
  /** Ingest through the faulty proxy with `clock` (the default handler uses the system clock). */
  ingestWith(clock: () => number): (event: KinesisStreamEvent) => Promise<KinesisStreamBatchResponse>;
  /** Batches whose successful answer was "lost" so the poller delivered them again. */
  redelivered(): number;
  stop(): Promise<void>;
}

export interface ChaosStackOptions {
  readonly dir: string;
  readonly shards?: number;
  readonly batchSize?: number;
  /** Every n-th batch that succeeds answers as if it failed at its first record, once: the poller re-delivers it. */
  readonly redeliverEvery?: number;
  readonly requestTimeoutMs?: number;
}

export async function startChaosStack(options: ChaosStackOptions): Promise<ChaosStack> {
  let handler: ((event: KinesisStreamEvent) => Promise<KinesisStreamBatchResponse>) | undefined;
  const stack = await startLocalStack({
    dir: options.dir,
    shards: options.shards ?? 2,
    batchSize: options.batchSize ?? 200,
    maximumBatchingWindowMs: 100,
    bisectBatchOnError: true,
    retryBackoffMs: 20,
    handler: async (event) => {
      if (!handler) throw new Error('the chaos stack is not ready');
      return handler(event);
    },
  });
  let proxy: ConditionalS3Proxy | undefined;
  try {
    proxy = await startConditionalS3Proxy({ upstream: stack.endpoints.s3 });
  } catch (error) {
    await stack.stop();
    throw error;
  }
  const client = s3Client({ endpoint: proxy.endpoint, requestTimeoutMs: options.requestTimeoutMs ?? 2_000 });
  const store = s3ObjectStore(client, stack.endpoints.bucket);
  const directClient = s3Client({ endpoint: stack.endpoints.s3 });
  const direct = s3ObjectStore(directClient, stack.endpoints.bucket);
  const config = loadIngestConfig({ SKEIN_BUCKET: stack.endpoints.bucket, SKEIN_ROW_GROUP_ROWS: '1000' });
  const ingestWith =
    (clock: () => number) =>
    async (event: KinesisStreamEvent): Promise<KinesisStreamBatchResponse> =>
      (await ingest(event.Records, { store, config, clock, logger: memoryLogger() })).response;
  const lost = new Set<string>();
  let successes = 0;
  const plain = ingestWith(Date.now);
  handler = async (event) => {
    const response = await plain(event);
    const first = event.Records[0]?.kinesis.sequenceNumber ?? '';
    const every = options.redeliverEvery ?? 0;
    if (every > 0 && response.batchItemFailures.length === 0 && !lost.has(first) && ++successes % every === 0) {
      lost.add(first);
      return { batchItemFailures: [{ itemIdentifier: first }] };
    }
    return response;
  };
  const running = proxy;
  return {
    stack,
    faults: running.faults,
    store,
    direct,
    setHandler(next) {
      handler = next;
    },
    ingestWith,
    redelivered: () => lost.size,
    async stop() {
      client.destroy();
      directClient.destroy();
      await stack.stop();
      await running.stop();
    },
  };
}

/** Puts records on the stack's stream (the CLI's pusher: batching, limits, retries of throttled entries). */
export async function pushGenerated(stack: LocalStack, records: readonly GeneratedRecord[]): Promise<void> {
  const kinesis = kinesisClient({ endpoint: stack.endpoints.kinesis });
  try {
    await pushRecords(
      records.map((r) => ({ data: r.data, partitionKey: r.partitionKey, origin: r.label })),
      { stream: stack.endpoints.stream, putRecords: (input) => kinesis.send(new PutRecordsCommand(input)) },
    );
  } finally {
    kinesis.destroy();
  }
}

/** Waits until the poller has processed `total` more records than `before` (retries not counted twice). */
export async function waitForProcessed(stack: LocalStack, before: number, total: number, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (stack.poller.stats().records < before + total) {
    if (Date.now() > deadline) {
      const s = stack.poller.stats();
      throw new Error(
        `the poller processed ${s.records - before} of ${total} records in ${timeoutMs} ms (read ${s.recordsRead}, ${s.batches} batches, ${s.retries} retries, ${s.functionErrors} errors)`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The fault schedule of ingest writes: throttling, errors, answers lost after the write, latency and hangs. */
export function ingestFaults(hangs: number): S3FaultRule[] {
  return [
    { kind: 'slow-down', operations: ['put'], keyPrefix: 'tables/', every: 5 },
    { kind: 'internal-error', operations: ['put'], keyPrefix: 'rollups/', every: 4 },
    { kind: 'reset', operations: ['put'], keyPrefix: 'tables/', every: 7, afterWrite: true },
    { kind: 'internal-error', operations: ['put'], keyPrefix: 'quarantine/', every: 3, afterWrite: true },
    { kind: 'latency', operations: ['put', 'list', 'get'], every: 3, latencyMs: 30 },
    { kind: 'hang', operations: ['put'], keyPrefix: 'tables/', every: 50, times: hangs },
  ];
}

/** The fault schedule of a compaction run: its reads, manifest writes and deletes. */
export function compactionFaults(): S3FaultRule[] {
  return [
    { kind: 'internal-error', operations: ['get'], keyPrefix: 'tables/', every: 3, times: 6 },
    { kind: 'slow-down', operations: ['put'], keyPrefix: 'tables/_manifests/', every: 2, times: 3 },
    { kind: 'reset', operations: ['put'], keyPrefix: 'tables/_manifests/', afterWrite: true, times: 1 },
    { kind: 'reset', operations: ['delete'], every: 2, times: 4 },
    { kind: 'slow-down', operations: ['list'], every: 4, times: 4 },
  ];
}

/** Compacts (clock `nowMs`, no settle, no grace) until a run reports no failed hour and no work left. */
export async function compactUntilDone(
  store: ObjectStore,
  nowMs: number,
  maxRuns = 20,
): Promise<CompactionRunSummary[]> {
  const { bucket: _b, logLevel: _l, ...rest } = loadCompactConfig({ SKEIN_BUCKET: 'skein-local' });
  const runs: CompactionRunSummary[] = [];
  for (let i = 0; i < maxRuns; i++) {
    let summary: CompactionRunSummary;
    try {
      summary = await runCompaction({
        store,
        clock: () => nowMs + i,
        logger: memoryLogger(),
        config: { ...rest, settleMs: 0, graceMs: 0 },
      });
    } catch {
      continue; // the listing itself failed: the next scheduled run starts over
    }
    runs.push(summary);
    if (summary.hours.length === 0 && summary.deferred === 0) break; // nothing left: compacted and cleaned up
  }
  return runs;
}

/** What a notification scenario delivered, per (transition, endpoint) record. */
export interface DeliveryTally {
  readonly expected: number;
  readonly delivered: number;
  readonly dead: number;
  readonly disabled: number;
  /** `(transition, endpoint)` pairs with no terminal record, or an unreadable one. */
  readonly unaccounted: readonly string[];
  readonly passes: number;
  /** `endpoint status` → count. */
  readonly byEndpoint: Readonly<Record<string, number>>;
  /** Distinct errors of failed passes (an S3 fault failing a whole pass). */
  readonly passErrors: readonly string[];
}

/**
 * Runs the notifier over `outboxKeys` (first pass from the "S3 event", then scans on a clock advanced 5 s per pass)
 * until nothing is pending, then counts its delivery records: every (transition, endpoint) must be delivered,
 * dead-lettered or disabled.
 */
/** The notifier of a scenario: its bucket and configuration, the secrets by name, the clock's start. */
export interface NotifySetup {
  readonly store: ObjectStore;
  readonly config: NotifyConfig;
  readonly secrets: Readonly<Record<string, string>>;
  readonly startMs: number;
}

export async function notifyUntilSettled(
  setup: NotifySetup,
  outboxKeys: readonly string[],
  endpoints: readonly string[],
  /** Where the records are counted from once the passes are over (the same bucket without the faults). */
  countFrom: ObjectStore,
  maxPasses = 60,
): Promise<DeliveryTally> {
  // A clock of its own, moved 5 s a pass: retries and backoffs come due without waiting for them.
  const clock = { now: setup.startMs };
  const deps: NotifyDeps = {
    store: setup.store,
    config: setup.config,
    secrets: staticSecretProvider(setup.secrets),
    http: nodeHttpSender(),
    clock: () => clock.now,
    logger: memoryLogger(),
    random: Math.random,
  };
  let passes = 0;
  let summary: NotifySummary | undefined;
  const passErrors = new Set<string>();
  for (; passes < maxPasses; passes++) {
    try {
      summary = await notifyOnce(deps, passes === 0 ? { keys: outboxKeys } : {});
      if (summary.pending === 0 && passes > 0) break;
    } catch (error) {
      // An S3 fault failed the whole pass (as it fails the Lambda invocation): the next scheduled pass retries.
      passErrors.add(error instanceof Error ? error.message.slice(0, 200) : String(error));
    }
    clock.now += 5_000;
  }
  let delivered = 0;
  let dead = 0;
  let disabled = 0;
  const unaccounted: string[] = [];
  const byEndpoint: Record<string, number> = {};
  for (const key of outboxKeys) {
    for (const endpoint of endpoints) {
      const body = await countFrom.get(deliveryKey(outboxStem(key), endpoint));
      const parsed = body ? DeliveryRecord.safeParse(JSON.parse(Buffer.from(body).toString('utf8'))) : undefined;
      const status = parsed?.success ? parsed.data.status : undefined;
      byEndpoint[`${endpoint} ${status ?? 'none'}`] = (byEndpoint[`${endpoint} ${status ?? 'none'}`] ?? 0) + 1;
      if (status === 'delivered') delivered++;
      else if (status === 'dead') dead++;
      else if (status === 'disabled') disabled++;
      else unaccounted.push(`${outboxStem(key)} → ${endpoint}: ${status ?? 'no record'}`);
    }
  }
  return {
    expected: outboxKeys.length * endpoints.length,
    delivered,
    dead,
    disabled,
    unaccounted,
    passes,
    byEndpoint,
    passErrors: [...passErrors],
  };
}
