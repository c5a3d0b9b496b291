import { z } from 'zod';
import type { SourceRange } from '../../schemas/compaction.ts';
import { describeError, describeIssue, SkeinError, StoreError } from '../../schemas/errors.ts';
import type { Exemplar } from '../../schemas/exemplars.ts';
import { type Aggregate, RollupObject, type ShardMark } from '../../schemas/measures.ts';
import type { Clock } from '../core/clock.ts';
import { mapLimit } from '../core/map-limit.ts';
import type { ObjectStore } from '../core/object-store.ts';
import { newSketch, type Sketch, sketchMergeInto, sketchToData } from '../core/sketch.ts';
import { exemplarOrderOf, mergeExemplars } from '../shared/exemplar-select.ts';
import { decodeRollup, ROLLUP_CONTENT_TYPE, ROLLUP_LATENESS_MINUTES, rollupPartitionPrefix } from '../shared/rollup.ts';
import { marksRecord, mergeMarks } from '../shared/watermark.ts';

/**
 * Reading and compacting rollups. Ingest writes one rollup object per batch under the batch's arrival minute,
 * `rollups/minute=<m>/<shard>-<firstSeq>.json`, holding rows of event minutes [m − LATENESS, m]. A closed arrival
 * minute is compacted into `rollups/minute=<m>/compacted-g<G>.json`: a RollupObject whose `sources` lists every
 * per-batch key merged into it (cumulatively: generation G+1 lists G's sources plus the new ones).
 *
 * The read rule, which makes every per-batch object count exactly once at every instant: per partition, take the
 * highest generation, and every per-batch object it does not list as a source. Compaction only ever adds a higher
 * generation (conditional create, so concurrent compactors cannot both write one) and deletes per-batch objects and
 * older generations only once the generation covering them has existed for a grace period; a reader slow enough to
 * list before and fetch after such a delete finds the object gone and reads the partition again.
 */
export const LATENESS = ROLLUP_LATENESS_MINUTES;
/** How long a generation must exist before the objects it covers are deleted (readers in flight finish first). */
export const ROLLUP_COMPACTION_GRACE_MS = 10 * 60_000;

const MINUTE_MS = 60_000;
const GENERATION = /\/compacted-g(\d+)\.json$/;
/** Parallel GETs per read (S3 serves far more; this bounds memory and sockets in a Lambda). */
const READ_CONCURRENCY = 16;
/** A partition whose listed object vanished (deleted by compaction after its grace) is re-listed this many times. */
const READ_ATTEMPTS = 3;

/** A compacted rollup object: a RollupObject whose `sources` and `writtenAtMs` are required. */
const CompactedRollup = RollupObject.extend({ sources: z.array(z.string()), writtenAtMs: z.number() });
type CompactedRollup = z.infer<typeof CompactedRollup>;

export interface RollupWindowQuery {
  /** First event minute (epoch minutes, inclusive). */
  readonly fromMinute: number;
  /** Last event minute (epoch minutes, inclusive). */
  readonly toMinute: number;
  /** Only these measures are kept (all when absent). */
  readonly measureIds?: readonly string[];
}

/** The rollups of a range of event minutes, merged per minute, measure and group. */
export interface RollupWindow {
  readonly fromMinute: number;
  readonly toMinute: number;
  /**
   * The aggregates of `measureId` over event minutes [fromMinute, toMinute] (inclusive, clipped to the window read),
   * per group key: n and sum added, min/max kept, sketches merged. A group with no rows is absent.
   */
  aggregate(measureId: string, fromMinute: number, toMinute: number): Map<string, Aggregate>;
  /**
   * Whether every rollup object read was computed with `measureId` loaded (vacuously true when none was read). False
   * right after a rule is added: older batches did not compute it, so "no rows" may be "not counted".
   */
  isMeasureComplete(measureId: string): boolean;
  /**
   * Per shard, the furthest watermark of the objects read (D15): how far ingest had got on each shard seen. Shards
   * with no object in the partitions read are absent.
   */
  readonly marks: ReadonlyMap<string, ShardMark>;
  /** The largest allowed lateness (ms) the objects read were assigned with; undefined when none recorded one. */
  readonly latenessMs: number | undefined;
  /** Objects fetched (GET) and their bytes; LIST calls apart. */
  readonly objectsRead: number;
  readonly bytesRead: number;
  readonly listCalls: number;
}

/** A mutable aggregate (reader and compactor merge into these). */
class MergedAggregate {
  n = 0;
  sum: number | undefined = undefined;
  min: number | undefined = undefined;
  max: number | undefined = undefined;
  sketch: Sketch | undefined = undefined;
  exemplars: Exemplar[] | undefined = undefined;
  low: Exemplar[] | undefined = undefined;

  add(a: Aggregate): void {
    this.n += a.n;
    if (a.sum !== undefined) this.sum = (this.sum ?? 0) + a.sum;
    if (a.min !== undefined && (this.min === undefined || a.min < this.min)) this.min = a.min;
    if (a.max !== undefined && (this.max === undefined || a.max > this.max)) this.max = a.max;
    if (a.sketch) {
      if (!this.sketch) this.sketch = newSketch(a.sketch.alpha);
      sketchMergeInto(this.sketch, a.sketch);
    }
    // The same choice as one batch holding every row (D22): the selection is a function of the rows alone.
    if (a.exemplars !== undefined) this.exemplars = mergeExemplars(this.exemplars, a.exemplars, exemplarOrderOf(a));
    if (a.exemplars_low !== undefined) this.low = mergeExemplars(this.low, a.exemplars_low, 'smallest');
  }

  addMerged(a: MergedAggregate): void {
    this.add(a.toAggregate());
  }

  toAggregate(): Aggregate {
    const out: Aggregate = { n: this.n };
    if (this.sum !== undefined) out.sum = this.sum;
    if (this.min !== undefined) out.min = this.min;
    if (this.max !== undefined) out.max = this.max;
    if (this.sketch) out.sketch = sketchToData(this.sketch);
    if (this.exemplars !== undefined && this.exemplars.length > 0) out.exemplars = this.exemplars;
    if (this.low !== undefined && this.low.length > 0) out.exemplars_low = this.low;
    return out;
  }
}

/** minute → measure id → group key → aggregate. */
type MergedMinutes = Map<number, Map<string, Map<string, MergedAggregate>>>;

function mergeInto(
  target: MergedMinutes,
  rollup: RollupObject,
  keep: (minute: number, measureId: string) => boolean,
): void {
  for (const minuteKey in rollup.minutes) {
    const minute = Number(minuteKey);
    const measures = rollup.minutes[minuteKey];
    if (!measures || !Number.isInteger(minute)) continue;
    for (const measureId in measures) {
      if (!keep(minute, measureId)) continue;
      const groups = measures[measureId];
      if (!groups) continue;
      let byMeasure = target.get(minute);
      if (!byMeasure) {
        byMeasure = new Map();
        target.set(minute, byMeasure);
      }
      let byGroup = byMeasure.get(measureId);
      if (!byGroup) {
        byGroup = new Map();
        byMeasure.set(measureId, byGroup);
      }
      for (const key in groups) {
        const aggregate = groups[key];
        if (!aggregate) continue;
        let merged = byGroup.get(key);
        if (!merged) {
          merged = new MergedAggregate();
          byGroup.set(key, merged);
        }
        merged.add(aggregate);
      }
    }
  }
}

/** What to read in one arrival partition: the highest generation (if any) and the per-batch objects it misses. */
interface PartitionPlan {
  readonly generation: { readonly key: string; readonly number: number } | undefined;
  readonly generations: readonly { readonly key: string; readonly number: number }[];
  readonly perBatch: readonly string[];
}

function planPartition(keys: readonly string[]): PartitionPlan {
  const generations: { key: string; number: number }[] = [];
  const perBatch: string[] = [];
  for (const key of keys) {
    const match = GENERATION.exec(key);
    if (match) generations.push({ key, number: Number(match[1]) });
    else if (key.endsWith('.json')) perBatch.push(key);
  }
  generations.sort((a, b) => a.number - b.number);
  return { generation: generations[generations.length - 1], generations, perBatch };
}

interface Counters {
  objectsRead: number;
  bytesRead: number;
  listCalls: number;
}

/** GETs `keys`, at most `READ_CONCURRENCY` at a time; `bytes` is undefined for an object that vanished since the LIST. */
function fetchAll(
  store: ObjectStore,
  keys: readonly string[],
): Promise<{ key: string; bytes: Uint8Array | undefined }[]> {
  return mapLimit(keys, READ_CONCURRENCY, async (key) => ({ key, bytes: await store.get(key) }));
}

/** The objects of one partition by the read rule; re-lists when a listed object vanished meanwhile. */
async function readPartition(
  store: ObjectStore,
  minute: number,
  counters: Counters,
): Promise<{ compacted: CompactedRollup | undefined; perBatch: { key: string; rollup: RollupObject }[] }> {
  const prefix = rollupPartitionPrefix(minute);
  for (let attempt = 1; ; attempt++) {
    counters.listCalls++;
    const plan = planPartition(await store.list(prefix));
    let compacted: CompactedRollup | undefined;
    let vanished = false;
    if (plan.generation) {
      const bytes = await store.get(plan.generation.key);
      if (bytes === undefined) vanished = true;
      else {
        counters.objectsRead++;
        counters.bytesRead += bytes.byteLength;
        compacted = decodeCompacted(bytes, plan.generation.key);
      }
    }
    const sources = new Set(compacted?.sources);
    const wanted = plan.perBatch.filter((key) => !sources.has(key));
    const perBatch: { key: string; rollup: RollupObject }[] = [];
    if (!vanished) {
      const fetched = await fetchAll(store, wanted);
      for (const { key, bytes } of fetched) {
        if (bytes === undefined) {
          vanished = true;
          break;
        }
        counters.objectsRead++;
        counters.bytesRead += bytes.byteLength;
        perBatch.push({ key, rollup: decodeRollup(bytes, key) });
      }
    }
    if (!vanished) return { compacted, perBatch };
    if (attempt >= READ_ATTEMPTS) {
      throw new StoreError(`rollup partition ${prefix} kept changing while being read (${attempt} attempts)`);
    }
  }
}

/**
 * Reads the rollups of event minutes [fromMinute, toMinute]: the arrival partitions [fromMinute, toMinute + LATENESS]
 * (a row arriving up to LATENESS minutes late is stored under its arrival minute), one LIST each, then per partition
 * its latest compacted generation and the per-batch objects that generation does not cover. With closed minutes
 * compacted, a 5-minute window costs about 10 GETs (5 minutes + 5 of lateness; the late partitions are small).
 *
 * @example
 * const w = await readRollupWindow(store, { fromMinute: m - 4, toMinute: m, measureIds: ['0123456789abcdef'] });
 * const byService = w.aggregate('0123456789abcdef', m - 4, m);
 */
export async function readRollupWindow(store: ObjectStore, query: RollupWindowQuery): Promise<RollupWindow> {
  const { fromMinute, toMinute } = query;
  if (!Number.isInteger(fromMinute) || !Number.isInteger(toMinute) || fromMinute > toMinute) {
    throw new SkeinError('rollup_query_invalid', `rollup window [${fromMinute}, ${toMinute}] is not a minute range`);
  }
  const wanted = query.measureIds ? new Set(query.measureIds) : undefined;
  const keep = (minute: number, measureId: string): boolean =>
    minute >= fromMinute && minute <= toMinute && (wanted === undefined || wanted.has(measureId));
  const counters: Counters = { objectsRead: 0, bytesRead: 0, listCalls: 0 };
  const partitions: number[] = [];
  for (let m = fromMinute; m <= toMinute + LATENESS; m++) partitions.push(m);
  const read = await mapLimit(partitions, READ_CONCURRENCY, (m) => readPartition(store, m, counters));

  const merged: MergedMinutes = new Map();
  /** measure id → objects read that were computed without it. */
  const missing = new Map<string, number>();
  const objects: RollupObject[] = [];
  const alreadyMerged = coveredRanges(read.flatMap(({ compacted }) => compacted?.source_ranges ?? []));
  for (const { compacted, perBatch } of read) {
    if (compacted) objects.push(compacted);
    for (const { rollup } of perBatch) if (!isWithin(rollup.batch_range, alreadyMerged)) objects.push(rollup);
  }
  const marks = new Map<string, ShardMark>();
  let latenessMs: number | undefined;
  for (const rollup of objects) {
    mergeInto(merged, rollup, keep);
    mergeMarks(marks, rollup.shards);
    if (rollup.lateness_ms !== undefined) latenessMs = Math.max(latenessMs ?? 0, rollup.lateness_ms);
    const has = new Set(rollup.measures);
    for (const id of wanted ?? []) if (!has.has(id)) missing.set(id, (missing.get(id) ?? 0) + 1);
  }
  const allMeasureLists = wanted === undefined ? objects.map((o) => new Set(o.measures)) : [];

  return {
    fromMinute,
    toMinute,
    marks,
    latenessMs,
    objectsRead: counters.objectsRead,
    bytesRead: counters.bytesRead,
    listCalls: counters.listCalls,
    aggregate(measureId, from, to) {
      const out = new Map<string, MergedAggregate>();
      for (let m = Math.max(from, fromMinute); m <= Math.min(to, toMinute); m++) {
        const groups = merged.get(m)?.get(measureId);
        if (!groups) continue;
        for (const [key, aggregate] of groups) {
          let total = out.get(key);
          if (!total) {
            total = new MergedAggregate();
            out.set(key, total);
          }
          total.addMerged(aggregate);
        }
      }
      const result = new Map<string, Aggregate>();
      for (const [key, total] of out) result.set(key, total.toAggregate());
      return result;
    },
    isMeasureComplete(measureId) {
      if (wanted !== undefined) return wanted.has(measureId) && !missing.has(measureId);
      return allMeasureLists.every((ids) => ids.has(measureId));
    },
  };
}

/** What one `compactRollupMinute` call did. */
export interface CompactionResult {
  readonly minute: number;
  /** The highest generation after this call (undefined: the partition is empty and was never compacted). */
  readonly generation: number | undefined;
  /** This call wrote a new generation. */
  readonly written: boolean;
  /** Another compactor wrote the generation this call tried to write (nothing was written or deleted here). */
  readonly lostRace: boolean;
  /** Per-batch objects merged into the new generation. */
  readonly merged: number;
  /** Objects deleted (covered per-batch objects and older generations). */
  readonly deleted: number;
  /** Nothing is left to merge or delete: only the latest generation remains. Callers can stop revisiting. */
  readonly settled: boolean;
}

export interface CompactionOptions {
  /** Default `ROLLUP_COMPACTION_GRACE_MS`. */
  readonly graceMs?: number;
}

/**
 * Compacts a closed arrival minute (epoch minute `minute`, which must be before the clock's current minute): merges
 * the latest generation and the per-batch objects it does not cover into generation G+1, created only if absent
 * (`putIf` with `ifNoneMatch: '*'`, so of two concurrent compactors one wins and the other changes nothing). Then,
 * once the latest generation is at least `graceMs` old (its `writtenAtMs`), deletes the per-batch objects it lists and
 * the older generations. Every step is idempotent and the partition reads exactly once after any prefix of them, so
 * a crash anywhere is repaired by calling again.
 *
 * Call it again for the same minute after the grace period: the deletes happen on that later call (`settled` says
 * when nothing is left).
 */
export async function compactRollupMinute(
  store: ObjectStore,
  minute: number,
  clock: Clock,
  options: CompactionOptions = {},
): Promise<CompactionResult> {
  const graceMs = options.graceMs ?? ROLLUP_COMPACTION_GRACE_MS;
  if (minute >= Math.floor(clock() / MINUTE_MS)) {
    throw new SkeinError('rollup_minute_open', `rollup minute ${minute} is still open: compact only past minutes`);
  }
  const prefix = rollupPartitionPrefix(minute);
  const plan = planPartition(await store.list(prefix));
  let latest: CompactedRollup | undefined;
  const latestNumber = plan.generation?.number;
  if (plan.generation) {
    const bytes = await store.get(plan.generation.key);
    if (bytes === undefined) {
      // Deleted since the listing: a later generation replaced it. The next call sees that one.
      return lostRace(minute, latestNumber);
    }
    latest = decodeCompacted(bytes, plan.generation.key);
  }
  const covered = new Set(latest?.sources);
  const fresh = plan.perBatch.filter((key) => !covered.has(key));

  if (fresh.length > 0) {
    const next = (latestNumber ?? 0) + 1;
    const merged: MergedMinutes = new Map();
    const everything = (): boolean => true;
    // Measures: those every merged object was computed with (a measure missing from one source is incomplete).
    let measures: Set<string> | undefined = latest ? new Set(latest.measures) : undefined;
    // Watermarks: the per-shard maximum of everything merged (D15); the largest lateness any source used.
    const marks = new Map<string, ShardMark>();
    let latenessMs: number | undefined;
    const keepMeta = (o: RollupObject) => {
      mergeMarks(marks, o.shards);
      if (o.lateness_ms !== undefined) latenessMs = Math.max(latenessMs ?? 0, o.lateness_ms);
    };
    if (latest) {
      mergeInto(merged, latest, everything);
      keepMeta(latest);
    }
    const fetched = await fetchAll(store, fresh);
    const sources = latest ? [...latest.sources] : [];
    const ranges = latest?.source_ranges ? [...latest.source_ranges] : [];
    const alreadyMerged = coveredRanges(ranges);
    for (const { key, bytes } of fetched) {
      // Vanished since the listing: only a compaction that covered it deletes one, so the next call sees that.
      if (bytes === undefined) {
        return lostRace(minute, latestNumber);
      }
      const rollup = decodeRollup(bytes, key);
      sources.push(key);
      // A late retry of records a merged batch already counted (D19): covered, so deleted later, but not added again.
      if (isWithin(rollup.batch_range, alreadyMerged)) continue;
      if (rollup.batch_range) ranges.push(rollup.batch_range);
      mergeInto(merged, rollup, everything);
      keepMeta(rollup);
      const has = new Set(rollup.measures);
      measures = measures ? new Set([...measures].filter((id) => has.has(id))) : has;
    }
    const compacted: CompactedRollup = {
      version: 1,
      measures: [...(measures ?? [])].sort(),
      minutes: toMinutesRecord(merged),
      sources: sources.sort(),
      writtenAtMs: clock(),
      ...(marks.size > 0 ? { shards: marksRecord(marks) } : {}),
      ...(latenessMs !== undefined ? { lateness_ms: latenessMs } : {}),
      source_ranges: ranges.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)),
    };
    const key = `${prefix}compacted-g${next}.json`;
    const etag = await store.putIf(key, Buffer.from(JSON.stringify(compacted), 'utf8'), ROLLUP_CONTENT_TYPE, {
      ifNoneMatch: '*',
    });
    if (etag === undefined) {
      return lostRace(minute, next);
    }
    // Nothing else is deletable now: the new generation is younger than the grace period (unless graceMs is 0).
    const deleted = await deleteCovered(store, compacted, plan, next, clock, graceMs);
    const settled = deleted.remaining === 0;
    return {
      minute,
      generation: next,
      written: true,
      lostRace: false,
      merged: fresh.length,
      deleted: deleted.count,
      settled,
    };
  }

  if (!latest || latestNumber === undefined) {
    return { minute, generation: undefined, written: false, lostRace: false, merged: 0, deleted: 0, settled: true };
  }
  const deleted = await deleteCovered(store, latest, plan, latestNumber, clock, graceMs);
  return {
    minute,
    generation: latestNumber,
    written: false,
    lostRace: false,
    merged: 0,
    deleted: deleted.count,
    settled: deleted.remaining === 0,
  };
}

/** Per shard, the sequence ranges of per-batch objects merged into compacted generations. */
type MergedRanges = ReadonlyMap<string, readonly { readonly first: bigint; readonly last: bigint }[]>;

function coveredRanges(ranges: readonly SourceRange[]): MergedRanges {
  const byShard = new Map<string, { first: bigint; last: bigint }[]>();
  for (const r of ranges) {
    const list = byShard.get(r.shard_id) ?? [];
    list.push({ first: BigInt(r.first), last: BigInt(r.last) });
    byShard.set(r.shard_id, list);
  }
  return byShard;
}

/**
 * True when every record of a per-batch object was already counted by a batch merged into a compacted generation:
 * a Lambda retry (bisected, or re-delivered) that arrived after its minute was compacted, under a key of its own. An
 * object only partly inside (a re-delivery reaching past the merged batch) still counts: aggregates cannot be split
 * (docs/reliability.md).
 */
function isWithin(range: SourceRange | undefined, merged: MergedRanges): boolean {
  if (range === undefined) return false;
  const first = BigInt(range.first);
  const last = BigInt(range.last);
  for (const r of merged.get(range.shard_id) ?? []) if (first >= r.first && last <= r.last) return true;
  return false;
}

/** The result of a compaction that found another compactor ahead of it: nothing written or deleted here. */
function lostRace(minute: number, generation: number | undefined): CompactionResult {
  return { minute, generation, written: false, lostRace: true, merged: 0, deleted: 0, settled: false };
}

/** Deletes what generation `number` covers (its listed per-batch objects, older generations) once it is old enough. */
async function deleteCovered(
  store: ObjectStore,
  generation: CompactedRollup,
  plan: PartitionPlan,
  number: number,
  clock: Clock,
  graceMs: number,
): Promise<{ count: number; remaining: number }> {
  const sources = new Set(generation.sources);
  const doomed = [
    ...plan.perBatch.filter((key) => sources.has(key)),
    ...plan.generations.filter((g) => g.number < number).map((g) => g.key),
  ];
  if (doomed.length === 0) return { count: 0, remaining: 0 };
  if (clock() - generation.writtenAtMs < graceMs) return { count: 0, remaining: doomed.length };
  // Per-batch objects first, older generations last: any prefix of these deletes leaves a partition that reads the
  // same (the latest generation covers them all either way).
  for (const key of doomed) await store.delete(key);
  return { count: doomed.length, remaining: 0 };
}

function toMinutesRecord(merged: MergedMinutes): RollupObject['minutes'] {
  const out: RollupObject['minutes'] = {};
  for (const minute of [...merged.keys()].sort((a, b) => a - b)) {
    const byMeasure = merged.get(minute);
    if (!byMeasure) continue;
    const measures: Record<string, Record<string, Aggregate>> = {};
    for (const [id, groups] of byMeasure) {
      const record: Record<string, Aggregate> = {};
      for (const [key, aggregate] of groups) record[key] = aggregate.toAggregate();
      measures[id] = record;
    }
    out[String(minute)] = measures;
  }
  return out;
}

function decodeCompacted(bytes: Uint8Array, key: string): CompactedRollup {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch (error) {
    throw new SkeinError('rollup_invalid', `compacted rollup ${key} is not JSON: ${describeError(error)}`);
  }
  const parsed = CompactedRollup.safeParse(json);
  if (!parsed.success) {
    throw new SkeinError('rollup_invalid', `compacted rollup ${key} is invalid: ${describeIssue(parsed.error)}`);
  }
  return parsed.data;
}
