/**
 * Durations, in one grammar and one parser: `0`, or one or more `<number><unit>` parts (`1h30m`), a number being
 * digits with an optional decimal fraction, a unit one of `w d h m s ms us µs ns`. Each reader admits a dialect of
 * it, no more than its users have always been able to write:
 * - rule files (Prometheus style, {@link parseDuration}): whole numbers, units `w d h m s ms` in decreasing order,
 *   each at most once — `30s`, `5m`, `1h30m`, `1d`, `250ms`;
 * - search filters (TraceQL, {@link parseSpanDuration}): fractions allowed, units `h m s ms us µs ns` in decreasing
 *   order — `1.5s`, `500ms`, `100us`, `1h30m`;
 * - settings and command-line flags (the notifier configuration, `--since`/`--until`, `--evaluate-every`, `--wait`:
 *   {@link parseSettingDuration}): fractions allowed, units `w d h m s ms` in any order, a repeated unit adding up
 *   (as Go's `time.ParseDuration`) — `90s`, `1.5h`, `2d`, `1h30m`. It accepts all that the notifier configuration's
 *   and the time flags' own parsers accepted before they were folded into this one (decision D27).
 */

const NANOS: Readonly<Record<string, bigint>> = {
  w: 604_800_000_000_000n,
  d: 86_400_000_000_000n,
  h: 3_600_000_000_000n,
  m: 60_000_000_000n,
  s: 1_000_000_000n,
  ms: 1_000_000n,
  us: 1_000n,
  µs: 1_000n,
  ns: 1n,
};
/** Decreasing size; `us` and `µs` are the same unit. */
const UNIT_ORDER: readonly string[] = ['w', 'd', 'h', 'm', 's', 'ms', 'us', 'µs', 'ns'];
const PART = /(\d+(?:\.\d+)?)(ms|us|µs|ns|w|d|h|m|s)/y;
const NANOS_PER_MS = 1_000_000n;

interface DurationDialect {
  readonly units: ReadonlySet<string>;
  readonly fractions: boolean;
  /** Units in decreasing order, each at most once (Prometheus, TraceQL); otherwise any order, repeats add up. */
  readonly ordered: boolean;
}

const MS_UNITS: readonly string[] = ['w', 'd', 'h', 'm', 's', 'ms'];
const RULE_DIALECT: DurationDialect = { units: new Set(MS_UNITS), fractions: false, ordered: true };
const SEARCH_DIALECT: DurationDialect = {
  units: new Set(['h', 'm', 's', 'ms', 'us', 'µs', 'ns']),
  fractions: true,
  ordered: true,
};
const SETTING_DIALECT: DurationDialect = { units: new Set(MS_UNITS), fractions: true, ordered: false };

/** Nanoseconds of a duration in `dialect`, or `undefined` when the text is not one. */
function parseNanos(text: string, dialect: DurationDialect): bigint | undefined {
  if (text === '0') return 0n;
  if (text.length === 0) return undefined;
  let at = 0;
  let lastUnit = -1;
  let nanos = 0n;
  while (at < text.length) {
    PART.lastIndex = at;
    const m = PART.exec(text);
    if (m === null) return undefined;
    const number = m[1] ?? '';
    const unit = m[2] ?? '';
    if (!dialect.units.has(unit)) return undefined;
    const dot = number.indexOf('.');
    if (dot >= 0 && !dialect.fractions) return undefined;
    // `us` and `µs` share a rank: one of them at most.
    const order = UNIT_ORDER.indexOf(unit === 'µs' ? 'us' : unit);
    if (dialect.ordered && order <= lastUnit) return undefined;
    lastUnit = order;
    const size = NANOS[unit] ?? 0n;
    if (dot < 0) nanos += BigInt(number) * size;
    else {
      const fraction = number.slice(dot + 1);
      nanos += BigInt(number.slice(0, dot)) * size + (BigInt(fraction) * size) / 10n ** BigInt(fraction.length);
    }
    at = PART.lastIndex;
  }
  return nanos;
}

/** Milliseconds of a rule duration like `1h30m`, or `undefined` when the text is not one. */
export function parseDuration(text: string): number | undefined {
  const nanos = parseNanos(text, RULE_DIALECT);
  if (nanos === undefined) return undefined;
  const ms = Number(nanos / NANOS_PER_MS);
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/**
 * Nanoseconds of a search duration (TraceQL: `1.5s`, `500ms`, `100us`, `250ns`, `1h30m`), truncated to whole
 * nanoseconds, or `undefined` when the text is not one.
 */
export function parseSpanDuration(text: string): bigint | undefined {
  return parseNanos(text, SEARCH_DIALECT);
}

/**
 * Milliseconds of a setting or flag duration (`90s`, `1.5h`, `2d`, `1h30m`), fractions of a millisecond kept, or
 * `undefined` when the text is not one.
 * @example parseSettingDuration('1.5h') // 5_400_000
 */
export function parseSettingDuration(text: string): number | undefined {
  const nanos = parseNanos(text, SETTING_DIALECT);
  if (nanos === undefined) return undefined;
  const ms = Number(nanos / NANOS_PER_MS) + Number(nanos % NANOS_PER_MS) / Number(NANOS_PER_MS);
  return Number.isFinite(ms) ? ms : undefined;
}

/** The shortest text `parseDuration` reads back as `ms` (`90_000` → `1m30s`, `0` → `0s`). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = Math.trunc(Math.abs(ms));
  let text = ms < 0 ? '-' : '';
  for (const unit of MS_UNITS) {
    const size = Number((NANOS[unit] ?? NANOS_PER_MS) / NANOS_PER_MS);
    if (rest >= size) {
      text += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return text;
}

/** The message rule files get for a bad duration. */
export const DURATION_HINT = 'expected a duration like 30s, 5m, 1h or 1h30m';
