import { readFileSync } from 'node:fs';
import { gunzipSync, inflateSync } from 'node:zlib';
import protobuf from 'protobufjs/light.js';
import { describe, expect, it } from 'vitest';
import { createRedactor } from '../../functions/core/redact.ts';
import { decodeOtlpLogsJson } from '../../functions/ingest/decode-otlp-json.ts';
import { decodeOtlpProto } from '../../functions/ingest/decode-otlp-proto.ts';
import { newSink } from '../../functions/ingest/decoded.ts';
import otlpDescriptor from '../../schemas/proto/otlp.json' with { type: 'json' };
import { LogRecord } from '../../schemas/records.ts';
import { aRecordContext } from '../builders/decode.ts';

// Made by the OpenTelemetry JS SDK and its OTLP serializers: test/fixtures/generate-otlp.ts.
const fixture = (name: string): Buffer => readFileSync(new URL(`../fixtures/otlp/${name}`, import.meta.url));

const ctx = aRecordContext({ sequenceNumber: '49650000000000000000000000000000000000000000000000000009' });
const options = { maxRecordBytes: 1024 * 1024, redactor: createRedactor() };
const TRACE_ID = '5b8efff798038103d269b633813fc60c';
const RESOURCE =
  '{"service.name":"checkout","service.version":"1.4.2","deployment.environment.name":"test","cloud.region":"eu-west-1"}';
const ARRIVAL_NS = BigInt(ctx.arrivalMs) * 1_000_000n;

const LogsRequest = protobuf.Root.fromJSON(otlpDescriptor).lookupType(
  'opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest',
);

function decodeProto(payload: Uint8Array, data: Uint8Array = payload) {
  const sink = newSink();
  const failures = decodeOtlpProto(payload, data, ctx, sink, options);
  return { logs: sink.logs, spans: sink.spans, failures };
}

function decodeJson(request: unknown) {
  const data = Buffer.from(JSON.stringify(request));
  const sink = newSink();
  const failures = decodeOtlpLogsJson(data, JSON.parse(data.toString('utf8')), ctx, sink, options);
  return { logs: sink.logs, spans: sink.spans, failures, data };
}

/** An OTLP/JSON logs request of one `orders` resource holding the given log records. */
function aLogsRequest(logRecords: readonly Record<string, unknown>[], resource = 'orders') {
  return {
    resourceLogs: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: resource } }] },
        scopeLogs: [{ scope: { name: 'orders-logger' }, logRecords }],
      },
    ],
  };
}

describe('OTLP logs from the SDK', () => {
  it('maps the protobuf export request to log rows', () => {
    // Prepare
    const data = fixture('logs.pb');

    // Act
    const { logs, spans, failures } = decodeProto(data);

    // Assess
    expect(failures).toEqual([]);
    expect(spans).toEqual([]);
    for (const log of logs) expect(LogRecord.parse(log)).toEqual(log);
    expect(logs.map((l) => [l.record_ordinal, l.severity_number, l.trace_id, l.span_id])).toEqual([
      [0, 9, TRACE_ID, 'eee19b7ec3c1b173'],
      [1, 17, TRACE_ID, 'eee19b7ec3c1b174'],
      [2, 14, null, null],
    ]);
    expect(logs[0]).toEqual({
      trace_id: TRACE_ID,
      time: 1_795_642_140_001,
      time_unix_nano: 1_795_642_140_001_000_123n,
      observed_time_unix_nano: 1_795_642_140_002_000_123n,
      span_id: 'eee19b7ec3c1b173',
      request_id: '7f3c2a9e1d4b4c8a9e6f2b5d8c1a3e70',
      severity_number: 9,
      severity_text: 'INFO',
      body: 'checkout started',
      service_name: 'checkout',
      resource_attributes: RESOURCE,
      attributes: '{"request_id":"7f3c2a9e-1d4b-4c8a-9e6f-2b5d8c1a3e70","cart.items":3}',
      source_format: 'otlp-proto',
      shard_id: 'shardId-000000000000',
      sequence_number: '49650000000000000000000000000000000000000000000000000009',
      sub_sequence_number: 0,
      record_ordinal: 0,
      arrival_time: ctx.arrivalMs,
      ingest_flags: null,
    });
    expect(logs[1]).toEqual({
      trace_id: TRACE_ID,
      time: 1_795_642_140_038,
      time_unix_nano: 1_795_642_140_038_000_123n,
      observed_time_unix_nano: 1_795_642_140_038_000_623n,
      span_id: 'eee19b7ec3c1b174',
      request_id: null,
      severity_number: 17,
      severity_text: 'ERROR',
      body: '{"event":"payment_failed","attempt":3,"retryable":true,"upstream":{"status":503}}',
      service_name: 'checkout',
      resource_attributes: RESOURCE,
      attributes: '{"exception.type":"UpstreamError","password":"[REDACTED]"}',
      source_format: 'otlp-proto',
      shard_id: 'shardId-000000000000',
      sequence_number: '49650000000000000000000000000000000000000000000000000009',
      sub_sequence_number: 0,
      record_ordinal: 1,
      arrival_time: ctx.arrivalMs,
      ingest_flags: null,
    });
    expect(logs[2]).toMatchObject({ body: '["retry budget low",2]', severity_text: 'warning' });
  });

  it('gives the same rows from OTLP/JSON as from protobuf, but for source_format', () => {
    const json = fixture('logs.json');
    const sink = newSink();

    const failures = decodeOtlpLogsJson(json, JSON.parse(json.toString('utf8')), ctx, sink, options);

    expect(failures).toEqual([]);
    expect(sink.logs.map((l) => l.source_format)).toEqual(['otlp-json', 'otlp-json', 'otlp-json']);
    const fromProto = decodeProto(fixture('logs.pb')).logs;
    expect(fromProto.map((l) => ({ ...l, source_format: 'otlp-json' }))).toEqual(sink.logs);
  });

  it.each([
    ['logs.pb.gz', gunzipSync],
    ['logs.pb.zz', inflateSync],
  ])('decodes %s once inflated', (name, inflate) => {
    const data = fixture(name);

    const { logs, failures } = decodeProto(inflate(data), data);

    expect(failures).toEqual([]);
    expect(logs).toEqual(decodeProto(fixture('logs.pb')).logs);
  });
});

describe('OTLP logs mapping', () => {
  it('takes the observed time when the event time is 0, and the arrival time when both are', () => {
    const { logs, failures } = decodeJson(
      aLogsRequest([
        { timeUnixNano: '0', observedTimeUnixNano: '1795642140000000007', body: { stringValue: 'a' } },
        { body: { stringValue: 'b' } },
      ]),
    );

    expect(failures).toEqual([]);
    expect(logs.map((l) => [l.time_unix_nano, l.observed_time_unix_nano, l.time])).toEqual([
      [1_795_642_140_000_000_007n, 1_795_642_140_000_000_007n, 1_795_642_140_000],
      [ARRIVAL_NS, ctx.observedNs, ctx.arrivalMs],
    ]);
  });

  it('maps the same way from protobuf, where zero times are simply absent', () => {
    const request = aLogsRequest([
      { timeUnixNano: '0', observedTimeUnixNano: '1795642140000000007', body: { stringValue: 'a' } },
      { body: { stringValue: 'b' } },
    ]);
    const data = LogsRequest.encode(LogsRequest.fromObject(request)).finish();

    const fromProto = decodeProto(data).logs;

    expect(fromProto.map((l) => ({ ...l, source_format: 'otlp-json' }))).toEqual(decodeJson(request).logs);
  });

  it('reads severity numbers and their enum names; anything else is UNSPECIFIED', () => {
    const { logs } = decodeJson(
      aLogsRequest([
        { severityNumber: 'SEVERITY_NUMBER_WARN', severityText: 'Warning' },
        { severityNumber: 21 },
        { severityNumber: 'ERROR3' },
        { severityNumber: 99 },
        { severityNumber: 'LOUD' },
        {},
      ]),
    );

    expect(logs.map((l) => [l.severity_number, l.severity_text])).toEqual([
      [13, 'Warning'],
      [21, null],
      [19, null],
      [0, null],
      [0, null],
      [0, null],
    ]);
  });

  it('keeps a string body as is and writes any other body as JSON', () => {
    const { logs } = decodeJson(
      aLogsRequest([
        { body: { stringValue: 'plain "text"' } },
        { body: { intValue: '9007199254740993' } },
        { body: { doubleValue: 1.5 } },
        { body: { boolValue: false } },
        { body: { bytesValue: 'AQID' } },
        { body: { arrayValue: { values: [{ stringValue: 'x' }, { intValue: 2 }] } } },
        { body: { kvlistValue: { values: [{ key: 'token', value: { stringValue: 'abc' } }] } } },
        { body: {} },
        {},
      ]),
    );

    expect(logs.map((l) => l.body)).toEqual([
      'plain "text"',
      '"9007199254740993"',
      '1.5',
      'false',
      '"AQID"',
      '["x",2]',
      '{"token":"[REDACTED]"}',
      null,
      null,
    ]);
  });

  it('treats empty and all-zero trace context as none', () => {
    const { logs, failures } = decodeJson(
      aLogsRequest([
        { traceId: '', spanId: '' },
        { traceId: '00000000000000000000000000000000', spanId: '0000000000000000' },
        { traceId: TRACE_ID.toUpperCase(), spanId: 'EEE19B7EC3C1B173' },
      ]),
    );

    expect(failures).toEqual([]);
    expect(logs.map((l) => [l.trace_id, l.span_id])).toEqual([
      [null, null],
      [null, null],
      [TRACE_ID, 'eee19b7ec3c1b173'],
    ]);
  });

  it('takes the request id from the attributes, redacting secret-named ones', () => {
    const { logs } = decodeJson(
      aLogsRequest([
        {
          attributes: [
            {
              key: 'http.request.header.x-request-id',
              value: { arrayValue: { values: [{ stringValue: 'REQ-42' }] } },
            },
            { key: 'Authorization', value: { stringValue: 'Bearer xyz' } },
          ],
        },
        { attributes: [{ key: 'awsRequestId', value: { stringValue: '8F5A7C1E-0B2D-4E6F-9A8B-7C6D5E4F3A2B' } }] },
      ]),
    );

    expect(logs.map((l) => l.request_id)).toEqual(['REQ-42', '8f5a7c1e0b2d4e6f9a8b7c6d5e4f3a2b']);
    expect(JSON.parse(logs[0]?.attributes ?? '')).toEqual({
      'http.request.header.x-request-id': ['REQ-42'],
      Authorization: '[REDACTED]',
    });
  });

  it('numbers log records across resources and scopes, and leaves the service null without service.name', () => {
    const { logs } = decodeJson({
      resourceLogs: [
        { scopeLogs: [{ logRecords: [{ body: { stringValue: 'a' } }] }, { logRecords: [{}] }] },
        aLogsRequest([{ body: { stringValue: 'c' } }], 'billing').resourceLogs[0],
      ],
    });

    expect(logs.map((l) => [l.record_ordinal, l.service_name, l.resource_attributes])).toEqual([
      [0, null, '{}'],
      [1, null, '{}'],
      [2, 'billing', '{"service.name":"billing"}'],
    ]);
  });

  it('quarantines the whole request when one log record has a malformed trace id, writing no row', () => {
    const { logs, failures, data } = decodeJson(
      aLogsRequest([{ body: { stringValue: 'fine' } }, { traceId: 'not-a-trace-id', body: { stringValue: 'bad' } }]),
    );

    expect(logs).toEqual([]);
    expect(failures).toEqual([
      {
        reason: 'invalid_otlp',
        message: 'log record 1: traceId "not-a-trace-id" is not a valid trace id',
        raw: data,
        decoder: 'otlp-json',
      },
    ]);
  });

  it('quarantines a request that is not an ExportLogsServiceRequest', () => {
    const { failures } = decodeJson({ resourceLogs: [{ scopeLogs: [{ logRecords: [{ severityText: 7 }] }] }] });

    expect(failures.map((f) => [f.reason, f.message])).toEqual([
      [
        'invalid_otlp',
        'OTLP/JSON logs: resourceLogs.0.scopeLogs.0.logRecords.0.severityText: Invalid input: expected string, received number',
      ],
    ]);
  });

  it('quarantines a request without log records as empty', () => {
    expect(decodeJson({ resourceLogs: [] }).failures.map((f) => f.reason)).toEqual(['empty_record']);
    expect(decodeJson(aLogsRequest([])).failures.map((f) => f.reason)).toEqual(['empty_record']);
  });
});
