import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { runSkein, SKEIN_USAGE } from '../../cli/main.ts';
import { captureIo } from '../builders/cli-io.ts';

describe('skein', () => {
  it.each([['--help'], ['-h'], ['help']])('prints the usage on stdout for %s', async (flag) => {
    const io = captureIo();
    expect(await runSkein([flag], io)).toBe(0);
    expect(io.out()).toBe(SKEIN_USAGE);
    expect(io.err()).toBe('');
  });

  it('rejects an unknown command with exit 2, a one-line reason and the usage', async () => {
    // Act
    const io = captureIo();
    const code = await runSkein(['frobnicate', '--now'], io);

    // Assess
    expect(code).toBe(2);
    expect(io.err()).toBe(`skein: unknown command 'frobnicate'\n\n${SKEIN_USAGE}`);
    expect(io.out()).toBe('');
  });

  it('asks for a command when given none', async () => {
    const io = captureIo();
    expect(await runSkein([], io)).toBe(2);
    expect(io.err()).toMatch(/^skein: missing command\n\nUsage: skein <command>/);
  });

  it('does not treat inherited object keys as commands', async () => {
    const io = captureIo();
    expect(await runSkein(['constructor'], io)).toBe(2);
    expect(io.err()).toMatch(/^skein: unknown command 'constructor'/);
  });

  it.each([
    [['push', '--help'], 'Usage: skein push'],
    [['query', '--help'], 'Usage: skein query trace <id>'],
    [['query', 'trace', '--help'], 'Usage: skein query trace <id>'],
    [['query', 'request', '-h'], 'Usage: skein query trace <id>'],
    [['local', '--help'], 'Usage: skein local up'],
  ])('prints help for %j', async (args, usage) => {
    const io = captureIo();
    expect(await runSkein(args, io)).toBe(0);
    expect(io.out().startsWith(usage)).toBe(true);
    expect(io.err()).toBe('');
  });

  it.each([
    [['local'], /^skein: missing local command\n/],
    [['local', 'down'], /^skein: unknown command 'local down'\n/],
    [['query'], /^skein: say what to look up/],
    [['query', 'span', 'x'], /^skein: unknown query 'span'/],
  ])('rejects %j with exit 2', async (args, reason) => {
    const io = captureIo();
    expect(await runSkein(args, io)).toBe(2);
    expect(io.err()).toMatch(reason);
  });

  it('runs as a program through tsx with the exit code of the command', async () => {
    // Prepare
    const run = promisify(execFile);
    const tsx = ['--import', 'tsx', 'bin/skein.ts'];

    // Act
    const help = await run(process.execPath, [...tsx, '--help']);
    const unknown = await run(process.execPath, [...tsx, 'nope']).catch((error: unknown) => error);

    // Assess
    expect(help.stdout).toBe(SKEIN_USAGE);
    expect(unknown).toMatchObject({
      code: 2,
      stdout: '',
      stderr: expect.stringMatching(/^skein: unknown command 'nope'\n/),
    });
  });
});
