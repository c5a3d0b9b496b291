import type { KinesisStreamRecord } from 'aws-lambda';
import { CompactionManifest, type SourceRange } from '../../schemas/compaction.ts';
import { type HourPartition, loadManifestState } from '../core/manifests.ts';
import type { ObjectStore } from '../core/object-store.ts';

const HOUR_MS = 3_600_000;

/**
 * How long before a batch's first record the batch that first delivered some of its records may have begun: the
 * widest arrival span of one Lambda batch we protect against. A caught-up stream's batch spans at most the batching
 * window (≤ 300 s, the Lambda maximum); 15 min leaves room for a small backlog. A batch whose records were first
 * delivered by a batch starting more than this earlier, in an earlier hour, is not checked (docs/reliability.md).
 */
export const COVERED_LOOKBACK_MS = 15 * 60_000;

/** One shard's covered sequence range, as numbers for comparison. */
export interface CoveredRange {
  readonly key: string;
  readonly first: bigint;
  readonly last: bigint;
}

/** What `coveredRanges` read: the ranges of this shard, and the manifests it looked at (for the log). */
export interface CoveredLookup {
  readonly ranges: readonly CoveredRange[];
  readonly hoursChecked: number;
}

/**
 * The hour partitions a batch's records may already be compacted in: every hour that overlaps
 * `[firstArrival − COVERED_LOOKBACK_MS, lastArrival]` and has ended by `now` (an hour is compacted only after it
 * ends, so a live batch in the middle of an hour checks nothing).
 */
export function hoursToCheck(firstArrivalMs: number, lastArrivalMs: number, nowMs: number): HourPartition[] {
  const hours: HourPartition[] = [];
  const from = Math.floor((firstArrivalMs - COVERED_LOOKBACK_MS) / HOUR_MS);
  const to = Math.floor(Math.max(firstArrivalMs, lastArrivalMs) / HOUR_MS);
  for (let h = from; h <= to; h++) {
    if ((h + 1) * HOUR_MS > nowMs) break;
    const iso = new Date(h * HOUR_MS).toISOString();
    hours.push({ dt: iso.slice(0, 10), hour: iso.slice(11, 13) });
  }
  return hours;
}

/**
 * The sequence ranges of `shardId` that compacted hours already hold: for each hour of {@link hoursToCheck}, the
 * current manifest of `logs` and of `spans` (one LIST each, one GET when a manifest exists). Sources without a range
 * (manifests written before D19) are not counted: such a re-delivery behaves as before.
 */
export async function coveredRanges(
  store: ObjectStore,
  shardId: string,
  records: readonly KinesisStreamRecord[],
  nowMs: number,
): Promise<CoveredLookup> {
  const first = records[0];
  if (first === undefined) return { ranges: [], hoursChecked: 0 };
  const last = records[records.length - 1] ?? first;
  const hours = hoursToCheck(
    first.kinesis.approximateArrivalTimestamp * 1000,
    last.kinesis.approximateArrivalTimestamp * 1000,
    nowMs,
  );
  const ranges: CoveredRange[] = [];
  for (const p of hours) {
    for (const table of ['logs', 'spans'] as const) {
      const { current } = await loadManifestState(store, table, p, CompactionManifest);
      for (const range of current?.source_ranges ?? []) if (range.shard_id === shardId) ranges.push(toCovered(range));
    }
  }
  return { ranges, hoursChecked: hours.length };
}

function toCovered(range: SourceRange): CoveredRange {
  return { key: range.key, first: BigInt(range.first), last: BigInt(range.last) };
}

/** True when a covered range holds the record of `sequenceNumber` (decimal string). */
export function isCovered(ranges: readonly CoveredRange[], sequenceNumber: string): boolean {
  if (ranges.length === 0) return false;
  const seq = BigInt(sequenceNumber);
  for (const r of ranges) if (seq >= r.first && seq <= r.last) return true;
  return false;
}

/**
 * The records of a batch that no compacted hour holds yet, in order. A record is dropped only when a manifest's source
 * range names it: the rows it produced are in that generation's outputs already.
 */
export function uncoveredRecords(
  records: readonly KinesisStreamRecord[],
  ranges: readonly CoveredRange[],
): KinesisStreamRecord[] {
  if (ranges.length === 0) return [...records];
  return records.filter((r) => !isCovered(ranges, r.kinesis.sequenceNumber));
}
