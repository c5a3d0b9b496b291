import { UsageError } from '../schemas/errors.ts';

/** Where `skein local up` keeps its state unless told otherwise, and where every command looks for it. */
export const DEFAULT_LOCAL_DIR = '.skein';

/** The local-stack options every command takes: `--local <dir>`, with `--dir <dir>` accepted as the same. */
export const LOCAL_DIR_OPTIONS = {
  local: { type: 'string' },
  dir: { type: 'string' },
} as const;

/**
 * The local stack folder a command works on: `--local` or `--dir` (the same flag under two names), or
 * {@link DEFAULT_LOCAL_DIR} when neither they nor a remote target (`remote`, e.g. `--bucket <name>`) are given;
 * `undefined` when the command targets AWS.
 */
export function localDir(
  values: { readonly local?: string | undefined; readonly dir?: string | undefined },
  remote?: { readonly flag: string; readonly value: string | undefined },
): string | undefined {
  const { local, dir } = values;
  if (local !== undefined && dir !== undefined && local !== dir)
    throw new UsageError('give the local stack folder once: --local <dir> (or --dir <dir>)');
  const given = local ?? dir;
  if (given !== undefined && given.trim() === '') throw new UsageError('--local needs a folder');
  if (remote?.value !== undefined) {
    if (given !== undefined) throw new UsageError(`give either --local <dir> or ${remote.flag}, not both`);
    return undefined;
  }
  return given ?? DEFAULT_LOCAL_DIR;
}
