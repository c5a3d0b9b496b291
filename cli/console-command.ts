import { join } from 'node:path';
import type { LiveFigures } from '../console/server/pipeline-data.ts';
import type { RunningConsole } from '../console/server/server.ts';
import type { Logger } from '../functions/core/logger.ts';
import type { ObjectStore } from '../functions/core/object-store.ts';
import { packageRoot } from '../functions/core/package-root.ts';
import type { CompiledRuleSet } from '../functions/shared/rules/compile-rules.ts';
import type { Endpoints } from '../local/endpoints.ts';
import { UsageError } from '../schemas/errors.ts';
import { type CliIo, EXIT, parseFlags, runGuarded, usageHint } from './io.ts';
import { BUCKET_OPTIONS, openBucket } from './quarantine-command.ts';

/** The demo's rules: what `skein local up` evaluates unless told otherwise, hence what the console charts. */
const DEMO_RULES = join(packageRoot(import.meta.url), 'rules', 'demo');
export const DEFAULT_CONSOLE_PORT = 7600;

export const CONSOLE_USAGE = `Usage: skein console [--local <dir> | --bucket <name> --athena --workgroup <wg> [--region <r>] [--database <db>]]
                     [--port <n>] [--host <address>] [--rules <path>]

Serves the web console, read-only: find a trace or request by any id spelling or by a search filter, its
waterfall and logs, the alerts drawn against their thresholds with their exemplars and notifications, and the
pipeline's figures and quarantine. 'skein local up' already serves one for the local stack (its URL is in
<dir>/endpoints.json); this command serves one on its own, for the local stack or a deployed one.

Where:
  --local <dir>      the local stack in <dir> (default .skein; reads <dir>/endpoints.json); --dir is the same
  --bucket <name>    a deployed stack's data bucket (your AWS credentials); needs --athena --workgroup <wg>:
                     lookups and searches go through Athena, as 'skein query --athena' does
  --workgroup <wg>   the Athena workgroup;  --database <db>  the Glue database (default skein)
  --region <r>       the AWS region

How:
  --port <n>         port to listen on (default ${DEFAULT_CONSOLE_PORT}; 0 picks a free one)
  --host <address>   address to bind (default 127.0.0.1: only this machine). Anything else exposes your
                     telemetry to whoever reaches that address
  --rules <path>     rule file or folder, for a rule's value per minute against its threshold (default
                     rules/demo locally; none on AWS: the alert pages then show state and notifications only)
  -h, --help         show this help

Examples:
  skein console
  skein console --bucket skein-data-123456789012 --athena --workgroup skein --region eu-west-1 --rules rules/
`;

/** `skein console`: see {@link CONSOLE_USAGE}. Runs until SIGINT/SIGTERM (or `signal`). */
export function consoleCommand(args: string[], io: CliIo, deps: { signal?: AbortSignal } = {}): Promise<number> {
  return runGuarded(io, usageHint(CONSOLE_USAGE, 'skein console'), async () => {
    const values = parseFlags(
      args,
      {
        ...BUCKET_OPTIONS,
        athena: { type: 'boolean' },
        workgroup: { type: 'string' },
        database: { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string' },
        rules: { type: 'string' },
      },
      CONSOLE_USAGE,
      io,
    );
    if (values === undefined) return EXIT.ok;
    const port = parsePort(values.port);
    const remote = values.bucket !== undefined;
    if (remote && (!values.athena || values.workgroup === undefined))
      throw new UsageError('--bucket needs --athena --workgroup <wg>: lookups and searches on AWS go through Athena');
    if (!remote)
      for (const flag of ['athena', 'workgroup', 'database'] as const)
        if (values[flag] !== undefined) throw new UsageError(`--${flag} goes with --bucket <name>`);
    const rules = await loadRules(values.rules ?? (remote ? undefined : DEMO_RULES));
    const bucket = await openBucket(values);
    const { localSource, athenaSource } = await import('../console/server/source.ts');
    let source: import('../console/server/source.ts').ConsoleSource;
    let where: string;
    if (remote) {
      source = athenaSource({
        bucket: bucket.bucket,
        store: bucket.store,
        workgroup: values.workgroup ?? '',
        database: values.database ?? 'skein',
        region: values.region,
        rules,
      });
      where = source.where;
    } else {
      const dir = values.local ?? values.dir ?? '.skein';
      const { readEndpoints } = await import('../local/endpoints.ts');
      const endpoints = await readEndpoints(dir);
      source = localSource({ dir, dataDir: endpoints.dataDir, bucket: endpoints.bucket, store: bucket.store, rules });
      where = source.where;
    }
    const { startConsole } = await import('../console/server/server.ts');
    let running: RunningConsole;
    try {
      running = await startConsole({
        source,
        port,
        ...(values.host ? { host: values.host } : {}),
        onError: (error, path) => io.stderr.write(`skein console: ${path}: ${describe(error)}\n`),
      });
    } catch (error) {
      bucket.close();
      if ((error as { code?: string }).code === 'EADDRINUSE')
        throw new UsageError(`port ${port} is in use: pick another with --port <n> (0 for any free one)`);
      throw error;
    }
    io.stdout.write(`Skein console: ${running.url}   (${where}; read-only; Ctrl+C stops)\n`);
    await untilStopped(deps.signal);
    await running.close();
    bucket.close();
    return EXIT.ok;
  });
}

/**
 * The console of `skein local up`: one call that serves it over the running stack and returns it (its URL goes to
 * endpoints.json and the ready text). The poller's and ingest's in-memory counters feed the pipeline page.
 */
export async function startLocalConsole(options: {
  readonly dir: string;
  readonly endpoints: Endpoints;
  readonly store: ObjectStore;
  readonly rules: CompiledRuleSet | undefined;
  readonly stack: { readonly poller: { stats(): PollerFigures } };
  readonly tally: {
    readonly rowsByFormat: ReadonlyMap<string, number>;
    readonly quarantinedByReason: ReadonlyMap<string, number>;
  };
  readonly log: Logger;
  readonly port?: number;
}): Promise<RunningConsole> {
  const [{ localSource }, { startConsole }] = await Promise.all([
    import('../console/server/source.ts'),
    import('../console/server/server.ts'),
  ]);
  const { dir, endpoints, stack, tally } = options;
  return startConsole({
    source: localSource({
      dir,
      dataDir: endpoints.dataDir,
      bucket: endpoints.bucket,
      store: options.store,
      rules: options.rules,
    }),
    port: options.port ?? 0,
    live: (): LiveFigures => {
      const p = stack.poller.stats();
      return {
        recordsIn: p.records,
        batches: p.batches,
        retries: p.retries,
        lagMs: p.iteratorAgeMs,
        rowsByFormat: Object.fromEntries(tally.rowsByFormat),
        quarantinedByReason: Object.fromEntries(tally.quarantinedByReason),
      };
    },
    onError: (error, path) => options.log.warn('console request failed', { path, error: describe(error) }),
  });
}

interface PollerFigures {
  readonly records: number;
  readonly batches: number;
  readonly retries: number;
  readonly iteratorAgeMs: number;
}

async function loadRules(path: string | undefined): Promise<CompiledRuleSet | undefined> {
  if (path === undefined) return undefined;
  const { loadCompiledRules } = await import('../functions/shared/rules/load-compiled-rules.ts');
  return loadCompiledRules(path);
}

function parsePort(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_CONSOLE_PORT;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n > 65_535) throw new UsageError(`--port must be 0 to 65535, got '${raw}'`);
  return n;
}

function untilStopped(signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal) {
      if (signal.aborted) resolve();
      signal.addEventListener('abort', () => resolve(), { once: true });
      return;
    }
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
