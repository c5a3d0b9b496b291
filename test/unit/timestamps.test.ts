import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isoPatternToNanos, toEventNanos, toUnixNanos } from '../../functions/ingest/timestamps.ts';

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

describe('the canonical UTC fast path', () => {
  /** Times shaped like `toISOString`'s, with any digits (invalid months, days, hours, seconds too) and fractions. */
  const digits = (length: number) =>
    fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: length, maxLength: length });
  const canonicalish = fc
    .tuple(
      fc.constantFrom('1969', '1970', '1999', '2000', '2016', '2025', '2026', '2099', '2100', '0099'),
      digits(2),
      digits(2),
      fc.constantFrom('T', 't', ' '),
      digits(2),
      digits(2),
      digits(2),
      fc.option(
        digits(1).chain((first) => fc.nat({ max: 11 }).chain((more) => digits(more).map((rest) => first + rest))),
      ),
      fc.constantFrom('Z', 'Z', 'Z', 'z', '+01:00', ''),
    )
    .map(
      ([y, mo, d, t, h, mi, s, fraction, zone]) =>
        `${y}-${mo}-${d}${t}${h}:${mi}:${s}${fraction === null ? '' : `.${fraction}`}${zone}`,
    );
  /** `texts` with now and then one character replaced by a separator, a letter or a digit. */
  const edited = (texts: fc.Arbitrary<string>) =>
    fc
      .tuple(texts, fc.option(fc.tuple(fc.nat({ max: 24 }), fc.constantFrom('x', '.', ',', ':', 'Z', '9', '-', ' '))))
      .map(([text, edit]) => (edit === null ? text : text.slice(0, edit[0]) + edit[1] + text.slice(edit[0] + 1)));
  // Mostly valid times, so the fast path is taken often (months 01–12, days 01–28, hours 00–23, seconds 00–60).
  const pad = (n: number) => String(n).padStart(2, '0');
  const valid = fc
    .tuple(
      fc.integer({ min: 1970, max: 2099 }),
      fc.integer({ min: 1, max: 12 }),
      fc.integer({ min: 1, max: 28 }),
      fc.integer({ min: 0, max: 23 }),
      fc.integer({ min: 0, max: 59 }),
      fc.integer({ min: 0, max: 60 }),
      fc.option(fc.nat({ max: 12 }).chain((n) => digits(n + 1))),
    )
    .map(
      ([y, mo, d, h, mi, s, fraction]) =>
        `${y}-${pad(mo)}-${pad(d)}T${pad(h)}:${pad(mi)}:${pad(s)}${fraction === null ? '' : `.${fraction}`}Z`,
    );

  const MAX_NANOS = 0x7fff_ffff_ffff_ffffn;

  it('reads every string exactly as the general ISO pattern does, in any order', () => {
    fc.assert(
      fc.property(fc.array(edited(fc.oneof(valid, canonicalish)), { minLength: 1, maxLength: 20 }), (texts) => {
        for (const text of texts) {
          // The readers' contracts on top of the pattern: toUnixNanos refuses what an INT64 of nanoseconds after
          // 1970 cannot hold, toEventNanos (any year) saturates it.
          const unix = isoPatternToNanos(text, false);
          expect(toUnixNanos(text)).toBe(unix === undefined || unix < 0n || unix > MAX_NANOS ? undefined : unix);
          const event = isoPatternToNanos(text, true);
          expect(toEventNanos(text)).toBe(
            event === undefined ? undefined : event < 0n ? 0n : event > MAX_NANOS ? MAX_NANOS : event,
          );
        }
      }),
      { numRuns: 2000 },
    );
  });
});
