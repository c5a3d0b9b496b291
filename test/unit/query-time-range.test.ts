import { describe, expect, it } from 'vitest';
import { parseTimeArg, parseTimeRange, partitionInRange } from '../../query/time-range.ts';
import { UsageError } from '../../schemas/errors.ts';

const NOW = Date.UTC(2024, 4, 1, 12, 0);
const HOUR = 3_600_000;

describe('parseTimeArg', () => {
  it.each([
    ['now', NOW],
    ['90s', NOW - 90_000],
    ['15m', NOW - 15 * 60_000],
    ['1h', NOW - HOUR],
    ['1.5h', NOW - 1.5 * HOUR],
    ['2d', NOW - 48 * HOUR],
    ['1w', NOW - 168 * HOUR],
    ['1h30m', NOW - 1.5 * HOUR],
    ['0.5ms', NOW - 0.5],
    ['2024-05-01', Date.UTC(2024, 4, 1)],
    ['2024-05-01T07:30', Date.UTC(2024, 4, 1, 7, 30)],
    ['2024-05-01 07:30:15', Date.UTC(2024, 4, 1, 7, 30, 15)],
    ['2024-05-01T07:30:00.250Z', Date.UTC(2024, 4, 1, 7, 30, 0, 250)],
    ['2024-05-01T09:30+02:00', Date.UTC(2024, 4, 1, 7, 30)],
  ])('reads %s', (value, expected) => {
    expect(parseTimeArg('--since', value, NOW)).toBe(expected);
  });

  it.each([['yesterday'], ['-1h'], ['1y'], ['2024-5-1'], ['']])('rejects %j as a usage error', (value) => {
    expect(() => parseTimeArg('--until', value, NOW)).toThrow(UsageError);
    expect(() => parseTimeArg('--until', value, NOW)).toThrow(/^--until .*: expected an ISO 8601 time/);
  });

  it('rejects a range that ends before it starts', () => {
    expect(() => parseTimeRange('1h', '2h', NOW)).toThrow(/--since \(2024-05-01T11:00:00\.000Z\) is after --until/);
  });
});

describe('partitionInRange', () => {
  const range = { since: Date.UTC(2024, 4, 1, 7, 30), until: Date.UTC(2024, 4, 1, 9, 15) };

  it('keeps the hours of the range widened by an hour on each side', () => {
    const hours = Array.from({ length: 24 }, (_, h) => String(h).padStart(2, '0'));
    const kept = hours.filter((hour) => partitionInRange('2024-05-01', hour, range));
    expect(kept).toEqual(['06', '07', '08', '09', '10']);
  });

  it('keeps everything without a range, and open ends', () => {
    expect(partitionInRange('1999-01-01', '00', {})).toBe(true);
    expect(partitionInRange('2030-01-01', '00', { since: range.since })).toBe(true);
    expect(partitionInRange('2024-05-01', '05', { since: range.since })).toBe(false);
    expect(partitionInRange('1999-01-01', '00', { until: range.until })).toBe(true);
  });
});
