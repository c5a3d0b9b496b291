import { describe, expect, it } from 'vitest';
import { createRedactor, REDACTED } from '../../functions/core/redact.ts';
import { decodeRecord } from '../../functions/ingest/decode-record.ts';
import { newSink } from '../../functions/ingest/decoded.ts';
import {
  DEFAULT_HYGIENE_LIMITS,
  decodeUtf8,
  finishLogRow,
  finishSpanRow,
  flagRows,
  type HygieneLimits,
  truncateText,
  withFlag,
} from '../../functions/ingest/hygiene.ts';
import { LogRecord, SpanRecord } from '../../schemas/records.ts';
import { aRecordContext } from '../builders/decode.ts';
import { aLogRecord, aSpanRecord } from '../builders/rows.ts';

const ctx = aRecordContext();
const redactor = createRedactor();
const limits: HygieneLimits = { ...DEFAULT_HYGIENE_LIMITS, maxBodyBytes: 1024, maxAttributesBytes: 1024 };
const HOUR = 3_600_000;
const NS = 1_000_000n;

/** A log row as hygiene receives it from the decoders of the record `ctx`: a second before arrival, sub-ms time. */
function aLogRow(overrides: Partial<LogRecord> = {}): LogRecord {
  const time = overrides.time ?? ctx.arrivalMs - 1000;
  return aLogRecord({
    time,
    time_unix_nano: BigInt(time) * NS + 123n,
    observed_time_unix_nano: ctx.observedNs,
    attributes: '{"http_status":200}',
    shard_id: ctx.shardId,
    sequence_number: ctx.sequenceNumber,
    arrival_time: ctx.arrivalMs,
    ...overrides,
  });
}

/** A 5 ms span row as hygiene receives it from the decoders of the record `ctx`. */
function aSpanRow(overrides: Partial<SpanRecord> = {}): SpanRecord {
  return aSpanRecord({
    start_time: overrides.start_time ?? ctx.arrivalMs - 1000,
    attributes: '{"http.route":"/orders"}',
    shard_id: ctx.shardId,
    sequence_number: ctx.sequenceNumber,
    arrival_time: ctx.arrivalMs,
    ...overrides,
  });
}

const utf8Bytes = (s: string) => Buffer.byteLength(s, 'utf8');

describe('finishLogRow', () => {
  it('returns the very row it was given when nothing needs changing', () => {
    const row = aLogRow();
    expect(finishLogRow(row, ctx, limits, redactor)).toBe(row);
  });

  it.each([
    ['a time 2 hours before arrival', -2 * HOUR, false],
    ['a time 7 days before arrival, just inside', -168 * HOUR + 1, false],
    ['a time just past 7 days before arrival', -168 * HOUR - 1, true],
    ['a time 59 minutes after arrival', 59 * 60_000, false],
    ['a time 61 minutes after arrival', 61 * 60_000, true],
    ['a time years in the future', 10 * 365 * 24 * HOUR, true],
  ])('clamps or keeps %s', (_name, offset, clamped) => {
    // Prepare
    const row = aLogRow({ time: ctx.arrivalMs + offset });

    // Act
    const out = finishLogRow(row, ctx, limits, redactor);

    // Assess
    if (!clamped) {
      expect(out).toBe(row);
      return;
    }
    expect(out).toMatchObject({
      time: ctx.arrivalMs,
      time_unix_nano: BigInt(ctx.arrivalMs) * NS,
      ingest_flags: 'time_clamped',
    });
    expect(JSON.parse(out.attributes)).toEqual({
      http_status: 200,
      'skein.original_time_unix_nano': String(row.time_unix_nano),
    });
    expect(LogRecord.safeParse(out).success).toBe(true);
  });

  it.each([
    ['a numeric time of 0', '0', '0'],
    // Times a row cannot hold are saturated to the INT64 range by the decoder (toEventNanos), then clamped.
    ['numeric milliseconds in the year 3000', '32503680000000', '9223372036854775807'],
    ['numeric milliseconds in the year 2100', '4102444800000', '4102444800000000000'],
    ['an ISO time in 1990', '"1990-01-01T00:00:00Z"', '631152000000000000'],
    ["an ISO time at Go's zero time", '"0001-01-01T00:00:00Z"', '0'],
    ['an ISO time in the year 2100', '"2100-01-01T00:00:00Z"', '4102444800000000000'],
    ["an ISO time at Go's largest time", '"9999-12-31T23:59:59.5Z"', '9223372036854775807'],
  ])('clamps %s written in a JSON line to the arrival time and flags it time_clamped', (_name, time, original) => {
    // Prepare
    const sink = newSink();
    const line = Buffer.from(`{"time":${time},"level":"info","msg":"started"}`);

    // Act
    expect(decodeRecord(line, ctx, sink, { maxRecordBytes: 1024, redactor })).toEqual([]);
    const out = finishLogRow(sink.logs[0] ?? aLogRow(), ctx, limits, redactor);

    // Assess
    expect(out).toMatchObject({
      time: ctx.arrivalMs,
      time_unix_nano: BigInt(ctx.arrivalMs) * NS,
      ingest_flags: 'time_clamped',
      body: 'started',
    });
    expect(JSON.parse(out.attributes)).toEqual({ 'skein.original_time_unix_nano': original });
    expect(LogRecord.safeParse(out).success).toBe(true);
  });

  it('clamps a time before 2000 even when the skew limits would allow it', () => {
    const row = aLogRow({ time: 0, time_unix_nano: 0n, attributes: '{}' });
    const wide = { ...limits, maxClockSkewPastMs: Number.MAX_SAFE_INTEGER };
    const out = finishLogRow(row, ctx, wide, redactor);
    expect(out).toMatchObject({ time: ctx.arrivalMs, ingest_flags: 'time_clamped' });
    expect(out.attributes).toBe('{"skein.original_time_unix_nano":"0"}');
  });

  it.each([
    ['ASCII', 'x'],
    ['two-byte characters', 'é'],
    ['three-byte characters', '€'],
    ['surrogate pairs', '😀'],
  ])('cuts a long body of %s at a character boundary within the limit, with a marker', (_name, char) => {
    // Prepare
    const body = char.repeat(3000);
    const row = aLogRow({ body });

    // Act
    const out = finishLogRow(row, ctx, limits, redactor);

    // Assess
    const cut = out.body ?? '';
    expect(utf8Bytes(cut)).toBeLessThanOrEqual(limits.maxBodyBytes);
    const match = /^(.*)…\[truncated (\d+) bytes\]$/su.exec(cut);
    expect(match).not.toBeNull();
    const kept = match?.[1] ?? '';
    expect(body.startsWith(kept)).toBe(true);
    expect(kept.length % char.length).toBe(0); // no half surrogate pair
    expect(Number(match?.[2])).toBe(utf8Bytes(body) - utf8Bytes(kept));
    expect(out.ingest_flags).toBe('truncated');
  });

  it('leaves a body exactly at the limit alone', () => {
    const row = aLogRow({ body: `${'€'.repeat(341)}x` }); // 1024 bytes
    expect(finishLogRow(row, ctx, limits, redactor)).toBe(row);
  });

  it('replaces attributes over the limit with a valid JSON marker object', () => {
    // Prepare
    const attributes = JSON.stringify({ payload: 'a"b\\c'.repeat(400), n: 1 });
    const row = aLogRow({ attributes });

    // Act
    const out = finishLogRow(row, ctx, limits, redactor);

    // Assess
    expect(utf8Bytes(out.attributes)).toBeLessThanOrEqual(limits.maxAttributesBytes);
    const parsed = JSON.parse(out.attributes);
    expect(parsed['skein.original_bytes']).toBe(utf8Bytes(attributes));
    expect(parsed['skein.truncated'].endsWith('…')).toBe(true);
    expect(attributes.startsWith(parsed['skein.truncated'].slice(0, -1))).toBe(true);
    expect(out.ingest_flags).toBe('truncated');
  });

  it('keeps the original time in truncated attributes of a clamped row', () => {
    const row = aLogRow({ time: 1, time_unix_nano: 1_000_000n, attributes: JSON.stringify({ big: 'x'.repeat(5000) }) });
    const out = finishLogRow(row, ctx, limits, redactor);
    expect(JSON.parse(out.attributes)['skein.original_time_unix_nano']).toBe('1000000');
    expect(out.ingest_flags).toBe('truncated,time_clamped');
  });

  it.each([
    ['the body', { body: 'login password=hunter2' }, { body: `login password=${REDACTED}` }],
    [
      'nested attributes',
      { attributes: '{"req":{"headers":{"authorization":"Bearer abc.def.ghi"}}}' },
      { attributes: `{"req":{"headers":{"authorization":"${REDACTED}"}}}` },
    ],
  ])('redacts secret values in %s and flags the row', (_name, overrides, expected) => {
    const out = finishLogRow(aLogRow(overrides), ctx, limits, redactor);
    expect(out).toMatchObject({ ...expected, ingest_flags: 'redacted' });
  });

  it('does not flag attributes whose secrets the decoder already redacted by name', () => {
    const row = aLogRow({ attributes: `{"password":"${REDACTED}"}` });
    expect(finishLogRow(row, ctx, limits, redactor)).toBe(row);
  });

  it('falls back to redacting value by value when text redaction would break the JSON', () => {
    const row = aLogRow({ attributes: '{"a":"token=","b":"x","db_password":1}' });
    const out = finishLogRow(row, ctx, limits, redactor);
    expect(JSON.parse(out.attributes)).toEqual({ a: 'token=', b: 'x', db_password: REDACTED });
    expect(out.ingest_flags).toBe('redacted');
  });

  it('redacts before it truncates, so no half secret survives the cut', () => {
    const body = `${'x'.repeat(1000)} AKIAIOSFODNN7EXAMPLE ${'y'.repeat(20)}`;
    const out = finishLogRow(aLogRow({ body }), ctx, limits, redactor);
    expect(out.body).not.toContain('AKIA');
    expect(out.ingest_flags).toBe('truncated,redacted');
  });

  it('merges its flags with the ones the row has, in a stable order', () => {
    const row = aLogRow({ ingest_flags: 'invalid_utf8', body: 'password=x', time: 5 });
    expect(finishLogRow(row, ctx, limits, redactor).ingest_flags).toBe('invalid_utf8,time_clamped,redacted');
  });
});

describe('finishSpanRow', () => {
  it('returns the very row it was given when nothing needs changing', () => {
    const row = aSpanRow();
    expect(finishSpanRow(row, ctx, limits, redactor)).toBe(row);
  });

  it('moves an absurd start to the arrival time and keeps the duration', () => {
    const row = aSpanRow({ start_time: ctx.arrivalMs + 48 * HOUR });
    const out = finishSpanRow(row, ctx, limits, redactor);
    expect(out).toMatchObject({
      start_time: ctx.arrivalMs,
      start_time_unix_nano: BigInt(ctx.arrivalMs) * NS,
      end_time_unix_nano: BigInt(ctx.arrivalMs) * NS + 5_000_000n,
      duration_nano: 5_000_000n,
      ingest_flags: 'time_clamped',
    });
    expect(JSON.parse(out.attributes)['skein.original_time_unix_nano']).toBe(String(row.start_time_unix_nano));
    expect(SpanRecord.safeParse(out).success).toBe(true);
  });

  it('replaces events over the limit with one marker event, still a JSON array', () => {
    const events = JSON.stringify(
      Array.from({ length: 50 }, (_, i) => ({ time_unix_nano: String(i), name: 'retry', attributes: { i } })),
    );
    const out = finishSpanRow(aSpanRow({ events }), ctx, limits, redactor);
    expect(utf8Bytes(out.events)).toBeLessThanOrEqual(limits.maxAttributesBytes);
    const parsed = JSON.parse(out.events);
    expect(parsed).toHaveLength(1);
    expect(parsed[0]).toMatchObject({ name: 'skein.truncated', attributes: { 'skein.original_bytes': events.length } });
    expect(out.ingest_flags).toBe('truncated');
  });

  it('redacts the status message and event attributes', () => {
    const out = finishSpanRow(
      aSpanRow({
        status_message: 'upstream said: invalid api_key=abc123',
        events: '[{"name":"exception","attributes":{"exception.message":"token=xyz rejected"}}]',
      }),
      ctx,
      limits,
      redactor,
    );
    expect(out.status_message).toBe(`upstream said: invalid api_key=${REDACTED}`);
    expect(out.events).toContain(`token=${REDACTED} rejected`);
    expect(out.ingest_flags).toBe('redacted');
  });

  it('never cuts a status message, however long (only a log body has a size limit)', () => {
    const row = aSpanRow({ status_message: 'x'.repeat(limits.maxBodyBytes * 4) });
    expect(finishSpanRow(row, ctx, limits, redactor)).toBe(row);
  });
});

describe('decodeUtf8', () => {
  it.each([
    ['ASCII', Buffer.from('{"msg":"ok"}'), '{"msg":"ok"}', false],
    ['multi-byte text', Buffer.from('{"msg":"café 😀"}'), '{"msg":"café 😀"}', false],
    ['a U+FFFD the producer wrote', Buffer.from('bad \uFFFD char'), 'bad \uFFFD char', false],
    ['a stray continuation byte', Buffer.from([0x61, 0x80, 0x62]), 'a\uFFFDb', true],
    ['a truncated sequence at the end', Buffer.from([0x61, 0xe2, 0x82]), 'a\uFFFD', true],
    ['an overlong encoding', Buffer.from([0xc0, 0xaf]), '\uFFFD\uFFFD', true],
  ])('decodes %s', (_name, bytes, text, invalid) => {
    expect(decodeUtf8(new Uint8Array(bytes))).toEqual({ text, invalid });
  });

  it('reads a view into a larger buffer from its own offset', () => {
    const whole = Buffer.from('xx{"a":1}yy');
    expect(decodeUtf8(whole.subarray(2, 9)).text).toBe('{"a":1}');
  });
});

describe('flags', () => {
  it.each([
    [null, 'redacted', 'redacted'],
    ['redacted', 'truncated', 'truncated,redacted'],
    ['truncated,redacted', 'invalid_utf8', 'truncated,invalid_utf8,redacted'],
    ['time_clamped', 'time_clamped', 'time_clamped'],
  ] as const)('adds to %s the flag %s', (existing, flag, expected) => {
    expect(withFlag(existing, flag)).toBe(expected);
  });

  it('flags every row from an index on, in place', () => {
    const rows = [aLogRow(), aLogRow(), aLogRow({ ingest_flags: 'redacted' })];
    flagRows(rows, 1, 'invalid_utf8');
    expect(rows.map((r) => r.ingest_flags)).toEqual([null, 'invalid_utf8', 'invalid_utf8,redacted']);
  });

  it('truncateText returns undefined for a text that fits', () => {
    expect(truncateText('short', 100)).toBeUndefined();
  });
});
