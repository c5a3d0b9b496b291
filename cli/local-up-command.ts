import { resolve } from 'node:path';
import { createLogger, type Logger } from '../functions/core/logger.ts';
import type { CompiledRuleSet } from '../functions/shared/rules/compile-rules.ts';
import type { LocalAlerting, LocalSinks } from '../local/alerting.ts';
import type { RunningAlertmanager } from '../local/alertmanager.ts';
import type { DemoWorkload, DemoWorkloadOptions } from '../local/demo-workload.ts';
import { type Endpoints, writeEndpoints } from '../local/endpoints.ts';
import { type HandlerFactory, ingestHandler } from '../local/ingest-handler.ts';
import { IngestTally } from '../local/ingest-tally.ts';
import { LocalRun, type Pipeline, startAlertingStep, startDemoStep, startPipeline } from '../local/local-run.ts';
import type { Poller } from '../local/poller.ts';
import { scheduleJob } from '../local/scheduler.ts';
import { describePending } from '../local/stream-backlog.ts';
import { type CliIo, EXIT, runGuarded, usageHint } from './io.ts';
import { type LocalUpOptions, loadAlertingInput, parseLocalUpArgs } from './local-up-args.ts';
import {
  alertingProgress,
  compactionTracker,
  describeCount,
  formatUptime,
  readyText,
  resumeText,
} from './local-up-text.ts';
import { processSignals } from './process-signals.ts';
import { localLogWriter, Terminal } from './terminal.ts';

export type { HandlerFactory, HandlerOptions } from '../local/ingest-handler.ts';
export { type BatchCounts, IngestTally } from '../local/ingest-tally.ts';
export { LOCAL_COMPACT_ENV } from '../local/local-run.ts';
export { DEFAULT_NOTIFY_CONFIG, DEFAULT_RULES } from './local-up-args.ts';
export { ingestHandler };

/** Recurring incidents of the demo workload, so its alert rules fire and resolve while you watch. */
export const DEMO_INCIDENTS = { everyMs: 10 * 60_000, durationMs: 2 * 60_000, failureRate: 0.6 } as const;

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

const PROGRESS_INTERVAL_MS = 10_000;
const TTY_PROGRESS_EVERY_MS = 2_000;
const NOTIFY_EVERY_MS = 2_000;
const COMPACT_EVERY_MS = 60_000;

/** `skein local up` with the real ingest function: see {@link LOCAL_UP_USAGE}. */
export function localUpCommand(args: string[], io: CliIo): Promise<number> {
  return runLocalUp(args, io, { makeHandler: ingestHandler });
}

/**
 * `skein local up` with an injected handler factory (tests, or another function under the poller). The steps: read
 * the flags and the alerting input (a mistake fails before anything starts); start the pipeline; start alerting;
 * start the demo; report ready and show progress; on Ctrl+C (or `deps.signal`) stop and report.
 */
export function runLocalUp(args: string[], io: CliIo, deps: LocalUpDeps): Promise<number> {
  return runGuarded(io, usageHint(LOCAL_UP_USAGE, 'skein local up'), async () => {
    const options = parseLocalUpArgs(args);
    if (options === 'help') {
      io.stdout.write(LOCAL_UP_USAGE);
      return EXIT.ok;
    }
    // Rules and the notifier configuration are read before anything starts: a mistake in them fails at once.
    const alertingInput = options.alerting
      ? await loadAlertingInput(options.rulesPath, options.notifyConfigPath)
      : undefined;

    const interval = deps.progressIntervalMs ?? PROGRESS_INTERVAL_MS;
    // People read the terminal (short lines, one progress line); the JSON logs go to a file in the state folder.
    const terminal = new Terminal(io.stdout, io.stderr, interval);
    const logFile = localLogWriter(options.dir, terminal);
    const log = createLogger({ service: 'skein-local', write: logFile.write });
    const signals = deps.signal ? { signal: deps.signal, dispose: () => undefined } : processSignals();
    const run = new LocalRun();
    const tally = new IngestTally();
    try {
      const pipeline = await startPipeline(run, {
        dir: options.dir,
        shards: options.shards,
        makeHandler: deps.makeHandler,
        handlerOptions: {
          ...(alertingInput ? { measures: alertingInput.rules.measures } : {}),
          latenessMs: options.latenessMs,
        },
        tally,
        logger: log,
        compactEveryMs: deps.compactEveryMs ?? COMPACT_EVERY_MS,
      });
      reportResume(io, terminal, options, pipeline);

      const alerting = alertingInput
        ? await startAlertingStep(run, pipeline, {
            dir: resolve(options.dir),
            rules: alertingInput.rules,
            notifyConfig: alertingInput.notifyConfig,
            logger: log,
            evaluateEveryMs: options.evaluateEveryMs,
            latenessMs: options.latenessMs,
            notifyEveryMs: deps.notifyEveryMs ?? NOTIFY_EVERY_MS,
            alertmanager: deps.alertmanager ?? 'auto',
          })
        : undefined;

      const consoleUrl = await startConsoleStep(run, pipeline, {
        dir: options.dir,
        rules: alertingInput?.rules,
        tally,
        log,
      });

      const incidents = deps.demoIncidents === undefined ? DEMO_INCIDENTS : deps.demoIncidents;
      const workload = options.demo
        ? await startDemoStep(run, pipeline, {
            ratePerSecond: deps.demoRatePerSecond ?? 5,
            incidents,
            logger: log,
          })
        : undefined;

      await deps.onStarted?.({
        endpoints: pipeline.endpoints,
        workload,
        sinks: alerting?.sinks,
        alertmanager: alerting?.alertmanager,
        alerting,
        poller: pipeline.stack.poller,
        consoleUrl,
      });
      log.info('local stack ready', {
        ...pipeline.endpoints,
        shards: options.shards,
        demo: options.demo,
        alerting: options.alerting,
        alertmanager: alerting?.alertmanager?.url ?? null,
      });
      io.stdout.write(
        readyText({
          dir: options.dir,
          endpoints: pipeline.endpoints,
          consoleUrl,
          shards: options.shards,
          workload,
          incidents: workload ? incidents : null,
          progressMs: interval,
          alerting:
            alerting && alertingInput
              ? {
                  running: alerting,
                  input: alertingInput,
                  evaluateEveryMs: options.evaluateEveryMs,
                  latenessMs: options.latenessMs,
                }
              : undefined,
        }),
      );
      showProgress(run, { terminal, log, interval, pipeline, workload, alerting, tally });

      await aborted(signals.signal);
      log.info('stopping local stack');
      terminal.done();
      return await stopAndReport(io, run, options.dir, pipeline, tally);
    } finally {
      await run.stop();
      signals.dispose();
    }
  });
}

/** Step 3: the read-only console on a free port (D23); its URL goes into endpoints.json as `console`. */
async function startConsoleStep(
  run: LocalRun,
  pipeline: Pipeline,
  o: { dir: string; rules: CompiledRuleSet | undefined; tally: IngestTally; log: Logger },
): Promise<string> {
  const { startLocalConsole } = await import('./console-command.ts');
  const server = await startLocalConsole({
    dir: o.dir,
    endpoints: pipeline.endpoints,
    store: pipeline.store,
    rules: o.rules,
    stack: pipeline.stack,
    tally: o.tally,
    log: o.log,
  });
  run.onStop(() => server.close());
  await writeEndpoints(resolve(o.dir), { ...pipeline.endpoints, console: server.url });
  return server.url;
}

/** What the start found in the state folder; once the last run's backlog is ingested, a line saying so. */
function reportResume(io: CliIo, terminal: Terminal, options: LocalUpOptions, pipeline: Pipeline): void {
  const { stack } = pipeline;
  io.stdout.write(resumeText(options.dir, stack, options.shardsAsked));
  const caughtUpPending = stack.resumed.backlog?.pending ?? 0;
  if (caughtUpPending > 0)
    stack.caughtUp.then(
      () =>
        terminal.line(
          `Caught up: the ${describeCount(caughtUpPending)} left in the stream by the last run are ingested`,
        ),
      () => undefined,
    );
}

interface ProgressParts {
  readonly terminal: Terminal;
  readonly log: Logger;
  readonly interval: number;
  readonly pipeline: Pipeline;
  readonly workload: DemoWorkload | undefined;
  readonly alerting: LocalAlerting | undefined;
  readonly tally: IngestTally;
}

/** The progress line: redrawn every 2 s on a terminal, a plain line every `interval` on a pipe (Terminal throttles). */
function showProgress(run: LocalRun, o: ProgressParts): void {
  const started = Date.now();
  const lastCompaction = compactionTracker(o.pipeline.compactor);
  const poller = o.pipeline.stack.poller;
  const progress = scheduleJob({
    name: 'progress',
    everyMs: Math.min(o.interval, TTY_PROGRESS_EVERY_MS),
    runAtStart: false,
    logger: o.log,
    job: async () => {
      const p = poller.stats();
      const d = o.workload?.stats();
      const status = o.alerting ? await o.alerting.status().catch(() => undefined) : undefined;
      o.terminal.progress(
        `[${formatUptime(Date.now() - started)}] ${d ? `pushed ${d.records}, ` : ''}` +
          `ingested ${p.records} records in ${p.batches} batches (${p.retries} retries, ${p.discardedRecords} failed, lag ${p.iteratorAgeMs} ms); ${o.tally.describe()}; ` +
          `${o.alerting ? `${alertingProgress(status)}; ` : ''}${lastCompaction.describe(Date.now())}`,
      );
    },
  });
  run.onStop(() => progress.stop());
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

/** Stops everything, then says what was ingested and what the stream still holds for the next start. */
async function stopAndReport(
  io: CliIo,
  run: LocalRun,
  dir: string,
  pipeline: Pipeline,
  tally: IngestTally,
): Promise<number> {
  const stopped = await run.stop();
  const p = pipeline.stack.poller.stats();
  const pending = stopped?.backlog
    ? stopped.backlog.pending > 0
      ? `${describePending(stopped.backlog)}; the next start on ${dir} ingests them`
      : describePending(stopped.backlog)
    : 'nothing pending in the stream';
  io.stdout.write(
    `Stopped. Ingested ${p.records} records in ${p.batches} batches (${tally.describe()}); state kept in ${dir}: ${pending}\n`,
  );
  return EXIT.ok;
}
