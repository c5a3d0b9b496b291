import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { readEndpoints } from '../../local/endpoints.ts';
import { launchChromium, screenshotDir } from '../support/chromium.ts';

const run = promisify(execFile);
const ROOT = new URL('../..', import.meta.url).pathname;

/** `npm start` exactly as a user runs it, then `skein query` on a demo trace it printed, then Ctrl-C. */
describe('npm start', () => {
  let child: ChildProcess | undefined;
  let dir = '';
  let stdout = '';

  afterAll(async () => {
    try {
      if (child?.pid) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // the whole process group has already exited
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  function waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out waiting for ${pattern}; stdout so far:\n${stdout}`)),
        timeoutMs,
      );
      const check = () => {
        const match = pattern.exec(stdout);
        if (match) {
          clearTimeout(timer);
          child?.stdout?.off('data', check);
          resolve(match);
        }
      };
      child?.stdout?.on('data', check);
      check();
    });
  }

  async function skein(...args: string[]): Promise<{ stdout: string; code: number }> {
    try {
      const out = await run('npx', ['tsx', 'bin/skein.ts', ...args], { cwd: ROOT });
      return { stdout: out.stdout, code: 0 };
    } catch (error) {
      const e = error as { stdout?: string; code?: number };
      return { stdout: e.stdout ?? '', code: e.code ?? 1 };
    }
  }

  it('brings the pipeline and demo up; a demo trace comes back across services; Ctrl-C stops it cleanly', async () => {
    // Prepare
    dir = await mkdtemp(join(tmpdir(), 'skein-start-'));
    child = spawn('npm', ['start', '--', '--dir', dir], {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr?.resume();

    // Act: wait for the ready text and its demo trace id
    const [, traceId] = await waitFor(/skein query trace ([0-9a-f]{32}) --local/, 90_000);
    const endpoints = await readEndpoints(dir);
    let timeline = '';
    for (let attempt = 0; attempt < 60 && !/services .*, /.test(timeline); attempt++) {
      timeline = (await skein('query', 'trace', traceId ?? '', '--local', dir)).stdout;
      if (!/services .*, /.test(timeline)) await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const json = await skein('query', 'trace', traceId ?? '', '--local', dir, '--json');
    // The console it printed, on the demo trace it printed, in Chromium.
    const [, consoleUrl, consoleTrace] =
      /Console {2}(http:\/\/127\.0\.0\.1:\d+) {3}a demo trace: \S+\/trace\/([0-9a-f]{32})/.exec(stdout) ?? [];
    const browser = await launchChromium();
    let waterfallSpans = 0;
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      await page.goto(`${consoleUrl}/trace/${consoleTrace}`);
      await page.waitForSelector('#app[data-state="ready"]', { timeout: 30_000 });
      waterfallSpans = await page.locator('#waterfall .wf-row[data-kind="span"]').count();
      await page.screenshot({ path: join(await screenshotDir('console'), 'npm-start-trace.png'), fullPage: true });
    } finally {
      await browser.close();
    }
    process.kill(-(child.pid ?? 0), 'SIGINT');
    // npm itself may die of the SIGINT (a terminal sends it to the whole group); skein must stop cleanly and say so,
    // and every process of the group must be gone once stdout closes.
    const exit = await new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      child?.once('exit', (code, signal) => resolve({ code, signal })),
    );
    await new Promise((resolve) =>
      child?.stdout?.readableEnded ? resolve(undefined) : child?.stdout?.once('close', resolve),
    );

    // Assess
    expect(endpoints.stream).toBeTruthy();
    expect(endpoints.console).toBe(consoleUrl);
    expect(consoleTrace).toBe(traceId);
    expect(waterfallSpans).toBeGreaterThanOrEqual(2);
    expect(timeline).toMatch(new RegExp(`^trace ${traceId} · services [a-z-]+(, [a-z-]+)+ · \\d+ spans · \\d+ logs`));
    expect(timeline).toMatch(/SPAN /);
    expect(timeline).toMatch(/LOG /);
    const rows = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(new Set(rows.map((r) => r.service_name)).size).toBeGreaterThanOrEqual(2);
    expect(rows.every((r) => r.trace_id === traceId)).toBe(true);
    expect(exit.code === 0 || exit.signal === 'SIGINT').toBe(true);
    expect(stdout).toMatch(/Stopped\. Ingested \d+ records/);
  });

  it('exits 2 with the reason for a malformed id and 0 with "no records" for an unknown one', async () => {
    const bad = await skein('query', 'trace', 'not-a-trace', '--local', ROOT);
    expect(bad.code).toBe(2);
    const unknownDir = await mkdtemp(join(tmpdir(), 'skein-empty-'));
    try {
      const { writeEndpoints } = await import('../../local/endpoints.ts');
      await writeEndpoints(unknownDir, {
        kinesis: 'http://127.0.0.1:1',
        s3: 'http://127.0.0.1:1',
        stream: 's',
        bucket: 'b',
        dataDir: unknownDir,
      });
      const unknown = await skein('query', 'trace', '4bf92f3577b34da6a3ce929d0e0e4736', '--local', unknownDir);
      expect(unknown).toEqual({ stdout: 'no records for trace 4bf92f3577b34da6a3ce929d0e0e4736\n', code: 0 });
    } finally {
      await rm(unknownDir, { recursive: true, force: true });
    }
  });
});
