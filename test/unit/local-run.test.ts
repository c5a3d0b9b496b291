import { describe, expect, it } from 'vitest';
import { LocalRun } from '../../local/local-run.ts';

describe('LocalRun', () => {
  it('stops the steps newest first, each once, however often stop is called', async () => {
    // Prepare: three steps, the middle one asynchronous.
    const run = new LocalRun();
    const stopped: string[] = [];
    run.onStop(() => stopped.push('s3 client'));
    run.onStop(async () => {
      await Promise.resolve();
      stopped.push('compactor');
    });
    run.onStop(() => stopped.push('progress'));

    // Act
    const first = await run.stop();
    const second = await run.stop();

    // Assess
    expect(stopped).toEqual(['progress', 'compactor', 's3 client']);
    expect(first).toBeUndefined();
    expect(second).toBeUndefined();
  });
});
