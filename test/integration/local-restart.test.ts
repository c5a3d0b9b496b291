import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { afterAll, describe, expect, it } from 'vitest';
import { readEndpoints } from '../../local/endpoints.ts';
import { LOCK_FILE } from '../../local/state-lock.ts';
import { listTableFiles } from '../../query/local-query.ts';
import { duckQuery } from '../support/duckdb.ts';

const ROOT = new URL('../..', import.meta.url).pathname;

/** The real `skein local up --no-demo` as a child process (node + tsx, no npm/npx in between: signals reach it). */
class StackProcess {
  stdout = '';
  stderr = '';
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(dir: string) {
    this.child = spawn(
      process.execPath,
      ['--import', 'tsx', 'bin/skein.ts', 'local', 'up', '--no-demo', '--no-alerting', '--dir', dir],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk;
    });
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  /** Resolves with the first match of `pattern` on stdout; rejects if the process exits first. */
  waitFor(pattern: RegExp): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const match = pattern.exec(this.stdout);
        if (!match) return;
        this.child.stdout?.off('data', check);
        resolve(match);
      };
      this.child.stdout?.on('data', check);
      this.exited.then(({ code, signal }) => {
        check();
        reject(
          new Error(
            `skein local up exited (${code ?? signal}) before ${pattern}; stdout:\n${this.stdout}\nstderr tail:\n${this.stderr.slice(-2000)}`,
          ),
        );
      });
      check();
    });
  }

  kill(signal: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }
}

const running: StackProcess[] = [];
const dirs: string[] = [];

afterAll(async () => {
  for (const stack of running) {
    stack.kill('SIGKILL');
    await stack.exited;
  }
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function newDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'skein-restart-'));
  dirs.push(dir);
  return dir;
}

function startStack(dir: string): StackProcess {
  const stack = new StackProcess(dir);
  running.push(stack);
  return stack;
}

/** What a producer knows after pushing: ids Kinesis acknowledged, and ids of a request that got no answer. */
interface Pushed {
  readonly accepted: Set<string>;
  readonly unknown: Set<string>;
}

const LINE_ID = /^push-[a-z]+-\d+$/;

function line(id: string): string {
  return JSON.stringify({ ts: new Date().toISOString(), level: 'info', msg: id, service: 'restart-test' });
}

/**
 * Pushes `total` JSON lines (unique ids `push-<run>-<n>` as the message) in requests of 500 through the real Kinesis
 * client, one at a time, with no SDK retries (a retried request could be accepted twice: a producer duplicate, not
 * what this test is about). `afterRequests(n)` runs after the n-th acknowledged request; pushing stops at the first
 * request that fails (the stack was stopped), whose ids are then unknown: accepted or not.
 */
async function push(
  endpoint: string,
  stream: string,
  run: string,
  total: number,
  afterRequest: (n: number) => void,
): Promise<Pushed> {
  const kinesis = new KinesisClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    requestHandler: new NodeHttpHandler(),
    maxAttempts: 1,
  });
  const accepted = new Set<string>();
  const unknown = new Set<string>();
  try {
    for (let start = 0, n = 1; start < total; start += 500, n++) {
      const ids = Array.from({ length: Math.min(500, total - start) }, (_, i) => `push-${run}-${start + i}`);
      try {
        const out = await kinesis.send(
          new PutRecordsCommand({
            StreamName: stream,
            Records: ids.map((id) => ({ Data: Buffer.from(line(id)), PartitionKey: id })),
          }),
        );
        (out.Records ?? []).forEach((r, i) => {
          const id = ids[i] as string;
          if (r.SequenceNumber && !r.ErrorCode) accepted.add(id);
        });
      } catch {
        for (const id of ids) unknown.add(id);
        break;
      }
      afterRequest(n);
    }
  } finally {
    kinesis.destroy();
  }
  return { accepted, unknown };
}

/** Every log row's message (the pushed id) with how often it is stored, through the compaction visibility rule. */
async function storedIds(dir: string): Promise<Map<string, number>> {
  const endpoints = await readEndpoints(dir);
  const files = await listTableFiles(endpoints.dataDir, endpoints.bucket, 'logs');
  const counts = new Map<string, number>();
  if (files.length === 0) return counts;
  const rows = await duckQuery(
    `SELECT body AS id, count(*)::INT AS n FROM read_parquet([${files.map((f) => `'${f.replaceAll("'", "''")}'`).join(', ')}]) GROUP BY body`,
  );
  for (const row of rows) counts.set(String(row.id), Number(row.n));
  return counts;
}

/** Exactly once: every accepted id stored once, an unknown one at most once, nothing else. Names the ids that are not. */
function reconcile(pushed: Pushed, stored: Map<string, number>) {
  const missing = [...pushed.accepted].filter((id) => !stored.has(id));
  const doubled = [...stored].filter(([, n]) => n > 1).map(([id, n]) => `${id}×${n}`);
  const foreign = [...stored.keys()].filter((id) => !pushed.accepted.has(id) && !pushed.unknown.has(id));
  return { missing, doubled, foreign };
}

/** Resolves once the stack has persisted a shard checkpoint (the child gives no other sign; polls the folder). */
async function waitForCheckpoint(folder: string, stack: StackProcess): Promise<void> {
  for (;;) {
    const names = await readdir(folder).catch(() => [] as string[]);
    if (names.some((n) => n.endsWith('.json'))) return;
    if (stack.child.exitCode !== null)
      throw new Error(`stack exited before a checkpoint in ${folder}:\n${stack.stdout}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * Stops a stack with `signal` while records are being pushed and ingested (after two acknowledged requests of 500,
 * and once the poller has checkpointed a batch), restarts on the same folder, waits until the restarted stack says
 * it has caught up with what the first one left in the stream, and reconciles.
 */
async function stopDuringIngestAndRestart(signal: 'SIGINT' | 'SIGKILL', run: string) {
  // Prepare
  const dir = await newDir();
  const first = startStack(dir);
  await first.waitFor(/Ctrl\+C stops/);
  const endpoints = await readEndpoints(dir);
  let stopSent: Promise<void> | undefined;

  // Act: push 4,000 lines; stop the stack during the push, once the poller has checkpointed a batch
  const pushed = await push(endpoints.kinesis, endpoints.stream, run, 4_000, (n) => {
    if (n !== 2) return;
    stopSent = waitForCheckpoint(join(dir, 'checkpoints', endpoints.stream), first).then(() => first.kill(signal));
  });
  await stopSent;
  const firstExit = await first.exited;
  const restarted = startStack(dir);
  const [resumeLine] = await restarted.waitFor(/^Resumed stream .*$/m);
  await restarted.waitFor(/Ctrl\+C stops/);
  if (!/nothing pending/.test(resumeLine)) await restarted.waitFor(/^Caught up: .*$/m);
  const stored = await storedIds(dir);
  restarted.kill('SIGINT');
  const restartedExit = await restarted.exited;

  // Assess
  const { missing, doubled, foreign } = reconcile(pushed, stored);
  const report = `accepted ${pushed.accepted.size}, unknown ${pushed.unknown.size}, stored ${stored.size}; missing [${missing.slice(0, 50).join(', ')}]; doubled [${doubled.slice(0, 50).join(', ')}]; foreign [${foreign.slice(0, 50).join(', ')}]`;
  expect(pushed.accepted.size, report).toBeGreaterThanOrEqual(1_000);
  expect(missing, report).toEqual([]);
  expect(doubled, report).toEqual([]);
  expect(foreign, report).toEqual([]);
  expect([...stored.keys()].every((id) => LINE_ID.test(id))).toBe(true);
  expect(restartedExit).toEqual({ code: 0, signal: null });
  expect(restarted.stdout).toMatch(/state kept in .*: nothing pending in the stream\n/);
  return { first, firstExit, restarted, resumeLine, dir };
}

describe('skein local up across restarts', () => {
  it('stores every accepted record exactly once after Ctrl-C during ingest and a restart on the same folder', async () => {
    const { first, firstExit, resumeLine } = await stopDuringIngestAndRestart('SIGINT', 'int');
    // The first stack stopped cleanly and said what it left in the stream; the restart found just that.
    expect(firstExit).toEqual({ code: 0, signal: null });
    const stopped = first.stdout.match(
      /^Stopped\. Ingested \d+ records .*; state kept in .*: (nothing pending in the stream|([\d,]+ records? accepted by the stream not ingested yet \(.*\)); the next start on .* ingests them)$/m,
    );
    expect(stopped, first.stdout).not.toBeNull();
    const left = stopped?.[2] ?? 'nothing pending in the stream';
    expect(resumeLine).toContain(`from ${join(tmpdir(), '')}`);
    expect(resumeLine).toContain(`: ${left}`);
  });

  it('stores every accepted record exactly once after kill -9 during ingest and a restart that takes over the lock', async () => {
    const { first, firstExit, restarted, dir } = await stopDuringIngestAndRestart('SIGKILL', 'kill');
    expect(firstExit.signal).toBe('SIGKILL');
    expect(restarted.stdout).toContain(
      `Took over ${join(dir, LOCK_FILE)} from pid ${first.child.pid}, which is no longer running (killed or crashed)\n`,
    );
  });

  it('refuses a second local up on a folder in use, with one line and exit 1, leaving endpoints.json as it was', async () => {
    // Prepare
    const dir = await newDir();
    const owner = startStack(dir);
    await owner.waitFor(/Ctrl\+C stops/);
    const before = await readFile(join(dir, 'endpoints.json'), 'utf8');

    // Act
    const second = startStack(dir);
    const exit = await second.exited;
    const after = await readFile(join(dir, 'endpoints.json'), 'utf8');
    owner.kill('SIGINT');
    const ownerExit = await owner.exited;

    // Assess
    expect(exit).toEqual({ code: 1, signal: null });
    const errorLines = second.stderr.split('\n').filter((l) => l.startsWith('skein: '));
    expect(errorLines).toEqual([
      `skein: ${dir} is in use by skein local up (pid ${owner.child.pid}): stop that one first, or pass another --dir`,
    ]);
    expect(second.stdout).toBe('');
    expect(after).toBe(before);
    expect(ownerExit).toEqual({ code: 0, signal: null });
  });
});
