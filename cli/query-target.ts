import { type Endpoints, readEndpoints } from '../local/endpoints.ts';
import { UsageError } from '../schemas/errors.ts';
import type { CliIo } from './io.ts';
import { LOCAL_DIR_OPTIONS } from './local-dir.ts';

// What `skein query` and `skein query search` share: where they read and how they show progress.

/**
 * The local stack a lookup or search reads when not `--athena`: the Athena-only flags are refused, then its
 * endpoints.json is read.
 */
export function localEndpoints(
  values: {
    readonly workgroup?: string | undefined;
    readonly database?: string | undefined;
    readonly region?: string | undefined;
  },
  dir: string | undefined,
): Promise<Endpoints> {
  for (const flag of ['workgroup', 'database', 'region'] as const)
    if (values[flag] !== undefined) throw new UsageError(`--${flag} goes with --athena`);
  if (dir === undefined) throw new UsageError('--athena needs --workgroup <wg>');
  return readEndpoints(dir);
}

/** Where a lookup or a search reads (the local stack or Athena) and over what time: `query` and `query search`. */
export const QUERY_TARGET_OPTIONS = {
  ...LOCAL_DIR_OPTIONS,
  athena: { type: 'boolean' },
  workgroup: { type: 'string' },
  database: { type: 'string' },
  region: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
} as const;

/** Progress of a long lookup on stderr, as one updating line on a terminal; nothing off a terminal. */
export function progressLine(io: CliIo): { show: (message: string) => void; clear: () => void } {
  if (io.stderr.isTTY !== true) return { show: () => {}, clear: () => {} };
  let shown = false;
  return {
    show: (message) => {
      io.stderr.write(`\r\x1b[K${message}`);
      shown = true;
    },
    clear: () => {
      if (shown) io.stderr.write('\r\x1b[K');
    },
  };
}
