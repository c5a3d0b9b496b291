import {
  DEMO_SERVICES,
  type DemoService,
  int,
  Kind,
  type LogDraft,
  logLine,
  type OtlpKeyValue,
  requestIdAttribute,
  type SpanDraft,
  str,
  traceExport,
} from './demo-otlp.ts';

export { DEMO_SERVICES, type DemoService };

/** A source of uniform numbers in [0, 1). */
export type Rng = () => number;

/** A small deterministic generator (mulberry32) so tests and benchmarks can replay a workload. */
export function seededRng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One Kinesis record of the demo: a service's spans of one request, or some of its log lines. */
export interface DemoRecord {
  readonly service: DemoService;
  readonly format: 'otlp-json' | 'json-lines';
  /** The trace id, as the OpenTelemetry Collector's `awskinesis` exporter partitions by trace. */
  readonly partitionKey: string;
  readonly data: Uint8Array;
}

/** One user request through the demo services. */
export interface DemoRequest {
  readonly traceId: string;
  /** The `x-request-id` the gateway assigned (a UUID). */
  readonly requestId: string;
  /** Gateway route, e.g. `POST /api/orders`. */
  readonly route: string;
  readonly failed: boolean;
  /** What went wrong, when `failed`. */
  readonly error?: string;
  readonly startMs: number;
  readonly records: readonly DemoRecord[];
}

/** Share of requests that fail (a payment provider timeout, an inventory deadlock, an exhausted pool). */
export const DEMO_FAILURE_RATE = 0.07;

const ENCODER = new TextEncoder();

/**
 * One request through `web-gateway` → `orders` → `inventory`/`payments` (or a shorter path), as the services would
 * export it: per service one OTLP/JSON `ExportTraceServiceRequest` record with its spans, and one record of
 * newline-delimited JSON log lines in that service's dialect. All share the trace id, which is the partition key.
 * About {@link DEMO_FAILURE_RATE} of requests fail with HTTP 500, span status ERROR and ERROR log lines.
 */
export function generateRequest(rng: Rng, timeMs: number, failureRate: number = DEMO_FAILURE_RATE): DemoRequest {
  const traceId = hex(rng, 32);
  const requestId = uuid(rng);
  const failed = rng() < failureRate;
  const flowRoll = rng();
  const flow = flowRoll < 0.5 ? placeOrder : flowRoll < 0.85 ? getOrder : getProduct;
  const ctx: FlowContext = { rng, requestId, spans: [], logs: [], failed, startNs: BigInt(timeMs) * 1_000_000n };
  const { route, error } = flow(ctx);
  const records: DemoRecord[] = [];
  for (const service of DEMO_SERVICES) {
    const spans = ctx.spans.filter((s) => s.service === service);
    if (spans.length === 0) continue;
    records.push({
      service,
      format: 'otlp-json',
      partitionKey: traceId,
      data: ENCODER.encode(JSON.stringify(traceExport(service, traceId, spans))),
    });
    const logs = ctx.logs.filter((l) => l.service === service);
    if (logs.length)
      records.push({
        service,
        format: 'json-lines',
        partitionKey: traceId,
        data: ENCODER.encode(`${logs.map((l) => logLine(l, traceId, requestId)).join('\n')}\n`),
      });
  }
  return {
    traceId,
    requestId,
    route,
    failed: error !== undefined,
    ...(error !== undefined ? { error } : {}),
    startMs: timeMs,
    records,
  };
}

interface FlowContext {
  readonly rng: Rng;
  readonly requestId: string;
  readonly spans: SpanDraft[];
  readonly logs: LogDraft[];
  readonly failed: boolean;
  readonly startNs: bigint;
}

type Flow = (ctx: FlowContext) => { route: string; error?: string };

/** `POST /api/orders`: gateway → orders → inventory (reserve) → payments (charge). */
const placeOrder: Flow = (ctx) => {
  const { rng } = ctx;
  const failAt = ctx.failed ? (rng() < 0.7 ? 'payments' : 'inventory') : undefined;
  const orderId = `ord_${hex(rng, 12)}`;
  const sku = `SKU-${1000 + Math.floor(rng() * 9000)}`;
  const amount = (5 + rng() * 300).toFixed(2);
  return gatewayCall(ctx, 'POST', '/api/orders', (gwClient) =>
    httpServer(ctx, gwClient, 'orders', 'POST', '/orders', (ordersSpan, t0) => {
      let t = t0 + ms(rng, 1, 4);
      const inv = httpClientServer(
        ctx,
        ordersSpan,
        t,
        'orders',
        'inventory',
        'POST',
        '/inventory/reservations',
        (invSpan, it) => {
          const db = dbSpan(
            ctx,
            invSpan,
            it + ms(rng, 0.5, 2),
            'inventory',
            'UPDATE stock',
            'UPDATE stock SET reserved = reserved + $1 WHERE sku = $2',
          );
          if (failAt === 'inventory') {
            db.error = 'deadlock detected';
            log(
              ctx,
              'inventory',
              db.endNs,
              'ERROR',
              'inventory reservation failed: deadlock detected',
              invSpan.spanId,
              { sku },
            );
            return { end: db.endNs + ms(rng, 0.2, 1), error: 'inventory reservation failed: deadlock detected' };
          }
          log(ctx, 'inventory', db.endNs, 'INFO', `reserved 1 x ${sku}`, invSpan.spanId, { sku, order_id: orderId });
          return { end: db.endNs + ms(rng, 0.2, 1) };
        },
      );
      if (inv.error) {
        log(ctx, 'orders', inv.end, 'ERROR', `order ${orderId} rejected: ${inv.error}`, ordersSpan.spanId, {
          order_id: orderId,
        });
        return { end: inv.end + ms(rng, 0.5, 2), error: inv.error };
      }
      t = inv.end + ms(rng, 0.5, 2);
      const pay = httpClientServer(
        ctx,
        ordersSpan,
        t,
        'orders',
        'payments',
        'POST',
        '/payments/charges',
        (paySpan, pt) => {
          const providerMs = failAt === 'payments' ? 5000 : 40 + rng() * 360;
          const provider = clientSpan(
            ctx,
            paySpan,
            pt + ms(rng, 0.5, 2),
            'payments',
            'POST',
            'https://api.psp.example/v1/charges',
            providerMs,
          );
          if (failAt === 'payments') {
            provider.error = 'timeout after 5000 ms';
            log(ctx, 'payments', provider.endNs, 'WARN', 'payment provider slow, giving up', paySpan.spanId, {
              attempt: 1,
            });
            log(ctx, 'payments', provider.endNs, 'ERROR', 'payment provider timeout', paySpan.spanId, {
              amount,
              currency: 'EUR',
            });
            return { end: provider.endNs + ms(rng, 0.2, 1), error: 'payment provider timeout' };
          }
          log(ctx, 'payments', provider.endNs, 'INFO', `charged ${amount} EUR`, paySpan.spanId, {
            amount,
            currency: 'EUR',
          });
          return { end: provider.endNs + ms(rng, 0.2, 1) };
        },
      );
      if (pay.error) {
        log(ctx, 'orders', pay.end, 'ERROR', `order ${orderId} failed: ${pay.error}`, ordersSpan.spanId, {
          order_id: orderId,
        });
        return { end: pay.end + ms(rng, 0.5, 2), error: pay.error };
      }
      log(ctx, 'orders', pay.end, 'INFO', `order ${orderId} placed`, ordersSpan.spanId, { order_id: orderId });
      return { end: pay.end + ms(rng, 0.5, 3) };
    }),
  );
};

/** `GET /api/orders/{id}`: gateway → orders (database). */
const getOrder: Flow = (ctx) => {
  const { rng } = ctx;
  return gatewayCall(ctx, 'GET', '/api/orders/{id}', (gwClient) =>
    httpServer(ctx, gwClient, 'orders', 'GET', '/orders/{id}', (ordersSpan, t0) => {
      if (ctx.failed) {
        const end = t0 + ms(rng, 30, 60);
        log(ctx, 'orders', end, 'ERROR', 'database connection pool exhausted', ordersSpan.spanId, { pool_size: 20 });
        return { end, error: 'database connection pool exhausted' };
      }
      const db = dbSpan(
        ctx,
        ordersSpan,
        t0 + ms(rng, 0.5, 2),
        'orders',
        'SELECT orders',
        'SELECT * FROM orders WHERE id = $1',
      );
      return { end: db.endNs + ms(rng, 0.3, 2) };
    }),
  );
};

/** `GET /api/products/{id}`: gateway → inventory. */
const getProduct: Flow = (ctx) => {
  const { rng } = ctx;
  return gatewayCall(ctx, 'GET', '/api/products/{id}', (gwClient) =>
    httpServer(ctx, gwClient, 'inventory', 'GET', '/inventory/items/{sku}', (invSpan, t0) => {
      if (ctx.failed) {
        const end = t0 + ms(rng, 2, 10);
        log(ctx, 'inventory', end, 'ERROR', 'stock cache unavailable: connection refused', invSpan.spanId, {
          cache: 'redis',
        });
        return { end, error: 'stock cache unavailable' };
      }
      const db = dbSpan(
        ctx,
        invSpan,
        t0 + ms(rng, 0.2, 1),
        'inventory',
        'SELECT stock',
        'SELECT quantity FROM stock WHERE sku = $1',
      );
      return { end: db.endNs + ms(rng, 0.2, 1) };
    }),
  );
};

type Handled = { end: bigint; error?: string };

/** The gateway's server span, its client span to the next service, and its access log lines. */
function gatewayCall(
  ctx: FlowContext,
  method: string,
  route: string,
  downstream: (client: SpanDraft) => Handled,
): { route: string; error?: string } {
  const { rng } = ctx;
  const start = ctx.startNs + BigInt(Math.floor(rng() * 1_000_000));
  const server = span(ctx, 'web-gateway', undefined, `${method} ${route}`, Kind.server, start, [
    str('http.request.method', method),
    str('http.route', route),
    str('url.path', route.replace('{id}', String(1000 + Math.floor(rng() * 90000)))),
    str('url.scheme', 'https'),
    str('user_agent.original', 'Mozilla/5.0 (X11; Linux x86_64) skein-demo'),
    requestIdAttribute(ctx.requestId),
  ]);
  log(ctx, 'web-gateway', start, 'INFO', `${method} ${route} received`, server.spanId, { method });
  const client = span(ctx, 'web-gateway', server.spanId, method, Kind.client, start + ms(rng, 0.2, 1), [
    str('http.request.method', method),
    str('server.address', 'orders.internal'),
  ]);
  const result = downstream(client);
  client.endNs = result.end + ms(rng, 0.1, 0.5);
  client.attributes.push(int('http.response.status_code', result.error ? 500 : 200));
  if (result.error) client.error = result.error;
  server.endNs = client.endNs + ms(rng, 0.2, 1);
  const status = result.error ? 500 : method === 'POST' ? 201 : 200;
  server.attributes.push(int('http.response.status_code', status));
  if (result.error) server.error = `HTTP 500: ${result.error}`;
  log(
    ctx,
    'web-gateway',
    server.endNs,
    result.error ? 'ERROR' : 'INFO',
    `${method} ${route} ${status}`,
    server.spanId,
    {
      status,
      duration_ms: Number((server.endNs - start) / 1000n) / 1000,
    },
  );
  return { route: `${method} ${route}`, ...(result.error ? { error: result.error } : {}) };
}

/** A service's HTTP server span under `parent` (a client span of the caller). */
function httpServer(
  ctx: FlowContext,
  parent: SpanDraft,
  service: DemoService,
  method: string,
  route: string,
  handle: (server: SpanDraft, start: bigint) => Handled,
): Handled {
  const start = parent.startNs + ms(ctx.rng, 0.3, 1.5);
  const server = span(ctx, service, parent.spanId, `${method} ${route}`, Kind.server, start, [
    str('http.request.method', method),
    str('http.route', route),
    requestIdAttribute(ctx.requestId),
  ]);
  const result = handle(server, start);
  server.endNs = result.end;
  server.attributes.push(int('http.response.status_code', result.error ? 500 : method === 'POST' ? 201 : 200));
  if (result.error) server.error = result.error;
  return result;
}

/** A client span in `caller` to `callee`, and the callee's server span under it. */
function httpClientServer(
  ctx: FlowContext,
  parent: SpanDraft,
  start: bigint,
  caller: DemoService,
  callee: DemoService,
  method: string,
  route: string,
  handle: (server: SpanDraft, start: bigint) => Handled,
): Handled {
  const client = span(ctx, caller, parent.spanId, method, Kind.client, start, [
    str('http.request.method', method),
    str('server.address', `${callee}.internal`),
  ]);
  const result = httpServer(ctx, client, callee, method, route, handle);
  client.endNs = result.end + ms(ctx.rng, 0.1, 0.6);
  client.attributes.push(int('http.response.status_code', result.error ? 500 : method === 'POST' ? 201 : 200));
  if (result.error) client.error = result.error;
  return { ...result, end: client.endNs };
}

function clientSpan(
  ctx: FlowContext,
  parent: SpanDraft,
  start: bigint,
  service: DemoService,
  method: string,
  url: string,
  durationMs: number,
): SpanDraft {
  const s = span(ctx, service, parent.spanId, method, Kind.client, start, [
    str('http.request.method', method),
    str('url.full', url),
  ]);
  s.endNs = start + BigInt(Math.round(durationMs * 1_000_000));
  if (durationMs < 5000) s.attributes.push(int('http.response.status_code', 200));
  return s;
}

function dbSpan(
  ctx: FlowContext,
  parent: SpanDraft,
  start: bigint,
  service: DemoService,
  name: string,
  statement: string,
): SpanDraft {
  const s = span(ctx, service, parent.spanId, name, Kind.client, start, [
    str('db.system', 'postgresql'),
    str('db.query.text', statement),
  ]);
  s.endNs = start + ms(ctx.rng, 0.4, 12);
  return s;
}

function span(
  ctx: FlowContext,
  service: DemoService,
  parentSpanId: string | undefined,
  name: string,
  kind: number,
  startNs: bigint,
  attributes: OtlpKeyValue[],
): SpanDraft {
  const s: SpanDraft = { service, spanId: hex(ctx.rng, 16), name, kind, startNs, endNs: startNs, attributes };
  if (parentSpanId) s.parentSpanId = parentSpanId;
  ctx.spans.push(s);
  return s;
}

function log(
  ctx: FlowContext,
  service: DemoService,
  atNs: bigint,
  level: LogDraft['level'],
  message: string,
  spanId: string,
  extra?: LogDraft['extra'],
): void {
  ctx.logs.push({ service, timeMs: Number(atNs / 1000n) / 1000, level, message, spanId, ...(extra ? { extra } : {}) });
}

/** A random duration in [lo, hi) milliseconds, in nanoseconds. */
function ms(rng: Rng, lo: number, hi: number): bigint {
  return BigInt(Math.round((lo + rng() * (hi - lo)) * 1_000_000));
}

const HEX = '0123456789abcdef';
function hex(rng: Rng, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += HEX[Math.floor(rng() * 16)];
  // An all-zero trace or span id is invalid in W3C trace context.
  return /^0+$/.test(out) ? `${out.slice(0, -1)}1` : out;
}

function uuid(rng: Rng): string {
  const h = hex(rng, 32);
  const variant = HEX[8 + Math.floor(rng() * 4)];
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
