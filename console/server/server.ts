import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SkeinError, UsageError } from '../../schemas/errors.ts';
import { type ApiContext, answerApi } from './api.ts';
import { type Asset, type AssetName, loadAssets } from './assets.ts';
import type { LiveFigures } from './pipeline-data.ts';
import type { ConsoleSource } from './source.ts';

/**
 * Strict Content-Security-Policy: only this origin's script and stylesheet, no inline script or style, no frames,
 * no form posts elsewhere; `fetch` only to this origin. Telemetry strings are inserted as text (the page never sets
 * HTML from data), and this policy is the second line should one ever be.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'x-frame-options': 'DENY',
} as const;

/** The pages of the console: each is the same shell; the script draws the page the path names. */
const PAGE_PATHS = /^\/(?:|search|trace\/[^/]+|request\/[^/]+|alerts|alerts\/[^/]+|pipeline)$/;

/** The one HTML document: no data in it, so nothing to escape; the script and stylesheet come from /assets/. */
export const SHELL_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Skein console</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/app.css">
<script type="module" src="/assets/app.js"></script>
</head>
<body>
<header class="top"><a class="brand" href="/">Skein</a><nav><a href="/">Find</a><a href="/alerts">Alerts</a><a href="/pipeline">Pipeline</a></nav><span id="where"></span></header>
<main id="app"><noscript>The console needs JavaScript.</noscript></main>
</body>
</html>
`;

export interface ConsoleOptions {
  readonly source: ConsoleSource;
  /** Default 127.0.0.1: the console serves telemetry; binding elsewhere is the operator's explicit choice. */
  readonly host?: string;
  /** Default 0: a free port. */
  readonly port?: number;
  readonly now?: () => number;
  /** A local stack's in-memory counters for the pipeline page. */
  readonly live?: () => LiveFigures;
  /** Pre-loaded assets (tests); by default {@link loadAssets}. */
  readonly assets?: Map<AssetName, Asset>;
  /** Called with each failed request's error (the server answers 500 with a generic message). */
  readonly onError?: (error: unknown, path: string) => void;
}

export interface RunningConsole {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Starts the console's HTTP server: read-only (GET and HEAD only), see {@link CONTENT_SECURITY_POLICY}. */
export async function startConsole(options: ConsoleOptions): Promise<RunningConsole> {
  const assets = options.assets ?? (await loadAssets());
  const ctx: ApiContext = { source: options.source, now: options.now ?? Date.now, live: options.live };
  const server = createServer((req, res) => {
    handle(req, res, ctx, assets).catch((error: unknown) => {
      options.onError?.(error, req.url ?? '');
      if (!res.headersSent) send(res, 500, json({ error: 'internal error: see the console log' }), 'application/json');
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5_000;
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: ApiContext,
  assets: Map<AssetName, Asset>,
): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    send(res, 405, json({ error: 'the console is read-only' }), 'application/json', req.method);
    return;
  }
  const url = new URL(req.url ?? '/', 'http://console');
  const path = url.pathname;
  if (path.startsWith('/api/')) {
    let segments: string[];
    try {
      segments = path.slice('/api/'.length).split('/').map(decodeURIComponent);
    } catch {
      send(res, 400, json({ error: 'bad URI encoding' }), 'application/json', req.method);
      return;
    }
    try {
      const answer = await answerApi(segments, url.searchParams, ctx);
      send(res, answer.status, json(answer.body), 'application/json', req.method);
    } catch (error) {
      if (error instanceof UsageError) send(res, 400, json({ error: error.message }), 'application/json', req.method);
      else if (error instanceof SkeinError)
        send(res, 502, json({ error: error.message, code: error.code }), 'application/json', req.method);
      else throw error;
    }
    return;
  }
  if (path.startsWith('/assets/')) {
    const asset = assets.get(path.slice('/assets/'.length) as AssetName);
    if (asset === undefined) send(res, 404, 'not found\n', 'text/plain; charset=utf-8', req.method);
    else send(res, 200, asset.body, asset.type, req.method, 'public, max-age=300');
    return;
  }
  if (PAGE_PATHS.test(path)) {
    send(res, 200, SHELL_HTML, 'text/html; charset=utf-8', req.method);
    return;
  }
  send(res, 404, 'not found\n', 'text/plain; charset=utf-8', req.method);
}

/** JSON with `<`, `>` and `&` escaped, so a response can never be sniffed or embedded as markup. */
function json(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

function send(
  res: ServerResponse,
  status: number,
  body: string | Buffer,
  type: string,
  method = 'GET',
  cache = 'no-store',
): void {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'content-type': type,
    'content-length': bytes.length,
    'cache-control': cache,
  });
  res.end(method === 'HEAD' ? undefined : bytes);
}
