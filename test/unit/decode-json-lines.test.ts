import { describe, expect, it } from 'vitest';
import { createRedactor } from '../../functions/core/redact.ts';
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
    ['a KPL aggregate', new Uint8Array([0xf3, 0x89, 0x9a, 0xc2, 0x0a]), 'unsupported_format'],
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
