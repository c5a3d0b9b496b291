import { readFileSync } from 'node:fs';
import { gunzipSync, inflateSync } from 'node:zlib';
import fc from 'fast-check';
import protobuf from 'protobufjs/light.js';
import { describe, expect, it } from 'vitest';
import { createRedactor } from '../../functions/core/redact.ts';
import { decodeOtlpTraces } from '../../functions/ingest/decode-otlp-json.ts';
import { decodeOtlpProto, looksLikeOtlpProto } from '../../functions/ingest/decode-otlp-proto.ts';
import { type DecodeFailure, newSink, type RecordContext } from '../../functions/ingest/decoded.ts';
import otlpDescriptor from '../../schemas/proto/otlp.json' with { type: 'json' };
import { SpanRecord } from '../../schemas/records.ts';
import { aRecordContext } from '../builders/decode.ts';

// Made by the OpenTelemetry JS SDK and its OTLP serializers: test/fixtures/generate-otlp.ts.
const fixture = (name: string): Buffer => readFileSync(new URL(`../fixtures/otlp/${name}`, import.meta.url));

const ctx = aRecordContext({ sequenceNumber: '49650000000000000000000000000000000000000000000000000007' });
const options = { maxRecordBytes: 1024 * 1024, redactor: createRedactor() };
const TRACE_ID = '5b8efff798038103d269b633813fc60c';
const RESOURCE =
  '{"service.name":"checkout","service.version":"1.4.2","deployment.environment.name":"test","cloud.region":"eu-west-1"}';

const root = protobuf.Root.fromJSON(otlpDescriptor);
const TracesRequest = root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');
const LogsRequest = root.lookupType('opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest');

/** Protobuf bytes of a request given in protobufjs's object form (ids as bytes, 64-bit times as strings). */
function encode(type: protobuf.Type, request: Record<string, unknown>): Uint8Array {
  return type.encode(type.fromObject(request)).finish();
}

function decode(payload: Uint8Array, kind?: 'traces' | 'logs', data: Uint8Array = payload, context = ctx) {
  const sink = newSink();
  const failures = decodeOtlpProto(payload, data, context, sink, options, kind);
  return { spans: sink.spans, logs: sink.logs, failures };
}

const hex = (id: string) => Buffer.from(id, 'hex');

describe('OTLP protobuf traces', () => {
  it('maps the SDK export request to span rows', () => {
    // Prepare
    const data = fixture('traces.pb');

    // Act
    const { spans, logs, failures } = decode(data);

    // Assess
    expect(failures).toEqual([]);
    expect(logs).toEqual([]);
    // The SDK exports spans as they end: the client, the internal one, then the server span.
    expect(spans.map((s) => [s.span_id, s.parent_span_id, s.kind, s.record_ordinal])).toEqual([
      ['eee19b7ec3c1b174', 'eee19b7ec3c1b173', 'CLIENT', 0],
      ['eee19b7ec3c1b175', 'eee19b7ec3c1b173', 'INTERNAL', 1],
      ['eee19b7ec3c1b173', null, 'SERVER', 2],
    ]);
    for (const span of spans) expect(SpanRecord.parse(span)).toEqual(span);
    expect(spans[2]).toEqual({
      trace_id: TRACE_ID,
      start_time: 1_795_642_140_000,
      start_time_unix_nano: 1_795_642_140_000_000_123n,
      end_time_unix_nano: 1_795_642_140_045_000_123n,
      duration_nano: 45_000_000n,
      span_id: 'eee19b7ec3c1b173',
      request_id: '7f3c2a9e1d4b4c8a9e6f2b5d8c1a3e70',
      parent_span_id: null,
      trace_state: null,
      name: 'POST /checkout',
      kind: 'SERVER',
      status_code: 'ERROR',
      status_message: 'payment provider unavailable',
      service_name: 'checkout',
      scope_name: '@skein/checkout-http',
      resource_attributes: RESOURCE,
      attributes: JSON.stringify({
        'http.request.method': 'POST',
        'url.path': '/checkout',
        'http.route': '/checkout',
        'http.response.status_code': 502,
        'http.request.header.x-request-id': ['7f3c2a9e-1d4b-4c8a-9e6f-2b5d8c1a3e70'],
        'server.duration_budget_ms': 250.5,
        'feature.flags': ['new-cart', 'fast-pay'],
        'user.authenticated': true,
      }),
      events: JSON.stringify([
        {
          time_unix_nano: '1795642140040000123',
          name: 'exception',
          attributes: {
            'exception.type': 'PaymentUnavailableError',
            'exception.message': 'payment provider unavailable',
          },
        },
      ]),
      links: '[]',
      source_format: 'otlp-proto',
      shard_id: 'shardId-000000000000',
      sequence_number: '49650000000000000000000000000000000000000000000000000007',
      sub_sequence_number: 0,
      record_ordinal: 2,
      arrival_time: ctx.arrivalMs,
      ingest_flags: null,
    });
  });

  it('redacts secret-named attributes and keeps links and the client status', () => {
    const { spans } = decode(fixture('traces.pb'));

    const [client, internal] = spans;
    expect(client?.status_code).toBe('ERROR');
    expect(client?.status_message).toBeNull();
    expect(JSON.parse(client?.attributes ?? '')).toMatchObject({
      authorization: '[REDACTED]',
      'server.port': 8443,
    });
    expect(JSON.parse(internal?.links ?? '')).toEqual([
      {
        trace_id: '0af7651916cd43dd8448eb211c80319c',
        span_id: 'b7ad6b7169203331',
        trace_state: null,
        attributes: { 'messaging.operation.type': 'receive' },
      },
    ]);
    expect(internal?.duration_nano).toBe(0n);
  });

  it('gives the same rows as the OTLP/JSON encoding of the same SDK spans, but for source_format', () => {
    const json = fixture('traces.json');
    const jsonSink = newSink();
    expect(decodeOtlpTraces(json, JSON.parse(json.toString('utf8')), ctx, jsonSink, options)).toEqual([]);

    const { spans } = decode(fixture('traces.pb'));

    expect(jsonSink.spans.map((s) => s.source_format)).toEqual(['otlp-json', 'otlp-json', 'otlp-json']);
    expect(spans.map((s) => ({ ...s, source_format: 'otlp-json' }))).toEqual(jsonSink.spans);
  });

  it.each([
    ['traces.pb.gz', gunzipSync],
    ['traces.pb.zz', inflateSync],
  ])('decodes %s once inflated, quarantining the original bytes on failure', (name, inflate) => {
    const data = fixture(name);
    const payload = inflate(data);

    const { spans, failures } = decode(payload, undefined, data);

    expect(failures).toEqual([]);
    expect(spans).toEqual(decode(fixture('traces.pb')).spans);
    const broken = decode(payload.subarray(0, payload.length - 3), undefined, data);
    expect(broken.failures).toMatchObject([{ reason: 'invalid_protobuf', raw: data, decoder: 'otlp-proto' }]);
  });

  it('prefixes source_format for records that came out of a KPL aggregate', () => {
    const kpl: RecordContext = { ...ctx, formatPrefix: 'kpl+', subSequenceNumber: 4 };

    const { spans } = decode(fixture('traces.pb'), undefined, undefined, kpl);

    expect(spans.map((s) => [s.source_format, s.sub_sequence_number])).toEqual([
      ['kpl+otlp-proto', 4],
      ['kpl+otlp-proto', 4],
      ['kpl+otlp-proto', 4],
    ]);
  });

  it('quarantines the whole request as invalid_span when one span has a 15-byte trace id, writing no span', () => {
    const span = (traceId: Buffer, spanId: string) => ({
      traceId,
      spanId: hex(spanId),
      name: 'GET /',
      startTimeUnixNano: '1795642140000000000',
      endTimeUnixNano: '1795642140001000000',
    });
    const data = encode(TracesRequest, {
      resourceSpans: [
        {
          scopeSpans: [
            { spans: [span(hex(TRACE_ID), '00f067aa0ba902b7'), span(hex(TRACE_ID).subarray(1), '00f067aa0ba902b8')] },
          ],
        },
      ],
    });

    const { spans, failures } = decode(data);

    expect(spans).toEqual([]);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ reason: 'invalid_span', raw: data, decoder: 'otlp-proto' });
    expect(failures[0]?.message).toBe(`span 1: traceId "${TRACE_ID.slice(2)}" is not a valid trace id`);
  });

  it('quarantines a request without spans as empty', () => {
    const data = encode(TracesRequest, { resourceSpans: [{ scopeSpans: [{ spans: [] }] }] });

    expect(decode(data).failures.map((f) => f.reason)).toEqual(['empty_record']);
  });
});

describe('OTLP protobuf: traces or logs', () => {
  it('tells traces from logs without being told which', () => {
    expect(decode(fixture('traces.pb')).spans).toHaveLength(3);
    expect(decode(fixture('logs.pb')).logs).toHaveLength(3);
    expect(decode(fixture('logs.pb')).spans).toEqual([]);
  });

  it('tells logs whose records also read as (id-less) spans from traces', () => {
    // Prepare: log records without trace context decode without error as spans; only the ids tell them apart.
    const data = encode(LogsRequest, {
      resourceLogs: [
        {
          scopeLogs: [
            {
              logRecords: [
                {
                  timeUnixNano: '1795642140000000000',
                  severityNumber: 13,
                  severityText: 'WARN',
                  body: { stringValue: 'disk almost full' },
                },
              ],
            },
          ],
        },
      ],
    });
    expect(decode(data, 'traces').failures.map((f) => f.reason)).toEqual(['invalid_span']);

    // Act
    const { logs, spans, failures } = decode(data);

    // Assess
    expect(failures).toEqual([]);
    expect(spans).toEqual([]);
    expect(logs).toMatchObject([{ body: 'disk almost full', severity_number: 13, source_format: 'otlp-proto' }]);
  });

  it('decodes as the kind it is told', () => {
    expect(decode(fixture('logs.pb'), 'logs').logs).toHaveLength(3);
    expect(decode(fixture('traces.pb'), 'traces').spans).toHaveLength(3);
    expect(decode(fixture('traces.pb'), 'logs').logs).toEqual([]);
  });

  it('recognises OTLP protobuf cheaply, and not JSON, text or KPL', () => {
    for (const name of ['traces.pb', 'logs.pb']) expect(looksLikeOtlpProto(fixture(name))).toBe(true);
    for (const name of ['traces.json', 'logs.json', 'traces.pb.gz', 'traces.pb.zz']) {
      expect(looksLikeOtlpProto(fixture(name))).toBe(false);
    }
    expect(looksLikeOtlpProto(Buffer.from(`\n${'{"level":"info","msg":"hello"}\n'.repeat(5)}`))).toBe(false);
    expect(looksLikeOtlpProto(Buffer.from([0xf3, 0x89, 0x9a, 0xc2, 0x0a, 0x01]))).toBe(false);
    expect(looksLikeOtlpProto(new Uint8Array())).toBe(false);
    expect(looksLikeOtlpProto(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]))).toBe(false);
  });
});

describe('OTLP protobuf: bad bytes', () => {
  it.each(['traces.pb', 'logs.pb'])('quarantines every truncation of %s as invalid_protobuf', (name) => {
    const original = fixture(name);
    const wrong: string[] = [];
    for (let length = 1; length < original.length; length++) {
      const data = original.subarray(0, length);

      const { spans, logs, failures } = decode(data);

      const quarantined =
        failures.length === 1 && failures[0]?.reason === 'invalid_protobuf' && failures[0].raw === data;
      if (spans.length + logs.length > 0 || !quarantined) wrong.push(`${length} bytes: ${failures[0]?.reason}`);
    }
    expect(wrong).toEqual([]);
  });

  it('quarantines a request whose length prefix overruns the payload', () => {
    const data = Buffer.from(fixture('traces.pb'));
    data[1] = 0xff; // the varint now continues into the next byte: a length far past the end

    const { failures } = decode(data);

    expect(failures).toHaveLength(1);
    expect(failures[0]?.reason).toBe('invalid_protobuf');
    expect(failures[0]?.message).toMatch(/^not an OTLP ExportTraceServiceRequest nor ExportLogsServiceRequest: /);
  });

  it('quarantines strings that are not UTF-8 as invalid_protobuf', () => {
    const data = Buffer.from(fixture('traces.pb'));
    const at = data.indexOf('checkout');
    data[at] = 0xff;

    expect(decode(data).failures.map((f) => f.reason)).toEqual(['invalid_protobuf']);
  });

  it('never throws on random bytes, and every failure carries the record', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 512 }),
        fc.constantFrom(undefined, 'traces' as const, 'logs' as const),
        (bytes, kind) => {
          looksLikeOtlpProto(bytes);
          const { failures } = decode(bytes, kind);
          for (const failure of failures satisfies DecodeFailure[]) expect(failure.raw).toBe(bytes);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('never throws on mutated fixtures: a changed request becomes rows or failures, never both', () => {
    const originals = [fixture('traces.pb'), fixture('logs.pb')];
    fc.assert(
      fc.property(
        fc.constantFrom(...originals),
        fc.array(fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 4 }),
        (original, mutations) => {
          const data = Buffer.from(original);
          for (const m of mutations) data[m.at % data.length] = m.value;

          const { spans, logs, failures } = decode(data);

          expect(spans.length + logs.length === 0 || failures.length === 0).toBe(true);
          expect(spans.length + logs.length + failures.length).toBeGreaterThan(0);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
