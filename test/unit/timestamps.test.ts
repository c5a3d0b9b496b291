import { describe, expect, it } from 'vitest';
import { toUnixNanos } from '../../functions/ingest/timestamps.ts';

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
  ])('reads %s', (_name, value, expected) => {
    expect(toUnixNanos(value)).toBe(expected);
  });

  it.each([['not a time'], [null], [-5], [Number.NaN], [{}]])('returns undefined for %j', (value) => {
    expect(toUnixNanos(value)).toBeUndefined();
  });
});
