import { isAbsolute, relative } from 'node:path';
import { UsageError } from '../functions/core/errors.ts';
import { createLogger, type Logger } from '../functions/core/logger.ts';
import { type CliIo, EXIT, parseCommandArgs, runGuarded, usageHint } from './cli/io.ts';
import { type DemoWorkload, startDemoWorkload } from './demo-workload.ts';
import type { Endpoints } from './endpoints.ts';
import type { KinesisBatchHandler } from './poller.ts';
import { type LocalStack, startLocalStack } from './stack.ts';

export const LOCAL_UP_USAGE = `Usage: skein local up [--dir <dir>] [--shards <n>] [--no-demo]

Starts the local stack and keeps it running until Ctrl+C: Kinesis (kinesalite) and S3 (s3rver) on 127.0.0.1,
the stream and bucket, the event-source poller invoking the ingest function with Lambda's batching and retry
rules, and a demo workload of four services. State lives in <dir>; <dir>/endpoints.json says where things are.

Options:
  --dir <dir>     state folder (default .skein)
  --shards <n>    shards of the stream, 1-50 (default 2)
  --no-demo       do not run the demo workload (for tests and your own producers)
  -h, --help      show this help

Examples:
  skein local up
  skein local up --dir /tmp/skein --no-demo --shards 4
`;

/** Builds the function the poller invokes, once the stack's endpoints are known; it adds what it ingests to `tally`. */
export type HandlerFactory = (
  endpoints: Endpoints,
  logger: Logger,
  tally: IngestTally,
) => KinesisBatchHandler | Promise<KinesisBatchHandler>;

/** What the counters of one ingested batch look like (`BatchSummary` of functions/ingest/ingest-batch.ts). */
export interface BatchCounts {
  readonly rowsByFormat: Readonly<Record<string, number>>;
  readonly quarantinedByReason: Readonly<Record<string, number>>;
  readonly controlMessages: number;
}

/** Rows per format, quarantine entries per reason and dropped control messages of every batch ingested so far. */
export class IngestTally {
  readonly rowsByFormat = new Map<string, number>();
  readonly quarantinedByReason = new Map<string, number>();
  controlMessages = 0;

  add(batch: BatchCounts): void {
    for (const [format, n] of Object.entries(batch.rowsByFormat)) addTo(this.rowsByFormat, format, n);
    for (const [reason, n] of Object.entries(batch.quarantinedByReason)) addTo(this.quarantinedByReason, reason, n);
    this.controlMessages += batch.controlMessages;
  }

  /** `rows json-lines 120, otlp-json 30; quarantined invalid_json 2; 1 control message dropped` */
  describe(): string {
    const rows = this.rowsByFormat.size === 0 ? 'rows 0' : `rows ${counts(this.rowsByFormat)}`;
    const quarantined =
      this.quarantinedByReason.size === 0 ? 'quarantined 0' : `quarantined ${counts(this.quarantinedByReason)}`;
    const control =
      this.controlMessages > 0
        ? `; ${this.controlMessages} control message${this.controlMessages === 1 ? '' : 's'} dropped`
        : '';
    return `${rows}; ${quarantined}${control}`;
  }
}

function addTo(map: Map<string, number>, key: string, n: number): void {
  map.set(key, (map.get(key) ?? 0) + n);
}

function counts(map: ReadonlyMap<string, number>): string {
  return [...map]
    .sort((a, b) => (a[0] < b[0] ? -1 : 1))
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
}

export interface LocalUpDeps {
  readonly makeHandler: HandlerFactory;
  /** Stops the stack when aborted (default: SIGINT or SIGTERM). */
  readonly signal?: AbortSignal;
  /** Progress line period (default 10 s). */
  readonly progressIntervalMs?: number;
  /** Demo requests per second (default 5). */
  readonly demoRatePerSecond?: number;
}

const MAX_SHARDS = 50;
const PROGRESS_INTERVAL_MS = 10_000;

/** `skein local up` with the real ingest function: see {@link LOCAL_UP_USAGE}. */
export function localUpCommand(args: string[], io: CliIo): Promise<number> {
  return runLocalUp(args, io, { makeHandler: ingestHandler });
}

/**
 * The ingest function's domain work, against the local bucket, counting rows per format and quarantine per reason
 * for the progress line. Loaded on demand so the stack itself never imports ingest code.
 */
export const ingestHandler: HandlerFactory = async (endpoints, logger, tally) => {
  const [{ ingest }, { loadIngestConfig }, { s3Client }, { s3ObjectStore }] = await Promise.all([
    import('../functions/ingest/ingest-batch.ts'),
    import('../functions/ingest/config.ts'),
    import('../functions/core/aws-clients.ts'),
    import('../functions/core/object-store.ts'),
  ]);
  const config = loadIngestConfig({ SKEIN_BUCKET: endpoints.bucket });
  const store = s3ObjectStore(s3Client({ endpoint: endpoints.s3 }), endpoints.bucket);
  const ingestLogger = logger.child({ component: 'ingest' });
  const deps = { store, config, clock: Date.now, logger: ingestLogger };
  return async (event) => {
    const { response, summary } = await ingest(event.Records, deps);
    // A batch that failed is retried by the poller and counted once, when it succeeds.
    if (response.batchItemFailures.length === 0) tally.add(summary);
    return response;
  };
};

/** `skein local up` with an injected handler factory (tests, or another function under the poller). */
export function runLocalUp(args: string[], io: CliIo, deps: LocalUpDeps): Promise<number> {
  return runGuarded(io, usageHint(LOCAL_UP_USAGE, 'skein local up'), async () => {
    const { values, positionals } = parseCommandArgs(args, {
      dir: { type: 'string' },
      shards: { type: 'string' },
      'no-demo': { type: 'boolean' },
    });
    if (values.help) {
      io.stdout.write(LOCAL_UP_USAGE);
      return EXIT.ok;
    }
    if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
    const dir = values.dir ?? '.skein';
    if (dir.trim() === '') throw new UsageError('--dir needs a folder');
    const shards = parseShards(values.shards);
    const demo = !values['no-demo'];

    const log = createLogger({ service: 'skein-local', write: (line) => io.stderr.write(`${line}\n`) });
    const signals = deps.signal ? undefined : processSignals();
    const stopSignal = deps.signal ?? (signals as ProcessSignals).signal;
    let stack: LocalStack | undefined;
    let workload: DemoWorkload | undefined;
    let progress: NodeJS.Timeout | undefined;
    // The handler needs the endpoints, which exist once the emulators run: invocations wait for it.
    let handlerReady!: (handler: KinesisBatchHandler) => void;
    let handlerFailed!: (error: unknown) => void;
    const handler = new Promise<KinesisBatchHandler>((resolve, reject) => {
      handlerReady = resolve;
      handlerFailed = reject;
    });
    handler.catch(() => undefined);
    const tally = new IngestTally();
    try {
      stack = await startLocalStack({
        dir,
        shards,
        handler: async (event) => (await handler)(event),
        maximumBatchingWindowMs: 1_000,
        batchSize: 500,
        bisectBatchOnError: true,
        maximumRetryAttempts: 5,
        onFailure: (info) => log.error('records discarded after failed invocations', { ...info }),
        onError: (error, shardId) => log.warn('poller error', { shard: shardId, error: String(error) }),
      });
      try {
        handlerReady(await deps.makeHandler(stack.endpoints, log, tally));
      } catch (error) {
        handlerFailed(error);
        throw error;
      }
      const { endpoints } = stack;
      const kinesis = demo
        ? (await import('../functions/core/aws-clients.ts')).kinesisClient({ endpoint: endpoints.kinesis })
        : undefined;
      if (kinesis) {
        workload = startDemoWorkload({
          kinesis,
          streamName: endpoints.stream,
          ratePerSecond: deps.demoRatePerSecond ?? 5,
          onError: (error) => log.warn('demo workload: PutRecords failed', { error: String(error) }),
        });
      }
      log.info('local stack ready', { ...endpoints, shards, demo });
      const interval = deps.progressIntervalMs ?? PROGRESS_INTERVAL_MS;
      io.stdout.write(readyText(dir, endpoints, shards, workload, interval));

      const started = Date.now();
      const running = stack;
      progress = setInterval(() => {
        const p = running.poller.stats();
        const d = workload?.stats();
        io.stdout.write(
          `[${formatUptime(Date.now() - started)}] ${d ? `pushed ${d.records} records (${d.requests} requests), ` : ''}` +
            `ingested ${p.records} records in ${p.batches} batches, ${p.retries} retries, ${p.discardedRecords} records failed, iterator age ${p.iteratorAgeMs} ms; ${tally.describe()}\n`,
        );
      }, interval);

      await new Promise<void>((resolve) => {
        if (stopSignal.aborted) resolve();
        stopSignal.addEventListener('abort', () => resolve(), { once: true });
      });
      log.info('stopping local stack');
      clearInterval(progress);
      progress = undefined;
      await workload?.stop();
      workload = undefined;
      kinesis?.destroy();
      await stack.stop();
      const p = stack.poller.stats();
      io.stdout.write(
        `Stopped. Ingested ${p.records} records in ${p.batches} batches (${tally.describe()}); state kept in ${dir}\n`,
      );
      return EXIT.ok;
    } finally {
      if (progress) clearInterval(progress);
      await workload?.stop();
      await stack?.stop();
      signals?.dispose();
    }
  });
}

function parseShards(raw: string | undefined): number {
  if (raw === undefined) return 2;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1 || n > MAX_SHARDS)
    throw new UsageError(`--shards must be a whole number from 1 to ${MAX_SHARDS}, got '${raw}'`);
  return n;
}

interface ProcessSignals {
  readonly signal: AbortSignal;
  dispose(): void;
}

/** Aborts on the first SIGINT or SIGTERM; a second one (while stopping) exits at once. */
function processSignals(): ProcessSignals {
  const abort = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (abort.signal.aborted) process.exit(signal === 'SIGINT' ? 130 : 143);
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: abort.signal,
    dispose() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

function readyText(
  dir: string,
  endpoints: Endpoints,
  shards: number,
  workload: DemoWorkload | undefined,
  progressMs: number,
): string {
  const shown = dir;
  const rel = relative(process.cwd(), endpoints.dataDir);
  const files = rel.startsWith('..') || isAbsolute(rel) ? endpoints.dataDir : rel;
  const demo = workload?.stats();
  const lines = [
    `Skein local stack is up (state in ${shown}/)`,
    `  Kinesis  ${endpoints.kinesis}   stream '${endpoints.stream}', ${shards} shard${shards === 1 ? '' : 's'}`,
    `  S3       ${endpoints.s3}   bucket '${endpoints.bucket}', files under ${files}/${endpoints.bucket}/`,
    demo
      ? '  Demo     web-gateway → orders → inventory / payments, about 7 % of requests fail'
      : '  Demo     off (--no-demo)',
    '',
    'Try:',
    ...(demo?.lastTraceId
      ? [
          `  npx skein query trace ${demo.lastTraceId} --local ${shown}`,
          ...(demo.lastRequestId ? [`  npx skein query request ${demo.lastRequestId} --local ${shown}`] : []),
        ]
      : [`  npx skein query trace <trace id> --local ${shown}`]),
    `  npx skein push --local ${shown} --lines my-logs.ndjson`,
    `  npx skein quarantine ls --local ${shown}`,
    '',
    `Progress every ${Math.round(progressMs / 1000)} s; Ctrl+C stops.`,
    '',
  ];
  return lines.join('\n');
}

function formatUptime(ms: number): string {
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s % 60}s`;
}
