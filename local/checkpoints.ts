import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';

/** Where the poller has got to in one shard: written after the handler succeeded for the records up to it. */
export const ShardCheckpoint = z.object({
  shardId: z.string().min(1),
  /** The last record processed (or given up on): resume AFTER_SEQUENCE_NUMBER of it. */
  sequenceNumber: z.string().regex(/^\d+$/),
  /** Its `ApproximateArrivalTimestamp`, ms. */
  arrivalMs: z.number().int().nonnegative(),
  /** The shard's starting sequence number: a checkpoint of an earlier stream of the same name is not used. */
  shardStart: z.string(),
  /** When it was written, ms. */
  writtenMs: z.number().int().nonnegative(),
});
export type ShardCheckpoint = z.infer<typeof ShardCheckpoint>;

/** The poller's checkpoints of one stream, one file per shard under `<dir>/checkpoints/<stream>/`. */
export interface CheckpointStore {
  readonly folder: string;
  /** Every readable checkpoint; unreadable files are reported in `ignored` (the shard then starts from TRIM_HORIZON). */
  load(): Promise<{ checkpoints: ShardCheckpoint[]; ignored: string[] }>;
  /** Atomically replaces the shard's checkpoint: temp file, fsync, rename. */
  save(checkpoint: ShardCheckpoint): Promise<void>;
}

export function checkpointFolder(dir: string, streamName: string): string {
  return join(dir, 'checkpoints', streamName);
}

/**
 * A file per shard, replaced atomically, so a crash (kill -9, power loss) leaves either the old or the new checkpoint,
 * never a torn one: the temp file is fsynced before it is renamed over the old one.
 */
export function checkpointStore(dir: string, streamName: string): CheckpointStore {
  const folder = checkpointFolder(dir, streamName);
  let made = false;
  return {
    folder,
    async load() {
      let names: string[];
      try {
        names = await readdir(folder);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { checkpoints: [], ignored: [] };
        throw error;
      }
      const checkpoints: ShardCheckpoint[] = [];
      const ignored: string[] = [];
      for (const name of names.sort()) {
        if (name.includes('.tmp-')) {
          // left by a crash between write and rename: the previous checkpoint file is still whole
          await rm(join(folder, name), { force: true });
          continue;
        }
        if (!name.endsWith('.json')) continue;
        const parsed = ShardCheckpoint.safeParse(await readJson(join(folder, name)));
        if (parsed.success && `${parsed.data.shardId}.json` === name) checkpoints.push(parsed.data);
        else ignored.push(name);
      }
      return { checkpoints, ignored };
    },
    async save(checkpoint) {
      if (!made) {
        await mkdir(folder, { recursive: true });
        made = true;
      }
      const path = join(folder, `${checkpoint.shardId}.json`);
      const tmp = `${path}.tmp-${process.pid}`;
      const file = await open(tmp, 'w');
      try {
        await file.writeFile(`${JSON.stringify(checkpoint)}\n`);
        await file.sync();
      } finally {
        await file.close();
      }
      // No fsync of the folder after the rename (it costs ~14 ms more per batch here, 4.4 → 19 ms): it only matters
      // on power loss, which the stream's own records (LevelDB, no fsync) do not survive either; losing the rename
      // there leaves the previous checkpoint, i.e. one batch re-delivered onto its own keys.
      await rename(tmp, path);
    },
  };
}

async function readJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, 'utf8'));
  } catch {
    return undefined;
  }
}
