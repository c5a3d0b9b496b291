import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { stringify } from 'yaml';
import { REDACTED } from '../functions/core/redact.ts';
import { ConfigError, SkeinError } from '../schemas/errors.ts';

/** How to run Alertmanager for the local stack and tests. */
export interface AlertmanagerOptions {
  /** Folder for `alertmanager.yml` and `data/` (created). */
  readonly dir: string;
  /** Where the single webhook receiver posts (version "4" payloads), e.g. a `startSink({ kind: 'webhook' })` URL. */
  readonly webhookUrl: string;
  /** Port on 127.0.0.1; 0 or absent picks a free one. */
  readonly port?: number;
  /** Route timings (Alertmanager durations): defaults `1s`, `1s`, `1h`, so tests see notifications within seconds. */
  readonly groupWait?: string;
  readonly groupInterval?: string;
  readonly repeatInterval?: string;
  /** Labels to group by; default `['...']`: every distinct label set is its own group, i.e. one alert per message. */
  readonly groupBy?: readonly string[];
  /** Notify when alerts resolve (default true). */
  readonly sendResolved?: boolean;
  /** How long to wait for `/-/ready` (default 10 s) and for exit after SIGTERM before SIGKILL (default 5 s). */
  readonly readyTimeoutMs?: number;
  readonly stopTimeoutMs?: number;
  /** The binary; default {@link findAlertmanager}. */
  readonly binary?: string;
}

export interface RunningAlertmanager {
  /** `http://127.0.0.1:<port>`: the API is under `/api/v2/`. */
  readonly url: string;
  /** SIGTERM, SIGKILL after `stopTimeoutMs`; resolves once the process has exited. */
  stop(): Promise<void>;
}

/** Alertmanager is not installed or would not start: the message says what to run or what it printed. */
export class AlertmanagerError extends SkeinError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('alertmanager_failed', message, options);
  }
}

const HOST = '127.0.0.1';
const BINARY = 'prometheus-alertmanager';
const FALLBACK = '/usr/bin/prometheus-alertmanager';
export const SETUP_HINT =
  'install it with: sudo scripts/setup-alertmanager.sh (Debian/Ubuntu package prometheus-alertmanager)';

/** The path of `prometheus-alertmanager` on `PATH` (or `/usr/bin`), or `undefined` when it is not installed. */
export function findAlertmanager(path: string | undefined = process.env.PATH): string | undefined {
  const candidates = (path ?? '')
    .split(delimiter)
    .filter((folder) => folder.length > 0)
    .map((folder) => join(folder, BINARY));
  candidates.push(FALLBACK);
  return candidates.find(isExecutable);
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Writes a config with one webhook receiver and starts the real Alertmanager on 127.0.0.1 (clustering off), then waits
 * until `/-/ready` answers. Throws {@link AlertmanagerError} when the binary is missing (with the command to install
 * it) or when it does not become ready in time (with the tail of its stderr).
 *
 * @example
 * const sink = await startSink({ kind: 'webhook' });
 * const am = await startAlertmanager({ dir: '.skein/alertmanager', webhookUrl: sink.url });
 * // POST `${am.url}/api/v2/alerts` … then sink.waitFor(…)
 * await am.stop();
 */
export async function startAlertmanager(options: AlertmanagerOptions): Promise<RunningAlertmanager> {
  const binary = options.binary ?? findAlertmanager();
  if (!binary) throw new AlertmanagerError(`prometheus-alertmanager is not installed: ${SETUP_HINT}`);
  const webhook = checkWebhookUrl(options.webhookUrl);
  await mkdir(join(options.dir, 'data'), { recursive: true });
  const configFile = join(options.dir, 'alertmanager.yml');
  // 0600: the webhook URL can hold a token.
  await writeFile(configFile, alertmanagerConfig(options, webhook), { mode: 0o600 });
  // A free port is found by binding port 0 and releasing it, so another process can take it before Alertmanager
  // binds: on "address already in use" try again with a new one (only when the port was not fixed).
  const attempts = options.port ? 1 : 3;
  for (let attempt = 1; ; attempt++) {
    const port = options.port || (await freePort());
    try {
      return await launch(binary, configFile, join(options.dir, 'data'), port, options);
    } catch (error) {
      const retry = error instanceof AlertmanagerError && /address already in use/.test(error.message);
      if (!retry || attempt >= attempts) throw error;
    }
  }
}

/** The YAML config: one route to one webhook receiver. Exported for tests. */
export function alertmanagerConfig(options: AlertmanagerOptions, webhookUrl: string = options.webhookUrl): string {
  return stringify({
    route: {
      receiver: 'skein-webhook',
      group_by: [...(options.groupBy ?? ['...'])],
      group_wait: options.groupWait ?? '1s',
      group_interval: options.groupInterval ?? '1s',
      repeat_interval: options.repeatInterval ?? '1h',
    },
    receivers: [
      {
        name: 'skein-webhook',
        webhook_configs: [{ url: webhookUrl, send_resolved: options.sendResolved ?? true }],
      },
    ],
  });
}

function checkWebhookUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError('webhookUrl for Alertmanager is not a valid URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ConfigError('webhookUrl for Alertmanager must be http:// or https://');
  }
  return url;
}

async function launch(
  binary: string,
  configFile: string,
  dataDir: string,
  port: number,
  options: AlertmanagerOptions,
): Promise<RunningAlertmanager> {
  const url = `http://${HOST}:${port}`;
  const child = spawn(
    binary,
    [
      `--config.file=${configFile}`,
      `--storage.path=${dataDir}`,
      `--web.listen-address=${HOST}:${port}`,
      '--cluster.listen-address=', // no gossip port: one instance, nothing else to bind
      `--web.external-url=${url}`,
      '--log.level=info',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const stderr = tail(child, 40);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', () => resolve({ code: null, signal: null })); // spawn failed: 'exit' may not follow
  });
  let spawnError: Error | undefined;
  child.once('error', (error) => {
    spawnError = error;
  });
  const stop = stopper(child, exited, options.stopTimeoutMs ?? 5_000);
  const readyTimeoutMs = options.readyTimeoutMs ?? 10_000;
  const polling = new AbortController();
  const ready = await Promise.race([
    waitUntilReady(url, readyTimeoutMs, polling.signal).then((ok) => (ok ? ('ready' as const) : ('timeout' as const))),
    exited.then(() => 'exited' as const),
  ]);
  polling.abort(); // it exited: stop knocking at a port that may now be someone else's
  if (ready === 'ready') return { url, stop };
  await stop();
  const reason =
    ready === 'timeout'
      ? `not ready at ${url}/-/ready within ${readyTimeoutMs} ms`
      : `exited before it was ready${spawnError ? ` (${spawnError.message})` : ''}`;
  // Alertmanager may echo its config: the webhook URL can hold a token, so it never reaches an error message.
  const printed = stderr().split(options.webhookUrl).join(REDACTED).trim();
  throw new AlertmanagerError(`Alertmanager (${binary}) ${reason}; its stderr ended with:\n${printed}`);
}

/**
 * Polls `GET /-/ready` every 50 ms: Alertmanager is a separate process with no event to await (it is ready in about
 * 0.1 s here). Resolves false after `timeoutMs`.
 */
async function waitUntilReady(url: string, timeoutMs: number, cancel: AbortSignal): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !cancel.aborted) {
    try {
      const signal = AbortSignal.any([cancel, AbortSignal.timeout(1_000)]);
      const response = await fetch(`${url}/-/ready`, { signal });
      await response.arrayBuffer();
      if (response.ok) return true;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

function stopper(child: ChildProcess, exited: Promise<unknown>, timeoutMs: number): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  return () => {
    stopping ??= (async () => {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const killed = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          child.kill('SIGKILL');
          resolve();
        }, timeoutMs);
      });
      await Promise.race([exited, killed]);
      clearTimeout(timer);
      await exited;
    })();
    return stopping;
  };
}

/** Keeps the last `lines` lines of the child's stderr (Alertmanager logs there). */
function tail(child: ChildProcess, lines: number): () => string {
  const kept: string[] = [];
  let partial = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) {
      kept.push(line);
      if (kept.length > lines) kept.shift();
    }
  });
  return () => [...kept, partial].join('\n');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
