import { describe, expect, it } from 'vitest';
import { createRedactor } from '../../functions/core/redact.ts';
import { decodeRecord } from '../../functions/ingest/decode-record.ts';
import { newSink } from '../../functions/ingest/decoded.ts';
import { SpanRecord } from '../../schemas/records.ts';
import { aRecordContext } from '../builders/decode.ts';
import { anOtlpTraceRequest } from '../builders/telemetry.ts';

const ctx = aRecordContext({ sequenceNumber: '1' });
const limits = { maxRecordBytes: 1024 * 1024, redactor: createRedactor() };
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

function decode(text: string) {
  const sink = newSink();
  const failures = decodeRecord(Buffer.from(text), ctx, sink, limits);
  return { spans: sink.spans, logs: sink.logs, failures };
}

describe('OTLP/JSON traces', () => {
  it('maps an ExportTraceServiceRequest to span rows', () => {
    // Prepare
    const request = anOtlpTraceRequest('orders', [
      {
        traceId: TRACE,
        spanId: '00f067aa0ba902b7',
        name: 'GET /orders/:id',
        startNs: 1_795_000_000_000_000_001n,
        durationNs: 25_000_000n,
        requestId: 'REQ-1',
      },
      {
        traceId: TRACE,
        spanId: '00f067aa0ba902b8',
        parentSpanId: '00f067aa0ba902b7',
        name: 'SELECT orders',
        error: true,
      },
    ]);

    // Act
    const { spans, logs, failures } = decode(request);

    // Assess
    expect(failures).toEqual([]);
    expect(logs).toEqual([]);
    expect(spans).toHaveLength(2);
    const [root, child] = spans.map((s) => SpanRecord.parse(s));
    expect(root).toMatchObject({
      trace_id: TRACE,
      span_id: '00f067aa0ba902b7',
      parent_span_id: null,
      name: 'GET /orders/:id',
      kind: 'SERVER',
      status_code: 'UNSET',
      service_name: 'orders',
      scope_name: '@opentelemetry/instrumentation-http',
      request_id: 'REQ-1',
      start_time_unix_nano: 1_795_000_000_000_000_001n,
      end_time_unix_nano: 1_795_000_000_025_000_001n,
      duration_nano: 25_000_000n,
      start_time: 1_795_000_000_000,
      source_format: 'otlp-json',
      record_ordinal: 0,
    });
    expect(JSON.parse(root?.attributes ?? '')).toMatchObject({
      'http.response.status_code': 200,
      'http.request.method': 'GET',
    });
    expect(JSON.parse(root?.resource_attributes ?? '')).toEqual({
      'service.name': 'orders',
      'deployment.environment': 'test',
    });
    expect(child).toMatchObject({
      parent_span_id: '00f067aa0ba902b7',
      status_code: 'ERROR',
      status_message: 'upstream timeout',
      record_ordinal: 1,
    });
  });

  it('accepts enum names and base64 ids from older exporters', () => {
    const request = JSON.stringify({
      resourceSpans: [
        {
          scopeSpans: [
            {
              spans: [
                {
                  traceId: Buffer.from(TRACE, 'hex').toString('base64'),
                  spanId: Buffer.from('00f067aa0ba902b7', 'hex').toString('base64'),
                  name: 'publish',
                  kind: 'SPAN_KIND_PRODUCER',
                  startTimeUnixNano: 1_795_000_000_000_000_000,
                  endTimeUnixNano: '1795000000001000000',
                  status: { code: 'STATUS_CODE_ERROR' },
                },
              ],
            },
          ],
        },
      ],
    });
    const { spans } = decode(request);
    expect(spans[0]).toMatchObject({
      trace_id: TRACE,
      span_id: '00f067aa0ba902b7',
      kind: 'PRODUCER',
      status_code: 'ERROR',
    });
  });

  it('quarantines the whole record when one span has an invalid id, writing none of its spans', () => {
    const request = anOtlpTraceRequest('orders', [
      { traceId: TRACE, spanId: '00f067aa0ba902b7' },
      { traceId: 'nope', spanId: '00f067aa0ba902b8' },
    ]);
    const { spans, failures } = decode(request);
    expect(spans).toEqual([]);
    expect(failures.map((f) => f.reason)).toEqual(['invalid_span']);
    expect(failures[0]?.message).toContain('span 1');
  });

  it('quarantines a request whose structure is not OTLP', () => {
    const { failures } = decode(JSON.stringify({ resourceSpans: 'nope' }));
    expect(failures.map((f) => f.reason)).toEqual(['invalid_otlp']);
  });

  it('quarantines OTLP metrics, which Skein does not store', () => {
    const { failures } = decode(JSON.stringify({ resourceMetrics: [] }));
    expect(failures.map((f) => f.reason)).toEqual(['unsupported_format']);
  });
});
