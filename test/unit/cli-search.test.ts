import { describe, expect, it } from 'vitest';
import { queryCommand } from '../../cli/query-command.ts';
import { captureIo } from '../builders/cli-io.ts';

describe('skein query search (arguments)', () => {
  it('prints its usage with --help', async () => {
    const io = captureIo();
    expect(await queryCommand(['search', '--help'], io)).toBe(0);
    expect(io.out()).toContain("skein query search '<filter>'");
    expect(io.out()).toContain('{ resource.service.name = "orders" && status = error }');
  });

  it('prints an out-of-subset filter with a caret under its column and exits 2', async () => {
    // Act
    const io = captureIo();
    const code = await queryCommand(['search', '{ duration > 1s } >> { name = "x" }', '--dir', '/nonexistent'], io);

    // Assess
    expect(code).toBe(2);
    expect(io.err().split('\n')).toEqual([
      "skein: structural operator '>>' (descendant) is not supported: combine spansets with && or || (same trace) at column 19",
      '  { duration > 1s } >> { name = "x" }',
      `  ${' '.repeat(18)}^`,
      '',
    ]);
    expect(io.out()).toBe('');
  });

  it.each([
    [['search'], /missing the filter/],
    [['search', '{ }', 'extra'], /unexpected argument 'extra' after the filter/],
    [['search', '{ }', '--dir', 'x', '--limit', '0'], /--limit 0: expected a whole number from 1 to 10000/],
    [['search', '{ }', '--dir', 'x', '--limit', 'many'], /--limit many/],
    [['search', '{ }', '--since', 'yesterday', '--dir', 'x'], /--since yesterday/],
    [['search', '{ }'], /no local stack at \.skein: /],
    [['search', '{ }', '--athena'], /--athena needs --workgroup/],
    [['search', '{ }', '--dir', 'x', '--workgroup', 'w'], /--workgroup goes with --athena/],
    [['--json', 'search', '{ }'], /put search first/],
  ])('refuses %j with a one-line reason', async (args, message) => {
    const io = captureIo();
    expect(await queryCommand(args, io)).toBe(2);
    expect(io.err().split('\n')[0]).toMatch(message);
  });
});
