import { open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { SkeinError } from '../schemas/errors.ts';

export const LOCK_FILE = 'local-up.lock';

/** Another live process holds the state folder. */
export class StateInUseError extends SkeinError {
  constructor(
    message: string,
    readonly pid: number,
  ) {
    super('state_in_use', message);
  }
}

export interface StateLock {
  readonly path: string;
  /** The pid of a process that held the lock, died without releasing it (kill -9) and was taken over from. */
  readonly tookOverFrom: number | undefined;
  /** Removes the lock file if it is still ours. */
  release(): Promise<void>;
}

/**
 * Takes `<dir>/local-up.lock` (created exclusively, holding this pid). A lock whose pid is alive refuses with a
 * {@link StateInUseError}; a lock whose pid is gone (the holder was killed) or that holds no pid is taken over.
 * Not covered: two processes taking over the same stale lock in the same few microseconds (both may remove it before
 * either creates it; the second kinesalite then fails on LevelDB's own lock), and a dead holder's pid reused by an
 * unrelated process (refused as in use: the message names the pid to check).
 */
export async function acquireStateLock(dir: string, pid: number = process.pid): Promise<StateLock> {
  const path = join(dir, LOCK_FILE);
  let tookOverFrom: number | undefined;
  for (let attempt = 0; ; attempt++) {
    try {
      const file = await open(path, 'wx');
      try {
        await file.writeFile(`${pid}\n`);
        await file.sync();
      } finally {
        await file.close();
      }
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = await readPid(path);
      if (holder !== undefined && holder !== pid && isAlive(holder))
        throw new StateInUseError(
          `${dir} is in use by skein local up (pid ${holder}): stop that one first, or pass another --dir`,
          holder,
        );
      if (attempt > 0)
        throw new StateInUseError(`${dir} is being taken over by another skein local up: try again`, holder ?? 0);
      tookOverFrom = holder;
      await rm(path, { force: true });
    }
  }
  return {
    path,
    tookOverFrom,
    async release() {
      if ((await readPid(path)) === pid) await rm(path, { force: true });
    },
  };
}

async function readPid(path: string): Promise<number | undefined> {
  try {
    const text = (await readFile(path, 'utf8')).trim();
    return /^\d+$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined;
  }
}

/** Signal 0 checks that the process exists; EPERM means it exists under another user. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
