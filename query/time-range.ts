import { parseSettingDuration } from '../schemas/durations.ts';
import { UsageError } from '../schemas/errors.ts';

/** A closed time range in epoch milliseconds; a missing end is open. */
export interface TimeRange {
  readonly since?: number | undefined;
  readonly until?: number | undefined;
}

const HOUR_MS = 3_600_000;
const ISO = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;

/**
 * A `--since`/`--until` value as epoch milliseconds: `now`, a duration ago (`90s`, `15m`, `1.5h`, `2d`, `1w`, `1h30m`: schemas/durations.ts), or an
 * ISO 8601 date or date-time. Date-times without an offset are UTC, like the partitions.
 * @example parseTimeArg('--since', '1h', now) // now - 3 600 000
 */
export function parseTimeArg(flag: string, value: string, now: number): number {
  const v = value.trim();
  if (v === 'now') return now;
  const ago = parseSettingDuration(v);
  if (ago !== undefined) return now - ago;
  const iso = ISO.exec(v);
  if (iso) {
    const hasTime = v.length > 10;
    const text = hasTime && iso[1] === undefined ? `${v.replace(' ', 'T')}Z` : v.replace(' ', 'T');
    const ms = Date.parse(text);
    if (Number.isFinite(ms)) return ms;
  }
  throw new UsageError(
    `${flag} ${value}: expected an ISO 8601 time (2024-05-01T07:30:00Z), a duration ago (15m, 1h, 2d) or 'now'`,
  );
}

/** Both flags parsed and checked for order. */
export function parseTimeRange(since: string | undefined, until: string | undefined, now: number): TimeRange {
  const range: TimeRange = {
    since: since === undefined ? undefined : parseTimeArg('--since', since, now),
    until: until === undefined ? undefined : parseTimeArg('--until', until, now),
  };
  if (range.since !== undefined && range.until !== undefined && range.since > range.until)
    throw new UsageError(`--since (${iso(range.since)}) is after --until (${iso(range.until)})`);
  return range;
}

/**
 * Whether the hourly partition `dt=<dt>/hour=<hour>` may hold rows of the range. Partitions are by arrival hour,
 * not event time, so the range is widened by an hour on each side (late arrivals, producer clock skew). A partition
 * whose name does not parse is kept: better to read a file too many than miss one.
 */
export function partitionInRange(dt: string, hour: string, range: TimeRange): boolean {
  const start = Date.parse(`${dt}T${hour.padStart(2, '0')}:00:00Z`);
  if (!Number.isFinite(start)) return true;
  const end = start + HOUR_MS;
  if (range.since !== undefined && end <= range.since - HOUR_MS) return false;
  if (range.until !== undefined && start > range.until + HOUR_MS) return false;
  return true;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
