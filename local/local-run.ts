import type { CompactionRunSummary } from '../functions/compact/run-compaction.ts';
import { withHeartbeat, writeHeartbeat } from '../functions/core/heartbeat.ts';
import type { Logger } from '../functions/core/logger.ts';
import type { ObjectStore } from '../functions/core/object-store.ts';
import type { CompiledRuleSet } from '../functions/shared/rules/compile-rules.ts';
import { DEFAULT_MAX_WAIT_MS } from '../functions/shared/watermark.ts';
import type { LocalAlerting } from './alerting.ts';
import { type DemoWorkload, type DemoWorkloadOptions, startDemoWorkload } from './demo-workload.ts';
import type { Endpoints } from './endpoints.ts';
import type { HandlerFactory, HandlerOptions } from './ingest-handler.ts';
import type { IngestTally } from './ingest-tally.ts';
import type { KinesisBatchHandler } from './poller.ts';
import { type ScheduledJob, scheduleJob } from './scheduler.ts';
import { type LocalStack, type Stopped, startLocalStack } from './stack.ts';

/**
 * The compactor's settings on the local stack: an hour is compacted 2 minutes after it ends (10 on AWS) and the
 * files it replaced are deleted 2 minutes later (15 on AWS), so a demo shows it working within its first hour.
 */
export const LOCAL_COMPACT_ENV = { SKEIN_COMPACT_SETTLE_SECONDS: '120', SKEIN_COMPACT_GRACE_SECONDS: '120' } as const;

/** How often the poller's iterator age and discarded records are written to `status/local-poller/` (D20). */
const POLLER_STATUS_EVERY_MS = 2_000;

/**
 * Everything `skein local up` started, and how to stop it: each step registers its stop as it starts, and
 * {@link LocalRun.stop} runs them newest first (what uses the stack stops before the clients and the stack it uses),
 * then stops the stack, so runs in flight finish writing while S3 is still there. Safe to call twice.
 */
export class LocalRun {
  private readonly stops: (() => unknown)[] = [];
  private stack: LocalStack | undefined;

  /** Registers what {@link stop} undoes. */
  onStop(stop: () => unknown): void {
    this.stops.push(stop);
  }

  /** Stops every step newest first, then the stack: its answer says what is left in the stream. */
  async stop(): Promise<Stopped | undefined> {
    for (let stop = this.stops.pop(); stop; stop = this.stops.pop()) await stop();
    return await this.stack?.stop();
  }

  /** @internal the stack, once started by {@link startPipeline}. */
  setStack(stack: LocalStack): void {
    this.stack = stack;
  }
}

export interface PipelineOptions {
  readonly dir: string;
  readonly shards: number;
  readonly makeHandler: HandlerFactory;
  readonly handlerOptions: HandlerOptions;
  readonly tally: IngestTally;
  readonly logger: Logger;
  readonly compactEveryMs: number;
}

/** The running pipeline: emulators, poller and ingest; the bucket through the conditional-write proxy; the compactor. */
export interface Pipeline {
  readonly stack: LocalStack;
  readonly endpoints: Endpoints;
  readonly store: ObjectStore;
  readonly compactor: CompactorJob;
}

/**
 * Step 1: the emulators and the event-source poller (resuming what `dir` holds), the ingest function behind the
 * poller, the compactor on a timer and the poller's status marker (what Lambda's IteratorAge and the failed-batch
 * queue show on AWS, read by `skein smoke`).
 */
export async function startPipeline(run: LocalRun, o: PipelineOptions): Promise<Pipeline> {
  const log = o.logger;
  // The handler needs the endpoints, which exist once the emulators run: invocations wait for it.
  let handlerReady!: (handler: KinesisBatchHandler) => void;
  let handlerFailed!: (error: unknown) => void;
  const handler = new Promise<KinesisBatchHandler>((resolve, reject) => {
    handlerReady = resolve;
    handlerFailed = reject;
  });
  handler.catch(() => undefined);
  const stack = await startLocalStack({
    dir: o.dir,
    shards: o.shards,
    handler: async (event) => (await handler)(event),
    maximumBatchingWindowMs: 1_000,
    batchSize: 500,
    bisectBatchOnError: true,
    maximumRetryAttempts: 5,
    onFailure: (info) => log.error('records discarded after failed invocations', { ...info }),
    onError: (error, shardId) => log.warn('poller error', { shard: shardId, error: String(error) }),
  });
  run.setStack(stack);
  try {
    handlerReady(await o.makeHandler(stack.endpoints, log, o.tally, o.handlerOptions));
  } catch (error) {
    handlerFailed(error);
    throw error;
  }
  const { endpoints } = stack;
  const { s3Client } = await import('../functions/core/aws-clients.ts');
  const { s3ObjectStore } = await import('../functions/core/object-store.ts');
  // Through the stack's S3 endpoint, i.e. the proxy that enforces conditional writes the alert state relies on.
  const client = s3Client({ endpoint: endpoints.s3 });
  run.onStop(() => client.destroy());
  const store = s3ObjectStore(client, endpoints.bucket);

  const compactor = await startCompactor(store, endpoints.bucket, log, o.compactEveryMs);
  run.onStop(() => compactor.stop());
  const poller = stack.poller;
  const pollerStatus = scheduleJob({
    name: 'poller-status',
    everyMs: POLLER_STATUS_EVERY_MS,
    logger: log,
    job: () => {
      const p = poller.stats();
      return writeHeartbeat(store, 'local-poller', Date.now(), {
        iteratorAgeMs: p.iteratorAgeMs,
        discardedRecords: p.discardedRecords,
        failures: p.failures,
        records: p.records,
      });
    },
  });
  run.onStop(() => pollerStatus.stop());
  return { stack, endpoints, store, compactor };
}

export interface AlertingStepOptions {
  readonly dir: string;
  readonly rules: CompiledRuleSet;
  readonly notifyConfig: { readonly text: string; readonly source: string };
  readonly logger: Logger;
  readonly evaluateEveryMs: number;
  readonly latenessMs: number;
  readonly notifyEveryMs: number;
  readonly alertmanager: 'auto' | 'required';
}

/** Step 2: the evaluator and the notifier on timers, the sinks, and Alertmanager when installed. */
export async function startAlertingStep(
  run: LocalRun,
  pipeline: Pipeline,
  o: AlertingStepOptions,
): Promise<LocalAlerting> {
  const { startLocalAlerting } = await import('./alerting.ts');
  const { kinesisShardProgress } = await import('../functions/evaluate/shard-progress.ts');
  const { kinesisClient } = await import('../functions/core/aws-clients.ts');
  // The evaluator asks kinesalite how far idle shards are (no AT_TIMESTAMP there: it never answers one that finds no
  // record).
  const progressClient = kinesisClient({ endpoint: pipeline.endpoints.kinesis });
  run.onStop(() => progressClient.destroy());
  const alerting = await startLocalAlerting({
    ...o,
    store: pipeline.store,
    maxWaitMs: DEFAULT_MAX_WAIT_MS,
    progress: kinesisShardProgress(progressClient, pipeline.endpoints.stream, { atTimestamp: false }),
  });
  run.onStop(() => alerting.stop());
  return alerting;
}

export interface DemoStepOptions {
  readonly ratePerSecond: number;
  readonly incidents: DemoWorkloadOptions['incidents'] | null;
  readonly logger: Logger;
}

/** Step 3: the demo workload, pushing its services' records into the local stream. */
export async function startDemoStep(run: LocalRun, pipeline: Pipeline, o: DemoStepOptions): Promise<DemoWorkload> {
  const { kinesisClient } = await import('../functions/core/aws-clients.ts');
  const client = kinesisClient({ endpoint: pipeline.endpoints.kinesis });
  run.onStop(() => client.destroy());
  const workload = startDemoWorkload({
    kinesis: client,
    streamName: pipeline.endpoints.stream,
    ratePerSecond: o.ratePerSecond,
    ...(o.incidents ? { incidents: o.incidents } : {}),
    onError: (error) => o.logger.warn('demo workload: PutRecords failed', { error: String(error) }),
  });
  run.onStop(() => workload.stop());
  return workload;
}

/** The compactor's schedule, and its last run's summary. */
export type CompactorJob = ScheduledJob & { last(): { summary: CompactionRunSummary; at: number } | undefined };

/** The compactor on a timer, with the local settle and grace periods ({@link LOCAL_COMPACT_ENV}). */
async function startCompactor(store: ObjectStore, bucket: string, log: Logger, everyMs: number): Promise<CompactorJob> {
  const [{ loadCompactConfig }, { runCompaction }] = await Promise.all([
    import('../functions/compact/config.ts'),
    import('../functions/compact/run-compaction.ts'),
  ]);
  const config = loadCompactConfig({ SKEIN_BUCKET: bucket, ...LOCAL_COMPACT_ENV });
  const logger = log.child({ component: 'compact' });
  let last: { summary: CompactionRunSummary; at: number } | undefined;
  const job = scheduleJob({
    name: 'compactor',
    everyMs,
    logger,
    // The same last-run marker as the Lambda handler writes (D20), so `skein smoke --local` sees the compactor run.
    job: () =>
      withHeartbeat(
        store,
        'compact',
        Date.now,
        () => runCompaction({ store, clock: Date.now, logger, config }),
        (error) => logger.warn('last-run marker not written', { error: String(error) }),
      ),
    onResult: (summary, at) => {
      last = { summary, at };
    },
  });
  return Object.assign(job, { last: () => last });
}
