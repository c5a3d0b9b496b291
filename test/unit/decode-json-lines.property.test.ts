import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRedactor } from '../../functions/core/redact.ts';
import { decodeJsonLines, toLogRow } from '../../functions/ingest/decode-json-lines.ts';
import { newSink } from '../../functions/ingest/decoded.ts';
import { decodeUtf8 } from '../../functions/ingest/hygiene.ts';
import { LogRecord } from '../../schemas/records.ts';
import { aRecordContext } from '../builders/decode.ts';

const ctx = aRecordContext();
const redactor = createRedactor();
const options = { maxRecordBytes: 1024 * 1024, redactor };

/** What a line must normalise to, whatever dialect and spelling it was written in. */
interface Expected {
  readonly traceId: string | null;
  readonly spanId: string | null;
  readonly requestId: string | null;
  readonly severity: number;
  readonly body: string;
  readonly timeNs: bigint;
  readonly service: string | null;
}

const hex = (chars: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${chars}}$`)).filter((s) => /[1-9a-f]/.test(s));
const uuid = (h: string) => `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;

/** A trace id and one of the spellings producers use for it. */
const traceSpelling = hex(32).chain((id) =>
  fc.constantFrom(id, id.toUpperCase(), uuid(id), `00-${id}-00f067aa0ba902b7-01`).map((written) => ({ id, written })),
);
/** A request id: a UUID (normalised to 32 hex) or an opaque printable id (kept verbatim). */
const requestSpelling = fc.oneof(
  hex(32).map((id) => ({ id, written: uuid(id).toUpperCase() })),
  fc.stringMatching(/^req-[A-Za-z0-9]{1,20}$/).map((id) => ({ id, written: id })),
);

/** A time in ms between 2001 and 2100 and one of the encodings producers use. */
const timeSpelling = fc
  .integer({ min: Date.UTC(2001, 0, 1), max: Date.UTC(2100, 0, 1) })
  .chain((ms) =>
    fc
      .constantFrom<unknown>(
        ms / 1000,
        ms,
        ms * 1000,
        `${BigInt(ms) * 1_000_000n}`,
        new Date(ms).toISOString(),
        new Date(ms).toISOString().replace('Z', '+00:00'),
      )
      .map((written) => ({ ns: BigInt(ms) * 1_000_000n, written })),
  );

const NAMED_LEVELS = [
  ['TRACE', 1],
  ['debug', 5],
  ['INFO', 9],
  ['Warn', 13],
  ['warning', 13],
  ['ERROR', 17],
  ['fatal', 21],
] as const;
const PINO_LEVELS = [
  [10, 1],
  [20, 5],
  [30, 9],
  [40, 13],
  [50, 17],
  [60, 21],
] as const;
const LOGBACK_LEVELS = [
  ['TRACE', 5000, 1],
  ['DEBUG', 10000, 5],
  ['INFO', 20000, 9],
  ['WARN', 30000, 13],
  ['ERROR', 40000, 17],
] as const;

const service = fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/);
/** Extra fields with names no dialect knows: they must come out as attributes, unchanged. */
const extras = fc.dictionary(fc.stringMatching(/^extra_[a-z]{1,8}$/), fc.jsonValue(), { maxKeys: 3 });

const parts = fc.record({
  trace: traceSpelling,
  span: hex(16),
  request: requestSpelling,
  time: timeSpelling,
  body: fc.string(),
  service,
  named: fc.constantFrom(...NAMED_LEVELS),
  pino: fc.constantFrom(...PINO_LEVELS),
  logback: fc.constantFrom(...LOGBACK_LEVELS),
  extras,
});
type Parts = typeof parts extends fc.Arbitrary<infer T> ? T : never;

/** One line in each dialect, and what it must become. */
const DIALECTS: Record<string, (p: Parts) => [Record<string, unknown>, Expected]> = {
  plain: (p) => [
    {
      ts: p.time.written,
      level: p.named[0],
      msg: p.body,
      trace_id: p.trace.written,
      span_id: p.span,
      request_id: p.request.written,
      service: p.service,
    },
    expected(p, { severity: p.named[1] }),
  ],
  pino: (p) => [
    {
      level: p.pino[0],
      time: p.time.written,
      pid: 1,
      hostname: 'h',
      name: p.service,
      msg: p.body,
      traceId: p.trace.written,
      spanId: p.span,
      req: { id: p.request.written, method: 'GET' },
    },
    expected(p, { severity: p.pino[1] }),
  ],
  bunyan: (p) => [
    {
      name: p.service,
      hostname: 'h',
      pid: 1,
      level: p.pino[0],
      msg: p.body,
      time: p.time.written,
      v: 0,
      trace_id: p.trace.written,
      span_id: p.span,
      req_id: p.request.written,
    },
    expected(p, { severity: p.pino[1] }),
  ],
  logback: (p) => [
    {
      '@timestamp': p.time.written,
      '@version': '1',
      message: p.body,
      logger_name: 'com.example.App',
      thread_name: 'main',
      level: p.logback[0],
      level_value: p.logback[1],
      traceId: p.trace.written,
      spanId: p.span,
      requestId: p.request.written,
    },
    expected(p, { severity: p.logback[2], service: null }),
  ],
  powertools: (p) => [
    {
      level: p.named[0],
      message: p.body,
      timestamp: p.time.written,
      service: p.service,
      cold_start: false,
      xray_trace_id: `1-${p.trace.id.slice(0, 8)}-${p.trace.id.slice(8)}`,
      function_request_id: p.request.written,
    },
    expected(p, { severity: p.named[1], spanId: null }),
  ],
  tracing: (p) => [
    {
      timestamp: p.time.written,
      level: p.named[0],
      fields: { message: p.body },
      target: 'app::module',
      span: { name: 'request', trace_id: p.trace.written, request_id: p.request.written },
      spans: [{ name: 'request', trace_id: p.trace.written, request_id: p.request.written }],
    },
    expected(p, { severity: p.named[1], spanId: null, service: null }),
  ],
  datadog: (p) => {
    const low = p.trace.id.slice(16);
    const traceId = /[1-9a-f]/.test(low) ? `0000000000000000${low}` : null;
    return [
      {
        '@timestamp': p.time.written,
        level: p.named[0],
        message: p.body,
        'dd.trace_id': BigInt(`0x${low}`).toString(),
        'dd.span_id': BigInt(`0x${p.span}`).toString(),
        'dd.service': p.service,
        request_id: p.request.written,
      },
      expected(p, { severity: p.named[1], traceId }),
    ];
  },
};

function expected(p: Parts, overrides: Partial<Expected>): Expected {
  return {
    traceId: p.trace.id,
    spanId: p.span,
    requestId: p.request.id,
    severity: 0,
    body: p.body,
    timeNs: p.time.ns,
    service: p.service,
    ...overrides,
  };
}

describe('toLogRow properties', () => {
  it('normalises a line of any dialect, ids, level and time encoding to the same values', () => {
    fc.assert(
      fc.property(parts, fc.constantFrom(...Object.keys(DIALECTS)), (p, dialect) => {
        // Prepare
        const build = DIALECTS[dialect];
        if (build === undefined) throw new Error(dialect);
        const [line, want] = build(p);
        const fields = JSON.parse(JSON.stringify({ ...line, ...p.extras }));

        // Act
        const row = LogRecord.parse(toLogRow(fields, 0, ctx, redactor));

        // Assess
        expect({
          traceId: row.trace_id,
          spanId: row.span_id,
          requestId: row.request_id,
          severity: row.severity_number,
          body: row.body,
          timeNs: row.time_unix_nano,
          service: row.service_name,
        }).toEqual(want);
        expect(row.time).toBe(Number(want.timeNs / 1_000_000n));
        const attributes = JSON.parse(row.attributes);
        for (const [key, value] of Object.entries(p.extras)) {
          expect(JSON.stringify(attributes[key])).toBe(JSON.stringify(value));
        }
      }),
      { numRuns: 500 },
    );
  });

  it('turns any JSON object into a row the schema accepts', () => {
    const knownKeys = fc.constantFrom(
      'time',
      'ts',
      'timestamp',
      '@timestamp',
      'level',
      'level_value',
      'msg',
      'message',
      'fields',
      'span',
      'spans',
      'req',
      'dd',
      'name',
      'trace_id',
      'traceparent',
      'dd.trace_id',
      'dd.span_id',
      'request_id',
      'reqId',
      'http.request.header.x-request-id',
      'service',
      'hostname',
      'v',
      '__proto__',
      'password',
    );
    fc.assert(
      fc.property(fc.dictionary(fc.oneof(knownKeys, fc.string()), fc.jsonValue({ maxDepth: 3 })), (object) => {
        const fields = JSON.parse(JSON.stringify(object));
        const row = toLogRow(fields, 3, ctx, redactor);
        expect(LogRecord.safeParse(row).error).toBeUndefined();
        expect(() => JSON.parse(row.attributes)).not.toThrow();
      }),
      { numRuns: 1000 },
    );
  });
});

describe('decodeJsonLines properties', () => {
  /** Every non-blank line becomes exactly one row or one failure; a record of blank lines is one failure. */
  function assertAccounted(text: string) {
    const sink = newSink();
    const data = Buffer.from(text);
    const failures = decodeJsonLines(data, text, ctx, sink, options);
    const lines = text.split('\n').filter((l) => l.trim().length > 0).length;
    if (lines === 0) expect(failures.map((f) => f.reason)).toEqual(['empty_record']);
    else expect(sink.logs.length + failures.length).toBe(lines);
    for (const row of sink.logs) expect(LogRecord.safeParse(row).error).toBeUndefined();
    for (const failure of failures)
      expect(['invalid_json', 'not_a_json_object', 'empty_record']).toContain(failure.reason);
  }

  it('never throws on random text, and accounts for every line', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 400 }), assertAccounted), { numRuns: 500 });
  });

  it('never throws on random bytes decoded as UTF-8', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => assertAccounted(decodeUtf8(bytes).text)),
      { numRuns: 500 },
    );
  });

  it('accounts for every line of a mix of objects, other JSON and garbage', () => {
    const line = fc.oneof(
      fc.object().map((o) => JSON.stringify(o)),
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.string({ maxLength: 40 }).filter((s) => !s.includes('\n')),
    );
    fc.assert(
      fc.property(fc.array(line, { maxLength: 8 }), (lines) => assertAccounted(lines.join('\n'))),
      { numRuns: 300 },
    );
  });
});
