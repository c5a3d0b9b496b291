import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { createRedactor } from '../../functions/core/redact.ts';
import { decodeRecord } from '../../functions/ingest/decode-record.ts';
import { type InputFormat, newSink } from '../../functions/ingest/decoded.ts';
import { aRecordContext } from '../builders/decode.ts';
import { otlpJsonToProto } from '../builders/payloads.ts';
import { aLogLine, anOtlpTraceRequest, aSpanId, aTraceId } from '../builders/telemetry.ts';

const fixture = (path: string) => readFileSync(new URL(`../fixtures/${path}`, import.meta.url));

function decode(data: Uint8Array, format?: InputFormat) {
  const sink = newSink();
  const failures = decodeRecord(data, aRecordContext(), sink, {
    maxRecordBytes: 1024 * 1024,
    redactor: createRedactor(),
    ...(format ? { format } : {}),
  });
  const formats = new Set([...sink.logs, ...sink.spans].map((r) => r.source_format));
  return { sink, failures, formats: [...formats].sort() };
}

describe('decodeRecord detects every producer format per record', () => {
  it.each([
    ['OTLP protobuf traces', 'otlp/traces.pb', ['otlp-proto']],
    ['OTLP protobuf traces, gzip', 'otlp/traces.pb.gz', ['otlp-proto']],
    ['OTLP protobuf traces, zlib', 'otlp/traces.pb.zz', ['otlp-proto']],
    ['OTLP protobuf logs', 'otlp/logs.pb', ['otlp-proto']],
    ['OTLP/JSON traces', 'otlp/traces.json', ['otlp-json']],
    ['OTLP/JSON logs', 'otlp/logs.json', ['otlp-json']],
    ['a KPL aggregate of JSON lines', 'kpl/json-lines.bin', ['kpl+json-lines']],
    ['a KPL aggregate of OTLP/JSON and a log line', 'kpl/otlp-traces.bin', ['kpl+json-lines', 'kpl+otlp-json']],
    [
      'a CloudWatch Logs subscription payload from Lambda',
      'cloudwatch/lambda-data-message.json.gz',
      ['cloudwatch-logs'],
    ],
  ])('%s', (_name, path, formats) => {
    const { failures, formats: seen } = decode(fixture(path));
    expect(failures).toEqual([]);
    expect(seen).toEqual(formats);
  });

  // A protobuf request starts with tag 0x0a (a newline) then the first ResourceSpans' length: when that length is the
  // code of a space, tab, CR, LF, `[` or `{`, the bytes look like text after their leading whitespace.
  it.each([0x09, 0x0a, 0x0d, 0x20, 0x5b, 0x7b])(
    'reads OTLP protobuf whose first ResourceSpans is %i bytes long as protobuf, not text',
    (length) => {
      const proto = otlpProtoWithFirstLength(length);
      expect(proto[0]).toBe(0x0a);
      expect(proto[1]).toBe(length);
      expect(proto[2 + length]).toBe(0x0a);

      const { sink, failures, formats } = decode(proto);

      expect(failures).toEqual([]);
      expect(formats).toEqual(['otlp-proto']);
      expect(sink.spans).toHaveLength(1);
    },
  );

  it('counts a CloudWatch control message and quarantines nothing', () => {
    const { sink, failures } = decode(fixture('cloudwatch/control-message.json.gz'));
    expect(failures).toEqual([]);
    expect(sink.controlMessages).toBe(1);
    expect(sink.logs).toEqual([]);
  });

  it('reads gzip-compressed JSON lines', () => {
    const { sink } = decode(gzipSync(aLogLine({ traceId: aTraceId(1) })));
    expect(sink.logs.map((r) => r.trace_id)).toEqual([aTraceId(1)]);
  });

  it('flags rows of a record with invalid UTF-8 and keeps them', () => {
    const line = Buffer.concat([Buffer.from('{"msg":"caf'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
    const { sink, failures } = decode(line);
    expect(failures).toEqual([]);
    expect(sink.logs[0]?.ingest_flags).toContain('invalid_utf8');
  });

  it('honours a pinned format: JSON lines read an OTLP request as one log line', () => {
    const otlp = Buffer.from(anOtlpTraceRequest('orders', [{ traceId: aTraceId(1), spanId: aSpanId(1) }]));
    expect(decode(otlp).formats).toEqual(['otlp-json']);
    expect(decode(otlp, 'json-lines').formats).toEqual(['json-lines']);
  });

  it('quarantines text under a pinned OTLP format when it is not one JSON document', () => {
    const { failures } = decode(Buffer.from(`${aLogLine()}\n${aLogLine()}`), 'otlp-json');
    expect(failures.map((f) => f.reason)).toEqual(['invalid_json']);
  });

  it('quarantines bytes of no known format', () => {
    const { failures } = decode(Buffer.from([0x00, 0x01, 0x02, 0x03]));
    expect(failures.map((f) => f.reason)).toEqual(['unknown_format']);
  });
});

/**
 * An OTLP protobuf traces request of one span whose first ResourceSpans encodes to exactly `length` bytes (< 128): a
 * ResourceSpans of only a schema URL (tag and length byte, then the URL), then the one with the span.
 */
function otlpProtoWithFirstLength(length: number): Uint8Array {
  const json = anOtlpTraceRequest('s', [{ traceId: aTraceId(1), spanId: aSpanId(1) }]);
  const request = JSON.parse(json) as { resourceSpans: unknown[] };
  request.resourceSpans.unshift({ schemaUrl: 'x'.repeat(length - 2) });
  return otlpJsonToProto(JSON.stringify(request));
}
