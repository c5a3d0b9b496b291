import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestHandler, type LocalUpStarted, runLocalUp } from '../../cli/local-up-command.ts';
import { pushRecords } from '../../cli/put-records.ts';
import { CONTENT_SECURITY_POLICY } from '../../console/server/server.ts';
import { kinesisClient, s3Client } from '../../functions/core/aws-clients.ts';
import { s3ObjectStore } from '../../functions/core/object-store.ts';
import { alertFingerprint } from '../../functions/evaluate/alert-state.ts';
import { type DemoRequest, generateRequest, seededRng } from '../../local/demo-workload.ts';
import { readEndpoints } from '../../local/endpoints.ts';
import { type AlertTransition, outboxKey } from '../../schemas/alerts.ts';
import { captureIo } from '../builders/cli-io.ts';
import { anOtlpTraceRequest, aSpanId, aTraceId } from '../builders/telemetry.ts';
import { launchChromium, screenshotDir } from '../support/chromium.ts';
import { waitForStoredRows } from '../support/local-store.ts';

/** A span of a pushed request, as its OTLP/JSON record carries it. */
interface PushedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | undefined;
  readonly name: string;
  readonly service: string;
  readonly startNs: bigint;
  readonly error: boolean;
}

/** A log line of a pushed request: the span it names (each dialect spells it its own way). */
interface PushedLog {
  readonly traceId: string;
  readonly spanId: string;
  readonly body: string;
}

const REQUESTS = 24;
const HOSTILE_BODY = '<img src=x onerror=alert(1)>';
const HOSTILE_TRACE = aTraceId(660_001);

function spansOf(request: DemoRequest): PushedSpan[] {
  const out: PushedSpan[] = [];
  for (const record of request.records) {
    if (record.format !== 'otlp-json') continue;
    const json = JSON.parse(Buffer.from(record.data).toString('utf8'));
    for (const rs of json.resourceSpans)
      for (const ss of rs.scopeSpans)
        for (const s of ss.spans)
          out.push({
            traceId: s.traceId,
            spanId: s.spanId,
            parentSpanId: s.parentSpanId || undefined,
            name: s.name,
            service: record.service,
            startNs: BigInt(s.startTimeUnixNano),
            error: s.status?.code === 2,
          });
  }
  return out;
}

function logsOf(request: DemoRequest): PushedLog[] {
  return request.records
    .filter((r) => r.format === 'json-lines')
    .flatMap((r) => Buffer.from(r.data).toString('utf8').trim().split('\n'))
    .map((line) => {
      const json = JSON.parse(line);
      return {
        traceId: request.traceId,
        spanId: String(json.span_id ?? json.spanId),
        body: String(json.msg ?? json.message),
      };
    });
}

/** The spans of a trace depth first, children by start time (an independent statement of the waterfall's order). */
function depthFirst(spans: readonly PushedSpan[]): { spanId: string; depth: number }[] {
  const ids = new Set(spans.map((s) => s.spanId));
  const children = (parent: string | undefined) =>
    spans
      .filter((s) =>
        parent === undefined ? s.parentSpanId === undefined || !ids.has(s.parentSpanId) : s.parentSpanId === parent,
      )
      .sort((a, b) => (a.startNs < b.startNs ? -1 : a.startNs > b.startNs ? 1 : 0));
  const out: { spanId: string; depth: number }[] = [];
  const visit = (s: PushedSpan, depth: number) => {
    out.push({ spanId: s.spanId, depth });
    for (const c of children(s.spanId)) visit(c, depth + 1);
  };
  for (const root of children(undefined)) visit(root, 0);
  return out;
}

async function ready(page: Page): Promise<void> {
  await page.waitForSelector('#app[data-state="ready"]', { timeout: 30_000 });
}

/**
 * The console in Chromium on the real local stack: `skein local up` (kinesalite, s3rver, the poller, the ingest
 * function, the evaluator and notifier) serves it; demo requests go through Kinesis like any producer's.
 */
describe('the console in a real browser', () => {
  let dir: string;
  let started: LocalUpStarted;
  let browser: Browser;
  let shots: string;
  const stop = new AbortController();
  let running: Promise<number>;
  const requests: DemoRequest[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'skein-console-'));
    shots = await screenshotDir('console');
    const up = captureIo();
    let onStarted!: (s: LocalUpStarted) => void;
    const isUp = new Promise<LocalUpStarted>((resolve) => {
      onStarted = resolve;
    });
    running = runLocalUp(['--dir', dir, '--no-demo', '--shards', '1', '--evaluate-every', '1s'], up, {
      makeHandler: ingestHandler,
      signal: stop.signal,
      notifyEveryMs: 500,
      onStarted,
    });
    [started, browser] = await Promise.all([
      Promise.race([
        isUp,
        running.then((code) => {
          throw new Error(`skein local up exited ${code}: ${up.err()}`);
        }),
      ]),
      launchChromium(),
    ]);
    const { endpoints } = started;

    const rng = seededRng(1313);
    const now = Date.now();
    for (let i = 0; i < REQUESTS; i++) requests.push(generateRequest(rng, now - 12_000 + i * 500, 0.5));
    const hostileStart = BigInt(now - 30_000) * 1_000_000n;
    const hostile = [
      anOtlpTraceRequest('web-gateway', [
        { traceId: HOSTILE_TRACE, spanId: aSpanId(660_002), name: 'GET /hostile', startNs: hostileStart },
      ]),
      `${JSON.stringify({ timestamp: new Date(now - 30_000 + 1).toISOString(), level: 'ERROR', msg: HOSTILE_BODY, trace_id: HOSTILE_TRACE, span_id: aSpanId(660_002), service: 'web-gateway' })}\n`,
    ];
    const records = [
      ...requests.flatMap((r) =>
        r.records.map((rec) => ({ data: Buffer.from(rec.data), partitionKey: rec.partitionKey, origin: r.traceId })),
      ),
      ...hostile.map((text) => ({ data: Buffer.from(text), partitionKey: HOSTILE_TRACE, origin: HOSTILE_TRACE })),
    ];
    const kinesis = kinesisClient({ endpoint: endpoints.kinesis });
    await pushRecords(records, {
      stream: endpoints.stream,
      putRecords: (input) => kinesis.send(new PutRecordsCommand(input)),
    });
    kinesis.destroy();
    const rows = requests.reduce((n, r) => n + spansOf(r).length + logsOf(r).length, 0) + 2;
    expect(await waitForStoredRows(endpoints, rows)).toBe(rows);
  }, 150_000);

  afterAll(async () => {
    await browser?.close();
    stop.abort();
    await running;
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('is served by skein local up on 127.0.0.1, its URL in endpoints.json', async () => {
    // Act
    const endpoints = await readEndpoints(dir);
    const res = await fetch(`${started.consoleUrl}/`);

    // Assess
    expect(started.consoleUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(endpoints.console).toBe(started.consoleUrl);
    expect(res.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
  });

  it('draws every span of a demo trace in its nesting and order, each log line under its span', async () => {
    // Prepare
    const request = requests.find((r) => spansOf(r).length >= 4) ?? requests[0];
    if (request === undefined) throw new Error('no request pushed');
    const spans = spansOf(request);
    const logs = logsOf(request);
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });

    // Act
    await page.goto(`${started.consoleUrl}/trace/${request.traceId}`);
    await ready(page);
    const rows = await page.$$eval('#waterfall .wf-row', (nodes) =>
      nodes.map((n) => ({
        kind: n.getAttribute('data-kind'),
        depth: Number(n.getAttribute('data-depth')),
        spanId: n.getAttribute('data-span-id'),
        y: n.getBoundingClientRect().top,
      })),
    );
    await page.click('#waterfall .wf-row[data-index="0"]');
    const selected = await page.locator('#details h3').textContent();
    const needle = logs[logs.length - 1]?.body ?? '';
    await page.fill('#log-text', needle);
    const filtered = await page.locator('#log-list li .body').allTextContents();
    await page.fill('#log-text', '');
    await page.screenshot({ path: join(shots, 'trace.png'), fullPage: true });

    // Assess
    const root = depthFirst(spans)[0];
    expect(selected).toBe(spans.find((s) => s.spanId === root?.spanId)?.name);
    expect(filtered.length).toBeGreaterThan(0);
    expect(filtered.every((body) => body.includes(needle))).toBe(true);
    expect(filtered).toEqual(logs.filter((l) => l.body.includes(needle)).map((l) => l.body));
    rows.sort((a, b) => a.y - b.y);
    expect(rows.filter((r) => r.kind === 'span').map((r) => ({ spanId: r.spanId, depth: r.depth }))).toEqual(
      depthFirst(spans),
    );
    expect(rows.filter((r) => r.kind === 'log')).toHaveLength(logs.length);
    rows.forEach((row, i) => {
      if (row.kind !== 'log') return;
      const owner = rows
        .slice(0, i)
        .reverse()
        .find((r) => r.kind === 'span' && r.depth < row.depth);
      expect(owner?.spanId).toBe(row.spanId);
      expect(owner?.depth).toBe(row.depth - 1);
    });
    expect(await page.locator('h1').textContent()).toContain(request.traceId);
    await page.close();
  });

  it('follows an alert’s exemplar from its chart to the trace', async () => {
    // Prepare: a firing transition of the demo error-rate rule, carrying the exemplars the evaluator will attach
    // (issue 12), written to the outbox as the evaluator does.
    const failing = requests.find((r) => r.failed && spansOf(r).some((s) => s.service === 'orders' && s.error));
    if (failing === undefined) throw new Error('no failing orders request pushed');
    const labels = { alertname: 'DemoHighErrorRate', service: 'orders', severity: 'critical' };
    const minute = new Date(Math.floor(failing.startMs / 60_000) * 60_000).toISOString();
    const transition: AlertTransition = {
      version: 1,
      fingerprint: alertFingerprint(labels),
      seq: 900_001,
      status: 'firing',
      group: 'demo-services',
      rule: 'DemoHighErrorRate',
      labels,
      annotations: { summary: 'orders: requests fail' },
      value: 0.5,
      active_at: minute,
      starts_at: minute,
      evaluated_at: minute,
      expr: 'ratio(spans{kind="server", status="error"}, spans{kind="server"}) by (service) [1m] > 25%',
      exemplars: [
        {
          trace_id: failing.traceId,
          request_id: failing.requestId,
          time_ms: failing.startMs,
          value: 1,
          service: 'orders',
        },
      ],
    };
    const s3 = s3Client({ endpoint: started.endpoints.s3 });
    await s3ObjectStore(s3, started.endpoints.bucket).put(
      outboxKey(transition),
      Buffer.from(JSON.stringify(transition)),
      'application/json',
    );
    s3.destroy();
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });

    // Act
    await page.goto(`${started.consoleUrl}/alerts/DemoHighErrorRate?hours=1`);
    await ready(page);
    await page.waitForSelector('#rule-chart canvas');
    const seriesDrawn = Number(await page.locator('#rule-chart').getAttribute('data-series'));
    await page.screenshot({ path: join(shots, 'alert.png'), fullPage: true });
    await page.click(`#rule-chart a.exemplar[data-trace-id="${failing.traceId}"]`);
    await page.waitForURL(`**/trace/${failing.traceId}`);
    await ready(page);

    // Assess: the rule's value per minute was drawn (its series of the pushed services), then the exemplar led here.
    expect(seriesDrawn).toBeGreaterThan(0);
    expect(await page.locator('h1').textContent()).toContain(failing.traceId);
    expect(await page.locator('#waterfall .wf-row[data-kind="span"]').count()).toBe(spansOf(failing).length);
    expect(await page.locator('#waterfall .wf-row.span.error').count()).toBeGreaterThan(0);
    await page.close();
  });

  it('opens a request from the Find box by its id in another spelling, and a trace by its traceparent', async () => {
    // Prepare
    const request = requests[1];
    if (request === undefined) throw new Error('no request pushed');
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(`${started.consoleUrl}/`);
    await ready(page);

    // Act: the request id as an upper-case UUID (a UUID also reads as a trace id: no trace has it, so the request)
    await page.fill('#find-box', request.requestId.toUpperCase());
    await page.press('#find-box', 'Enter');
    await page.waitForURL('**/request/**');
    await ready(page);
    const requestPath = new URL(page.url()).pathname;
    const requestSpans = await page.locator('#waterfall .wf-row[data-kind="span"]').count();
    await page.screenshot({ path: join(shots, 'request.png'), fullPage: true });
    await page.goto(`${started.consoleUrl}/`);
    await ready(page);
    await page.fill('#find-box', `00-${request.traceId}-${spansOf(request)[0]?.spanId}-01`);
    await page.press('#find-box', 'Enter');
    await page.waitForURL('**/trace/**');
    await ready(page);
    const tracePath = new URL(page.url()).pathname;

    // Assess
    expect(requestPath).toBe(`/request/${request.requestId.replaceAll('-', '')}`);
    expect(requestSpans).toBe(spansOf(request).length);
    expect(tracePath).toBe(`/trace/${request.traceId}`);
    await page.close();
  });

  it('searches the error traces of a service from the Find box', async () => {
    // Prepare
    const expected = requests
      .filter((r) => spansOf(r).some((s) => s.service === 'orders' && s.error))
      .map((r) => r.traceId)
      .sort();
    expect(expected.length).toBeGreaterThan(2);
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(`${started.consoleUrl}/`);
    await ready(page);

    // Act
    await page.fill('#find-box', '{ resource.service.name = "orders" && status = error }');
    await page.press('#find-box', 'Enter');
    await page.waitForURL('**/search?**');
    await ready(page);
    await page.waitForSelector('table.results, #results p');
    const found = await page.$$eval('table.results tbody tr', (rows) =>
      rows.map((r) => r.getAttribute('data-trace-id') ?? ''),
    );
    await page.screenshot({ path: join(shots, 'search.png'), fullPage: true });

    // Assess
    expect(found.sort()).toEqual(expected);
    await page.close();
  });

  it('renders a log body of <img src=x onerror=alert(1)> as text and runs nothing', async () => {
    // Prepare
    const page = await browser.newPage();
    const dialogs: string[] = [];
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    const requested: string[] = [];
    page.on('request', (r) => requested.push(r.url()));

    // Act
    await page.goto(`${started.consoleUrl}/trace/${HOSTILE_TRACE}`);
    await ready(page);
    await page.click('#log-list li');
    const listed = await page.locator('#log-list li .body').allTextContents();
    const shown = await page.locator('#details .log-body').textContent();
    const images = await page.locator('img').count();
    await page.screenshot({ path: join(shots, 'hostile-log.png'), fullPage: true });

    // Assess
    expect(listed).toEqual([HOSTILE_BODY]);
    expect(shown).toBe(HOSTILE_BODY);
    expect(images).toBe(0);
    expect(dialogs).toEqual([]);
    expect(requested.filter((url) => !url.startsWith(started.consoleUrl))).toEqual([]);
    await page.close();
  });

  it('shows the pipeline: records in, rows, last runs and the replay command', async () => {
    // Prepare
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });

    // Act
    await page.goto(`${started.consoleUrl}/pipeline`);
    await ready(page);
    const figures = await page.locator('#figures').textContent();
    await page.screenshot({ path: join(shots, 'pipeline.png'), fullPage: true });

    // Assess
    expect(figures).toContain('records in');
    expect(figures).toMatch(/local-poller last run\d{4}-/);
    expect(await page.locator('.copy-text').inputValue()).toBe(`skein replay --local ${dir}`);
    await page.close();
  });
});
