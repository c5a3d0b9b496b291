import { describe, expect, it } from 'vitest';
import { mapLimit } from '../../functions/core/map-limit.ts';

/** A promise with its resolve exposed, so a test decides when each call finishes. */
function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve: (value: T) => void = () => undefined;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('mapLimit', () => {
  it('returns results in input order when calls finish out of order', async () => {
    // Prepare
    const items = [30, 10, 20, 0];

    // Act
    const results = await mapLimit(items, 2, async (ms, i) => {
      await new Promise<void>((r) => setImmediate(r));
      if (ms > 15) await new Promise<void>((r) => setImmediate(r));
      return `${i}:${ms}`;
    });

    // Assess
    expect(results).toEqual(['0:30', '1:10', '2:20', '3:0']);
  });

  it('never has more than `limit` calls in flight', async () => {
    // Prepare
    let inFlight = 0;
    let peak = 0;
    const items = Array.from({ length: 25 }, (_, i) => i);

    // Act
    await mapLimit(items, 4, async (n) => {
      inFlight += 1;
      peak = Math.max(peak, inFlight);
      await new Promise<void>((r) => setImmediate(r));
      inFlight -= 1;
      return n;
    });

    // Assess
    expect(peak).toBe(4);
  });

  it('calls fn once per item, with its index', async () => {
    // Prepare
    const seen: Array<[string, number]> = [];

    // Act
    await mapLimit(['a', 'b', 'c'], 8, async (item, i) => {
      seen.push([item, i]);
    });

    // Assess
    expect(seen.sort()).toEqual([
      ['a', 0],
      ['b', 1],
      ['c', 2],
    ]);
  });

  it('returns an empty array for no items without calling fn', async () => {
    // Prepare
    let calls = 0;

    // Act
    const results = await mapLimit([], 3, async () => {
      calls += 1;
    });

    // Assess
    expect(results).toEqual([]);
    expect(calls).toBe(0);
  });

  it('starts no new call after a failure and throws the first error once the calls in flight settle', async () => {
    // Prepare
    const slow = deferred<string>();
    const started: number[] = [];
    let slowSettled = false;
    const run = mapLimit([0, 1, 2, 3, 4], 2, async (n) => {
      started.push(n);
      if (n === 0) {
        const value = await slow.promise;
        slowSettled = true;
        return value;
      }
      throw new Error(`failed ${n}`);
    });
    const outcome = run.then(
      () => 'resolved',
      (error: unknown) => (error instanceof Error ? error.message : 'non-error'),
    );

    // Act
    await new Promise<void>((r) => setImmediate(r));
    const settledBeforeSlow = await Promise.race([outcome, Promise.resolve('pending')]);
    slow.resolve('late');
    const message = await outcome;

    // Assess
    expect(settledBeforeSlow).toBe('pending');
    expect(message).toBe('failed 1');
    expect(slowSettled).toBe(true);
    expect(started).toEqual([0, 1]);
  });
});
