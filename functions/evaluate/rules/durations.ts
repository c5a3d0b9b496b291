/**
 * Durations as rule files write them (Prometheus style): one or more `<integer><unit>` parts with units in
 * decreasing order, each at most once: `30s`, `5m`, `1h30m`, `1d`, `250ms`; and `0`.
 */

const UNIT_MS: Readonly<Record<string, number>> = {
  w: 604_800_000,
  d: 86_400_000,
  h: 3_600_000,
  m: 60_000,
  s: 1_000,
  ms: 1,
};
const UNIT_ORDER: readonly string[] = ['w', 'd', 'h', 'm', 's', 'ms'];
const PART = /(\d+)(ms|w|d|h|m|s)/y;

/** Milliseconds of a duration like `1h30m`, or `undefined` when the text is not one. */
export function parseDuration(text: string): number | undefined {
  if (text === '0') return 0;
  if (text.length === 0) return undefined;
  let at = 0;
  let lastUnit = -1;
  let ms = 0;
  while (at < text.length) {
    PART.lastIndex = at;
    const m = PART.exec(text);
    if (m === null) return undefined;
    const unit = m[2] ?? '';
    const order = UNIT_ORDER.indexOf(unit);
    if (order <= lastUnit) return undefined;
    lastUnit = order;
    ms += Number(m[1]) * (UNIT_MS[unit] ?? 0);
    at = PART.lastIndex;
  }
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/** The shortest text `parseDuration` reads back as `ms` (`90_000` → `1m30s`, `0` → `0s`). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = Math.trunc(Math.abs(ms));
  let text = ms < 0 ? '-' : '';
  for (const unit of UNIT_ORDER) {
    const size = UNIT_MS[unit] ?? 1;
    if (rest >= size) {
      text += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return text;
}

/** The message rule files get for a bad duration. */
export const DURATION_HINT = 'expected a duration like 30s, 5m, 1h or 1h30m';
