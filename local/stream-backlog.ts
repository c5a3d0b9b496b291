import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** What a shard of the stream holds beyond its checkpoint, read from kinesalite's LevelDB while kinesalite is closed. */
export interface ShardBacklog {
  readonly shardId: string;
  /** Records after the checkpoint (all of them without one) that are still retained: the next start ingests them. */
  readonly pending: number;
  /** Sequence number of the last record in the shard, if any: the poller has caught up once its checkpoint reaches it. */
  readonly lastSequenceNumber: string | undefined;
  /** Records after the checkpoint older than the retention: Kinesis (and kinesalite) no longer returns them. */
  readonly expired: number;
  /** Arrival of the oldest and newest expired record (ms), when there are some. */
  readonly expiredFromMs: number | undefined;
  readonly expiredToMs: number | undefined;
}

export interface StreamBacklog {
  readonly shards: readonly ShardBacklog[];
  readonly pending: number;
  readonly expired: number;
  readonly retentionHours: number;
}

export interface BacklogOptions {
  /** kinesalite's LevelDB folder (`<dir>/kinesis`). It must not be open: LevelDB allows one opener at a time. */
  readonly path: string;
  readonly streamName: string;
  /**
   * shard id → the last record processed; with `shardStart`, a checkpoint whose shard started elsewhere (an earlier
   * stream of the same name) counts as none.
   */
  readonly checkpoints: Readonly<Record<string, { readonly sequenceNumber: string; readonly shardStart?: string }>>;
  readonly nowMs: number;
}

interface LevelReadable {
  on(event: 'data', listener: (key: string) => void): this;
  on(event: 'error', listener: (error: Error) => void): this;
  on(event: 'end' | 'close', listener: () => void): this;
}
interface SubDb {
  createKeyStream(options: { gt?: string; gte?: string; lt: string }): LevelReadable;
}
interface KinesaliteStore {
  readonly db: { close(callback: (error?: Error) => void): void };
  getStreamDb(name: string): SubDb;
  getStream(name: string, callback: (error: (Error & { name: string }) | null, stream?: StoredStream) => void): void;
}
interface StoredStream {
  readonly RetentionPeriodHours: number;
  readonly Shards: readonly {
    readonly ShardId: string;
    readonly SequenceNumberRange: { readonly StartingSequenceNumber: string };
  }[];
}
interface KinesaliteDb {
  create(options: { path: string }): KinesaliteStore;
  shardIxToHex(shardIx: number): string;
  parseSequence(sequenceNumber: string): { seqTime?: number };
}

/**
 * Counts, per shard, the records of `streamName` after each checkpoint that are pending (the next start ingests
 * them) and those already past the stream's retention (gone: kinesalite drops them on read, as Kinesis does), by
 * reading kinesalite 3.3.3's LevelDB directly: stream `s` keeps record keys `<shard index as 8 hex>/<sequence
 * number>` in the sub-level `stream-s`, and a sequence number carries its arrival second (`parseSequence().seqTime`,
 * the same value kinesalite's own retention check uses). Only keys are read. `undefined` when there is no stream yet.
 */
export async function readStreamBacklog(options: BacklogOptions): Promise<StreamBacklog | undefined> {
  const kdb: KinesaliteDb = require('kinesalite/db');
  const store = kdb.create({ path: options.path });
  try {
    const stream = await new Promise<StoredStream | undefined>((resolve, reject) =>
      store.getStream(options.streamName, (error, found) => {
        if (error?.name === 'NotFoundError') resolve(undefined);
        else if (error) reject(error);
        else resolve(found);
      }),
    );
    if (!stream) return undefined;
    const cutoffMs = options.nowMs - stream.RetentionPeriodHours * 3_600_000;
    const streamDb = store.getStreamDb(options.streamName);
    const shards: ShardBacklog[] = [];
    for (const [shardIx, shard] of stream.Shards.entries()) {
      const saved = options.checkpoints[shard.ShardId];
      const checkpoint =
        saved &&
        (saved.shardStart === undefined || saved.shardStart === shard.SequenceNumberRange.StartingSequenceNumber)
          ? saved.sequenceNumber
          : undefined;
      const hex = kdb.shardIxToHex(shardIx);
      const range = {
        ...(checkpoint ? { gt: `${hex}/${checkpoint}` } : { gte: `${hex}/` }),
        lt: kdb.shardIxToHex(shardIx + 1),
      };
      let pending = 0;
      let expired = 0;
      let expiredFromMs: number | undefined;
      let expiredToMs: number | undefined;
      let last: string | undefined;
      await new Promise<void>((resolve, reject) => {
        streamDb
          .createKeyStream(range)
          .on('data', (key) => {
            const sequenceNumber = key.slice(key.indexOf('/') + 1);
            last = sequenceNumber;
            const arrivalMs = kdb.parseSequence(sequenceNumber).seqTime ?? options.nowMs;
            if (arrivalMs < cutoffMs) {
              expired++;
              expiredFromMs ??= arrivalMs;
              expiredToMs = arrivalMs;
            } else pending++;
          })
          .on('error', reject)
          .on('end', resolve);
      });
      shards.push({
        shardId: shard.ShardId,
        pending,
        lastSequenceNumber: last ?? checkpoint,
        expired,
        expiredFromMs,
        expiredToMs,
      });
    }
    return {
      shards,
      pending: shards.reduce((n, s) => n + s.pending, 0),
      expired: shards.reduce((n, s) => n + s.expired, 0),
      retentionHours: stream.RetentionPeriodHours,
    };
  } finally {
    await new Promise<void>((resolve) => store.db.close(() => resolve()));
  }
}

/**
 * `1,234 records are not ingested yet (shardId-000000000000 1,000, shardId-000000000001 234)` or
 * `nothing pending in the stream`.
 */
export function describePending(backlog: StreamBacklog): string {
  if (backlog.pending === 0) return 'nothing pending in the stream';
  const per = backlog.shards
    .filter((s) => s.pending > 0)
    .map((s) => `${s.shardId} ${s.pending.toLocaleString('en-US')}`)
    .join(', ');
  return `${backlog.pending.toLocaleString('en-US')} record${backlog.pending === 1 ? '' : 's'} accepted by the stream not ingested yet (${per})`;
}

/**
 * `2,000 records past the stream's 24 h retention were never ingested (arrived 2026-12-01 07:00:00Z – 07:05:10Z)`,
 * or `undefined` when none expired.
 */
export function describeExpired(backlog: StreamBacklog): string | undefined {
  if (backlog.expired === 0) return undefined;
  const from = Math.min(...backlog.shards.flatMap((s) => (s.expiredFromMs === undefined ? [] : [s.expiredFromMs])));
  const to = Math.max(...backlog.shards.flatMap((s) => (s.expiredToMs === undefined ? [] : [s.expiredToMs])));
  const n = backlog.expired;
  return (
    `${n.toLocaleString('en-US')} record${n === 1 ? '' : 's'} older than the stream's ${backlog.retentionHours} h retention ` +
    `${n === 1 ? 'was' : 'were'} never ingested and ${n === 1 ? 'is' : 'are'} gone (arrived ${isoSeconds(from)} to ${isoSeconds(to)})`
  );
}

function isoSeconds(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}
