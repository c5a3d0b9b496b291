import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestHandler, type LocalUpStarted, runLocalUp } from '../../cli/local-up-command.ts';
import { smokeCommand } from '../../cli/smoke-command.ts';
import { captureIo } from '../builders/cli-io.ts';

/** The check lines of a smoke report, by name: `PASS`/`FAIL`/`SKIP` and the rest of the line. */
function checkLines(out: string): Map<string, { status: string; line: string }> {
  const lines = new Map<string, { status: string; line: string }>();
  for (const line of out.split('\n')) {
    const match = /^ {2}(PASS|FAIL|SKIP) {2}(.+?) \(\d+\.\d s\): /.exec(line);
    if (match?.[1] && match[2]) lines.set(match[2], { status: match[1], line });
  }
  return lines;
}

/** The routing key the local PagerDuty sink received (the notifier's secret), to prove smoke never prints it. */
function routingKeysSeen(started: LocalUpStarted): string[] {
  const keys: string[] = [];
  for (const request of started.sinks?.pagerduty.received ?? []) {
    const match = /"routing_key"\s*:\s*"([^"]+)"/.exec(request.rawBody);
    if (match?.[1]) keys.push(match[1]);
  }
  return keys;
}

// One local stack for every case, broken step by step: healthy first, then Alertmanager stopped, then the poller.
describe('skein smoke --local on a real local stack', () => {
  let dir: string;
  let started: LocalUpStarted;
  const stop = new AbortController();
  let running: Promise<number>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'skein-smoke-'));
    const up = captureIo();
    let ready!: (s: LocalUpStarted) => void;
    const isUp = new Promise<LocalUpStarted>((resolve) => {
      ready = resolve;
    });
    running = runLocalUp(['--dir', dir, '--no-demo', '--shards', '1', '--evaluate-every', '1s'], up, {
      makeHandler: ingestHandler,
      signal: stop.signal,
      alertmanager: 'required',
      notifyEveryMs: 500,
      onStarted: ready,
    });
    started = await Promise.race([
      isUp,
      running.then((code) => {
        throw new Error(`skein local up exited ${code}: ${up.err()}`);
      }),
    ]);
  });

  afterAll(async () => {
    stop.abort();
    await running;
    await rm(dir, { recursive: true, force: true });
  });

  it('passes every check on a fresh stack, notifications included, and prints no secret', async () => {
    // Prepare
    const io = captureIo();

    // Act
    const code = await smokeCommand(['--local', dir, '--notify', '--wait', '12s'], io);

    // Assess
    const lines = checkLines(io.out());
    expect([...lines.values()].filter((l) => l.status !== 'PASS').map((l) => l.line)).toEqual([]);
    expect(code).toBe(0);
    expect([...lines.keys()]).toEqual([
      'probes reach S3 as rows',
      'trace query, no time range',
      'trace query, time range',
      'request query, no time range',
      'request query, time range',
      'views return each probe row exactly once',
      'conditional writes hold on the bucket',
      'compactor ran recently',
      'evaluator ran recently',
      'ingest iterator age is low',
      'failed-batch queue is empty',
      ...[...lines.keys()].filter((name) => name.startsWith('notify: ')),
    ]);
    // The local routes send a critical alert to Alertmanager, PagerDuty and Slack.
    expect([...lines.keys()].filter((name) => name.startsWith('notify: '))).toHaveLength(3);
    expect(lines.get('probes reach S3 as rows')?.line).toContain(
      '4 of 4 (json-lines, otlp-json, otlp-proto-gzip, kpl)',
    );
    expect(io.out()).toMatch(
      /leave them out with: WHERE json_extract_scalar\(attributes, '\$\["skein\.smoke"\]'\) IS NULL/,
    );
    // The receivers really got the test alert.
    const slack = started.sinks?.slack.received.map((r) => r.rawBody).join('\n') ?? '';
    expect(slack).toContain('SkeinSmokeTest');
    const keys = routingKeysSeen(started);
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) expect(io.out() + io.err()).not.toContain(key);
    expect(io.out() + io.err()).not.toContain(started.sinks?.slack.url ?? 'no slack sink');
  });

  it('fails the receiver’s line with the notifier’s reason when Alertmanager is down', async () => {
    // Prepare
    await started.alertmanager?.stop();
    const io = captureIo();

    // Act
    const code = await smokeCommand(['--local', dir, '--notify', '--wait', '10s'], io);

    // Assess
    expect(code).toBe(1);
    const notify = [...checkLines(io.out()).entries()].filter(([name]) => name.startsWith('notify: '));
    const failed = notify.filter(([, l]) => l.status === 'FAIL');
    expect(failed).toHaveLength(1);
    expect(failed[0]?.[0]).toContain('alertmanager');
    expect(failed[0]?.[1].line).toMatch(/firing (pending|sending) after \d+ attempts?/);
    expect(failed[0]?.[1].line).toContain('— the receiver did not accept it');
    // The other receivers still answered, and every non-notification check still passes.
    expect(notify.filter(([, l]) => l.status === 'PASS')).toHaveLength(2);
    expect(io.out()).toContain('1 failed');
  });

  it('fails the probe line, and skips the lookups, when the poller has stopped', async () => {
    // Prepare
    await started.poller.stop();
    const io = captureIo();

    // Act
    const code = await smokeCommand(['--local', dir, '--wait', '3s'], io);

    // Assess
    expect(code).toBe(1);
    const lines = checkLines(io.out());
    expect(lines.get('probes reach S3 as rows')?.status).toBe('FAIL');
    expect(lines.get('probes reach S3 as rows')?.line).toContain(
      'no row of json-lines, otlp-json, otlp-proto-gzip, kpl after 3.0 s',
    );
    expect(lines.get('probes reach S3 as rows')?.line).toContain('the poller or the ingest function is not running');
    expect(lines.get('trace query, no time range')?.status).toBe('SKIP');
    expect(lines.get('conditional writes hold on the bucket')?.status).toBe('PASS');
  });
});
