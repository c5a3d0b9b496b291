import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createRedactor } from '../../functions/core/redact.ts';
import { toLogRow } from '../../functions/ingest/decode-json-lines.ts';
import { decodeRecord } from '../../functions/ingest/decode-record.ts';
import { newSink } from '../../functions/ingest/decoded.ts';
import { LogRecord } from '../../schemas/records.ts';
import { aRecordContext } from '../builders/decode.ts';

const ctx = aRecordContext({ shardId: 'shardId-000000000001', sequenceNumber: '4965' });
const limits = { maxRecordBytes: 1024 * 1024, redactor: createRedactor() };
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

function decode(text: string | Uint8Array) {
  const sink = newSink();
  const failures = decodeRecord(typeof text === 'string' ? Buffer.from(text) : text, ctx, sink, limits);
  return { rows: sink.logs, failures };
}

describe('JSON lines', () => {
  it('reads the plain dialect: timestamp, level, msg, snake_case ids, service', () => {
    // Prepare
    const line = JSON.stringify({
      timestamp: '2026-11-25T21:29:00.123Z',
      level: 'ERROR',
      msg: 'payment provider timeout',
      trace_id: TRACE.toUpperCase(),
      span_id: '00f067aa0ba902b7',
      request_id: 'C0FFEE00-1234-4ABC-8DEF-0123456789AB',
      service: 'payments',
      attempt: 3,
    });

    // Act
    const { rows, failures } = decode(line);

    // Assess
    expect(failures).toEqual([]);
    expect(rows).toHaveLength(1);
    const row = LogRecord.parse(rows[0]);
    expect(row).toMatchObject({
      trace_id: TRACE,
      span_id: '00f067aa0ba902b7',
      request_id: 'c0ffee0012344abc8def0123456789ab',
      severity_number: 17,
      severity_text: 'ERROR',
      body: 'payment provider timeout',
      service_name: 'payments',
      time: Date.UTC(2026, 10, 25, 21, 29, 0, 123),
      time_unix_nano: BigInt(Date.UTC(2026, 10, 25, 21, 29, 0, 123)) * 1_000_000n,
      source_format: 'json-lines',
      shard_id: 'shardId-000000000001',
      sequence_number: '4965',
      record_ordinal: 0,
    });
    expect(JSON.parse(row.attributes)).toEqual({ attempt: 3 });
    expect(JSON.parse(row.resource_attributes)).toEqual({ 'service.name': 'payments' });
  });

  it('reads pino: numeric level, time in ms, camelCase ids and reqId', () => {
    const { rows } = decode(
      JSON.stringify({ level: 50, time: 1_795_000_000_123, pid: 7, msg: 'boom', traceId: TRACE, reqId: 'req-42' }),
    );
    expect(rows[0]).toMatchObject({
      severity_number: 17,
      severity_text: 'ERROR',
      time: 1_795_000_000_123,
      trace_id: TRACE,
      request_id: 'req-42',
    });
  });

  it('reads severity/message/ts in seconds', () => {
    const { rows } = decode(JSON.stringify({ ts: 1_795_000_000.25, severity: 'warning', message: 'slow' }));
    expect(rows[0]).toMatchObject({ severity_number: 13, body: 'slow', time: 1_795_000_000_250 });
  });

  it('keeps several lines of one record with their line index as ordinal', () => {
    const { rows } = decode(`${JSON.stringify({ msg: 'a' })}\n\n${JSON.stringify({ msg: 'b' })}\r\n`);
    expect(rows.map((r) => [r.body, r.record_ordinal])).toEqual([
      ['a', 0],
      ['b', 2],
    ]);
  });

  it('uses the arrival time when a line has none', () => {
    const { rows } = decode(JSON.stringify({ msg: 'no time' }));
    expect(rows[0]?.time).toBe(ctx.arrivalMs);
  });

  it('redacts secret-named fields before they reach a row', () => {
    const { rows } = decode(JSON.stringify({ msg: 'login', password: 'hunter2', Authorization: 'Bearer abc' }));
    const attributes = rows[0]?.attributes ?? '';
    expect(attributes).not.toContain('hunter2');
    expect(attributes).not.toContain('Bearer abc');
  });

  it('quarantines only the bad line of a record and keeps the good ones', () => {
    const { rows, failures } = decode(`${JSON.stringify({ msg: 'good' })}\n{"msg": oops}\n[1,2]`);
    expect(rows.map((r) => r.body)).toEqual(['good']);
    expect(failures.map((f) => [f.reason, f.line, Buffer.from(f.raw).toString()])).toEqual([
      ['invalid_json', 2, '{"msg": oops}'],
      ['not_a_json_object', 3, '[1,2]'],
    ]);
  });

  it.each([
    ['an empty record', '', 'empty_record'],
    ['whitespace only', ' \n\t\n', 'empty_record'],
    ['binary bytes', new Uint8Array([0x00, 0xff, 0x13, 0x37]), 'unknown_format'],
    ['plain text', 'GET /health 200', 'unknown_format'],
    ['truncated gzip', new Uint8Array([0x1f, 0x8b, 0x08, 0x00, 0x00]), 'corrupt_compression'],
    ['a truncated KPL aggregate', new Uint8Array([0xf3, 0x89, 0x9a, 0xc2, 0x0a]), 'invalid_kpl'],
  ])('quarantines %s as %s', (_name, input, reason) => {
    const { rows, failures } = decode(input);
    expect(rows).toEqual([]);
    expect(failures.map((f) => f.reason)).toEqual([reason]);
  });

  it('quarantines a record over the size limit', () => {
    const sink = newSink();
    const failures = decodeRecord(Buffer.from(JSON.stringify({ msg: 'x'.repeat(2000) })), ctx, sink, {
      maxRecordBytes: 1024,
      redactor: createRedactor(),
    });
    expect(failures.map((f) => f.reason)).toEqual(['record_too_large']);
  });

  it('inflates gzip-compressed JSON lines', async () => {
    const { gzipSync } = await import('node:zlib');
    const { rows } = decode(gzipSync(JSON.stringify({ msg: 'zipped', trace_id: TRACE })));
    expect(rows[0]).toMatchObject({ body: 'zipped', trace_id: TRACE });
  });
});

const FIXTURES = new URL('../fixtures/json-lines/', import.meta.url);

/** Every row of a fixture file, decoded as one Kinesis record. */
function decodeFixture(file: string) {
  const { rows, failures } = decode(readFileSync(new URL(file, FIXTURES)));
  expect(failures).toEqual([]);
  return rows.map((row) => LogRecord.parse(row));
}

/** The row a fixture line must become: provenance of `ctx`, the rest as given (attributes compared parsed). */
function expectedRow(fields: Partial<LogRecord> & { time_unix_nano: bigint }, ordinal = 0) {
  return {
    trace_id: null,
    time: Number(fields.time_unix_nano / 1_000_000n),
    observed_time_unix_nano: ctx.observedNs,
    span_id: null,
    request_id: null,
    severity_number: 0,
    severity_text: null,
    body: null,
    service_name: null,
    resource_attributes: fields.service_name ? JSON.stringify({ 'service.name': fields.service_name }) : '{}',
    source_format: 'json-lines',
    shard_id: ctx.shardId,
    sequence_number: ctx.sequenceNumber,
    sub_sequence_number: 0,
    record_ordinal: ordinal,
    arrival_time: ctx.arrivalMs,
    ingest_flags: null,
    ...fields,
  };
}

function withoutAttributes(row: LogRecord) {
  const { attributes: _attributes, ...rest } = row;
  return rest;
}

const MINUTE = 1_795_642_140_000_000_000n; // 2026-11-25T21:29:00Z in ns

describe('JSON log dialects (fixtures in test/fixtures/json-lines)', () => {
  it('reads Rust tracing-subscriber JSON: fields flattened, message as body, ids from the current span', () => {
    // Act
    const [row] = decodeFixture('tracing-subscriber.ndjson');

    // Assess
    expect(row && withoutAttributes(row)).toEqual(
      expectedRow({
        time_unix_nano: MINUTE + 821_315_000n,
        trace_id: TRACE,
        request_id: '7f3a9c1e55b24d0e9a612f4c8b7d1e90',
        severity_number: 9,
        severity_text: 'INFO',
        body: 'charging card',
      }),
    );
    expect(JSON.parse(row?.attributes ?? '')).toEqual({
      amount_cents: 1299,
      attempt: 1,
      target: 'payments::provider',
      span: { request_id: '7f3a9c1e-55b2-4d0e-9a61-2f4c8b7d1e90', trace_id: TRACE, name: 'handle_request' },
      spans: [
        { method: 'POST', path: '/charges', name: 'http' },
        { request_id: '7f3a9c1e-55b2-4d0e-9a61-2f4c8b7d1e90', trace_id: TRACE, name: 'handle_request' },
      ],
    });
  });

  it('reads logstash-logback-encoder: @timestamp with offset, level over level_value, MDC traceId/spanId', () => {
    const [row] = decodeFixture('logstash-logback.ndjson');
    expect(row && withoutAttributes(row)).toEqual(
      expectedRow({
        time_unix_nano: MINUTE + 123_000_000n,
        trace_id: TRACE,
        span_id: '00f067aa0ba902b7',
        severity_number: 17,
        severity_text: 'ERROR',
        body: 'Payment provider timeout',
      }),
    );
    expect(JSON.parse(row?.attributes ?? '')).toEqual({
      '@version': '1',
      logger_name: 'com.example.payments.ProviderClient',
      thread_name: 'http-nio-8080-exec-3',
      level_value: 40000,
      stack_trace:
        'java.net.SocketTimeoutException: Read timed out\n\tat java.base/sun.nio.ch.NioSocketImpl.timedRead(NioSocketImpl.java:288)\n',
    });
  });

  it('reads pino with pino-http: numeric level, time in ms, name as service, req.id as request id', () => {
    const [row] = decodeFixture('pino.ndjson');
    expect(row && withoutAttributes(row)).toEqual(
      expectedRow({
        time_unix_nano: MINUTE + 123_000_000n,
        request_id: 'c0ffee0012344abc8def0123456789ab',
        severity_number: 9,
        severity_text: 'INFO',
        body: 'request completed',
        service_name: 'checkout',
      }),
    );
    expect(JSON.parse(row?.attributes ?? '')).toEqual({
      pid: 4711,
      hostname: 'ip-10-0-1-17',
      req: {
        id: 'c0ffee00-1234-4abc-8def-0123456789ab',
        method: 'POST',
        url: '/checkout',
        headers: { host: 'shop.example.com', 'user-agent': 'curl/8.4.0' },
        remoteAddress: '::1',
        remotePort: 53422,
      },
      res: { statusCode: 201 },
      responseTime: 42,
    });
  });

  it('reads bunyan: v, numeric level, ISO time, name as service, req_id', () => {
    const [row] = decodeFixture('bunyan.ndjson');
    expect(row && withoutAttributes(row)).toEqual(
      expectedRow({
        time_unix_nano: MINUTE + 851_000_000n,
        request_id: 'req-9d2f',
        severity_number: 13,
        severity_text: 'WARN',
        body: 'stock low for sku',
        service_name: 'inventory',
      }),
    );
    expect(JSON.parse(row?.attributes ?? '')).toEqual({ hostname: 'ip-10-0-2-9', pid: 2231, sku: 'A-1001', v: 0 });
  });

  it('reads AWS Lambda Powertools: X-Ray trace id, function_request_id over correlation_id', () => {
    const [row] = decodeFixture('powertools.ndjson');
    expect(row && withoutAttributes(row)).toEqual(
      expectedRow({
        time_unix_nano: MINUTE + 921_000_000n,
        trace_id: '5759e988bd862e3fe1be46a994272793',
        request_id: 'c6af9ac67b6111e69a4193e812345678',
        severity_number: 9,
        severity_text: 'INFO',
        body: 'order placed',
        service_name: 'orders-api',
      }),
    );
    expect(JSON.parse(row?.attributes ?? '')).toEqual({
      cold_start: true,
      function_arn: 'arn:aws:lambda:eu-west-1:123456789012:function:orders-api-prod',
      function_memory_size: 128,
      function_name: 'orders-api-prod',
      sampling_rate: 0,
      correlation_id: '8a1b3c5d-2e4f-4a6b-8c0d-1e2f3a4b5c6d',
    });
  });

  it('reads Datadog decimal ids, flat (dd-trace-java MDC) and nested (dd-trace-js), as zero-padded hex', () => {
    const rows = decodeFixture('datadog.ndjson');
    const ids = {
      time_unix_nano: MINUTE + 1_002_000_000n,
      trace_id: '000000000000000048485a3953bb6124',
      span_id: '660d827aa422d34b',
      severity_number: 9,
      severity_text: 'INFO',
      body: 'fetched order from cache',
      service_name: 'orders',
    };
    expect(rows.map(withoutAttributes)).toEqual([expectedRow(ids, 0), expectedRow(ids, 1)]);
    expect(rows.map((r) => JSON.parse(r.attributes))).toEqual([
      {
        '@version': '1',
        logger_name: 'com.example.orders.OrderCache',
        thread_name: 'main',
        level_value: 20000,
        'dd.env': 'prod',
        'dd.version': '1.4.2',
      },
      {
        pid: 1,
        hostname: 'orders-7c9f',
        dd: {
          trace_id: '5208512171318403364',
          span_id: '7353677229817254731',
          service: 'orders',
          version: '1.4.2',
          env: 'prod',
        },
      },
    ]);
  });

  it('reads the plain dialect: ts in fractional seconds, lowercase level', () => {
    const [row] = decodeFixture('plain.ndjson');
    expect(row && withoutAttributes(row)).toEqual(
      expectedRow({
        time_unix_nano: MINUTE + 500_000_000n,
        request_id: 'req-7f3a',
        severity_number: 13,
        severity_text: 'warn',
        body: 'slow downstream',
        service_name: 'gateway',
      }),
    );
    expect(JSON.parse(row?.attributes ?? '')).toEqual({ upstream: 'payments' });
  });
});

describe('toLogRow', () => {
  const redactor = createRedactor();
  const row = (fields: Record<string, unknown>) => toLogRow(fields, 0, ctx, redactor);

  it.each([
    ['trace_id', { trace_id: TRACE }, TRACE],
    ['traceId', { traceId: TRACE }, TRACE],
    ['traceid', { traceid: TRACE }, TRACE],
    ['otelTraceID', { otelTraceID: TRACE }, TRACE],
    ['dd.trace_id', { 'dd.trace_id': '5208512171318403364' }, '000000000000000048485a3953bb6124'],
    ['dd.trace_id as 128-bit hex', { 'dd.trace_id': TRACE.toUpperCase() }, TRACE],
    ['traceparent', { traceparent: `00-${TRACE}-00f067aa0ba902b7-01` }, TRACE],
    [
      'X-Amzn-Trace-Id',
      { 'X-Amzn-Trace-Id': 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1' },
      '5759e988bd862e3fe1be46a994272793',
    ],
    ['xray_trace_id', { xray_trace_id: '1-5759e988-bd862e3fe1be46a994272793' }, '5759e988bd862e3fe1be46a994272793'],
  ])('takes the trace id from %s', (_name, fields, expected) => {
    expect(row(fields).trace_id).toBe(expected);
  });

  it.each([
    ['request_id', { request_id: 'r-1' }, 'r-1'],
    ['requestId', { requestId: 'r-1' }, 'r-1'],
    ['reqId (a pino number)', { reqId: 7 }, '7'],
    ['x-request-id', { 'x-request-id': 'r-1' }, 'r-1'],
    ['http.request.header.x-request-id (an OTel string array)', { 'http.request.header.x-request-id': ['r-1'] }, 'r-1'],
    ['awsRequestId', { awsRequestId: 'C6AF9AC6-7B61-11E6-9A41-93E812345678' }, 'c6af9ac67b6111e69a4193e812345678'],
    ['function_request_id', { function_request_id: 'r-1' }, 'r-1'],
    ['req.id nested', { req: { id: 'r-1', method: 'GET' } }, 'r-1'],
    [
      'a tracing span field',
      {
        spans: [
          { name: 'root', request_id: 'r-root' },
          { name: 'leaf', request_id: 'r-1' },
        ],
      },
      'r-1',
    ],
  ])('takes the request id from %s', (_name, fields, expected) => {
    expect(row(fields).request_id).toBe(expected);
  });

  it('prefers the earlier alias whatever the field order, and keeps the other as an attribute', () => {
    // Prepare
    const fields = { correlation_id: 'corr-1', traceId: 'not-a-trace', function_request_id: 'fn-1', trace_id: TRACE };

    // Act
    const result = row(fields);

    // Assess
    expect(result).toMatchObject({ trace_id: TRACE, request_id: 'fn-1' });
    expect(JSON.parse(result.attributes)).toEqual({ correlation_id: 'corr-1', traceId: 'not-a-trace' });
  });

  it.each([
    ['pino 10', { level: 10 }, 1, 'TRACE'],
    ['pino 60', { level: 60 }, 21, 'FATAL'],
    ['bunyan 40', { level: 40 }, 13, 'WARN'],
    ['logback level_value alone', { level_value: 30000 }, 13, 'WARN'],
    ['logback level_value 5000', { level_value: 5000 }, 1, 'TRACE'],
    ['syslog crit', { level: 'crit' }, 21, 'crit'],
    ['syslog notice', { severity: 'NOTICE' }, 10, 'NOTICE'],
    ['syslog emerg', { level: 'emerg' }, 23, 'emerg'],
    ['Python levelname', { levelname: 'WARNING' }, 13, 'WARNING'],
    ['an OpenTelemetry number', { severity: 18 }, 18, '18'],
    ['an unknown name', { level: 'chatty' }, 0, 'chatty'],
  ])('maps the level %s', (_name, fields, number, text) => {
    expect(row(fields)).toMatchObject({ severity_number: number, severity_text: text });
  });

  it('keeps a tracing event field whose name the line also has at the top as fields.<name>', () => {
    const result = row({ level: 'INFO', target: 'app', fields: { message: 'hi', target: 'other', level: 'x' } });
    expect(result).toMatchObject({ body: 'hi', severity_text: 'INFO' });
    expect(JSON.parse(result.attributes)).toEqual({ target: 'app', 'fields.target': 'other', 'fields.level': 'x' });
  });

  it('treats name as an attribute outside pino and bunyan', () => {
    const result = row({ msg: 'created', name: 'Ada' });
    expect(result.service_name).toBeNull();
    expect(JSON.parse(result.attributes)).toEqual({ name: 'Ada' });
  });

  it('keeps a __proto__ field as an attribute', () => {
    const result = row(JSON.parse('{"msg":"x","__proto__":{"polluted":true}}'));
    expect(JSON.parse(result.attributes)).toEqual(JSON.parse('{"__proto__":{"polluted":true}}'));
  });

  it('flags a row whose secret-named fields were redacted', () => {
    expect(row({ msg: 'login', api_key: 'k-123' })).toMatchObject({
      attributes: '{"api_key":"[REDACTED]"}',
      ingest_flags: 'redacted',
    });
    expect(row({ msg: 'login' }).ingest_flags).toBeNull();
  });
});
