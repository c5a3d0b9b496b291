import { z } from 'zod';
import type { ShardMark } from '../../schemas/measures.ts';

/**
 * Minute assignment and watermarks, shared by ingest (which assigns rows to minutes and records how far each shard
 * got) and the evaluator (which evaluates a minute once every shard is past it). Decision D15.
 *
 * A row of a batch whose first record arrived at `A` counts in minute
 * `clamp(eventMinute, floor((A − L) / 1 min), floor(A / 1 min))`, L being the allowed lateness. A shard's ingest
 * processes records in order, so once no unprocessed record of any shard arrived before `end(M) + L`, every batch
 * still to come has `A ≥ end(M) + L` and counts its rows in minute M + 1 or later: minute M is final.
 */

export const MINUTE_MS = 60_000;
/** Default allowed lateness: a row up to this late (arrival after its event minute's end) counts in its own minute. */
export const DEFAULT_ALLOWED_LATENESS_MS = 30_000;
/**
 * Largest allowed lateness: rollup readers look 5 arrival minutes past the last event minute they read (the old
 * clamp, `ROLLUP_LATENESS_MINUTES`), and a row counts at most `ceil(L / 1 min)` minutes before its batch's partition.
 */
export const MAX_ALLOWED_LATENESS_MS = 5 * MINUTE_MS;
/** How long a stalled shard may hold a minute back before it is evaluated with what there is (after end + L). */
export const DEFAULT_MAX_WAIT_MS = 2 * MINUTE_MS;

/**
 * The minute a row counts in: its event minute, but no earlier than the minute `latenessMs` before its batch's arrival
 * (later data counts in a later minute) and no later than the arrival minute (a producer clock ahead). An unusable
 * time counts at the arrival minute.
 *
 * @example assignedMinute(eventMs, batch.firstArrivalMs, 30_000)
 */
export function assignedMinute(eventMs: number, batchArrivalMs: number, latenessMs: number): number {
  const newest = Math.floor(batchArrivalMs / MINUTE_MS);
  const oldest = Math.floor((batchArrivalMs - latenessMs) / MINUTE_MS);
  const minute = Math.floor(eventMs / MINUTE_MS);
  if (minute < oldest) return oldest;
  if (minute > newest || Number.isNaN(minute)) return newest;
  return minute;
}

/** `end(M) + L`: once no shard has an unprocessed record that arrived before this instant, minute M is final. */
export function minuteDeadlineMs(minute: number, latenessMs: number): number {
  return (minute + 1) * MINUTE_MS + latenessMs;
}

/** The last minute a shard's mark makes final (`minuteDeadlineMs(M) ≤ arrivalMs`). */
export function lastFinalMinute(arrivalMs: number, latenessMs: number): number {
  return Math.floor((arrivalMs - latenessMs) / MINUTE_MS) - 1;
}

/** Whether mark `a` is ahead of mark `b`: a later arrival, or the same arrival and a later (or known) record. */
function isAhead(a: ShardMark, b: ShardMark): boolean {
  if (a.arrival_ms !== b.arrival_ms) return a.arrival_ms > b.arrival_ms;
  if (a.sequence_number === undefined) return false;
  if (b.sequence_number === undefined) return true;
  return BigInt(a.sequence_number) > BigInt(b.sequence_number);
}

/** Keeps, per shard, the mark furthest ahead. */
export function mergeMark(marks: Map<string, ShardMark>, shardId: string, mark: ShardMark): void {
  const known = marks.get(shardId);
  if (known === undefined || isAhead(mark, known)) marks.set(shardId, mark);
}

/** Merges a stored `shards` record (a rollup object's, the progress object's) into `marks`. */
export function mergeMarks(
  marks: Map<string, ShardMark>,
  record: Readonly<Record<string, ShardMark>> | undefined,
): void {
  if (record === undefined) return;
  for (const [shardId, mark] of Object.entries(record)) mergeMark(marks, shardId, mark);
}

/** `marks` as a stored record, shard ids sorted. */
export function marksRecord(marks: ReadonlyMap<string, ShardMark>): Record<string, ShardMark> {
  const out: Record<string, ShardMark> = {};
  for (const shardId of [...marks.keys()].sort()) {
    const mark = marks.get(shardId);
    if (mark !== undefined) out[shardId] = mark;
  }
  return out;
}

/**
 * The last minute final on every shard of `shards` (each shard's mark in `marks`; a shard without one holds every
 * minute back: `-Infinity`). No shard at all: `+Infinity` (nothing can arrive).
 */
export function lastCompleteMinute(
  shards: Iterable<string>,
  marks: ReadonlyMap<string, ShardMark>,
  latenessMs: number,
): number {
  let last = Number.POSITIVE_INFINITY;
  for (const shardId of shards) {
    const mark = marks.get(shardId);
    const final = mark === undefined ? Number.NEGATIVE_INFINITY : lastFinalMinute(mark.arrival_ms, latenessMs);
    if (final < last) last = final;
  }
  return last;
}

/**
 * `SKEIN_ALLOWED_LATENESS_SECONDS`, read by ingest (which minute a row counts in) and the evaluator (when a minute is
 * complete): one definition, so the two cannot disagree on its range or default (D15).
 */
export const AllowedLatenessSeconds = z.coerce
  .number()
  .int()
  .min(0)
  .max(MAX_ALLOWED_LATENESS_MS / 1000)
  .default(DEFAULT_ALLOWED_LATENESS_MS / 1000);
