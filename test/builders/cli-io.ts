import type { CliIo } from '../../cli/io.ts';

/** A `CliIo` that keeps what a command writes: `out()` and `err()` return stdout and stderr so far. */
export interface CapturedIo extends CliIo {
  out(): string;
  err(): string;
}

export interface CaptureIoOptions {
  /** The command's environment; default empty (so the test's own `NO_COLOR` and friends do not leak in). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Input for `-`; default none (the command falls back to `process.stdin`). */
  readonly stdin?: AsyncIterable<Uint8Array | string>;
  /** Whether stdout claims to be a terminal (colour); default not. */
  readonly isTTY?: boolean;
}

/**
 * A capturing `CliIo` for CLI tests.
 *
 * @example
 * const io = captureIo({ env: { SKEIN_MAX_RECORD_BYTES: '12' } });
 * expect(await runSkein(['--help'], io)).toBe(0);
 * expect(io.out()).toContain('usage');
 */
export function captureIo(options: CaptureIoOptions = {}): CapturedIo {
  let out = '';
  let err = '';
  return {
    stdout:
      options.isTTY === undefined
        ? { write: (s: string) => (out += s) }
        : { write: (s: string) => (out += s), isTTY: options.isTTY },
    stderr: { write: (s: string) => (err += s) },
    ...(options.stdin === undefined ? {} : { stdin: options.stdin }),
    env: options.env ?? {},
    out: () => out,
    err: () => err,
  };
}
