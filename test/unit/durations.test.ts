import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration, parseSettingDuration } from '../../schemas/durations.ts';

// The two parsers folded into `parseSettingDuration` (decision D27), kept here as oracles: whatever they read, it
// must read to the same milliseconds, so no notifier configuration and no --since/--until that worked breaks.

/** schemas/notify-config.ts before D27: whole numbers, units ms s m h d in any order, repeats adding up. */
function formerNotifyConfigDuration(text: string): number | undefined {
  if (!/^(?:\d+(?:ms|s|m|h|d))+$/.test(text)) return undefined;
  const unitMs: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  let total = 0;
  for (const m of text.matchAll(/(\d+)(ms|s|m|h|d)/g)) total += Number(m[1]) * (unitMs[m[2] ?? ''] ?? 0);
  return total;
}

/** query/time-range.ts before D27: one number with an optional fraction, units ms s m h d w. */
function formerTimeFlagDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(text);
  const unitMs: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
  return m?.[1] && m[2] ? Number(m[1]) * (unitMs[m[2]] ?? 0) : undefined;
}

const notifyConfigText = fc
  .array(fc.tuple(fc.integer({ min: 0, max: 100_000 }), fc.constantFrom('ms', 's', 'm', 'h', 'd')), {
    minLength: 1,
    maxLength: 5,
  })
  .map((parts) => parts.map(([n, unit]) => `${n}${unit}`).join(''));

const timeFlagText = fc
  .tuple(
    fc.integer({ min: 0, max: 10_000 }),
    fc.option(fc.stringMatching(/^\d{1,4}$/), { nil: undefined }),
    fc.constantFrom('ms', 's', 'm', 'h', 'd', 'w'),
  )
  .map(([whole, fraction, unit]) => `${whole}${fraction === undefined ? '' : `.${fraction}`}${unit}`);

describe('one duration grammar', () => {
  it('reads every notifier configuration duration the former parser read, to the same milliseconds', () => {
    fc.assert(
      fc.property(notifyConfigText, (text) => {
        expect(parseSettingDuration(text)).toBe(formerNotifyConfigDuration(text));
      }),
    );
  });

  it('reads every --since/--until duration the former parser read, to the same milliseconds', () => {
    fc.assert(
      fc.property(timeFlagText, (text) => {
        const former = formerTimeFlagDuration(text) ?? Number.NaN;
        // The former parser multiplied floats (1.1h → 3960000.0000000005 ms); the new one is exact, so the two agree
        // to the float's rounding.
        const now = parseSettingDuration(text) ?? Number.NaN;
        expect(Math.abs(now - former)).toBeLessThanOrEqual(Number.EPSILON * 4 * Math.max(1, former));
      }),
    );
  });

  it('reads every rule duration in the settings dialect too, to the same milliseconds', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 ** 12 }), (ms) => {
        expect(parseSettingDuration(formatDuration(ms))).toBe(parseDuration(formatDuration(ms)));
      }),
    );
  });

  it('keeps rule files to the Prometheus dialect', () => {
    for (const text of ['30s1m', '1m1m', '1.5h', '0.5s']) {
      expect(parseSettingDuration(text)).toBeDefined();
      expect(parseDuration(text)).toBeUndefined();
    }
  });

  it.each([
    ['1h30m', 5_400_000],
    ['30s1m', 90_000],
    ['1.5h', 5_400_000],
    ['0.0005s', 0.5],
    ['2w', 1_209_600_000],
    ['0', 0],
  ])('reads %s as %d ms', (text, ms) => {
    expect(parseSettingDuration(text)).toBe(ms);
  });

  it.each([[''], ['5'], ['5 minutes'], ['-1h'], ['1y'], ['1.h'], ['.5h'], [' 5m'], ['100us'], ['5m ']])(
    'refuses %j',
    (text) => {
      expect(parseSettingDuration(text)).toBeUndefined();
    },
  );
});
