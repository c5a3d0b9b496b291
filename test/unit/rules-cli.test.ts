import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rulesCommand } from '../../cli/rules-command.ts';
import { captureIo } from '../builders/cli-io.ts';
import { aRuleFile } from '../builders/rules.ts';

describe('skein rules validate', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'skein-rules-cli-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('prints each file OK with its counts and a summary, exit 0', async () => {
    // Prepare
    const file = join(dir, 'api.yaml');
    await writeFile(file, aRuleFile());
    const io = captureIo();

    // Act
    const code = await rulesCommand(['validate', file], io);

    // Assess
    expect(code).toBe(0);
    expect(io.out()).toBe(`${file}: OK (1 group, 1 rule)\n1 file, 1 group, 1 rule: ingest rolls up 2 measures\n`);
    expect(io.err()).toBe('');
  });

  it('prints each problem as file:line:col: path: message with the source line, and OK for the good files, exit 1', async () => {
    // Prepare
    const good = join(dir, 'a.yaml');
    const bad = join(dir, 'b.yaml');
    await writeFile(good, aRuleFile({ group: 'good' }));
    await writeFile(bad, aRuleFile({ expr: 'ratio(spans{status="error"}, spans) by (service [5m] > 0.1' }));
    const io = captureIo();

    // Act
    const code = await rulesCommand(['validate', dir], io);

    // Assess
    expect(code).toBe(1);
    expect(io.out()).toBe(
      [
        `${good}: OK (1 group, 1 rule)`,
        `${bad}:5:63: groups[0].rules[0].expr: expected ')' after by labels, found '[' at column 49`,
        '          expr: ratio(spans{status="error"}, spans) by (service [5m] > 0.1',
        `  ${' '.repeat(62)}^`,
        '',
      ].join('\n'),
    );
    expect(io.err()).toBe('skein: 1 problem in 1 file\n');
  });

  it('fails on a path that does not exist', async () => {
    const io = captureIo();
    const code = await rulesCommand(['validate', join(dir, 'missing.yaml')], io);
    expect(code).toBe(1);
    expect(io.out()).toBe(`${join(dir, 'missing.yaml')}:1:1: (file): no such file or directory\n`);
  });

  it('answers usage errors with exit 2 and help with exit 0', async () => {
    const noArgs = captureIo();
    expect(await rulesCommand(['validate'], noArgs)).toBe(2);
    expect(noArgs.err()).toMatch(
      /^skein: give the rule files or directories to validate\n\nUsage: skein rules validate/,
    );

    const unknown = captureIo();
    expect(await rulesCommand(['lint'], unknown)).toBe(2);
    expect(unknown.err()).toMatch(/unknown command 'rules lint'/);

    const badOption = captureIo();
    expect(await rulesCommand(['validate', '--strict', 'x'], badOption)).toBe(2);

    const help = captureIo();
    expect(await rulesCommand(['validate', '--help'], help)).toBe(0);
    expect(help.out()).toMatch(/file:line:col: path: message/);
    const groupHelp = captureIo();
    expect(await rulesCommand(['--help'], groupHelp)).toBe(0);
    expect(groupHelp.out()).toMatch(/validate <file\|dir>…/);
  });
});
