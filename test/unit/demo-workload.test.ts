import { describe, expect, it } from 'vitest';
import { type DemoRequest, generateRequest, seededRng } from '../../local/demo-workload.ts';
import { ExportTraceServiceRequest } from '../../schemas/otlp-json.ts';

const T0 = Date.UTC(2024, 4, 1, 12, 0, 0);
const decoder = new TextDecoder();

function requests(n: number, seed = 42): DemoRequest[] {
  const rng = seededRng(seed);
  return Array.from({ length: n }, (_, i) => generateRequest(rng, T0 + i * 10));
}

function spansOf(request: DemoRequest) {
  return request.records
    .filter((r) => r.format === 'otlp-json')
    .flatMap((r) => {
      const parsed = ExportTraceServiceRequest.parse(JSON.parse(decoder.decode(r.data)));
      return parsed.resourceSpans.flatMap((rs) => {
        const service = rs.resource?.attributes?.find((a) => a.key === 'service.name')?.value;
        return rs.scopeSpans.flatMap((ss) => ss.spans.map((span) => ({ service, span })));
      });
    });
}

function logLinesOf(request: DemoRequest): Record<string, unknown>[] {
  return request.records
    .filter((r) => r.format === 'json-lines')
    .flatMap((r) =>
      decoder
        .decode(r.data)
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    );
}

function attribute(span: { attributes?: { key: string; value?: unknown }[] | undefined }, key: string): unknown {
  return span.attributes?.find((a) => a.key === key)?.value;
}

describe('generateRequest', () => {
  it('is reproducible from a seed', () => {
    // Act
    const a = requests(20, 7);
    const b = requests(20, 7);
    // Assess
    expect(a).toEqual(b);
  });

  it('writes one valid OTLP/JSON trace export per service, all under the request’s trace id', () => {
    // Act
    const all = requests(300);
    // Assess
    for (const request of all) {
      expect(request.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(request.records.every((r) => r.partitionKey === request.traceId)).toBe(true);
      const spans = spansOf(request);
      const ids = new Set(spans.map((s) => s.span.spanId));
      expect(ids.size).toBe(spans.length);
      const roots = spans.filter((s) => !s.span.parentSpanId);
      expect(roots).toHaveLength(1);
      expect(roots[0]?.service).toEqual({ stringValue: 'web-gateway' });
      for (const { span } of spans) {
        expect(span.traceId).toBe(request.traceId);
        expect(span.spanId).toMatch(/^[0-9a-f]{16}$/);
        if (span.parentSpanId) expect(ids.has(span.parentSpanId)).toBe(true);
        expect(typeof span.startTimeUnixNano).toBe('string');
        expect(BigInt(span.endTimeUnixNano)).toBeGreaterThanOrEqual(BigInt(span.startTimeUnixNano));
        expect(BigInt(span.startTimeUnixNano) / 1_000_000n).toBeGreaterThanOrEqual(BigInt(request.startMs));
        expect([1, 2, 3, 4, 5]).toContain(span.kind);
      }
      const otlpServices = request.records.filter((r) => r.format === 'otlp-json').map((r) => r.service);
      expect(new Set(otlpServices).size).toBe(otlpServices.length);
    }
  });

  it('spreads requests over the four services, with order placement crossing all of them', () => {
    // Act
    const all = requests(300);
    // Assess
    const services = new Set(all.flatMap((r) => r.records.map((x) => x.service)));
    expect([...services].sort()).toEqual(['inventory', 'orders', 'payments', 'web-gateway']);
    const order = all.find((r) => r.route === 'POST /api/orders' && !r.failed);
    expect(new Set(order?.records.map((r) => r.service))).toEqual(
      new Set(['web-gateway', 'orders', 'inventory', 'payments']),
    );
  });

  it('tags HTTP server spans with method, route, status and the request id header', () => {
    // Prepare
    const [request] = requests(1);
    if (!request) throw new Error('no request');
    // Act
    const servers = spansOf(request).filter((s) => s.span.kind === 2);
    // Assess
    expect(servers.length).toBeGreaterThanOrEqual(2);
    for (const { span } of servers) {
      expect(attribute(span, 'http.request.method')).toHaveProperty('stringValue');
      expect(attribute(span, 'http.route')).toHaveProperty('stringValue');
      expect(attribute(span, 'http.response.status_code')).toHaveProperty('intValue');
      expect(attribute(span, 'http.request.header.x-request-id')).toEqual({
        arrayValue: { values: [{ stringValue: request.requestId }] },
      });
    }
  });

  it('fails about 5–10 % of requests with HTTP 500, span status ERROR and an ERROR log line', () => {
    // Act
    const all = requests(3000);
    const failed = all.filter((r) => r.failed);
    // Assess
    expect(failed.length / all.length).toBeGreaterThan(0.05);
    expect(failed.length / all.length).toBeLessThan(0.1);
    for (const request of failed) {
      const spans = spansOf(request);
      const root = spans.find((s) => !s.span.parentSpanId)?.span;
      expect(root && attribute(root, 'http.response.status_code')).toEqual({ intValue: '500' });
      expect(spans.some((s) => s.span.status?.code === 2 && s.span.status.message)).toBe(true);
      const errors = logLinesOf(request).filter((l) => l.level === 'ERROR' || l.severity === 'ERROR' || l.level === 50);
      expect(errors.length).toBeGreaterThan(0);
    }
    expect(failed.some((r) => r.error === 'payment provider timeout')).toBe(true);
    for (const request of all.filter((r) => !r.failed).slice(0, 50))
      expect(spansOf(request).every((s) => s.span.status?.code !== 2)).toBe(true);
  });

  it('writes log lines in three dialects, each naming its service and the correlation ids', () => {
    // Act
    const lines = requests(200).flatMap((r) => logLinesOf(r).map((line) => ({ line, r })));
    // Assess
    const plain = lines.filter(({ line }) => typeof line.timestamp === 'string');
    const pino = lines.filter(({ line }) => typeof line.time === 'number');
    const seconds = lines.filter(({ line }) => typeof line.ts === 'number');
    expect(plain.length + pino.length + seconds.length).toBe(lines.length);
    expect(Math.min(plain.length, pino.length, seconds.length)).toBeGreaterThan(0);
    for (const { line, r } of plain) {
      expect(line).toMatchObject({ trace_id: r.traceId, request_id: r.requestId, service: 'web-gateway' });
      expect(['INFO', 'ERROR']).toContain(line.level);
      expect(typeof line.msg).toBe('string');
    }
    for (const { line, r } of pino) {
      expect(line).toMatchObject({ traceId: r.traceId, reqId: r.requestId, service: 'orders' });
      expect([30, 40, 50]).toContain(line.level);
    }
    for (const { line, r } of seconds) {
      expect(line).toMatchObject({ trace_id: r.traceId, request_id: r.requestId });
      expect(['payments', 'inventory']).toContain(line.service);
      expect(typeof line.message).toBe('string');
      expect(line.ts).not.toBe(Math.floor(line.ts as number)); // fractional seconds
    }
    const records = requests(200).flatMap((r) => r.records.filter((x) => x.format === 'json-lines'));
    expect(records.some((x) => decoder.decode(x.data).trim().split('\n').length > 1)).toBe(true);
  });
});
