import { readFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import type { CompactionRunSummary } from '../functions/compact/run-compaction.ts';
import { withHeartbeat, writeHeartbeat } from '../functions/core/heartbeat.ts';
import { createLogger, type Logger } from '../functions/core/logger.ts';
import type { ObjectStore } from '../functions/core/object-store.ts';
import { packageRoot } from '../functions/core/package-root.ts';
import type { CompiledRuleSet } from '../functions/shared/rules/compile-rules.ts';
import { DEFAULT_MAX_WAIT_MS, MAX_ALLOWED_LATENESS_MS } from '../functions/shared/watermark.ts';
import type { AlertingStatus, LocalAlerting, LocalSinks } from '../local/alerting.ts';
import type { RunningAlertmanager } from '../local/alertmanager.ts';
import { type DemoWorkload, type DemoWorkloadOptions, startDemoWorkload } from '../local/demo-workload.ts';
import { type Endpoints, writeEndpoints } from '../local/endpoints.ts';
import type { KinesisBatchHandler, Poller } from '../local/poller.ts';
import { type ScheduledJob, scheduleJob } from '../local/scheduler.ts';
import { type LocalStack, startLocalStack } from '../local/stack.ts';
import { LOCK_FILE } from '../local/state-lock.ts';
import { describeExpired, describePending } from '../local/stream-backlog.ts';
import { ConfigError, UsageError } from '../schemas/errors.ts';
import type { MeasureSpec } from '../schemas/measures.ts';
import { parseDuration } from '../schemas/notify-config.ts';
import { type CliIo, EXIT, parseCommandArgs, runGuarded, usageHint } from './io.ts';
import { DEFAULT_LOCAL_DIR, LOCAL_DIR_OPTIONS, localDir } from './local-dir.ts';
import { LOG_FILE, localLogWriter, Terminal } from './terminal.ts';

const REPO_ROOT = packageRoot(import.meta.url);
/** The demo's alert rules and the local notifier configuration, found from the repository whatever the cwd. */
export const DEFAULT_RULES = join(REPO_ROOT, 'rules', 'demo');
export const DEFAULT_NOTIFY_CONFIG = join(REPO_ROOT, 'config', 'notify.local.yaml');

/** Recurring incidents of the demo workload, so its alert rules fire and resolve while you watch. */
export const DEMO_INCIDENTS = { everyMs: 10 * 60_000, durationMs: 2 * 60_000, failureRate: 0.6 } as const;

/**
 * The compactor's settings on the local stack: an hour is compacted 2 minutes after it ends (10 on AWS) and the
 * files it replaced are deleted 2 minutes later (15 on AWS), so a demo shows it working within its first hour.
 */
export const LOCAL_COMPACT_ENV = { SKEIN_COMPACT_SETTLE_SECONDS: '120', SKEIN_COMPACT_GRACE_SECONDS: '120' } as const;

export const LOCAL_UP_USAGE = `Usage: skein local up [--dir <dir>] [--shards <n>] [--no-demo] [--rules <path>] [--notify-config <file>]
                      [--evaluate-every <duration>] [--allowed-lateness <duration>] [--no-alerting]

Starts the local stack and keeps it running until Ctrl+C: Kinesis (kinesalite) and S3 (s3rver) on 127.0.0.1,
the stream and bucket, the event-source poller invoking the ingest function with Lambda's batching and retry
rules, and a demo workload of four services. State lives in <dir>; <dir>/endpoints.json says where things are.
The stream's records (kinesis/) and the poller's checkpoints (checkpoints/) are kept there too: a restart on the
same <dir>, after Ctrl+C or a crash, ingests what the last run left in the stream. One stack per <dir> at a time.

It also runs, on timers: the compactor every 60 s (an hour is compacted 2 min after it ends, the files it
replaced deleted 2 min later); the alert evaluator over the rules' per-minute rollups; and the notifier every 2 s,
delivering to recording sinks for PagerDuty and Slack and to the real Alertmanager when it is installed
(bash scripts/setup-alertmanager.sh), whose webhook posts to a third sink. Sink requests are logged, secrets
redacted, in <dir>/sinks/*.ndjson. The demo has an incident every 10 min (the first at start) for 2 min, in which
60 % of requests fail, so the demo rules fire and resolve.

It serves the web console (read-only) on a free port of 127.0.0.1 and prints its URL, also written to
<dir>/endpoints.json as "console" (docs/console.md).

Options:
  --dir <dir>                   state folder (default .skein); --local <dir> is the same
  --shards <n>                  shards of a new stream, 1-50 (default 2); an existing one keeps its own
  --no-demo                     do not run the demo workload (for tests and your own producers)
  --rules <path>                alert rule file or folder (default rules/demo); ingest rolls up what they need
  --notify-config <file>        notifier configuration (default config/notify.local.yaml); \${ALERTMANAGER_URL}
                                and \${PAGERDUTY_URL} are filled in with the local ones
  --evaluate-every <duration>   evaluator period (default 10s)
  --allowed-lateness <duration> a record arriving this long after its minute still counts in it; a minute is
                                evaluated once every shard is ingested this far past its end (default 15s)
  --no-alerting                 no rules, rollups, evaluator, notifier, sinks or Alertmanager
  -h, --help                    show this help

Examples:
  skein local up
  skein local up --dir /tmp/skein --no-demo --shards 4
  skein local up --rules rules/examples --evaluate-every 5s
`;

/** What the stack hands the ingest function besides its endpoints. */
export interface HandlerOptions {
  /** The measures of the loaded alert rules: each batch writes its per-minute rollup of them. None: no rollups. */
  readonly measures?: readonly MeasureSpec[];
  /** Allowed lateness (ms) rows are assigned to minutes with; the evaluator uses the same (D15). */
  readonly latenessMs?: number;
}

/** Builds the function the poller invokes, once the stack's endpoints are known; it adds what it ingests to `tally`. */
export type HandlerFactory = (
  endpoints: Endpoints,
  logger: Logger,
  tally: IngestTally,
  options: HandlerOptions,
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

/** What is running once `skein local up` is ready (for tests, which drive the workload and watch the sinks). */
export interface LocalUpStarted {
  readonly endpoints: Endpoints;
  readonly workload: DemoWorkload | undefined;
  /** `undefined` with `--no-alerting`. */
  readonly sinks: LocalSinks | undefined;
  readonly alertmanager: RunningAlertmanager | undefined;
  readonly alerting: LocalAlerting | undefined;
  /** The event-source poller (tests stop it to see `skein smoke` notice). */
  readonly poller: Poller;
  /** The console's URL (also `console` in endpoints.json). */
  readonly consoleUrl: string;
}

export interface LocalUpDeps {
  readonly makeHandler: HandlerFactory;
  /** Stops the stack when aborted (default: SIGINT or SIGTERM). */
  readonly signal?: AbortSignal;
  /** Progress line period (default 10 s). */
  readonly progressIntervalMs?: number;
  /** Demo requests per second (default 5). */
  readonly demoRatePerSecond?: number;
  /** The demo's incidents (default {@link DEMO_INCIDENTS}); `null`: none. */
  readonly demoIncidents?: DemoWorkloadOptions['incidents'] | null;
  /** Notifier period (default 2 s). */
  readonly notifyEveryMs?: number;
  /** Compactor period (default 60 s). */
  readonly compactEveryMs?: number;
  /** `required`: fail when Alertmanager is not installed instead of running without it (tests). Default `auto`. */
  readonly alertmanager?: 'auto' | 'required';
  /** Called once everything runs, before the ready text is printed. */
  readonly onStarted?: (started: LocalUpStarted) => void | Promise<void>;
}

const MAX_SHARDS = 50;
const PROGRESS_INTERVAL_MS = 10_000;
const TTY_PROGRESS_EVERY_MS = 2_000;
const EVALUATE_EVERY_MS = 10_000;
/** The local poller invokes within about a second (batching window 1 s), so 20 s is plenty; AWS uses 60 s. */
/** Allowed lateness of the local stack: its poller delivers within ~1 s, so 15 s is ample (30 s on AWS). */
const ALLOWED_LATENESS_MS = 15_000;
const NOTIFY_EVERY_MS = 2_000;
const COMPACT_EVERY_MS = 60_000;
/** How often the poller's iterator age and discarded records are written to `status/local-poller/` (D20). */
const POLLER_STATUS_EVERY_MS = 2_000;

/** `skein local up` with the real ingest function: see {@link LOCAL_UP_USAGE}. */
export function localUpCommand(args: string[], io: CliIo): Promise<number> {
  return runLocalUp(args, io, { makeHandler: ingestHandler });
}

/**
 * The ingest function's domain work, against the local bucket, counting rows per format and quarantine per reason
 * for the progress line. Loaded on demand so the stack itself never imports ingest code.
 */
export const ingestHandler: HandlerFactory = async (endpoints, logger, tally, options) => {
  const [{ ingest }, { loadIngestConfig }, { s3Client }, { s3ObjectStore }] = await Promise.all([
    import('../functions/ingest/ingest-batch.ts'),
    import('../functions/ingest/config.ts'),
    import('../functions/core/aws-clients.ts'),
    import('../functions/core/object-store.ts'),
  ]);
  const config = loadIngestConfig({
    SKEIN_BUCKET: endpoints.bucket,
    ...(options.latenessMs !== undefined ? { SKEIN_ALLOWED_LATENESS_SECONDS: String(options.latenessMs / 1000) } : {}),
  });
  const store = s3ObjectStore(s3Client({ endpoint: endpoints.s3 }), endpoints.bucket);
  const ingestLogger = logger.child({ component: 'ingest' });
  const deps = {
    store,
    config,
    clock: Date.now,
    logger: ingestLogger,
    ...(options.measures ? { measures: options.measures } : {}),
  };
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
      ...LOCAL_DIR_OPTIONS,
      shards: { type: 'string' },
      'no-demo': { type: 'boolean' },
      rules: { type: 'string' },
      'notify-config': { type: 'string' },
      'evaluate-every': { type: 'string' },
      'allowed-lateness': { type: 'string' },
      'no-alerting': { type: 'boolean' },
    });
    if (values.help) {
      io.stdout.write(LOCAL_UP_USAGE);
      return EXIT.ok;
    }
    if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
    const dir = localDir(values) ?? DEFAULT_LOCAL_DIR;
    if (dir.trim() === '') throw new UsageError('--dir needs a folder');
    const shards = parseShards(values.shards);
    const demo = !values['no-demo'];
    const alertingOn = !values['no-alerting'];
    if (!alertingOn) {
      for (const flag of ['rules', 'notify-config', 'evaluate-every', 'allowed-lateness'] as const)
        if (values[flag] !== undefined) throw new UsageError(`--${flag} has no effect with --no-alerting`);
    }
    const evaluateEveryMs = parseInterval('--evaluate-every', values['evaluate-every'], EVALUATE_EVERY_MS, 1_000);
    const latenessMs = parseInterval('--allowed-lateness', values['allowed-lateness'], ALLOWED_LATENESS_MS, 0);
    if (latenessMs > MAX_ALLOWED_LATENESS_MS) throw new UsageError('--allowed-lateness is at most 5m');
    // Rules and the notifier configuration are read before anything starts: a mistake in them fails at once.
    const alertingInput = alertingOn
      ? await loadAlertingInput(values.rules ?? DEFAULT_RULES, values['notify-config'] ?? DEFAULT_NOTIFY_CONFIG)
      : undefined;

    const interval = deps.progressIntervalMs ?? PROGRESS_INTERVAL_MS;
    // People read the terminal (short lines, one progress line); the JSON logs go to a file in the state folder.
    const terminal = new Terminal(io.stdout, io.stderr, interval);
    const logFile = localLogWriter(dir, terminal);
    const log = createLogger({ service: 'skein-local', write: logFile.write });
    const signals = deps.signal ? undefined : processSignals();
    const stopSignal = deps.signal ?? (signals as ProcessSignals).signal;
    let stack: LocalStack | undefined;
    let workload: DemoWorkload | undefined;
    let alerting: LocalAlerting | undefined;
    let compactor: CompactorJob | undefined;
    let progress: ScheduledJob | undefined;
    let pollerStatus: ScheduledJob | undefined;
    let kinesis: { destroy(): void } | undefined;
    let progressKinesis: { destroy(): void } | undefined;
    let s3: { destroy(): void } | undefined;
    let consoleServer: { url: string; close(): Promise<void> } | undefined;
    // The handler needs the endpoints, which exist once the emulators run: invocations wait for it.
    let handlerReady!: (handler: KinesisBatchHandler) => void;
    let handlerFailed!: (error: unknown) => void;
    const handler = new Promise<KinesisBatchHandler>((resolve, reject) => {
      handlerReady = resolve;
      handlerFailed = reject;
    });
    handler.catch(() => undefined);
    const tally = new IngestTally();
    // Stops what runs on the stack before the stack: runs in flight finish writing while S3 is still there.
    const stopAll = async () => {
      await progress?.stop();
      await consoleServer?.close();
      await pollerStatus?.stop();
      await workload?.stop();
      await alerting?.stop();
      await compactor?.stop();
      kinesis?.destroy();
      progressKinesis?.destroy();
      s3?.destroy();
      return await stack?.stop();
    };
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
        const measures = alertingInput?.rules.measures;
        handlerReady(
          await deps.makeHandler(stack.endpoints, log, tally, { ...(measures ? { measures } : {}), latenessMs }),
        );
      } catch (error) {
        handlerFailed(error);
        throw error;
      }
      const { endpoints } = stack;
      io.stdout.write(resumeText(dir, stack, values.shards === undefined ? undefined : shards));
      const caughtUpPending = stack.resumed.backlog?.pending ?? 0;
      if (caughtUpPending > 0)
        stack.caughtUp.then(
          () =>
            terminal.line(
              `Caught up: the ${describeCount(caughtUpPending)} left in the stream by the last run are ingested`,
            ),
          () => undefined,
        );
      const { kinesisClient, s3Client } = await import('../functions/core/aws-clients.ts');
      const { s3ObjectStore } = await import('../functions/core/object-store.ts');
      // Through the stack's S3 endpoint, i.e. the proxy that enforces conditional writes the alert state relies on.
      const client = s3Client({ endpoint: endpoints.s3 });
      s3 = client;
      const store = s3ObjectStore(client, endpoints.bucket);

      compactor = await startCompactor(store, endpoints.bucket, log, deps.compactEveryMs ?? COMPACT_EVERY_MS);
      // What Lambda's IteratorAge metric and the failed-batch queue show on AWS, as a marker `skein smoke` reads.
      const statusOf = stack.poller;
      pollerStatus = scheduleJob({
        name: 'poller-status',
        everyMs: POLLER_STATUS_EVERY_MS,
        logger: log,
        job: () => {
          const p = statusOf.stats();
          return writeHeartbeat(store, 'local-poller', Date.now(), {
            iteratorAgeMs: p.iteratorAgeMs,
            discardedRecords: p.discardedRecords,
            failures: p.failures,
            records: p.records,
          });
        },
      });
      if (alertingInput) {
        const { startLocalAlerting } = await import('../local/alerting.ts');
        const { kinesisShardProgress } = await import('../functions/evaluate/shard-progress.ts');
        // The evaluator asks kinesalite how far idle shards are (no AT_TIMESTAMP there: it never answers one that
        // finds no record).
        const progressClient = kinesisClient({ endpoint: endpoints.kinesis });
        progressKinesis = progressClient;
        alerting = await startLocalAlerting({
          dir: resolve(dir),
          store,
          rules: alertingInput.rules,
          notifyConfig: alertingInput.notifyConfig,
          logger: log,
          evaluateEveryMs,
          latenessMs,
          maxWaitMs: DEFAULT_MAX_WAIT_MS,
          progress: kinesisShardProgress(progressClient, endpoints.stream, { atTimestamp: false }),
          notifyEveryMs: deps.notifyEveryMs ?? NOTIFY_EVERY_MS,
          alertmanager: deps.alertmanager ?? 'auto',
        });
      }

      const { startLocalConsole } = await import('./console-command.ts');
      consoleServer = await startLocalConsole({
        dir,
        endpoints,
        store,
        rules: alertingInput?.rules,
        stack,
        tally,
        log,
      });
      await writeEndpoints(resolve(dir), { ...endpoints, console: consoleServer.url });

      const demoClient = demo ? kinesisClient({ endpoint: endpoints.kinesis }) : undefined;
      kinesis = demoClient;
      const incidents = deps.demoIncidents === undefined ? DEMO_INCIDENTS : deps.demoIncidents;
      if (demoClient) {
        workload = startDemoWorkload({
          kinesis: demoClient,
          streamName: endpoints.stream,
          ratePerSecond: deps.demoRatePerSecond ?? 5,
          ...(incidents ? { incidents } : {}),
          onError: (error) => log.warn('demo workload: PutRecords failed', { error: String(error) }),
        });
      }
      await deps.onStarted?.({
        endpoints,
        workload,
        sinks: alerting?.sinks,
        alertmanager: alerting?.alertmanager,
        alerting,
        poller: stack.poller,
        consoleUrl: consoleServer.url,
      });
      log.info('local stack ready', {
        ...endpoints,
        shards,
        demo,
        alerting: alertingOn,
        alertmanager: alerting?.alertmanager?.url ?? null,
      });
      io.stdout.write(
        readyText({
          dir,
          endpoints,
          consoleUrl: consoleServer.url,
          shards,
          workload,
          incidents: workload ? incidents : null,
          progressMs: interval,
          alerting:
            alerting && alertingInput
              ? { running: alerting, input: alertingInput, evaluateEveryMs, latenessMs }
              : undefined,
        }),
      );

      const started = Date.now();
      const running = stack;
      const lastCompaction = compactionTracker(compactor);
      const runningAlerting = alerting;
      progress = scheduleJob({
        name: 'progress',
        // A terminal's line is redrawn every 2 s; a pipe gets a plain line every `interval` (Terminal throttles it).
        everyMs: Math.min(interval, TTY_PROGRESS_EVERY_MS),
        runAtStart: false,
        logger: log,
        job: async () => {
          const p = running.poller.stats();
          const d = workload?.stats();
          const status = runningAlerting ? await runningAlerting.status().catch(() => undefined) : undefined;
          terminal.progress(
            `[${formatUptime(Date.now() - started)}] ${d ? `pushed ${d.records}, ` : ''}` +
              `ingested ${p.records} records in ${p.batches} batches (${p.retries} retries, ${p.discardedRecords} failed, lag ${p.iteratorAgeMs} ms); ${tally.describe()}; ` +
              `${runningAlerting ? `${alertingProgress(status)}; ` : ''}${lastCompaction.describe(Date.now())}`,
          );
        },
      });

      await new Promise<void>((resolve) => {
        if (stopSignal.aborted) resolve();
        stopSignal.addEventListener('abort', () => resolve(), { once: true });
      });
      log.info('stopping local stack');
      terminal.done();
      const stopped = await stopAll();
      const p = stack.poller.stats();
      const pending = stopped?.backlog
        ? stopped.backlog.pending > 0
          ? `${describePending(stopped.backlog)}; the next start on ${dir} ingests them`
          : describePending(stopped.backlog)
        : 'nothing pending in the stream';
      io.stdout.write(
        `Stopped. Ingested ${p.records} records in ${p.batches} batches (${tally.describe()}); state kept in ${dir}: ${pending}\n`,
      );
      return EXIT.ok;
    } finally {
      await stopAll();
      signals?.dispose();
    }
  });
}

/** What a start found in the state folder, in a few lines (nothing for a fresh folder). */
function resumeText(dir: string, stack: LocalStack, shardsAsked: number | undefined): string {
  const { resumed, endpoints } = stack;
  const lines: string[] = [];
  if (resumed.tookOverFrom !== undefined)
    lines.push(
      `Took over ${join(dir, LOCK_FILE)} from pid ${resumed.tookOverFrom}, which is no longer running (killed or crashed)`,
    );
  if (!resumed.stream.created) {
    const backlog = resumed.backlog;
    const pending =
      backlog && backlog.pending > 0
        ? `${describePending(backlog)}: they are ingested first`
        : 'nothing pending in the stream';
    lines.push(
      `Resumed stream '${endpoints.stream}' (${plural(resumed.stream.shards, 'shard')}) from ${dir}: ${pending}`,
    );
    if (shardsAsked !== undefined && shardsAsked !== resumed.stream.shards)
      lines.push(`  --shards ${shardsAsked} ignored: the stream kept in ${dir} has ${resumed.stream.shards}`);
    const expired = backlog ? describeExpired(backlog) : undefined;
    if (expired) lines.push(`  Warning: ${expired}`);
  }
  for (const ignored of resumed.ignoredCheckpoints)
    lines.push(`  Checkpoint ${ignored} not used: that shard starts from the oldest record`);
  return lines.length ? `${lines.join('\n')}\n` : '';
}

/** `1 record`, `1,234 records` */
function describeCount(n: number): string {
  return `${n.toLocaleString('en-US')} record${n === 1 ? '' : 's'}`;
}

interface AlertingInput {
  readonly rulesPath: string;
  readonly rules: CompiledRuleSet;
  readonly notifyConfig: { readonly text: string; readonly source: string };
}

/** Loads the rules once (ingest rolls up their measures, the evaluator runs them) and checks the notifier config. */
async function loadAlertingInput(rulesPath: string, notifyConfigPath: string): Promise<AlertingInput> {
  const { loadCompiledRules } = await import('../functions/shared/rules/load-compiled-rules.ts');
  const rules = await loadCompiledRules(rulesPath);
  if (rules.rules.length === 0) throw new ConfigError(`no alert rules in ${rulesPath} (or run with --no-alerting)`);
  let text: string;
  try {
    text = await readFile(notifyConfigPath, 'utf8');
  } catch (error) {
    const code = (error as { code?: string } | undefined)?.code ?? 'unreadable';
    throw new ConfigError(`cannot read the notifier configuration ${notifyConfigPath} (${code})`);
  }
  const source = shownPath(notifyConfigPath);
  // Checked now with stand-in URLs, so a mistake fails before anything starts; parsed again with the real ones.
  const { localNotifyConfig } = await import('../local/alerting.ts');
  localNotifyConfig(
    text,
    { alertmanagerUrl: 'http://127.0.0.1:9093', pagerDutyUrl: 'http://127.0.0.1:9/v2/enqueue' },
    source,
  );
  return { rulesPath, rules, notifyConfig: { text, source } };
}

/** The compactor's schedule, and its last run's summary. */
type CompactorJob = ScheduledJob & { last(): { summary: CompactionRunSummary; at: number } | undefined };

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

function compactionTracker(compactor: CompactorJob) {
  return {
    /** `last compaction 40s ago: nothing to do` */
    describe(now: number): string {
      const last = compactor.last();
      const stats = compactor.stats();
      if (last === undefined)
        return stats.lastError ? `compaction failed: ${stats.lastError}` : 'compaction: first run';
      const ago = formatUptime(now - last.at);
      const { hours, failed } = last.summary;
      const compacted = hours.filter((h) => h.generations.logs + h.generations.spans > 0 || h.index === 'compacted');
      const rows = hours.reduce((n, h) => n + h.rows, 0);
      const deleted = hours.reduce((n, h) => n + h.deleted, 0);
      const what =
        hours.length === 0
          ? 'nothing to do'
          : `${plural(compacted.length, 'hour')} compacted (${rows} rows), ${deleted} files deleted${failed ? `, ${failed} failed` : ''}`;
      return `last compaction ${ago} ago: ${what}`;
    },
  };
}

function alertingProgress(status: AlertingStatus | undefined): string {
  if (status === undefined) return 'alerts: state unreadable';
  return (
    `alerts ${status.firing} firing, ${status.pending} pending; ` +
    `notifications ${status.delivered} delivered, ${status.dead} dead`
  );
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** A `--evaluate-every`-style duration (`10s`, `1m`, `500ms`), at least `minMs`. */
function parseInterval(flag: string, raw: string | undefined, fallback: number, minMs: number): number {
  if (raw === undefined) return fallback;
  const ms = parseDuration(raw);
  if (ms === undefined || ms < minMs)
    throw new UsageError(
      `${flag} must be a duration such as 10s or 1m${minMs > 0 ? ` (at least ${minMs / 1000}s)` : ''}, got '${raw}'`,
    );
  return ms;
}

/** A path as the user would type it: relative to the cwd when inside it. */
function shownPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel.startsWith('..') || isAbsolute(rel) ? path : rel;
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

/**
 * A signal this soon after the first is the same Ctrl-C relayed by a wrapper: a terminal sends SIGINT to the whole
 * process group, and `tsx` (under `npm start`) re-sends it to its child when the child has not acknowledged it within
 * 30 ms — a busy or starved process then got two SIGINTs for one keypress and exited without stopping cleanly.
 */
const RELAYED_SIGNAL_MS = 1_000;

/** Aborts on the first SIGINT or SIGTERM; another one, a second or more later (while stopping), exits at once. */
function processSignals(): ProcessSignals {
  const abort = new AbortController();
  let firstAt = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (abort.signal.aborted) {
      if (Date.now() - firstAt < RELAYED_SIGNAL_MS) return;
      process.stderr.write(`skein: ${signal} again: exiting without finishing the stop\n`);
      process.exit(signal === 'SIGINT' ? 130 : 143);
    }
    firstAt = Date.now();
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

interface ReadyInfo {
  readonly dir: string;
  readonly endpoints: Endpoints;
  readonly consoleUrl: string;
  readonly shards: number;
  readonly workload: DemoWorkload | undefined;
  readonly incidents: DemoWorkloadOptions['incidents'] | null;
  readonly progressMs: number;
  readonly alerting:
    | {
        readonly running: LocalAlerting;
        readonly input: AlertingInput;
        readonly evaluateEveryMs: number;
        readonly latenessMs: number;
      }
    | undefined;
}

function readyText(info: ReadyInfo): string {
  const { dir: shown, endpoints, shards, alerting } = info;
  const files = shownPath(endpoints.dataDir);
  const demo = info.workload?.stats();
  const incidents = info.incidents;
  const sinkLogs = shownPath(join(resolve(shown), 'sinks'));
  const alertingLines = alerting
    ? [
        `  Rules    ${shownPath(alerting.input.rulesPath)}: ${plural(alerting.input.rules.rules.length, 'rule')}, evaluated every ${seconds(alerting.evaluateEveryMs)}, each minute once every shard is ${seconds(alerting.latenessMs)} past its end`,
        alerting.running.alertmanager
          ? `  Alertmanager ${alerting.running.alertmanager.url}   its webhook posts to ${sinkLogs}/webhook.ndjson`
          : `  Alertmanager ${alerting.running.alertmanagerMissing ?? 'not running'}: running without it (what it would get goes to ${sinkLogs}/webhook.ndjson); install it with: bash scripts/setup-alertmanager.sh`,
        `  Sinks    PagerDuty ${alerting.running.sinks.pagerduty.url}, Slack ${alerting.running.sinks.slack.baseUrl}; requests in ${sinkLogs}/*.ndjson`,
      ]
    : ['  Alerting off (--no-alerting)'];
  const lines = [
    `Skein local stack is up (state in ${shown}/)`,
    `  Kinesis  ${endpoints.kinesis}   stream '${endpoints.stream}', ${shards} shard${shards === 1 ? '' : 's'}`,
    `  S3       ${endpoints.s3}   bucket '${endpoints.bucket}', files under ${files}/${endpoints.bucket}/`,
    demo
      ? `  Demo     web-gateway → orders → inventory / payments, about 7 % of requests fail${
          incidents
            ? `; an incident every ${minutes(incidents.everyMs)} (the first now) fails ${Math.round(incidents.failureRate * 100)} % for ${minutes(incidents.durationMs)}`
            : ''
        }`
      : '  Demo     off (--no-demo)',
    ...alertingLines,
    `  Console  ${info.consoleUrl}${demo?.lastTraceId ? `   a demo trace: ${info.consoleUrl}/trace/${demo.lastTraceId}` : ''}`,
    '  Compactor every 60 s: hours 2 min after they end; replaced files deleted 2 min later',
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
    ...(alerting ? [`  npx skein alerts --local ${shown}`, `  npx skein outbox ls --local ${shown}`] : []),
    '',
    `JSON logs in ${join(shown, LOG_FILE)}. Progress below (every ${Math.round(info.progressMs / 1000)} s when not a terminal); Ctrl+C stops.`,
    '',
  ];
  return lines.join('\n');
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

function minutes(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000} min` : seconds(ms);
}

function formatUptime(ms: number): string {
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s % 60}s`;
}
