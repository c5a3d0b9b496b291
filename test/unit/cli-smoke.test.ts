import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runSkein } from '../../cli/main.ts';
import { captureIo } from '../builders/cli-io.ts';

describe('skein smoke: arguments', () => {
  it('prints its usage for --help, and is listed in the CLI usage', async () => {
    const io = captureIo();
    expect(await runSkein(['smoke', '--help'], io)).toBe(0);
    expect(io.out()).toContain('Usage: skein smoke [--local <dir> | --stack <name> [--region <region>]]');

    const top = captureIo();
    expect(await runSkein(['--help'], top)).toBe(0);
    expect(top.out()).toMatch(/\n {2}smoke {17}check a deployed stack/);
  });

  it.each([
    [['--local', 'a', '--dir', 'b'], 'give the local stack folder once: --local <dir> (or --dir <dir>)'],
    [['--stack', 'Skein', '--local', '.skein'], 'give either --local <dir> or --stack <name>, not both'],
    [['--local', '.skein', '--region', 'eu-west-1'], '--region applies to --stack only'],
    [['--stack', 'Skein', '--wait', 'soon'], "--wait must be a duration such as 90s or 3m (at least 1s), got 'soon'"],
    [['--stack', 'Skein', '--wait', '0.5s'], "--wait must be a duration such as 90s or 3m (at least 1s), got '0.5s'"],
    [['--stack', 'Skein', '--rate', 'fast'], "--rate must be a positive number, got 'fast'"],
    [['--stack', 'Skein', 'extra'], "unexpected argument 'extra'"],
  ])('refuses %j with exit 2 and a one-line reason', async (args, reason) => {
    const io = captureIo();
    expect(await runSkein(['smoke', ...args], io)).toBe(2);
    expect(io.err().split('\n')[0]).toBe(`skein: ${reason}`);
    expect(io.out()).toBe('');
  });

  it('says there is no local stack in a folder without endpoints.json', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'skein-smoke-none-'));
    const io = captureIo();
    expect(await runSkein(['smoke', '--local', dir], io)).toBe(2);
    expect(io.err().split('\n')[0]).toContain(`skein: no local stack at ${dir}`);
    await rm(dir, { recursive: true, force: true });
  });
});
