import { readFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRedactor } from '../../functions/core/redact.ts';
import {
  decodeCloudWatch,
  isCloudWatchEnvelope,
  serviceFromLogGroup,
} from '../../functions/ingest/decode-cloudwatch.ts';
import { type DecodeOptions, newSink, type RecordContext, type Redactor } from '../../functions/ingest/decoded.ts';
import { LogRecord } from '../../schemas/records.ts';
import { aRecordContext } from '../builders/decode.ts';

// Fixtures: test/fixtures/generate-kpl-cloudwatch.ts (gzip JSON, as a subscription filter puts it on the stream).
function fixture(name: string): { data: Buffer; parsed: unknown } {
  const data = readFileSync(new URL(`../fixtures/cloudwatch/${name}`, import.meta.url));
  return { data, parsed: JSON.parse(gunzipSync(data).toString('utf8')) };
}

const ctx = aRecordContext({
  shardId: 'shardId-000000000002',
  sequenceNumber: '49650000000000000000000000000000000000000000000000000077',
});
const options: DecodeOptions = { maxRecordBytes: 1024 * 1024, redactor: createRedactor() };
const T = Date.UTC(2026, 10, 25, 21, 29, 0);
const ns = (ms: number) => BigInt(ms) * 1_000_000n;
const REQUEST_ID = '8f5c2b1e4b0a4c6e9b7e2f1d3c4b5a69';
const TRACE_ID = '6745e1c04d2b8f3a9c1e5d7b0a2f4c6e';
const eventId = (i: number) =>
  `3791516348512083742545894663729851326230511345634739${String(8144 + i).padStart(4, '0')}`;
const LAMBDA_RESOURCE = JSON.stringify({
  'service.name': 'orders-api',
  'aws.log.group.names': ['/aws/lambda/orders-api'],
  'aws.log.stream.names': ['2026/11/25/[$LATEST]0123456789abcdef0123456789abcdef'],
  'cloud.account.id': '123456789012',
});
const ECS_RESOURCE = JSON.stringify({
  'service.name': 'checkout',
  'aws.log.group.names': ['/ecs/checkout'],
  'aws.log.stream.names': ['ecs/checkout/4f1c0b9e2d3a4b5c8d7e6f5a4b3c2d1e'],
  'cloud.account.id': '123456789012',
});

function decode(data: Uint8Array, parsed: unknown, context: RecordContext = ctx, opts: DecodeOptions = options) {
  const sink = newSink();
  const failures = decodeCloudWatch(data, parsed, context, sink, opts);
  return { rows: sink.logs, failures, controlMessages: sink.controlMessages };
}

/** An envelope of one Lambda function holding `messages` (event timestamps T, T+1, …). */
function lambdaEnvelope(messages: readonly string[], extra: Record<string, unknown> = {}) {
  return {
    messageType: 'DATA_MESSAGE',
    owner: '123456789012',
    logGroup: '/aws/lambda/orders-api',
    logStream: '2026/11/25/[$LATEST]0123456789abcdef0123456789abcdef',
    subscriptionFilters: ['skein'],
    logEvents: messages.map((message, i) => ({ id: eventId(i), timestamp: T + i, message })),
    ...extra,
  };
}

function decodeEnvelope(envelope: unknown, context: RecordContext = ctx, opts: DecodeOptions = options) {
  const data = gzipSync(JSON.stringify(envelope));
  return decode(data, envelope, context, opts);
}

describe('isCloudWatchEnvelope', () => {
  it('recognises DATA_MESSAGE and CONTROL_MESSAGE envelopes', () => {
    for (const name of ['lambda-data-message.json.gz', 'ecs-data-message.json.gz', 'control-message.json.gz']) {
      expect(isCloudWatchEnvelope(fixture(name).parsed), name).toBe(true);
    }
    expect(isCloudWatchEnvelope({ messageType: 'DATA_MESSAGE', logEvents: 'not checked here' })).toBe(true);
  });

  it('does not take log lines, OTLP requests or other JSON for an envelope', () => {
    expect(isCloudWatchEnvelope({ level: 'INFO', msg: 'hello', messageType: 'greeting' })).toBe(false);
    expect(isCloudWatchEnvelope({ messageType: 'DATA_MESSAGE' })).toBe(false);
    expect(isCloudWatchEnvelope({ resourceSpans: [] })).toBe(false);
    expect(isCloudWatchEnvelope([{ messageType: 'DATA_MESSAGE', logEvents: [] }])).toBe(false);
    expect(isCloudWatchEnvelope(null)).toBe(false);
    expect(isCloudWatchEnvelope('DATA_MESSAGE')).toBe(false);
  });
});

describe('decodeCloudWatch', () => {
  it('decodes a Lambda function: runtime text lines, platform lines and a Powertools JSON line', () => {
    // Prepare
    const { data, parsed } = fixture('lambda-data-message.json.gz');

    // Act
    const { rows, failures } = decode(data, parsed);

    // Assess
    expect(failures).toEqual([]);
    expect(rows.map((r) => LogRecord.parse(r))).toHaveLength(7);
    expect(rows[2]).toEqual({
      trace_id: null,
      time: T + 12,
      time_unix_nano: ns(T + 12),
      observed_time_unix_nano: ctx.observedNs,
      span_id: null,
      request_id: REQUEST_ID,
      severity_number: 9,
      severity_text: 'INFO',
      body: 'fetching order 42 for customer c-981',
      service_name: 'orders-api',
      resource_attributes: LAMBDA_RESOURCE,
      attributes: JSON.stringify({ 'cloudwatch.log_event_id': eventId(2) }),
      source_format: 'cloudwatch-logs',
      shard_id: 'shardId-000000000002',
      sequence_number: '49650000000000000000000000000000000000000000000000000077',
      sub_sequence_number: 0,
      record_ordinal: 2,
      arrival_time: ctx.arrivalMs,
      ingest_flags: null,
    } satisfies LogRecord);
    expect(rows[6]).toEqual({
      ...rows[2],
      trace_id: TRACE_ID,
      time: T + 57,
      time_unix_nano: ns(T + 57),
      severity_text: null,
      body: `REPORT RequestId: 8f5c2b1e-4b0a-4c6e-9b7e-2f1d3c4b5a69\tDuration: 57.31 ms\tBilled Duration: 58 ms\tMemory Size: 256 MB\tMax Memory Used: 81 MB\tInit Duration: 212.40 ms\t\nXRAY TraceId: 1-6745e1c0-4d2b8f3a9c1e5d7b0a2f4c6e\tSegmentId: 5a3c1e6d7c2e5e4f\tSampled: true`,
      attributes: JSON.stringify({
        'aws.lambda.duration_ms': 57.31,
        'aws.lambda.billed_duration_ms': 58,
        'aws.lambda.memory_size_mb': 256,
        'aws.lambda.max_memory_used_mb': 81,
        'aws.lambda.init_duration_ms': 212.4,
        'cloudwatch.log_event_id': eventId(6),
      }),
      record_ordinal: 6,
    });
    expect(rows.map((r) => [r.record_ordinal, r.request_id, r.severity_number, r.severity_text, r.time])).toEqual([
      [0, null, 9, 'INFO', T - 250],
      [1, REQUEST_ID, 9, null, T],
      [2, REQUEST_ID, 9, 'INFO', T + 12],
      [3, REQUEST_ID, 9, 'INFO', T + 30],
      [4, REQUEST_ID, 13, 'WARN', T + 44],
      [5, REQUEST_ID, 9, null, T + 57],
      [6, REQUEST_ID, 9, null, T + 57],
    ]);
    expect(rows.map((r) => JSON.parse(r.attributes)['cloudwatch.log_event_id'])).toEqual(
      [0, 1, 2, 3, 4, 5, 6].map(eventId),
    );
    expect(rows[0]?.body).toBe('Loading function config from SSM');
    expect(rows[1]?.body).toBe('START RequestId: 8f5c2b1e-4b0a-4c6e-9b7e-2f1d3c4b5a69 Version: $LATEST');
    expect(JSON.parse(rows[1]?.attributes ?? '{}')).toMatchObject({ 'faas.version': '$LATEST' });
    expect(rows[5]?.body).toBe('END RequestId: 8f5c2b1e-4b0a-4c6e-9b7e-2f1d3c4b5a69');
  });

  it('maps a JSON message like a JSON log line, keeping its own time and adding the CloudWatch attributes', () => {
    const { data, parsed } = fixture('lambda-data-message.json.gz');

    const powertools = decode(data, parsed).rows[3];

    // The Powertools line's own timestamp (T+30), not the event's (T+31).
    expect(powertools).toMatchObject({
      time: T + 30,
      time_unix_nano: ns(T + 30),
      body: 'order loaded',
      service_name: 'orders-api',
      severity_text: 'INFO',
      resource_attributes: LAMBDA_RESOURCE,
      source_format: 'cloudwatch-logs',
      record_ordinal: 3,
      arrival_time: ctx.arrivalMs,
    });
    expect(JSON.parse(powertools?.attributes ?? '{}')).toMatchObject({
      cold_start: true,
      function_name: 'orders-api',
      order_id: '42',
      'cloudwatch.log_event_id': eventId(3),
    });
  });

  it('decodes a container on ECS: JSON lines of two dialects and a text line, service from the log group', () => {
    const { data, parsed } = fixture('ecs-data-message.json.gz');

    const { rows, failures } = decode(data, parsed);

    expect(failures).toEqual([]);
    expect(rows.map((r) => LogRecord.parse(r))).toHaveLength(4);
    expect(rows[1]).toEqual({
      trace_id: TRACE_ID,
      time: T + 199,
      time_unix_nano: ns(T + 199),
      observed_time_unix_nano: ctx.observedNs,
      span_id: '3c4d5e6f70819203',
      request_id: REQUEST_ID,
      severity_number: 9,
      severity_text: 'INFO',
      body: 'checkout started',
      service_name: 'checkout',
      resource_attributes: ECS_RESOURCE,
      attributes: JSON.stringify({ cart_items: 3, 'cloudwatch.log_event_id': eventId(101) }),
      source_format: 'cloudwatch-logs',
      shard_id: 'shardId-000000000002',
      sequence_number: '49650000000000000000000000000000000000000000000000000077',
      sub_sequence_number: 0,
      record_ordinal: 1,
      arrival_time: ctx.arrivalMs,
      ingest_flags: null,
    } satisfies LogRecord);
    expect(rows.map((r) => [r.record_ordinal, r.body, r.service_name, r.time, r.resource_attributes])).toEqual([
      [0, 'Listening on 0.0.0.0:8080', 'checkout', T + 100, ECS_RESOURCE],
      [1, 'checkout started', 'checkout', T + 199, ECS_RESOURCE],
      [2, 'payment authorised', 'checkout', T + 298, ECS_RESOURCE],
      [3, 'receipt email failed', 'checkout', T + 400, ECS_RESOURCE],
    ]);
    expect(rows[0]).toMatchObject({ severity_number: 0, severity_text: null, request_id: null, trace_id: null });
    expect(rows[2]?.trace_id).toBe(TRACE_ID);
    expect(rows[3]).toMatchObject({ request_id: 'rcpt-77', severity_number: 17 });
    expect(rows.map((r) => JSON.parse(r.attributes)['cloudwatch.log_event_id'])).toEqual(
      [100, 101, 102, 103].map(eventId),
    );
  });

  it('counts a control message and drops it: no row, no failure', () => {
    const { data, parsed } = fixture('control-message.json.gz');

    const { rows, failures, controlMessages } = decode(data, parsed);

    expect(rows).toEqual([]);
    expect(failures).toEqual([]);
    expect(controlMessages).toBe(1);
  });

  it('prefixes the source format of an envelope that came out of a KPL aggregate', () => {
    const { data, parsed } = fixture('ecs-data-message.json.gz');

    const { rows } = decode(data, parsed, { ...ctx, formatPrefix: 'kpl+', subSequenceNumber: 4 });

    expect(rows.map((r) => [r.source_format, r.sub_sequence_number])).toEqual(
      Array.from({ length: 4 }, () => ['kpl+cloudwatch-logs', 4]),
    );
  });

  it('prefers the service the message names over the one of the log group', () => {
    const { rows } = decodeEnvelope(lambdaEnvelope([JSON.stringify({ msg: 'hi', service: 'billing' })]));

    expect(rows[0]?.service_name).toBe('billing');
    expect(JSON.parse(rows[0]?.resource_attributes ?? '{}')['service.name']).toBe('billing');
  });

  it('takes the event timestamp for a JSON message without a time of its own', () => {
    const { rows } = decodeEnvelope(lambdaEnvelope(['{"msg":"no time here","level":"warn"}']));

    expect(rows[0]).toMatchObject({ time: T, time_unix_nano: ns(T), arrival_time: ctx.arrivalMs, severity_number: 13 });
  });

  it.each([
    [
      'Python',
      `[ERROR]\t2026-11-25T21:29:00.321Z\t${'8f5c2b1e-4b0a-4c6e-9b7e-2f1d3c4b5a69'}\tpayment failed\n`,
      { time: T + 321, request_id: REQUEST_ID, severity_number: 17, severity_text: 'ERROR', body: 'payment failed' },
    ],
    [
      'Node.js without a level',
      `2026-11-25T21:29:00.321Z\t8f5c2b1e-4b0a-4c6e-9b7e-2f1d3c4b5a69\tplain console output\n`,
      { time: T + 321, request_id: REQUEST_ID, severity_number: 0, severity_text: null, body: 'plain console output' },
    ],
    [
      'Node.js with tabs in the message',
      `2026-11-25T21:29:00.321Z\t8f5c2b1e-4b0a-4c6e-9b7e-2f1d3c4b5a69\tERROR\tInvoke Error \t{"errorType":"Error"}\n`,
      { request_id: REQUEST_ID, severity_number: 17, body: 'Invoke Error \t{"errorType":"Error"}' },
    ],
    [
      'timeout',
      '2026-11-25T21:29:03.001Z 8f5c2b1e-4b0a-4c6e-9b7e-2f1d3c4b5a69 Task timed out after 3.00 seconds\n\n',
      { time: T + 3001, request_id: REQUEST_ID, severity_number: 17, body: 'Task timed out after 3.00 seconds' },
    ],
    [
      'REPORT of a timed-out invocation',
      'REPORT RequestId: 8f5c2b1e-4b0a-4c6e-9b7e-2f1d3c4b5a69\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 128 MB\tMax Memory Used: 60 MB\tStatus: timeout\n',
      { time: T, request_id: REQUEST_ID, severity_number: 17, severity_text: null },
    ],
    [
      'text that only looks like the runtime format',
      'not-a-time\t8f5c2b1e-4b0a-4c6e-9b7e-2f1d3c4b5a69\tINFO\thello',
      {
        time: T,
        request_id: null,
        severity_number: 0,
        body: 'not-a-time\t8f5c2b1e-4b0a-4c6e-9b7e-2f1d3c4b5a69\tINFO\thello',
      },
    ],
    ['a JSON array', '[1,2,3]', { time: T, request_id: null, severity_number: 0, body: '[1,2,3]' }],
    [
      'broken JSON',
      '{"level":"INFO", "msg": "cut off',
      { time: T, request_id: null, severity_number: 0, body: '{"level":"INFO", "msg": "cut off' },
    ],
  ])('reads a %s line', (_, message, expected) => {
    const { rows, failures } = decodeEnvelope(lambdaEnvelope([message]));

    expect(failures).toEqual([]);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject(expected);
  });

  it('reports the figures of a REPORT line with a timeout status as attributes', () => {
    const { rows } = decodeEnvelope(
      lambdaEnvelope([
        'REPORT RequestId: 8f5c2b1e-4b0a-4c6e-9b7e-2f1d3c4b5a69\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 128 MB\tMax Memory Used: 60 MB\tStatus: timeout\n',
      ]),
    );

    expect(JSON.parse(rows[0]?.attributes ?? '{}')).toEqual({
      'aws.lambda.duration_ms': 3000,
      'aws.lambda.billed_duration_ms': 3000,
      'aws.lambda.memory_size_mb': 128,
      'aws.lambda.max_memory_used_mb': 60,
      'aws.lambda.status': 'timeout',
      'cloudwatch.log_event_id': eventId(0),
    });
  });

  it('redacts secrets in text messages and flags the row', () => {
    const redactor: Redactor = {
      isSecretKey: (key) => key === 'password',
      redactText: (text) => text.replaceAll('hunter2', '[REDACTED]'),
    };

    const { rows } = decodeEnvelope(
      lambdaEnvelope([
        '2026-11-25T21:29:00.000Z\t8f5c2b1e-4b0a-4c6e-9b7e-2f1d3c4b5a69\tINFO\tlogin with hunter2\n',
        '2026-11-25T21:29:00.000Z\t8f5c2b1e-4b0a-4c6e-9b7e-2f1d3c4b5a69\tINFO\tnothing secret\n',
        '{"msg":"json login","password":"hunter2"}',
      ]),
      ctx,
      { ...options, redactor },
    );

    expect(rows.slice(0, 2).map((r) => [r.body, r.ingest_flags])).toEqual([
      ['login with [REDACTED]', 'redacted'],
      ['nothing secret', null],
    ]);
    // JSON messages are redacted (and flagged) by toLogRow, as JSON lines are.
    expect(rows[2]?.body).toBe('json login');
    expect(JSON.parse(rows[2]?.attributes ?? '{}').password).toBe('[REDACTED]');
  });

  it.each([
    ['without a log group', (e: Record<string, unknown>) => ({ ...e, logGroup: undefined })],
    ['whose logEvents is not an array', (e: Record<string, unknown>) => ({ ...e, logEvents: {} })],
    ['with an unknown message type', (e: Record<string, unknown>) => ({ ...e, messageType: 'DATA' })],
    [
      'with an event timestamp that is not an integer',
      (e: Record<string, unknown>) => ({ ...e, logEvents: [{ id: '1', timestamp: 1.5, message: 'x' }] }),
    ],
    [
      'with an event without a message',
      (e: Record<string, unknown>) => ({ ...e, logEvents: [{ id: '1', timestamp: T }] }),
    ],
    ['with no log events', (e: Record<string, unknown>) => ({ ...e, logEvents: [] })],
    ['that is not an object', () => ['DATA_MESSAGE']],
  ])('quarantines an envelope %s whole, writing nothing', (_, damage) => {
    const envelope = damage(lambdaEnvelope(['hello']));
    const data = gzipSync(JSON.stringify(envelope));

    const { rows, failures, controlMessages } = decode(data, envelope);

    expect(rows).toEqual([]);
    expect(controlMessages).toBe(0);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ reason: 'invalid_cloudwatch', decoder: 'cloudwatch-logs', raw: data });
  });

  describe('with random mutations of a valid envelope', () => {
    const lambda = fixture('lambda-data-message.json.gz');
    const json = gunzipSync(lambda.data);

    /** What decode-record.ts does before calling the decoder: gunzip, parse, detect. */
    function detectAndDecode(data: Buffer): void {
      let parsed: unknown;
      try {
        parsed = JSON.parse(gunzipSync(data).toString('utf8'));
      } catch {
        return; // quarantined by the detector as corrupt_compression or handed to the JSON-lines decoder
      }
      if (!isCloudWatchEnvelope(parsed)) return;
      const { rows, failures, controlMessages } = decode(data, parsed);
      expect(rows.length + failures.length + controlMessages).toBeGreaterThan(0);
      if (failures.length > 0) expect(rows).toEqual([]);
    }

    const edit = fc.record({ at: fc.nat(), remove: fc.nat({ max: 8 }), insert: fc.uint8Array({ maxLength: 8 }) });
    const apply = (bytes: Buffer, edits: readonly { at: number; remove: number; insert: Uint8Array }[]) => {
      let out = bytes;
      for (const e of edits) {
        const at = e.at % (out.length + 1);
        out = Buffer.concat([out.subarray(0, at), e.insert, out.subarray(at + e.remove)]);
      }
      return out;
    };

    it('never throws on mutated or truncated gzip bytes', () => {
      fc.assert(
        fc.property(fc.array(edit, { minLength: 1, maxLength: 3 }), (edits) => {
          detectAndDecode(apply(lambda.data, edits));
        }),
        { numRuns: 300 },
      );
    });

    it('never throws on mutated JSON text', () => {
      fc.assert(
        fc.property(fc.array(edit, { minLength: 1, maxLength: 3 }), (edits) => {
          detectAndDecode(gzipSync(apply(json, edits)));
        }),
        { numRuns: 300 },
      );
    });

    it('never throws when any field of the envelope or of an event holds any JSON value', () => {
      const fields = [
        'messageType',
        'owner',
        'logGroup',
        'logStream',
        'subscriptionFilters',
        'logEvents',
        'policyLevel',
      ];
      fc.assert(
        fc.property(
          fc.constantFrom(...fields),
          fc.constantFrom('id', 'timestamp', 'message'),
          fc.nat({ max: 6 }),
          fc.jsonValue(),
          fc.boolean(),
          (field, eventField, eventIndex, value, inEvent) => {
            const envelope: Record<string, unknown> = JSON.parse(json.toString('utf8'));
            if (inEvent) {
              const events: unknown = envelope.logEvents;
              const event: unknown = Array.isArray(events) ? events[eventIndex] : undefined;
              if (event !== null && typeof event === 'object') Object.assign(event, { [eventField]: value });
            } else {
              envelope[field] = value;
            }
            const data = gzipSync(JSON.stringify(envelope));

            const { rows, failures, controlMessages } = decode(data, envelope);

            expect(rows.length + failures.length + controlMessages).toBeGreaterThan(0);
            for (const row of rows) LogRecord.parse(row);
          },
        ),
        { numRuns: 300 },
      );
    });
  });
});

describe('serviceFromLogGroup', () => {
  it.each([
    ['/aws/lambda/orders-api', 'orders-api'],
    ['/ecs/checkout', 'checkout'],
    ['/ecs/checkout/', 'checkout'],
    ['/aws/eks/prod/cluster', 'cluster'],
    ['plain-group', 'plain-group'],
    ['', null],
    ['///', null],
  ])('derives %j → %j', (logGroup, service) => {
    expect(serviceFromLogGroup(logGroup)).toBe(service);
  });
});
