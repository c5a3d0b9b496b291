/**
 * Timestamps as producers write them, to nanoseconds since the epoch (bigint: nanoseconds overflow 2^53).
 * Numbers are read by magnitude: seconds, milliseconds, microseconds or nanoseconds; strings may be ISO 8601/RFC 3339
 * (fractions to the nanosecond kept) or decimal numbers.
 */

const NS_PER_MS = 1_000_000n;
/** Below these magnitudes a number is in s, ms, µs; above, ns. 1e11 s is year 5138; 1e11 ms is 1973. */
const MAX_SECONDS = 1e11;
const MAX_MILLIS = 1e14;
const MAX_MICROS = 1e17;
/**
 * RFC 3339 / ISO 8601 date-time as loggers write it: `T` or space between date and time, `.` or `,` before the
 * fraction (Python's logging writes `2021-05-03 11:47:12,494+0200`), offset `Z`, `±hh:mm`, `±hhmm` or `±hh`.
 * Without an offset the time is taken as UTC (what Lambda's TZ is), not as the ingest host's local time.
 */
const ISO =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9})\d*)?)? ?(?:([Zz]|UTC)|([+-])(\d{2}):?(\d{2})?)?$/;
/** What the fallback `Date.parse` may see: a clock time or a four-digit year (RFC 2822 and friends). */
const LOOSE_DATE = /\d:\d\d|\d{4}/;
const DECIMAL = /^\d+(\.\d+)?$/;

/** The largest time a row can hold: `time_unix_nano` is a signed 64-bit column (2262-04-11). */
const MAX_NANOS = 0x7fff_ffff_ffff_ffffn;

/**
 * Nanoseconds since the epoch from a number or string, or `undefined` when it is not a timestamp (or is before 1970
 * or after what an INT64 of nanoseconds holds).
 */
export function toUnixNanos(value: unknown): bigint | undefined {
  const ns = anyToNanos(value, false);
  return ns === undefined || ns < 0n || ns > MAX_NANOS ? undefined : ns;
}

/**
 * The time a producer wrote, for a row's event time: like {@link toUnixNanos}, but a well-formed time a row cannot
 * hold — an ISO 8601 time before 1970 or after 2262 (Go's zero time `0001-01-01T00:00:00Z`, `9999-12-31T23:59:59Z`),
 * a number past 2262 — is saturated to the INT64 range (0 or 2^63 − 1 ns) instead of being refused. Ingest's hygiene
 * then clamps it to the arrival time and flags the row `time_clamped`, as it does for a numeric time of 0, instead of
 * the decoder taking the arrival time silently; `skein.original_time_unix_nano` keeps the saturated value.
 *
 * @example toEventNanos('0001-01-01T00:00:00Z') // 0n: a time, clamped by hygiene
 */
export function toEventNanos(value: unknown): bigint | undefined {
  const ns = anyToNanos(value, true);
  if (ns === undefined) return undefined;
  return ns < 0n ? 0n : ns > MAX_NANOS ? MAX_NANOS : ns;
}

function anyToNanos(value: unknown, anyYear: boolean): bigint | undefined {
  if (typeof value === 'number') return numberToNanos(value);
  if (typeof value === 'string') {
    if (DECIMAL.test(value)) {
      // Integers of 16+ digits lose precision as numbers: take nanosecond strings exactly.
      if (value.length >= 16 && !value.includes('.')) return integerStringToNanos(value);
      return numberToNanos(Number(value));
    }
    return isoToNanos(value, anyYear);
  }
  if (typeof value === 'bigint') return value < 0n ? undefined : integerStringToNanos(value.toString());
  return undefined;
}

function numberToNanos(n: number): bigint | undefined {
  if (!Number.isFinite(n) || n < 0) return undefined;
  if (n < MAX_SECONDS) return BigInt(Math.round(n * 1e6)) * 1000n; // keep microseconds of fractional seconds
  if (n < MAX_MILLIS) return BigInt(Math.round(n * 1000)) * 1000n;
  if (n < MAX_MICROS) return BigInt(Math.round(n)) * 1000n;
  return BigInt(Math.round(n));
}

function integerStringToNanos(s: string): bigint {
  const n = BigInt(s);
  const digits = s.length;
  // 19 digits: ns (until 2286), 16: µs, 13: ms, ≤ 11: s.
  if (digits >= 18) return n;
  if (digits >= 15) return n * 1000n;
  if (digits >= 12) return n * NS_PER_MS;
  return n * 1_000_000_000n;
}

function isoToNanos(s: string, anyYear: boolean): bigint | undefined {
  return canonicalUtcToNanos(s) ?? isoPatternToNanos(s, anyYear);
}

/**
 * The minute of the last canonical time read (`YYYY-MM-DDTHH:MM`) and its nanoseconds (`undefined`: not a valid
 * time): the times of one batch nearly all fall in a few minutes, so most cost a prefix comparison and two digits.
 */
let lastMinute = '';
let lastMinuteNs: bigint | undefined;

const DIGIT_0 = 0x30;
const isDigit = (c: number) => c >= DIGIT_0 && c <= 0x39;
const twoDigits = (s: string, at: number) => (s.charCodeAt(at) - DIGIT_0) * 10 + s.charCodeAt(at + 1) - DIGIT_0;

/**
 * `YYYY-MM-DDTHH:MM:SS[.fraction]Z` with a year from 1970 to 2099 — what `toISOString`, Go's RFC3339Nano and most
 * loggers write — read without the general pattern; `undefined` when `s` is not in exactly that form (the pattern
 * then reads it). Gives what {@link isoPatternToNanos} gives for every string it reads (a property test holds it).
 */
function canonicalUtcToNanos(s: string): bigint | undefined {
  const n = s.length;
  if (n < 20 || s.charCodeAt(n - 1) !== 0x5a || s.charCodeAt(16) !== 0x3a) return undefined;
  const c0 = s.charCodeAt(0);
  const c1 = s.charCodeAt(1);
  // 1970–2099: every such minute is at or after the epoch, so `anyYear` makes no difference.
  if (!((c0 === 0x31 && c1 === 0x39 && s.charCodeAt(2) >= 0x37) || (c0 === 0x32 && c1 === DIGIT_0))) return undefined;
  if (!s.startsWith(lastMinute) || lastMinute === '') {
    if (!isCanonicalMinute(s)) return undefined;
    lastMinute = s.slice(0, 16);
    lastMinuteNs = isoPatternToNanos(`${lastMinute}:00Z`, false);
  }
  if (lastMinuteNs === undefined) return undefined;
  if (!isDigit(s.charCodeAt(17)) || !isDigit(s.charCodeAt(18))) return undefined;
  const second = twoDigits(s, 17);
  if (second > 60) return undefined;
  let fraction = 0;
  if (n > 20) {
    // `.` then at least one digit before the `Z`; nanoseconds are the first nine digits.
    if (s.charCodeAt(19) !== 0x2e || n < 22) return undefined;
    let scale = 100_000_000;
    for (let i = 20; i < n - 1; i++) {
      const c = s.charCodeAt(i);
      if (!isDigit(c)) return undefined;
      if (scale >= 1) fraction += (c - DIGIT_0) * scale; // integers only: digits past the ninth are dropped
      scale /= 10;
    }
  }
  return lastMinuteNs + BigInt(second * 1_000_000_000 + fraction);
}

/** `YYYY-MM-DDTHH:MM` at the start of `s`: digits and separators in place (ranges are the pattern reader's job). */
function isCanonicalMinute(s: string): boolean {
  for (let i = 0; i < 16; i++) {
    const c = s.charCodeAt(i);
    const separator = i === 4 || i === 7 ? 0x2d : i === 10 ? 0x54 : i === 13 ? 0x3a : -1;
    if (separator === -1 ? !isDigit(c) : c !== separator) return false;
  }
  return true;
}

/**
 * Any ISO 8601 / RFC 3339 time {@link ISO} reads, to nanoseconds. Exported for the property test that holds the
 * canonical fast path to it.
 */
export function isoPatternToNanos(s: string, anyYear: boolean): bigint | undefined {
  const m = ISO.exec(s);
  if (m === null) {
    if (!LOOSE_DATE.test(s)) return undefined;
    const ms = Date.parse(s);
    return Number.isNaN(ms) || ms < 0 ? undefined : BigInt(ms) * NS_PER_MS;
  }
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = m[6] === undefined ? 0 : Number(m[6]);
  if ((year < 1970 && !anyYear) || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) {
    return undefined;
  }
  if (hour > 23 || minute > 59 || second > 60) return undefined; // 60: a leap second, read as the next second
  let offsetMinutes = 0;
  if (m[9] !== undefined) {
    const offsetHours = Number(m[10]);
    const offsetMins = m[11] === undefined ? 0 : Number(m[11]);
    if (offsetHours > 23 || offsetMins > 59) return undefined;
    offsetMinutes = (offsetHours * 60 + offsetMins) * (m[9] === '-' ? -1 : 1);
  }
  let utc = Date.UTC(year, month - 1, day, hour, minute, second);
  if (year < 100) {
    // Date.UTC reads years 0–99 as 1900–1999.
    const date = new Date(utc);
    date.setUTCFullYear(date.getUTCFullYear() - 1900);
    utc = date.getTime();
  }
  const ms = utc - offsetMinutes * 60_000;
  if (ms < 0 && !anyYear) return undefined;
  const fraction = m[7];
  const nanosInSecond = fraction === undefined ? 0n : BigInt(fraction.padEnd(9, '0'));
  return BigInt(ms) * NS_PER_MS + nanosInSecond;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** Epoch milliseconds of a nanosecond timestamp (floor), for the Athena TIMESTAMP columns. */
export function nanosToMillis(ns: bigint): number {
  return Number(ns / NS_PER_MS);
}

export function millisToNanos(ms: number): bigint {
  return BigInt(Math.trunc(ms)) * NS_PER_MS;
}
