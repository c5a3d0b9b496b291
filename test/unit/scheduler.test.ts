import { afterEach, describe, expect, it, vi } from 'vitest';
import { memoryLogger } from '../../functions/core/logger.ts';
import { scheduleJob } from '../../local/scheduler.ts';

/** A promise and its resolver, so a test decides when a job's run ends. */
function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('scheduleJob', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs at start and never starts a second run while one is in flight', async () => {
    // Prepare
    vi.useFakeTimers();
    const logger = memoryLogger();
    const gates = [deferred(), deferred()];
    let active = 0;
    let maxActive = 0;
    let calls = 0;
    const firstStarted = deferred();
    const job = scheduleJob({
      name: 'slow',
      everyMs: 1,
      logger,
      job: async () => {
        const gate = gates[calls++];
        active++;
        maxActive = Math.max(maxActive, active);
        firstStarted.resolve();
        await gate?.promise;
        active--;
      },
    });

    // Act: the 1 ms period passes many times over while the first run is held open
    await vi.advanceTimersByTimeAsync(0);
    await firstStarted.promise;
    await vi.advanceTimersByTimeAsync(50);
    const callsWhileHeld = calls;
    gates[0]?.resolve();
    gates[1]?.resolve();
    await job.stop();

    // Assess
    expect(callsWhileHeld).toBe(1);
    expect(maxActive).toBe(1);
    expect(job.stats().failures).toBe(0);
  });

  it('stop waits for the run in flight and starts no new one', async () => {
    // Prepare
    vi.useFakeTimers();
    const gate = deferred();
    const started = deferred();
    let finished = false;
    let calls = 0;
    const job = scheduleJob({
      name: 'held',
      everyMs: 1,
      logger: memoryLogger(),
      job: async () => {
        calls++;
        started.resolve();
        await gate.promise;
        finished = true;
      },
    });
    await vi.advanceTimersByTimeAsync(0);
    await started.promise;

    // Act
    const stopping = job.stop();
    let stopped = false;
    void stopping.then(() => {
      stopped = true;
    });
    await Promise.resolve();
    const stoppedBeforeRunEnded = stopped;
    gate.resolve();
    await stopping;
    await vi.advanceTimersByTimeAsync(50);

    // Assess
    expect(stoppedBeforeRunEnded).toBe(false);
    expect(finished).toBe(true);
    expect(calls).toBe(1);
    expect(job.stats().running).toBe(false);
  });

  it('logs and counts a failing run, keeps the schedule and clears the error after a success', async () => {
    // Prepare
    const logger = memoryLogger();
    let calls = 0;
    const results: number[] = [];
    const job = scheduleJob({
      name: 'flaky',
      everyMs: 60_000,
      logger,
      runAtStart: false,
      job: async () => {
        calls++;
        if (calls === 1) throw new Error('store unreachable');
        return calls;
      },
      onResult: (n) => results.push(n),
    });

    // Act
    await job.runNow();
    const afterFailure = job.stats();
    await job.runNow();
    const afterSuccess = job.stats();
    await job.stop();

    // Assess
    expect(afterFailure).toMatchObject({ runs: 1, failures: 1, lastError: 'Error: store unreachable' });
    expect(afterSuccess).toMatchObject({ runs: 2, failures: 1, lastError: undefined });
    expect(results).toEqual([2]);
    const line = JSON.parse(logger.lines[0] ?? '{}');
    expect(line).toMatchObject({ level: 'error', job: 'flaky', error: 'Error: store unreachable' });
  });

  it('runNow during a run waits for that run instead of starting another', async () => {
    // Prepare
    const gate = deferred();
    const started = deferred();
    let calls = 0;
    const job = scheduleJob({
      name: 'once',
      everyMs: 60_000,
      logger: memoryLogger(),
      job: async () => {
        calls++;
        started.resolve();
        await gate.promise;
      },
    });
    await started.promise;

    // Act
    const waiting = job.runNow();
    gate.resolve();
    await waiting;
    await job.stop();

    // Assess
    expect(calls).toBe(1);
  });

  it('refuses a period that is not positive', () => {
    expect(() => scheduleJob({ name: 'x', everyMs: 0, logger: memoryLogger(), job: async () => 1 })).toThrow(
      /everyMs must be positive/,
    );
  });
});
