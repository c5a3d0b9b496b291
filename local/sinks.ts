import { randomBytes } from 'node:crypto';
import { appendFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import type { Clock } from '../functions/core/clock.ts';
import { REDACTED, redactFields } from '../functions/core/redact.ts';

/** Which service a sink stands in for: it decides the URL, the validation and the normal answer. */
export type SinkKind = 'webhook' | 'pagerduty' | 'slack';

/**
 * How the sink answers one upcoming request instead of normally: an error status (429 with `Retry-After` seconds),
 * never answering until `stop()` (`hang`), or destroying the connection once the request has arrived (`reset`).
 */
export type SinkFault =
  | { readonly status: 429; readonly retryAfterSeconds?: number }
  | { readonly status: 500 }
  | { readonly status: 400 }
  | { readonly hang: true }
  | { readonly reset: true };

/** One request the sink received, in arrival order. */
export interface ReceivedRequest {
  readonly method: string;
  /** Path and query as sent, e.g. `/v2/enqueue`. */
  readonly path: string;
  /** Lower-cased names; repeated headers joined with `, `. */
  readonly headers: Readonly<Record<string, string>>;
  /** The body parsed as JSON, or `undefined` when it is empty or not JSON (see `rawBody`). */
  readonly body: unknown;
  readonly rawBody: string;
  /** When the whole request had arrived (ms since the epoch, from the sink's clock). */
  readonly time: number;
  /** What the sink did: the status it answered, or `hang` / `reset`. */
  readonly answer: number | 'hang' | 'reset';
}

export interface SinkOptions {
  readonly kind: SinkKind;
  /** Port on 127.0.0.1; 0 or absent picks a free one. */
  readonly port?: number;
  /** Appends each request as one NDJSON line to this file, secrets redacted (for people watching `npm start`). */
  readonly logFile?: string;
  readonly clock?: Clock;
}

export interface Sink {
  readonly kind: SinkKind;
  /**
   * The URL a client posts to: `<base>/webhook` (Alertmanager's webhook receiver), `<base>/v2/enqueue` (PagerDuty
   * Events v2) or `<base>/services/T0LOCAL/B0LOCAL/skeinlocal` (a Slack incoming webhook).
   */
  readonly url: string;
  /** `http://127.0.0.1:<port>`; the sink answers its kind's paths under it (see {@link startSink}). */
  readonly baseUrl: string;
  /** Every request received so far, in order, faulted ones included. */
  readonly received: ReceivedRequest[];
  /** Scripted faults, consumed one per request in order; when empty the sink answers normally. Push to it freely. */
  readonly faults: SinkFault[];
  /** Replaces the scripted faults with `faults` (none: answer every request normally again). */
  setFault(...faults: SinkFault[]): void;
  /**
   * The first request (already received or still to come) that satisfies `predicate`; rejects after `timeoutMs`
   * (default 10 s) with a message saying how many requests did arrive. Event-driven: no polling.
   */
  waitFor(predicate: (request: ReceivedRequest) => boolean, timeoutMs?: number): Promise<ReceivedRequest>;
  /** Answers nothing more: hanging requests are cut off, every connection closed, pending `waitFor`s rejected. */
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';
const SLACK_PATH = '/services/T0LOCAL/B0LOCAL/skeinlocal';
const PATHS: Readonly<Record<SinkKind, string>> = {
  webhook: '/webhook',
  pagerduty: '/v2/enqueue',
  slack: SLACK_PATH,
};

/**
 * Starts a recording HTTP server on 127.0.0.1 that stands in for a notification endpoint.
 *
 * - `webhook`: any POST answers 200 with an empty body (Alertmanager's webhook receiver ignores the body).
 * - `pagerduty`: `POST /v2/enqueue` checks the Events v2 shape (`routing_key`, `event_action`, and `payload.summary`,
 *   `source`, `severity` for a trigger) and answers 202 `{"status":"success","message":"Event processed","dedup_key":…}`
 *   (the key sent, or a new one) like PagerDuty, or 400 `{"status":"invalid event",…}`; other paths 404.
 * - `slack`: `POST /services/…` answers 200 `ok` (text/html, as Slack does), 400 `invalid_payload` for a body that is
 *   not JSON and 400 `no_text` without `text`/`blocks`/`attachments`; other paths 404.
 *
 * Scripted faults (`sink.faults.push({ status: 429, retryAfterSeconds: 2 })`) replace the answer of the next requests.
 *
 * @example
 * const pagerduty = await startSink({ kind: 'pagerduty' });
 * pagerduty.faults.push({ status: 429, retryAfterSeconds: 1 }, { reset: true });
 * // … the notifier posts to pagerduty.url: the first attempt is throttled, the second cut off, the third accepted
 * const accepted = await pagerduty.waitFor((r) => r.answer === 202, 5_000);
 * await pagerduty.stop();
 */
export async function startSink(options: SinkOptions): Promise<Sink> {
  const { kind } = options;
  const clock = options.clock ?? Date.now;
  const received: ReceivedRequest[] = [];
  const faults: SinkFault[] = [];
  const waiters = new Set<Waiter>();
  const hanging = new Set<ServerResponse>();
  let logWrites: Promise<void> = Promise.resolve();

  const record = (request: ReceivedRequest): void => {
    received.push(request);
    if (options.logFile) {
      const line = `${JSON.stringify(forTheLog(request))}\n`;
      const file = options.logFile;
      logWrites = logWrites.then(() => appendFile(file, line)).catch(() => undefined); // a log is best effort
    }
    for (const waiter of waiters) {
      if (waiter.predicate(request)) waiter.resolve(request);
    }
  };

  const server = createServer((req, res) => {
    // The fault is taken when the request arrives, so faults map to requests in arrival order.
    const fault = faults.shift();
    readBody(req).then(
      (rawBody) => {
        const base = {
          method: req.method ?? '',
          path: req.url ?? '/',
          headers: flatHeaders(req),
          body: parseJson(rawBody),
          rawBody,
          time: clock(),
        };
        if (fault && 'hang' in fault) {
          hanging.add(res);
          record({ ...base, answer: 'hang' });
        } else if (fault && 'reset' in fault) {
          record({ ...base, answer: 'reset' });
          req.socket.destroy();
        } else {
          const answer = fault ? faultAnswer(kind, fault) : normalAnswer(kind, base.method, base.path, base.body);
          record({ ...base, answer: answer.status });
          res.writeHead(answer.status, { ...answer.headers, 'Content-Length': Buffer.byteLength(answer.body) });
          res.end(answer.body);
        }
      },
      () => req.socket.destroy(), // the client went away mid-body: nothing to record
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, HOST, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const baseUrl = `http://${HOST}:${(server.address() as AddressInfo).port}`;
  let stopping: Promise<void> | undefined;

  return {
    kind,
    url: `${baseUrl}${PATHS[kind]}`,
    baseUrl,
    received,
    faults,
    setFault(...next) {
      faults.splice(0, faults.length, ...next);
    },
    waitFor(predicate, timeoutMs = 10_000) {
      const seen = received.find(predicate);
      if (seen) return Promise.resolve(seen);
      if (stopping) return Promise.reject(new Error(`${kind} sink is stopped`));
      return new Promise<ReceivedRequest>((resolve, reject) => {
        const waiter: Waiter = {
          predicate,
          resolve: (request) => {
            finish();
            resolve(request);
          },
          reject: (error) => {
            finish();
            reject(error);
          },
        };
        const timer = setTimeout(
          () =>
            waiter.reject(
              new Error(
                `${kind} sink: no matching request within ${timeoutMs} ms (${received.length} received: ${summary(received)})`,
              ),
            ),
          timeoutMs,
        );
        const finish = () => {
          clearTimeout(timer);
          waiters.delete(waiter);
        };
        waiters.add(waiter);
      });
    },
    stop() {
      stopping ??= (async () => {
        for (const waiter of waiters) waiter.reject(new Error(`${kind} sink stopped while waiting`));
        for (const res of hanging) res.socket?.destroy();
        hanging.clear();
        await new Promise<void>((resolve, reject) => {
          server.close((error) => (error ? reject(error) : resolve()));
          server.closeAllConnections();
        });
        await logWrites;
      })();
      return stopping;
    },
  };
}

interface Waiter {
  readonly predicate: (request: ReceivedRequest) => boolean;
  resolve(request: ReceivedRequest): void;
  reject(error: Error): void;
}

interface Answer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

const JSON_TYPE = { 'Content-Type': 'application/json' } as const;
const TEXT_TYPE = { 'Content-Type': 'text/html' } as const; // Slack answers its webhooks as text/html

/** PagerDuty Events API v2 (developer.pagerduty.com, "Send an Alert Event"): what it checks before accepting. */
const PagerDutyEvent = z.discriminatedUnion('event_action', [
  z.object({
    routing_key: z.string().min(1),
    event_action: z.literal('trigger'),
    dedup_key: z.string().max(255).optional(),
    payload: z.object({
      summary: z.string().min(1).max(1024),
      source: z.string().min(1),
      severity: z.enum(['critical', 'error', 'warning', 'info']),
    }),
  }),
  z.object({
    routing_key: z.string().min(1),
    event_action: z.enum(['acknowledge', 'resolve']),
    dedup_key: z.string().min(1).max(255),
  }),
]);

function normalAnswer(kind: SinkKind, method: string, path: string, body: unknown): Answer {
  if (method !== 'POST') return { status: 405, headers: TEXT_TYPE, body: 'method not allowed' };
  const bare = path.split('?')[0] ?? path;
  switch (kind) {
    case 'webhook':
      return { status: 200, headers: {}, body: '' };
    case 'pagerduty': {
      if (bare !== PATHS.pagerduty) return { status: 404, headers: JSON_TYPE, body: '{"status":"not found"}' };
      const event = PagerDutyEvent.safeParse(body);
      if (!event.success) {
        const errors = event.error.issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`);
        return {
          status: 400,
          headers: JSON_TYPE,
          body: JSON.stringify({ status: 'invalid event', message: 'Event object is invalid', errors }),
        };
      }
      const dedupKey = event.data.dedup_key ?? randomBytes(16).toString('hex');
      return {
        status: 202,
        headers: JSON_TYPE,
        body: JSON.stringify({ status: 'success', message: 'Event processed', dedup_key: dedupKey }),
      };
    }
    case 'slack': {
      if (!bare.startsWith('/services/')) return { status: 404, headers: TEXT_TYPE, body: 'no_service' };
      if (body === undefined || body === null || typeof body !== 'object') {
        return { status: 400, headers: TEXT_TYPE, body: 'invalid_payload' };
      }
      const hasContent = 'text' in body || 'blocks' in body || 'attachments' in body;
      return hasContent
        ? { status: 200, headers: TEXT_TYPE, body: 'ok' }
        : { status: 400, headers: TEXT_TYPE, body: 'no_text' };
    }
  }
}

function faultAnswer(kind: SinkKind, fault: Exclude<SinkFault, { hang: true } | { reset: true }>): Answer {
  const json = kind === 'pagerduty';
  const headers: Record<string, string> = { ...(json ? JSON_TYPE : TEXT_TYPE) };
  if (fault.status === 429 && fault.retryAfterSeconds !== undefined)
    headers['Retry-After'] = String(fault.retryAfterSeconds);
  const text = fault.status === 429 ? 'rate_limited' : fault.status === 500 ? 'internal_error' : 'invalid_payload';
  const body = json ? JSON.stringify({ status: text, message: `scripted fault ${fault.status}` }) : text;
  return { status: fault.status, headers, body };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
    req.on('aborted', () => reject(new Error('aborted')));
  });
}

function parseJson(text: string): unknown {
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function flatHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/**
 * The NDJSON line for a request: routing keys, tokens and the Slack webhook's secret path segments redacted, since
 * people copy these files around. Tests read the unredacted `received` in memory instead.
 */
function forTheLog(request: ReceivedRequest): Record<string, unknown> {
  const body = request.body;
  return {
    time: new Date(request.time).toISOString(),
    method: request.method,
    path: request.path.startsWith('/services/') ? `/services/${REDACTED}` : request.path,
    headers: redactFields(request.headers),
    body: body !== null && typeof body === 'object' && !Array.isArray(body) ? redactFields(toRecord(body)) : body,
    answer: request.answer,
  };
}

function toRecord(value: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value));
}

function summary(received: readonly ReceivedRequest[]): string {
  return received
    .slice(-5)
    .map((r) => `${r.method} ${r.path.startsWith('/services/') ? '/services/…' : r.path} → ${r.answer}`)
    .join('; ');
}
