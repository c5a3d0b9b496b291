import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ListShardsCommand } from '@aws-sdk/client-kinesis';
import { kinesisClient } from '../functions/core/aws-clients.ts';
import { type CheckpointStore, checkpointStore, type ShardCheckpoint } from './checkpoints.ts';
import { kinesisDir, type StreamFound, startEmulators } from './emulators.ts';
import { type Endpoints, writeEndpoints } from './endpoints.ts';
import { type KinesisBatchHandler, type Poller, type PollerOptions, startPoller } from './poller.ts';
import { acquireStateLock, type StateLock } from './state-lock.ts';
import { readStreamBacklog, type StreamBacklog } from './stream-backlog.ts';

export const DEFAULT_STREAM = 'skein-local';
export const DEFAULT_BUCKET = 'skein-local';

export interface LocalStackOptions extends Omit<PollerOptions, 'kinesis' | 'streamName' | 'handler' | 'checkpoints'> {
  /**
   * State folder (created): `endpoints.json`, the lock `local-up.lock`, kinesalite's LevelDB under `kinesis/`, the
   * poller's checkpoints under `checkpoints/<stream>/` and s3rver's objects under `s3/`.
   */
  readonly dir: string;
  /** Shards of the stream when it is created (default 2); an existing stream keeps its own. */
  readonly shards?: number;
  readonly streamName?: string;
  readonly bucket?: string;
  /** The function the poller invokes with each batch, like Lambda would invoke the ingest function. */
  readonly handler: KinesisBatchHandler;
  /** Fixed ports; free ones by default. */
  readonly kinesisPort?: number;
  readonly s3Port?: number;
  /** For the retention check (default `Date.now`). */
  readonly now?: () => number;
}

/** What a start found in the state folder. */
export interface Resumed {
  readonly stream: StreamFound;
  /** shard id → the checkpoint the poller resumed after (shards without one start at TRIM_HORIZON). */
  readonly checkpoints: Readonly<Record<string, string>>;
  /** Records left in the stream by earlier runs, as found before kinesalite opened it (`undefined`: new stream). */
  readonly backlog: StreamBacklog | undefined;
  /** Checkpoint files not used: unreadable, or of an earlier stream of the same name. */
  readonly ignoredCheckpoints: readonly string[];
  /** The pid of a killed `local up` whose lock was taken over. */
  readonly tookOverFrom: number | undefined;
}

/** What a stop left behind. */
export interface Stopped {
  /** Records still in the stream after the persisted checkpoints: the next start ingests them. */
  readonly backlog: StreamBacklog | undefined;
}

export interface LocalStack {
  readonly endpoints: Endpoints;
  readonly poller: Poller;
  readonly resumed: Resumed;
  /** Resolves once every record that was pending at start has been processed (at once when none was). */
  readonly caughtUp: Promise<void>;
  /**
   * Stops the poller (the invocation in flight finishes and its checkpoint is persisted; records read but not yet
   * sent are left in the stream), then both emulators, then counts what is pending and releases the lock.
   * `endpoints.json` stays.
   */
  stop(): Promise<Stopped>;
}

/**
 * Takes the state folder's lock, starts kinesalite (on disk) and s3rver, creates or adopts the stream and creates the
 * bucket, starts the event-source poller with `handler` from the persisted checkpoints and writes
 * `<dir>/endpoints.json`. Fails with a `StateInUseError` when another live process runs a stack on `dir`.
 *
 * @example
 * const stack = await startLocalStack({ dir: '.skein', handler: async (event) => ({ batchItemFailures: [] }) });
 * // producers put records to stack.endpoints.kinesis; objects appear under stack.endpoints.dataDir
 * await stack.stop();
 */
export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const { dir, shards, handler, kinesisPort, s3Port, now = Date.now, ...pollerOptions } = options;
  const streamName = options.streamName ?? DEFAULT_STREAM;
  const bucket = options.bucket ?? DEFAULT_BUCKET;
  const absoluteDir = resolve(dir);
  await mkdir(absoluteDir, { recursive: true });
  const lock = await acquireStateLock(dir);
  try {
    const settings = { absoluteDir, streamName, bucket, lock, now, handler, shards, kinesisPort, s3Port };
    return await startLocked(settings, pollerOptions);
  } catch (error) {
    await lock.release();
    throw error;
  }
}

interface StartSettings {
  readonly absoluteDir: string;
  readonly streamName: string;
  readonly bucket: string;
  readonly lock: StateLock;
  readonly now: () => number;
  readonly handler: KinesisBatchHandler;
  readonly shards: number | undefined;
  readonly kinesisPort: number | undefined;
  readonly s3Port: number | undefined;
}

async function startLocked(
  options: StartSettings,
  pollerOptions: Omit<PollerOptions, 'kinesis' | 'streamName' | 'handler'>,
): Promise<LocalStack> {
  const { absoluteDir, streamName, bucket, lock, now, shards, kinesisPort, s3Port, handler } = options;
  const store = checkpointStore(absoluteDir, streamName);
  const saved = await store.load();
  // Counted before kinesalite opens the LevelDB: once it runs, it drops records past the retention as it reads them.
  const backlog = await readStreamBacklog({
    path: kinesisDir(absoluteDir),
    streamName,
    checkpoints: Object.fromEntries(saved.checkpoints.map((c) => [c.shardId, c])),
    nowMs: now(),
  });
  const emulators = await startEmulators({
    dir: absoluteDir,
    streamName,
    bucket,
    ...(shards !== undefined ? { shards } : {}),
    ...(kinesisPort !== undefined ? { kinesisPort } : {}),
    ...(s3Port !== undefined ? { s3Port } : {}),
  });
  const kinesis = kinesisClient({ endpoint: emulators.kinesisEndpoint });
  let poller: Poller | undefined;
  const endpoints: Endpoints = {
    kinesis: emulators.kinesisEndpoint,
    s3: emulators.s3Endpoint,
    stream: streamName,
    bucket,
    dataDir: emulators.dataDir,
  };
  try {
    const shardStarts = await listShardStarts(kinesis, streamName);
    const { checkpoints, ignored } = usableCheckpoints(saved.checkpoints, shardStarts);
    const progress = catchUp(backlog, checkpoints);
    poller = await startPoller({
      ...pollerOptions,
      kinesis,
      streamName,
      handler,
      checkpoints,
      onCheckpoint: async (shardId, last) => {
        await pollerOptions.onCheckpoint?.(shardId, last);
        await saveCheckpoint(store, shardId, last, shardStarts.get(shardId) ?? '');
        progress.reached(shardId, last.sequenceNumber);
      },
    });
    await writeEndpoints(absoluteDir, endpoints);
    const running = poller;
    let stopping: Promise<Stopped> | undefined;
    return {
      endpoints,
      poller: running,
      resumed: {
        stream: emulators.stream,
        checkpoints,
        backlog,
        ignoredCheckpoints: [...saved.ignored, ...ignored],
        tookOverFrom: lock.tookOverFrom,
      },
      caughtUp: progress.done,
      stop() {
        stopping ??= (async () => {
          try {
            try {
              await running.stop();
            } finally {
              kinesis.destroy();
              await emulators.stop();
            }
            const persisted: Record<string, { sequenceNumber: string }> = {};
            for (const shard of running.stats().shards)
              if (shard.persisted) persisted[shard.shardId] = { sequenceNumber: shard.persisted };
            return {
              backlog: await readStreamBacklog({
                path: kinesisDir(absoluteDir),
                streamName,
                checkpoints: persisted,
                nowMs: now(),
              }),
            };
          } finally {
            await lock.release();
          }
        })();
        return stopping;
      },
    };
  } catch (error) {
    await poller?.stop();
    kinesis.destroy();
    await emulators.stop();
    throw error;
  }
}

async function saveCheckpoint(
  store: CheckpointStore,
  shardId: string,
  last: { readonly sequenceNumber: string; readonly arrivalMs: number },
  shardStart: string,
): Promise<void> {
  const checkpoint: ShardCheckpoint = {
    shardId,
    sequenceNumber: last.sequenceNumber,
    arrivalMs: Math.max(0, Math.round(last.arrivalMs)),
    shardStart,
    writtenMs: Date.now(),
  };
  await store.save(checkpoint);
}

/** The checkpoints of shards that still exist with the same starting sequence number (i.e. the same stream). */
export function usableCheckpoints(
  saved: readonly ShardCheckpoint[],
  shardStarts: ReadonlyMap<string, string>,
): { checkpoints: Record<string, string>; ignored: string[] } {
  const checkpoints: Record<string, string> = {};
  const ignored: string[] = [];
  for (const c of saved) {
    if (shardStarts.get(c.shardId) === c.shardStart) checkpoints[c.shardId] = c.sequenceNumber;
    else ignored.push(`${c.shardId}.json (${shardStarts.has(c.shardId) ? 'of an earlier stream' : 'no such shard'})`);
  }
  return { checkpoints, ignored };
}

async function listShardStarts(
  kinesis: ReturnType<typeof kinesisClient>,
  streamName: string,
): Promise<Map<string, string>> {
  const starts = new Map<string, string>();
  let nextToken: string | undefined;
  do {
    const out = await kinesis.send(
      new ListShardsCommand(nextToken ? { NextToken: nextToken } : { StreamName: streamName }),
    );
    for (const shard of out.Shards ?? [])
      if (shard.ShardId) starts.set(shard.ShardId, shard.SequenceNumberRange?.StartingSequenceNumber ?? '');
    nextToken = out.NextToken;
  } while (nextToken);
  return starts;
}

/** Resolves `done` once every shard's checkpoint has reached the last record it held at start. */
function catchUp(backlog: StreamBacklog | undefined, checkpoints: Readonly<Record<string, string>>) {
  const targets = new Map<string, bigint>();
  for (const shard of backlog?.shards ?? []) {
    if (shard.pending === 0 || shard.lastSequenceNumber === undefined) continue;
    const from = checkpoints[shard.shardId];
    if (from !== undefined && BigInt(from) >= BigInt(shard.lastSequenceNumber)) continue;
    targets.set(shard.shardId, BigInt(shard.lastSequenceNumber));
  }
  let resolveDone!: () => void;
  const done = new Promise<void>((resolve) => {
    resolveDone = resolve;
  });
  if (targets.size === 0) resolveDone();
  return {
    done,
    reached(shardId: string, sequenceNumber: string) {
      const target = targets.get(shardId);
      if (target === undefined || BigInt(sequenceNumber) < target) return;
      targets.delete(shardId);
      if (targets.size === 0) resolveDone();
    },
  };
}
