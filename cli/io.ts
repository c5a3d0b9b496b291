import { parseArgs } from 'node:util';
import type { OutputStreams, TextOutput } from '../query/output.ts';
import { describeError, SkeinError, UsageError } from '../schemas/errors.ts';

/** The part of a Node `Writable` the CLI writes to; `process.stdout` and test sinks both fit. */
export type CliOutput = TextOutput;

/** Where a command reads and writes: the process streams in `bin/skein.ts`, string sinks in tests. */
export interface CliIo extends OutputStreams {
  /** Input for `-` (defaults to `process.stdin`). */
  readonly stdin?: AsyncIterable<Uint8Array | string>;
}

/** A subcommand: arguments after its name, exit code out. */
export type Command = (args: string[], io: CliIo) => Promise<number>;

export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/**
 * Runs a command body and turns errors into the CLI contract: one line on stderr, exit 2 for usage errors, 1 for
 * anything else (with the usage text after a usage error, when given).
 */
export async function runGuarded(io: CliIo, usage: string | undefined, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`skein: ${oneLine(error.message)}\n`);
      if (usage !== undefined) io.stderr.write(`\n${usage}`);
      return EXIT.usage;
    }
    const message = error instanceof SkeinError ? error.message : describeError(error);
    io.stderr.write(`skein: ${oneLine(message)}\n`);
    return EXIT.failure;
  }
}

/** The synopsis of a usage text (up to its first blank line) and where to find the rest: what follows a usage error. */
export function usageHint(usage: string, command: string): string {
  const synopsis = usage.split('\n\n')[0] ?? usage;
  return `${synopsis}\nRun '${command} --help' for details.\n`;
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ');
}

type OptionSpec = Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>;

/**
 * The flags of a command that takes no positional arguments: `undefined` once `--help` has printed `usage` (the
 * command then exits 0); a positional argument is a usage error.
 */
export function parseFlags<T extends OptionSpec>(args: string[], options: T, usage: string, io: CliIo) {
  const { values, positionals } = parseCommandArgs(args, options);
  // `help` is added to every command's options by parseCommandArgs; the generic type does not show it.
  if ((values as { help?: boolean }).help) {
    io.stdout.write(usage);
    return undefined;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  return values;
}

/**
 * `node:util` `parseArgs` (strict, positionals allowed; a lone `-` is a positional) with its errors turned into
 * `UsageError`s, and `--help`/`-h` always accepted.
 */
export function parseCommandArgs<T extends OptionSpec>(args: string[], options: T) {
  try {
    return parseArgs({
      args,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: true,
    });
  } catch (error) {
    throw new UsageError(
      error instanceof Error ? error.message.replace(/\. To specify a positional.*$/s, '') : String(error),
    );
  }
}
