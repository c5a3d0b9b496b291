import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  ListShardsCommand,
  type ListShardsCommandOutput,
} from '@aws-sdk/client-kinesis';
import { describeIssue, StoreError } from '../../schemas/errors.ts';
import type { ShardMark } from '../../schemas/measures.ts';
import {
  EVALUATION_PROGRESS_KEY,
  EvaluationProgress,
  INCOMPLETE_MINUTES_KEPT,
  type IncompleteMinute,
} from '../../schemas/watermarks.ts';
import type { ObjectStore } from '../core/object-store.ts';
import { marksRecord, mergeMarks } from '../shared/watermark.ts';

/**
 * How far the stream's shards have been ingested, asked of the stream itself (D15). Lambda is not invoked for an idle
 * shard, so no rollup moves its watermark: the evaluator reads what follows the shard's last processed record. The
 * same port runs against Kinesis on AWS, kinesalite on the local stack, and a capture offline.
 */
export interface ShardProgress {
  /** The stream's shards (closed ones too, while Kinesis still lists them). */
  listShards(): Promise<readonly StreamShard[]>;
  /**
   * An iterator at the first record after `after` (a sequence number), or at the first record that arrived at or
   * after `atMs` when no record of the shard is known; `undefined` when the shard has nothing there to read.
   */
  iterator(shardId: string, from: { readonly after: string } | { readonly atMs: number }): Promise<string | undefined>;
  /** Up to `limit` records from `iterator`: their arrival times, the next iterator (none: a closed shard's end). */
  read(iterator: string, limit: number): Promise<ShardRead>;
}

export interface StreamShard {
  readonly shardId: string;
  /** A closed shard (split or merged) receives nothing more; once read to its end it holds no minute back. */
  readonly closed: boolean;
}

export interface ShardRead {
  readonly records: readonly { readonly arrivalMs: number; readonly sequenceNumber: string }[];
  readonly nextIterator: string | undefined;
  readonly millisBehindLatest: number;
}

/** What a probe proved: no unprocessed record of the shard arrived before `arrival_ms` ({@link SHARD_ENDED}: closed, read). */
export type ProbeResult = { readonly proven: true; readonly mark: ShardMark } | { readonly proven: false };

/** Records asked per GetRecords (a probe needs the first one; more only skips the ones before `atMs`). */
const PROBE_LIMIT = 100;
/** GetRecords calls per shard and probe at most (GetRecords is limited to 5 per second per shard, shared with ingest). */
const PROBE_READS = 5;
/** The mark of a closed shard read to its end: nothing more will arrive there. */
export const SHARD_ENDED = Number.MAX_SAFE_INTEGER;
/** Kinesis stamps arrivals with its clock: an idle shard is proven this far behind ours, not up to it. */
export const CLOCK_MARGIN_MS = 1_000;

/**
 * Reads what follows `mark` on one shard: the first record after it (its arrival bounds what is unprocessed), or none
 * and `MillisBehindLatest` 0 (idle: nothing before now − {@link CLOCK_MARGIN_MS}), or a closed shard's end. Without a
 * known record it starts at `sinceMs`: records before that cannot count in the minutes being evaluated (a row counts
 * no later than its batch's first arrival minute), so only what arrived since matters.
 */
export async function probeShard(
  port: ShardProgress,
  shard: StreamShard,
  mark: ShardMark | undefined,
  sinceMs: number,
  nowMs: number,
): Promise<ProbeResult> {
  const after = mark?.sequence_number;
  const from = after !== undefined ? { after } : { atMs: sinceMs };
  let iterator = await port.iterator(shard.shardId, from);
  const keep = (sequenceNumber: string | undefined): ShardMark =>
    sequenceNumber === undefined ? { arrival_ms: 0 } : { arrival_ms: 0, sequence_number: sequenceNumber };
  if (iterator === undefined) return { proven: true, mark: { ...keep(after), arrival_ms: nowMs - CLOCK_MARGIN_MS } };
  for (let i = 0; i < PROBE_READS && iterator !== undefined; i++) {
    const read = await port.read(iterator, PROBE_LIMIT);
    for (const record of read.records) {
      if (after === undefined && record.arrivalMs < sinceMs) continue;
      return { proven: true, mark: { ...keep(after), arrival_ms: record.arrivalMs } };
    }
    if (read.nextIterator === undefined) return { proven: true, mark: { ...keep(after), arrival_ms: SHARD_ENDED } };
    if (read.records.length === 0 && read.millisBehindLatest === 0)
      return { proven: true, mark: { ...keep(after), arrival_ms: nowMs - CLOCK_MARGIN_MS } };
    iterator = read.nextIterator;
  }
  return { proven: false };
}

export interface KinesisShardProgressOptions {
  /**
   * `AT_TIMESTAMP` for a shard with no known record (Kinesis). kinesalite never answers an `AT_TIMESTAMP` request
   * when no record arrived at or after the timestamp, so the local stack reads from `TRIM_HORIZON` instead and the
   * probe skips what came before (its streams are small).
   */
  readonly atTimestamp: boolean;
}

/** {@link ShardProgress} over a Kinesis stream (or kinesalite), addressed by name. */
export function kinesisShardProgress(
  client: KinesisClient,
  streamName: string,
  options: KinesisShardProgressOptions,
): ShardProgress {
  return {
    async listShards() {
      const out: StreamShard[] = [];
      let token: string | undefined;
      do {
        const page: ListShardsCommandOutput = await client.send(
          new ListShardsCommand(token === undefined ? { StreamName: streamName } : { NextToken: token }),
        );
        for (const s of page.Shards ?? [])
          if (s.ShardId !== undefined)
            out.push({ shardId: s.ShardId, closed: s.SequenceNumberRange?.EndingSequenceNumber !== undefined });
        token = page.NextToken;
      } while (token !== undefined);
      return out;
    },
    async iterator(shardId, from) {
      const request =
        'after' in from
          ? { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER' as const, StartingSequenceNumber: from.after }
          : options.atTimestamp
            ? { ShardIteratorType: 'AT_TIMESTAMP' as const, Timestamp: new Date(from.atMs) }
            : { ShardIteratorType: 'TRIM_HORIZON' as const };
      const out = await client.send(
        new GetShardIteratorCommand({ StreamName: streamName, ShardId: shardId, ...request }),
      );
      return out.ShardIterator;
    },
    async read(iterator, limit) {
      const out = await client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: limit }));
      return {
        records: (out.Records ?? []).flatMap((r) =>
          r.SequenceNumber === undefined || r.ApproximateArrivalTimestamp === undefined
            ? []
            : [{ arrivalMs: r.ApproximateArrivalTimestamp.getTime(), sequenceNumber: r.SequenceNumber }],
        ),
        nextIterator: out.NextShardIterator,
        millisBehindLatest: out.MillisBehindLatest ?? 0,
      };
    },
  };
}

/** The evaluator's progress object as read, with its ETag (undefined: none yet). */
export interface VersionedProgress {
  readonly progress: EvaluationProgress;
  readonly etag: string | undefined;
}

/** Reads `rollups/watermarks.json`; an empty one when it does not exist. */
export async function readProgress(store: ObjectStore): Promise<VersionedProgress> {
  const found = await store.getVersioned(EVALUATION_PROGRESS_KEY);
  if (found === undefined) return { progress: { version: 1, shards: {}, incomplete: [] }, etag: undefined };
  return { progress: parseProgress(found.body), etag: found.etag };
}

/** Parses a stored progress object; a `StoreError` when it is not one. */
export function parseProgress(body: Uint8Array): EvaluationProgress {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(body));
  } catch {
    throw new StoreError(`${EVALUATION_PROGRESS_KEY} is not valid JSON: delete it (the evaluator rebuilds it)`);
  }
  const parsed = EvaluationProgress.safeParse(json);
  if (!parsed.success)
    throw new StoreError(`${EVALUATION_PROGRESS_KEY} is not valid: ${describeIssue(parsed.error)} (delete it)`);
  return parsed.data;
}

/**
 * Writes the progress object with the marks proven and the minutes evaluated incomplete added, conditionally on the
 * version read (another evaluator's write wins; its marks are as good, and the next run merges again). Returns
 * whether it was written.
 */
export async function writeProgress(
  store: ObjectStore,
  read: VersionedProgress,
  marks: ReadonlyMap<string, ShardMark>,
  incomplete: readonly IncompleteMinute[],
): Promise<boolean> {
  const merged = new Map<string, ShardMark>();
  mergeMarks(merged, read.progress.shards);
  for (const [shardId, mark] of marks) mergeMarks(merged, { [shardId]: mark });
  const known = new Set(read.progress.incomplete.map((i) => i.minute));
  const next: EvaluationProgress = {
    version: 1,
    shards: marksRecord(merged),
    incomplete: [...read.progress.incomplete, ...incomplete.filter((i) => !known.has(i.minute))]
      .sort((a, b) => a.minute - b.minute)
      .slice(-INCOMPLETE_MINUTES_KEPT),
  };
  const body = new TextEncoder().encode(JSON.stringify(next));
  const etag = await store.putIf(
    EVALUATION_PROGRESS_KEY,
    body,
    'application/json',
    read.etag === undefined ? { ifNoneMatch: '*' } : { ifMatch: read.etag },
  );
  return etag !== undefined;
}
