import { type Clock, systemClock } from '../functions/core/clock.ts';
import type { Logger } from '../functions/core/logger.ts';
import { describeError } from '../schemas/errors.ts';

/** What the local stack runs on a timer (the evaluator, the notifier, the compactor), as EventBridge would on AWS. */
export interface ScheduleOptions<T> {
  /** Names the job in log lines (`evaluator`, `notifier`, `compactor`). */
  readonly name: string;
  /** Period, measured from the start of one run to the start of the next; a run that takes longer is not overlapped. */
  readonly everyMs: number;
  readonly job: () => Promise<T>;
  /** A failed run is logged here (`error`, with the job's name) and counted; the schedule keeps going. */
  readonly logger: Logger;
  /** Called with the result of each successful run (progress counters). */
  readonly onResult?: (result: T, finishedAt: number) => void;
  /** First run at once (default) or only after `everyMs`. */
  readonly runAtStart?: boolean;
  readonly clock?: Clock;
}

export interface JobStats {
  readonly runs: number;
  readonly failures: number;
  /** When the last run (successful or not) finished; `undefined` before the first. */
  readonly lastFinishedAt: number | undefined;
  /** The last failure, as `Name: message`; cleared by the next successful run. */
  readonly lastError: string | undefined;
  readonly running: boolean;
}

export interface ScheduledJob {
  readonly name: string;
  stats(): JobStats;
  /**
   * Runs the job now, unless it is running: then waits for that run. The regular period restarts from this run.
   * Resolves when the run has finished (never rejects: failures are logged and counted).
   */
  runNow(): Promise<void>;
  /** No new runs; resolves once the run in flight (if any) has finished. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Runs `job` every `everyMs`, never two runs at once: a run that overruns its period delays the next one instead of
 * overlapping it (missed ticks collapse into one). Errors are logged and counted, never thrown; `stop()` waits for
 * the run in flight, so what the job writes is complete before the emulators under it stop.
 *
 * @example
 * const evaluator = scheduleJob({ name: 'evaluator', everyMs: 10_000, logger, job: () => evaluateOnce(deps) });
 * // …
 * await evaluator.stop();
 */
export function scheduleJob<T>(options: ScheduleOptions<T>): ScheduledJob {
  const { name, everyMs, job, logger } = options;
  if (!Number.isFinite(everyMs) || everyMs <= 0) throw new RangeError(`${name}: everyMs must be positive`);
  const clock = options.clock ?? systemClock;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> | undefined;
  let stopped = false;
  let runs = 0;
  let failures = 0;
  let lastFinishedAt: number | undefined;
  let lastError: string | undefined;

  const arm = (delayMs: number) => {
    if (stopped) return;
    timer = setTimeout(tick, Math.max(0, delayMs));
    // The timer alone never keeps a process alive: whoever started the job stops it.
    timer.unref();
  };

  const runOnce = async (): Promise<void> => {
    try {
      const result = await job();
      runs++;
      lastError = undefined;
      lastFinishedAt = clock();
      options.onResult?.(result, lastFinishedAt);
    } catch (error) {
      runs++;
      failures++;
      lastError = describeError(error);
      lastFinishedAt = clock();
      logger.error(`${name} run failed; the next run retries`, { job: name, error: lastError });
    }
  };

  function tick(): void {
    timer = undefined;
    if (stopped || inFlight) return;
    const started = clock();
    inFlight = runOnce().finally(() => {
      inFlight = undefined;
      arm(started + everyMs - clock());
    });
  }

  arm(options.runAtStart === false ? everyMs : 0);

  return {
    name,
    stats: () => ({ runs, failures, lastFinishedAt, lastError, running: inFlight !== undefined }),
    async runNow() {
      if (inFlight) return inFlight;
      if (stopped) return;
      if (timer) clearTimeout(timer);
      tick();
      await inFlight;
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      await inFlight;
    },
  };
}
