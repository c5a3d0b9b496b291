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
const ISO_FRACTION = /[T ]\d{2}:\d{2}:\d{2}[.,](\d+)/;
const DECIMAL = /^\d+(\.\d+)?$/;

/** Nanoseconds since the epoch from a number or string, or `undefined` when it is not a timestamp. */
export function toUnixNanos(value: unknown): bigint | undefined {
  if (typeof value === 'number') return numberToNanos(value);
  if (typeof value === 'string') {
    if (DECIMAL.test(value)) {
      // Integers of 16+ digits lose precision as numbers: take nanosecond strings exactly.
      if (value.length >= 16 && !value.includes('.')) return integerStringToNanos(value);
      return numberToNanos(Number(value));
    }
    return isoToNanos(value);
  }
  if (typeof value === 'bigint') return integerStringToNanos(value.toString());
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

function isoToNanos(s: string): bigint | undefined {
  const ms = Date.parse(s);
  if (Number.isNaN(ms)) return undefined;
  const fraction = ISO_FRACTION.exec(s)?.[1];
  if (!fraction || fraction.length <= 3) return BigInt(ms) * NS_PER_MS;
  const wholeSecondsMs = Math.floor(ms / 1000) * 1000;
  const nanosInSecond = BigInt(fraction.slice(0, 9).padEnd(9, '0'));
  return BigInt(wholeSecondsMs) * NS_PER_MS + nanosInSecond;
}

/** Epoch milliseconds of a nanosecond timestamp (floor), for the Athena TIMESTAMP columns. */
export function nanosToMillis(ns: bigint): number {
  return Number(ns / NS_PER_MS);
}

export function millisToNanos(ms: number): bigint {
  return BigInt(Math.trunc(ms)) * NS_PER_MS;
}
