import type { Secret } from '../support/secrets.ts';
import { aCloudWatchEnvelope, aKplAggregate, compress, otlpJsonToProto } from './payloads.ts';
import { aSpanId, aTraceId } from './telemetry.ts';

/** A named secret: the field name that makes it one, and its value. */
export type NamedSecret = Secret & { readonly key: string };

export interface SecretfulBatchOptions {
  /** Six secrets recognisable by their value. */
  readonly value: readonly Secret[];
  /** Three secrets recognisable only by their field's name. */
  readonly named: readonly NamedSecret[];
  /** Event time of the records (epoch ms). */
  readonly timeMs: number;
  /** Picks where damaged records are cut. */
  readonly cutSeed: number;
}

export interface SecretfulBatch {
  readonly records: Uint8Array[];
  /** `source_format`s the good records produce rows of. */
  readonly formats: readonly string[];
  /** Quarantine reasons the bad records produce. */
  readonly reasons: readonly string[];
}

/**
 * A batch of every input format, good and bad records, with secrets planted wherever producers leak them: log
 * messages, attributes (by value and by name, nested), HTTP headers, stack traces, span names, status messages, span
 * events and links, resource attributes, CloudWatch messages (text and JSON). Bad records: truncated and invalid JSON
 * lines, JSON arrays, invalid spans (OTLP JSON and protobuf), truncated protobuf, truncated gzip, damaged zlib, a KPL
 * aggregate with a bad MD5, an invalid CloudWatch envelope, binary in no known format.
 */
export function aSecretfulBatch(o: SecretfulBatchOptions): SecretfulBatch {
  const v = (i: number): string => o.value[i % o.value.length]?.text ?? '';
  const n = (i: number): NamedSecret => {
    const secret = o.named[i % o.named.length];
    if (secret === undefined) throw new Error('named secrets needed');
    return secret;
  };
  const iso = new Date(o.timeMs).toISOString();
  const traceId = aTraceId(17);
  const cut = (bytes: Uint8Array, min = 0.3, max = 0.9): Uint8Array => {
    const share = min + ((o.cutSeed % 1000) / 1000) * (max - min);
    return bytes.subarray(0, Math.max(1, Math.floor(bytes.length * share)));
  };

  const plain = JSON.stringify({
    timestamp: iso,
    level: 'INFO',
    msg: `user logged in with ${v(0)}`,
    trace_id: traceId,
    service: 'orders',
    [n(0).key]: n(0).text,
    user: v(1),
    note: `see ${v(2)}`,
    headers: { authorization: v(3), 'x-forwarded-for': '10.0.0.1' },
    nested: { deep: { [n(1).key]: n(1).text, list: [v(4), { [n(2).key]: n(2).text }] } },
  });
  const pino = JSON.stringify({
    level: 30,
    time: o.timeMs,
    pid: 7,
    hostname: 'ip-10-0-1-17',
    name: 'payments',
    msg: `charge ${v(4)}`,
    req: { id: 'req-1', headers: { cookie: n(2).text, authorization: v(5) } },
  });
  const logback = JSON.stringify({
    '@timestamp': iso,
    '@version': '1',
    message: `failed: ${v(0)}`,
    logger_name: 'com.example.Auth',
    thread_name: 'main',
    level: 'ERROR',
    level_value: 40000,
    stack_trace: `java.lang.IllegalStateException: ${v(1)}\n\tat com.example.Auth.login(Auth.java:42)`,
    [n(0).key]: n(0).text,
  });
  const tracing = JSON.stringify({
    timestamp: iso,
    level: 'INFO',
    fields: { message: `call ${v(2)}`, [n(1).key]: n(1).text },
    target: 'app::client',
    span: { name: 'request', token: v(3) },
    spans: [{ name: 'request', [n(2).key]: n(2).text }],
  });
  const powertools = JSON.stringify({
    level: 'INFO',
    location: 'handler:12',
    message: `${v(4)} accepted`,
    timestamp: iso,
    service: 'checkout',
    xray_trace_id: `1-${traceId.slice(0, 8)}-${traceId.slice(8)}`,
    [n(0).key]: n(0).text,
  });
  const bunyan = JSON.stringify({
    v: 0,
    level: 30,
    name: 'inventory',
    hostname: 'h',
    pid: 1,
    time: iso,
    msg: `bunyan ${v(5)}`,
    [n(2).key]: n(2).text,
  });
  const badLines = [
    cut(Buffer.from(JSON.stringify({ msg: `cut ${v(0)}`, [n(0).key]: n(0).text, user: v(1) })), 0.75, 0.95),
    JSON.stringify([v(2), { [n(1).key]: n(1).text }]),
    `{"msg": "unquoted", "${n(2).key}": ${n(2).text}, "b": ${JSON.stringify(v(3))}}`,
    // logfmt: a multi-line value is written escaped (a raw line break would start another record's line).
    `level=info msg="plain text" ${n(0).key}=${n(0).text} auth=${JSON.stringify(v(4))}`,
  ].map((line) => (typeof line === 'string' ? line : Buffer.from(line).toString('utf8')));

  const attribute = (key: string, value: string) => ({ key, value: { stringValue: value } });
  const start = BigInt(o.timeMs) * 1_000_000n;
  const span = (id: number, validTrace: boolean) => ({
    traceId: validTrace ? traceId : 'abcd',
    spanId: aSpanId(id),
    name: `POST /login/${v(1)}`,
    kind: 2,
    startTimeUnixNano: String(start),
    endTimeUnixNano: String(start + 5_000_000n),
    attributes: [
      attribute('http.request.header.authorization', v(3)),
      attribute(n(1).key, n(1).text),
      { key: n(2).key, value: { arrayValue: { values: [{ stringValue: n(2).text }] } } },
      attribute('db.statement', `select * from keys where id = '${v(4)}'`),
    ],
    status: { code: 2, message: `denied: ${v(5)}` },
    events: [
      { name: 'exception', timeUnixNano: String(start + 1_000n), attributes: [attribute('exception.message', v(0))] },
    ],
    links: [{ traceId: aTraceId(18), spanId: aSpanId(99), attributes: [attribute('ref', v(1))] }],
  });
  const resource = {
    attributes: [attribute('service.name', 'auth'), attribute('env', v(0)), attribute(n(0).key, n(0).text)],
  };
  const traces = (validTrace: boolean) =>
    JSON.stringify({ resourceSpans: [{ resource, scopeSpans: [{ spans: [span(1, validTrace), span(2, true)] }] }] });
  const logs = JSON.stringify({
    resourceLogs: [
      {
        resource,
        scopeLogs: [
          {
            logRecords: [
              {
                timeUnixNano: String(start),
                severityNumber: 9,
                body: { stringValue: `otlp log ${v(2)}` },
                attributes: [attribute(n(1).key, n(1).text), attribute('user', v(3))],
                traceId,
                spanId: aSpanId(1),
              },
            ],
          },
        ],
      },
    ],
  });
  const tracesProto = otlpJsonToProto(traces(true));
  const badTracesProto = otlpJsonToProto(traces(false));
  const lambdaLines = [
    `${iso}\t8f5c2b1e-4b0a-4c6e-9b7e-2f1d3c4b5a69\tINFO\tconnecting with ${v(4)}`,
    JSON.stringify({
      level: 'info',
      msg: `json in cloudwatch ${v(5)}`,
      [n(1).key]: n(1).text,
      auth: { password: n(2).text },
    }),
    `${n(0).key}=${n(0).text} while calling ${v(0)}`,
  ];
  const jsonLinesGz = compress(Buffer.from([plain, pino, logback].join('\n')), 'gzip');
  const zlibDamaged = Buffer.from(compress(Buffer.from([tracing, bunyan, powertools].join('\n').repeat(3)), 'zlib'));
  zlibDamaged[Math.floor(zlibDamaged.length / 2)] = (zlibDamaged[Math.floor(zlibDamaged.length / 2)] ?? 0) ^ 0x5a;
  const binary = Buffer.concat([Buffer.from([0x00, 0x01, 0x02, 0xfe]), Buffer.from(`${v(0)} ${n(0).text}`)]);

  const text = (s: string) => Buffer.from(s, 'utf8');
  const records: Uint8Array[] = [
    // Good records of every format (some with a bad line).
    text([plain, pino, logback, tracing, powertools, bunyan].join('\n')),
    text([plain, ...badLines].join('\n')),
    text(traces(true)),
    text(logs),
    tracesProto,
    compress(tracesProto, 'gzip'),
    compress(otlpJsonToProto(logs), 'zlib'),
    jsonLinesGz,
    aKplAggregate([
      { partitionKey: 'a', data: plain },
      { partitionKey: 'b', data: compress(tracesProto, 'gzip') },
      { partitionKey: 'c', data: badLines[0] ?? '' },
      { partitionKey: 'd', data: binary },
    ]),
    aCloudWatchEnvelope(lambdaLines, o.timeMs),
    // Bad records.
    text(traces(false)),
    badTracesProto,
    compress(badTracesProto, 'gzip'),
    cut(tracesProto),
    cut(compress(otlpJsonToProto(logs), 'gzip')),
    cut(jsonLinesGz),
    zlibDamaged,
    aKplAggregate(
      [
        { partitionKey: 'a', data: logback },
        { partitionKey: 'b', data: compress(tracesProto, 'zlib') },
      ],
      {
        badMd5: true,
      },
    ),
    aCloudWatchEnvelope(lambdaLines, o.timeMs, { logGroup: 42 }),
    cut(aCloudWatchEnvelope(lambdaLines, o.timeMs)),
    binary,
  ];
  return {
    records,
    formats: ['json-lines', 'otlp-json', 'otlp-proto', 'kpl+json-lines', 'kpl+otlp-proto', 'cloudwatch-logs'],
    reasons: [
      'invalid_json',
      'not_a_json_object',
      'invalid_span',
      'corrupt_compression',
      'invalid_kpl',
      'invalid_cloudwatch',
      'unknown_format',
    ],
  };
}
