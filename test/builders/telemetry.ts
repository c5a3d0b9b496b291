/** Builders of producer payloads: JSON log lines and OTLP/JSON trace requests, as real services write them. */

export function aTraceId(n: number): string {
  return (n + 1).toString(16).padStart(32, '0').replace(/^0/, 'a');
}

export function aSpanId(n: number): string {
  return (n + 1).toString(16).padStart(16, '0').replace(/^0/, 'b');
}

export interface LogLineOptions {
  readonly traceId?: string;
  readonly spanId?: string;
  readonly requestId?: string;
  readonly service?: string;
  readonly level?: string;
  readonly msg?: string;
  readonly timeMs?: number;
  readonly extra?: Record<string, unknown>;
}

/** A plain `{"timestamp","level","msg",…}` line. */
export function aLogLine(o: LogLineOptions = {}): string {
  return JSON.stringify({
    timestamp: new Date(o.timeMs ?? Date.UTC(2026, 10, 25, 21, 29, 0)).toISOString(),
    level: o.level ?? 'INFO',
    msg: o.msg ?? 'request handled',
    ...(o.traceId ? { trace_id: o.traceId } : {}),
    ...(o.spanId ? { span_id: o.spanId } : {}),
    ...(o.requestId ? { request_id: o.requestId } : {}),
    service: o.service ?? 'orders',
    ...o.extra,
  });
}

export interface SpanOptions {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly name?: string;
  readonly startNs?: bigint;
  readonly durationNs?: bigint;
  readonly error?: boolean;
  readonly requestId?: string;
}

/** An OTLP/JSON `ExportTraceServiceRequest` of one service holding the given spans. */
export function anOtlpTraceRequest(service: string, spans: readonly SpanOptions[]): string {
  return JSON.stringify({
    resourceSpans: [
      {
        resource: {
          attributes: [
            { key: 'service.name', value: { stringValue: service } },
            { key: 'deployment.environment', value: { stringValue: 'test' } },
          ],
        },
        scopeSpans: [
          {
            scope: { name: '@opentelemetry/instrumentation-http', version: '0.57.0' },
            spans: spans.map((s) => {
              const start = s.startNs ?? 1_795_000_000_000_000_000n;
              return {
                traceId: s.traceId,
                spanId: s.spanId,
                ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
                name: s.name ?? 'GET /orders/:id',
                kind: 2,
                startTimeUnixNano: String(start),
                endTimeUnixNano: String(start + (s.durationNs ?? 12_000_000n)),
                attributes: [
                  { key: 'http.request.method', value: { stringValue: 'GET' } },
                  { key: 'http.response.status_code', value: { intValue: s.error ? '500' : '200' } },
                  ...(s.requestId
                    ? [
                        {
                          key: 'http.request.header.x-request-id',
                          value: { arrayValue: { values: [{ stringValue: s.requestId }] } },
                        },
                      ]
                    : []),
                ],
                status: s.error ? { code: 2, message: 'upstream timeout' } : { code: 0 },
              };
            }),
          },
        ],
      },
    ],
  });
}
