import { afterEach, describe, expect, it } from 'vitest';
import { CONTENT_SECURITY_POLICY, type RunningConsole, SHELL_HTML, startConsole } from '../../console/server/server.ts';
import type { ConsoleSource } from '../../console/server/source.ts';
import { traceView } from '../../console/server/trace-view.ts';
import { memoryObjectStore } from '../../functions/core/object-store.ts';
import type { QueryRow } from '../../query/rows.ts';
import { aLogRecord, aSpanRecord } from '../builders/rows.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const T0 = 1_714_548_600_000;
const ns = (offsetMs: number): bigint => BigInt(T0 + offsetMs) * 1_000_000n;
const HOSTILE = '</script><img src=x onerror=alert(1)>';

function aSpan(spanId: string, parent: string | null, startMs: number, durationMs: number, extra = {}): QueryRow {
  return {
    table: 'spans',
    row: aSpanRecord(
      {
        trace_id: TRACE,
        span_id: spanId,
        parent_span_id: parent,
        start_time: T0 + startMs,
        start_time_unix_nano: ns(startMs),
        end_time_unix_nano: ns(startMs + durationMs),
        duration_nano: BigInt(durationMs) * 1_000_000n,
        resource_attributes: '{}',
        ...extra,
      },
      durationMs,
    ),
  };
}

function aLog(spanId: string, atMs: number, body: string): QueryRow {
  return {
    table: 'logs',
    row: aLogRecord({
      trace_id: TRACE,
      span_id: spanId,
      time: T0 + atMs,
      time_unix_nano: ns(atMs),
      body,
      resource_attributes: '{}',
    }),
  };
}

const ROWS: QueryRow[] = [
  aSpan('00000000000000a1', null, 0, 100),
  aSpan('00000000000000b2', '00000000000000a1', 10, 30),
  aSpan('00000000000000c3', '00000000000000a1', 50, 45, { status_code: 'ERROR' }),
  aLog('00000000000000c3', 60, HOSTILE),
];

/** A source over fixed rows: what the routes do with them, without DuckDB or S3. */
function fixedSource(rows: QueryRow[] = ROWS): ConsoleSource & { lookups: string[] } {
  const lookups: string[] = [];
  return {
    lookups,
    where: 'local test',
    store: memoryObjectStore(),
    cliTarget: '--local .skein',
    replayCommand: 'skein replay --local .skein',
    async lookup(by, id) {
      lookups.push(`${by} ${id}`);
      return { rows: by === 'trace' && id === TRACE ? rows : [], read: 'read nothing' };
    },
    async search() {
      return { traces: [], read: 'read nothing' };
    },
  };
}

const ASSETS = new Map([
  ['app.js' as const, { body: Buffer.from('console.log(1)'), type: 'text/javascript; charset=utf-8' }],
  ['app.css' as const, { body: Buffer.from('body{}'), type: 'text/css; charset=utf-8' }],
]);

describe('console server', () => {
  let running: RunningConsole | undefined;
  afterEach(async () => {
    await running?.close();
    running = undefined;
  });

  it('binds 127.0.0.1 on a free port by default', async () => {
    // Act
    running = await startConsole({ source: fixedSource(), assets: ASSETS });

    // Assess
    expect(running.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(running.port).toBeGreaterThan(0);
  });

  it('sends the strict Content-Security-Policy and nosniff on pages, assets and API answers', async () => {
    // Prepare
    running = await startConsole({ source: fixedSource(), assets: ASSETS });

    // Act
    const answers = await Promise.all(
      ['/', `/trace/${TRACE}`, '/alerts/x', '/pipeline', '/assets/app.js', `/api/trace/${TRACE}`, '/nowhere'].map(
        (path) => fetch(`${running?.url}${path}`),
      ),
    );

    // Assess
    for (const res of answers) {
      expect(res.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    }
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200, 404]);
    expect(CONTENT_SECURITY_POLICY).toContain("script-src 'self'");
    expect(CONTENT_SECURITY_POLICY).not.toContain('unsafe-inline');
    expect(CONTENT_SECURITY_POLICY).toContain("connect-src 'self'");
  });

  it('serves one shell with no inline script and nothing from another origin', async () => {
    // Prepare
    running = await startConsole({ source: fixedSource(), assets: ASSETS });

    // Act
    const html = await (await fetch(`${running.url}/trace/${TRACE}`)).text();

    // Assess
    expect(html).toBe(SHELL_HTML);
    expect(html.match(/<script[^>]*>/g)).toEqual(['<script type="module" src="/assets/app.js">']);
    expect(html).not.toMatch(/https?:\/\//);
  });

  it('is read-only: anything but GET and HEAD is 405', async () => {
    // Prepare
    running = await startConsole({ source: fixedSource(), assets: ASSETS });

    // Act
    const res = await fetch(`${running.url}/api/trace/${TRACE}`, { method: 'POST', body: '{}' });

    // Assess
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD');
  });

  it('escapes markup in telemetry inside JSON answers, and the text survives parsing unchanged', async () => {
    // Prepare
    running = await startConsole({ source: fixedSource(), assets: ASSETS });

    // Act
    const res = await fetch(`${running.url}/api/trace/${TRACE}`);
    const raw = await res.text();

    // Assess
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(raw).not.toContain('<');
    expect(raw).not.toContain('>');
    const body = JSON.parse(raw);
    expect(body.rows.find((r: { kind: string }) => r.kind === 'log').body).toBe(HOSTILE);
  });

  it('normalises any trace id spelling and answers a bad id with 400 and a reason', async () => {
    // Prepare
    const source = fixedSource();
    running = await startConsole({ source, assets: ASSETS });

    // Act
    const traceparent = await fetch(`${running.url}/api/trace/00-${TRACE.toUpperCase()}-00f067aa0ba902b7-01`);
    const bad = await fetch(`${running.url}/api/trace/not-an-id`);

    // Assess
    expect(traceparent.status).toBe(200);
    expect(((await traceparent.json()) as { cli: string }).cli).toBe(`skein query trace ${TRACE} --local .skein`);
    expect(source.lookups).toEqual([`trace ${TRACE}`]);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/^not a trace id/);
  });

  it('resolves what the Find box gets: a trace id with rows to its trace, an unknown UUID to a request', async () => {
    // Prepare
    running = await startConsole({ source: fixedSource(), assets: ASSETS });
    const uuid = '6f1c2e0a-9b7d-4c1e-8f3a-2d5b7e9c1a40';

    // Act
    const trace = await (await fetch(`${running.url}/api/resolve?id=${TRACE}`)).json();
    const request = await (await fetch(`${running.url}/api/resolve?id=${uuid}`)).json();

    // Assess
    expect(trace).toEqual({ path: `/trace/${TRACE}` });
    // Request ids that are UUIDs are normalised to 32 hex, as ingest stores them.
    expect(request).toEqual({ path: `/request/${uuid.replaceAll('-', '')}` });
  });

  it('answers a search filter outside the subset with 400 and the positioned error', async () => {
    // Prepare
    running = await startConsole({ source: fixedSource(), assets: ASSETS });

    // Act
    const res = await fetch(`${running.url}/api/search?q=${encodeURIComponent('{ name ~ "x" }')}`);

    // Assess
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toContain('^');
  });

  it('hides the message of an unexpected failure behind a 500 and reports it to the host', async () => {
    // Prepare
    const source = fixedSource();
    const failures: string[] = [];
    running = await startConsole({
      source: { ...source, lookup: () => Promise.reject(new Error('secret-token-123 leaked')) },
      assets: ASSETS,
      onError: (error) => failures.push(String(error)),
    });

    // Act
    const res = await fetch(`${running.url}/api/trace/${TRACE}`);

    // Assess
    expect(res.status).toBe(500);
    expect(await res.text()).not.toContain('secret-token-123');
    expect(failures).toEqual(['Error: secret-token-123 leaked']);
  });
});

describe('traceView', () => {
  it('orders the waterfall depth first with each log under its span, and marks the critical path', () => {
    // Act
    const view = traceView('trace', TRACE, [...ROWS].reverse());

    // Assess
    expect(view.rows.map((r) => [r.kind, r.depth, r.spanId])).toEqual([
      ['span', 0, '00000000000000a1'],
      ['span', 1, '00000000000000b2'],
      ['span', 1, '00000000000000c3'],
      ['log', 2, '00000000000000c3'],
    ]);
    expect(view.rows.filter((r) => r.kind === 'span' && r.critical).map((r) => r.spanId)).toEqual([
      '00000000000000a1',
      '00000000000000c3',
    ]);
    expect(view.durationNs).toBe(100_000_000);
    expect(view.errorCount).toBe(1);
    expect(view.rows[2]).toMatchObject({ startNs: 50_000_000, durationNs: 45_000_000, error: true });
  });
});
