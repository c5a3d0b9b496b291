import { describe, expect, it } from 'vitest';
import { toEventNanos, toUnixNanos } from '../../functions/ingest/timestamps.ts';

const NS = 1_764_106_140_123_456_789n; // 2025-11-25T21:29:00.123456789Z

describe('toUnixNanos', () => {
  it.each([
    ['seconds with fraction', 1_764_106_140.123456, 1_764_106_140_123_456_000n],
    ['milliseconds', 1_764_106_140_123, 1_764_106_140_123_000_000n],
    ['microseconds', 1_764_106_140_123_456, 1_764_106_140_123_456_000n],
    ['nanoseconds as a string', '1764106140123456789', NS],
    ['ISO with nanoseconds', '2025-11-25T21:29:00.123456789Z', NS],
    ['ISO with milliseconds', '2025-11-25T21:29:00.123Z', 1_764_106_140_123_000_000n],
    ['ISO with an offset', '2025-11-25T22:29:00.5+01:00', 1_764_106_140_500_000_000n],
    ['seconds as a string', '1764106140', 1_764_106_140_000_000_000n],
    ['Python logging (Powertools for Python)', '2025-11-25 22:29:00,123+0100', 1_764_106_140_123_000_000n],
    ['a negative offset without colon', '2025-11-25T16:29:00.123-0500', 1_764_106_140_123_000_000n],
    ['an hour-only offset', '2025-11-25T23:29:00.123+02', 1_764_106_140_123_000_000n],
    ['no offset, read as UTC', '2025-11-25T21:29:00.123456789', NS],
    ['microseconds (tracing-subscriber)', '2025-11-25T21:29:00.123456Z', 1_764_106_140_123_456_000n],
    ['more than nine fraction digits', '2025-11-25T21:29:00.1234567891Z', NS],
    ['no seconds', '2025-11-25T21:29Z', 1_764_106_140_000_000_000n],
    ['a leap second', '2016-12-31T23:59:60Z', 1_483_228_800_000_000_000n],
    ['RFC 2822', 'Tue, 25 Nov 2025 21:29:00 GMT', 1_764_106_140_000_000_000n],
    ['a bigint of nanoseconds', NS, NS],
  ])('reads %s', (_name, value, expected) => {
    expect(toUnixNanos(value)).toBe(expected);
  });

  it.each([
    ['not a time'],
    [null],
    [-5],
    [Number.NaN],
    [{}],
    ['2025-02-30T00:00:00Z'],
    ['2025-13-01T00:00:00Z'],
    ['2025-01-01T24:00:00Z'],
    ['1969-12-31T23:59:59Z'],
    ['0099-01-01T00:00:00Z'],
    ['12ms'],
    ['2263-01-01T00:00:00Z'], // past what INT64 nanoseconds hold
    [1e300],
  ])('returns undefined for %j', (value) => {
    expect(toUnixNanos(value)).toBeUndefined();
  });
});

describe('toEventNanos', () => {
  const MAX = 0x7fff_ffff_ffff_ffffn;
  it.each([
    ["Go's zero time", '0001-01-01T00:00:00Z', 0n],
    ['a year below 100', '0099-01-01T00:00:00Z', 0n],
    ['the second before 1970', '1969-12-31T23:59:59Z', 0n],
    ['a year past what INT64 nanoseconds hold', '2263-01-01T00:00:00Z', MAX],
    ["Go's largest time", '9999-12-31T23:59:59Z', MAX],
    ['a huge number', 1e20, MAX],
  ])('saturates %s to the INT64 range, for hygiene to clamp', (_name, value, expected) => {
    expect(toUnixNanos(value)).toBeUndefined();
    expect(toEventNanos(value)).toBe(expected);
  });

  it.each([['not a time'], [null], [-5], [Number.NaN], ['2025-02-30T00:00:00Z'], ['12ms']])(
    'returns undefined for %j, which is no time at all',
    (value) => {
      expect(toEventNanos(value)).toBeUndefined();
    },
  );

  it('agrees with toUnixNanos on every time a row can hold', () => {
    for (const value of ['2025-11-25T21:29:00.123456789Z', 1_764_106_140_123, '1764106140123456789', 0]) {
      expect(toEventNanos(value)).toBe(toUnixNanos(value));
    }
  });
});
