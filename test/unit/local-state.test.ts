import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkpointStore, type ShardCheckpoint } from '../../local/checkpoints.ts';
import { usableCheckpoints } from '../../local/stack.ts';
import { acquireStateLock, LOCK_FILE, StateInUseError } from '../../local/state-lock.ts';
import { describeExpired, describePending, type StreamBacklog } from '../../local/stream-backlog.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'skein-state-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid ?? 0;
}

describe('acquireStateLock', () => {
  it('creates the lock with this pid and removes it on release', async () => {
    // Act
    const lock = await acquireStateLock(dir);
    const text = await readFile(join(dir, LOCK_FILE), 'utf8');
    await lock.release();
    // Assess
    expect(text).toBe(`${process.pid}\n`);
    expect(lock.tookOverFrom).toBeUndefined();
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuses a folder whose lock holds a live pid, naming it, and leaves the lock alone', async () => {
    // Prepare: the parent of this process is alive and is not us
    await writeFile(join(dir, LOCK_FILE), `${process.ppid}\n`);
    // Act
    const error = await acquireStateLock(dir).catch((e: unknown) => e);
    // Assess
    expect(error).toBeInstanceOf(StateInUseError);
    expect((error as Error).message).toBe(
      `${dir} is in use by skein local up (pid ${process.ppid}): stop that one first, or pass another --dir`,
    );
    expect(await readFile(join(dir, LOCK_FILE), 'utf8')).toBe(`${process.ppid}\n`);
  });

  it('takes over a lock left by a process that is gone, and says whose it was', async () => {
    // Prepare
    const pid = await deadPid();
    await writeFile(join(dir, LOCK_FILE), `${pid}\n`);
    // Act
    const lock = await acquireStateLock(dir);
    // Assess
    expect(lock.tookOverFrom).toBe(pid);
    expect(await readFile(join(dir, LOCK_FILE), 'utf8')).toBe(`${process.pid}\n`);
    await lock.release();
  });

  it('takes over an empty or garbled lock file', async () => {
    await writeFile(join(dir, LOCK_FILE), 'not a pid');
    const lock = await acquireStateLock(dir);
    expect(lock.tookOverFrom).toBeUndefined();
    await lock.release();
  });

  it('does not remove a lock another process took after it on release', async () => {
    const lock = await acquireStateLock(dir);
    await writeFile(join(dir, LOCK_FILE), `${process.ppid}\n`);
    await lock.release();
    expect(await readFile(join(dir, LOCK_FILE), 'utf8')).toBe(`${process.ppid}\n`);
  });
});

const aCheckpoint = (shardId: string, sequenceNumber: string): ShardCheckpoint => ({
  shardId,
  sequenceNumber,
  arrivalMs: 1_700_000_000_000,
  shardStart: '100',
  writtenMs: 1_700_000_000_500,
});

describe('checkpointStore', () => {
  it('keeps one file per shard, the last write winning, and loads them back', async () => {
    // Prepare
    const store = checkpointStore(dir, 'skein-local');
    // Act
    await store.save(aCheckpoint('shardId-000000000000', '101'));
    await store.save(aCheckpoint('shardId-000000000001', '201'));
    await store.save(aCheckpoint('shardId-000000000000', '102'));
    const loaded = await checkpointStore(dir, 'skein-local').load();
    // Assess
    expect(loaded.checkpoints).toEqual([
      aCheckpoint('shardId-000000000000', '102'),
      aCheckpoint('shardId-000000000001', '201'),
    ]);
    expect(loaded.ignored).toEqual([]);
    expect((await readdir(store.folder)).sort()).toEqual(['shardId-000000000000.json', 'shardId-000000000001.json']);
  });

  it('loads nothing from a folder without checkpoints', async () => {
    expect(await checkpointStore(dir, 'skein-local').load()).toEqual({ checkpoints: [], ignored: [] });
  });

  it('ignores an unreadable file, and removes a temp file a crash left before its rename', async () => {
    // Prepare
    const store = checkpointStore(dir, 'skein-local');
    await store.save(aCheckpoint('shardId-000000000000', '101'));
    await writeFile(join(store.folder, 'shardId-000000000001.json'), '{"shardId": "shardId-0000');
    await writeFile(join(store.folder, 'shardId-000000000000.json.tmp-999'), '{"half":');
    // Act
    const loaded = await store.load();
    // Assess
    expect(loaded.checkpoints).toEqual([aCheckpoint('shardId-000000000000', '101')]);
    expect(loaded.ignored).toEqual(['shardId-000000000001.json']);
    expect(await readdir(store.folder)).not.toContain('shardId-000000000000.json.tmp-999');
  });
});

describe('usableCheckpoints', () => {
  it('uses checkpoints of shards that start where they started, and says why it drops the others', () => {
    const starts = new Map([
      ['shardId-000000000000', '100'],
      ['shardId-000000000001', '555'],
    ]);
    const result = usableCheckpoints(
      [
        aCheckpoint('shardId-000000000000', '101'),
        aCheckpoint('shardId-000000000001', '201'),
        aCheckpoint('shardId-000000000007', '301'),
      ],
      starts,
    );
    expect(result).toEqual({
      checkpoints: { 'shardId-000000000000': '101' },
      ignored: ['shardId-000000000001.json (of an earlier stream)', 'shardId-000000000007.json (no such shard)'],
    });
  });
});

describe('describing the backlog', () => {
  const backlog = (shards: StreamBacklog['shards']): StreamBacklog => ({
    shards,
    pending: shards.reduce((n, s) => n + s.pending, 0),
    expired: shards.reduce((n, s) => n + s.expired, 0),
    retentionHours: 24,
  });
  const shard = (shardId: string, pending: number, expired = 0, from?: number, to?: number) => ({
    shardId,
    pending,
    expired,
    lastSequenceNumber: '1',
    expiredFromMs: from,
    expiredToMs: to,
  });

  it('says nothing is pending, or how many records per shard', () => {
    expect(describePending(backlog([shard('s-0', 0), shard('s-1', 0)]))).toBe('nothing pending in the stream');
    expect(describePending(backlog([shard('s-0', 1_000), shard('s-1', 234), shard('s-2', 0)]))).toBe(
      '1,234 records accepted by the stream not ingested yet (s-0 1,000, s-1 234)',
    );
    expect(describePending(backlog([shard('s-0', 1)]))).toBe(
      '1 record accepted by the stream not ingested yet (s-0 1)',
    );
  });

  it('says how many records expired and when the oldest and newest of them arrived', () => {
    const t0 = Date.UTC(2026, 11, 1, 7, 0, 0, 400);
    expect(describeExpired(backlog([shard('s-0', 0)]))).toBeUndefined();
    expect(
      describeExpired(backlog([shard('s-0', 5, 1_500, t0 + 60_000, t0 + 310_000), shard('s-1', 0, 500, t0, t0)])),
    ).toBe(
      "2,000 records older than the stream's 24 h retention were never ingested and are gone (arrived 2026-12-01T07:00:00Z to 2026-12-01T07:05:10Z)",
    );
  });
});
