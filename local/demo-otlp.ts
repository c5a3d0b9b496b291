/**
 * How the demo's services export what they did: OTLP/JSON `ExportTraceServiceRequest` bodies of their spans, and
 * log lines in each service's own JSON dialect. The request generator (demo-requests.ts) fills in the drafts.
 */

export const DEMO_SERVICES = ['web-gateway', 'orders', 'payments', 'inventory'] as const;
export type DemoService = (typeof DEMO_SERVICES)[number];

/** OpenTelemetry span kinds as OTLP encodes them. */
export const Kind = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 } as const;
/** OTLP status codes. */
export const Status = { unset: 0, ok: 1, error: 2 } as const;

export interface SpanDraft {
  service: DemoService;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startNs: bigint;
  endNs: bigint;
  attributes: OtlpKeyValue[];
  error?: string;
}

export type OtlpValue =
  | { stringValue: string }
  | { intValue: string }
  | { boolValue: boolean }
  | { arrayValue: { values: OtlpValue[] } };
export interface OtlpKeyValue {
  key: string;
  value: OtlpValue;
}

export interface LogDraft {
  service: DemoService;
  timeMs: number;
  level: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  message: string;
  spanId: string;
  extra?: Record<string, string | number | boolean>;
}

const SERVICE_VERSION: Record<DemoService, string> = {
  'web-gateway': '2.14.1',
  orders: '1.9.0',
  payments: '3.2.4',
  inventory: '0.27.3',
};

export function traceExport(service: DemoService, traceId: string, spans: readonly SpanDraft[]) {
  return {
    resourceSpans: [
      {
        resource: {
          attributes: [
            str('service.name', service),
            str('service.version', SERVICE_VERSION[service]),
            str('deployment.environment.name', 'demo'),
            str('telemetry.sdk.language', service === 'payments' ? 'python' : 'nodejs'),
          ],
        },
        scopeSpans: [
          {
            scope: { name: '@opentelemetry/instrumentation-http', version: '0.57.0' },
            spans: spans.map((s) => ({
              traceId,
              spanId: s.spanId,
              ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
              name: s.name,
              kind: s.kind,
              startTimeUnixNano: s.startNs.toString(),
              endTimeUnixNano: s.endNs.toString(),
              attributes: s.attributes,
              status: s.error ? { code: Status.error, message: s.error } : { code: Status.unset },
            })),
          },
        ],
      },
    ],
  };
}

const PINO_LEVEL = { DEBUG: 20, INFO: 30, WARN: 40, ERROR: 50 } as const;

/** One log line in the dialect the service writes. */
export function logLine(l: LogDraft, traceId: string, requestId: string): string {
  switch (l.service) {
    case 'web-gateway':
      // plain `{"timestamp","level","msg"}` with snake_case ids (Go/Rust services, Powertools-like)
      return JSON.stringify({
        timestamp: new Date(l.timeMs).toISOString(),
        level: l.level,
        msg: l.message,
        trace_id: traceId,
        span_id: l.spanId,
        request_id: requestId,
        service: l.service,
        ...l.extra,
      });
    case 'orders':
      // pino: epoch ms, numeric level, camelCase ids
      return JSON.stringify({
        level: PINO_LEVEL[l.level],
        time: Math.floor(l.timeMs),
        pid: 7,
        hostname: 'orders-7d9f8c6b5-x2x4q',
        service: l.service,
        traceId,
        spanId: l.spanId,
        reqId: requestId,
        ...l.extra,
        msg: l.message,
      });
    default:
      // Python structlog-style: epoch seconds as a float, `severity`, `message`
      return JSON.stringify({
        ts: l.timeMs / 1000,
        severity: l.level === 'WARN' ? 'WARNING' : l.level,
        message: l.message,
        service: l.service,
        trace_id: traceId,
        span_id: l.spanId,
        request_id: requestId,
        ...l.extra,
      });
  }
}

export function requestIdAttribute(requestId: string): OtlpKeyValue {
  // Semantic conventions record request headers as string arrays.
  return { key: 'http.request.header.x-request-id', value: { arrayValue: { values: [{ stringValue: requestId }] } } };
}

export function str(key: string, value: string): OtlpKeyValue {
  return { key, value: { stringValue: value } };
}

export function int(key: string, value: number): OtlpKeyValue {
  return { key, value: { intValue: String(value) } };
}
