import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { afterEach, describe, expect, it } from 'vitest';
import { IngestTally, ingestHandler } from '../../cli/local-up-command.ts';
import { kinesisClient } from '../../functions/core/aws-clients.ts';
import { createLogger } from '../../functions/core/logger.ts';
import type { KinesisBatchHandler } from '../../local/poller.ts';
import { type LocalStack, type LocalStackOptions, startLocalStack } from '../../local/stack.ts';
import { describeExpired, type StreamBacklog } from '../../local/stream-backlog.ts';
import { listTableFiles } from '../../query/local-query.ts';
import { duckQuery } from '../support/duckdb.ts';

const TOTAL = 1_000;
const quiet = createLogger({ service: 'test', write: () => undefined });

/** A local stack (real kinesalite on disk, s3rver, poller) invoking the real ingest function. */
async function stackWithIngest(
  dir: string,
  options: Partial<LocalStackOptions> & { onInvoke?: () => void },
): Promise<LocalStack> {
  const { onInvoke, ...stackOptions } = options;
  let handler: KinesisBatchHandler | undefined;
  const stack = await startLocalStack({
    dir,
    shards: 1,
    pollIntervalMs: 20,
    retryBackoffMs: 0,
    ...stackOptions,
    handler: async (event) => {
      onInvoke?.();
      return (handler as KinesisBatchHandler)(event);
    },
  });
  handler = await ingestHandler(stack.endpoints, quiet, new IngestTally(), {});
  return stack;
}

async function storedIds(stack: LocalStack): Promise<Map<string, number>> {
  const files = await listTableFiles(stack.endpoints.dataDir, stack.endpoints.bucket, 'logs');
  const rows = await duckQuery(
    `SELECT body AS id, count(*)::INT AS n FROM read_parquet([${files.map((f) => `'${f}'`).join(', ')}]) GROUP BY body`,
  );
  return new Map(rows.map((r) => [String(r.id), Number(r.n)]));
}

describe('re-delivery after a crash between a batch and its checkpoint', () => {
  const dirs: string[] = [];
  const stacks: LocalStack[] = [];
  afterEach(async () => {
    for (const stack of stacks.splice(0)) await stack.stop().catch(() => undefined);
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  it.each([
    ['smaller', 37],
    ['larger', 500],
  ])(
    'writes every record once when the restart re-reads the unpersisted batch in %s batches',
    async (_name, batchSize) => {
      // Prepare: a stack whose 4th checkpoint never reaches the disk (as if killed right after the handler succeeded)
      const dir = await mkdtemp(join(tmpdir(), 'skein-redelivery-'));
      dirs.push(dir);
      let saves = 0;
      let invocations = 0;
      let invokedWhileUnwritten = 0;
      let lost!: () => void;
      const checkpointLost = new Promise<void>((resolve) => {
        lost = resolve;
      });
      const first = await stackWithIngest(dir, {
        batchSize: 100,
        onInvoke: () => {
          invocations++;
          if (saves > 3) invokedWhileUnwritten++;
        },
        onCheckpoint: async () => {
          if (++saves <= 3) return;
          // The poller retries the write (10, 20, 40 … ms apart); it must not invoke the next batch meanwhile.
          if (saves >= 10) lost();
          throw new Error('simulated crash: checkpoint not written');
        },
      });
      stacks.push(first);
      const kinesis = kinesisClient({ endpoint: first.endpoints.kinesis });
      const ids = Array.from({ length: TOTAL }, (_, i) => `redeliver-${i}`);
      for (let i = 0; i < TOTAL; i += 500)
        await kinesis.send(
          new PutRecordsCommand({
            StreamName: first.endpoints.stream,
            Records: ids.slice(i, i + 500).map((id) => ({
              Data: Buffer.from(JSON.stringify({ level: 'info', msg: id, ts: new Date().toISOString() })),
              PartitionKey: id,
            })),
          }),
        );
      kinesis.destroy();

      // Act: "crash" once the 4th batch was ingested and its checkpoint failed 7 times; restart with other boundaries
      await checkpointLost;
      const firstStats = first.poller.stats();
      const stopped = await first.stop();
      const second = await stackWithIngest(dir, { batchSize });
      stacks.push(second);
      await second.caughtUp;
      const stored = await storedIds(second);
      const secondStats = second.poller.stats();

      // Assess: the restart re-delivered what the first run had ingested past its persisted checkpoint …
      const [shard] = firstStats.shards;
      expect(invocations).toBe(4);
      expect(invokedWhileUnwritten).toBe(0);
      expect(shard?.persisted).toBeDefined();
      expect(shard?.checkpoint).not.toBe(shard?.persisted);
      expect(stopped.backlog?.pending).toBeGreaterThan(TOTAL - firstStats.records);
      expect(second.resumed.checkpoints[shard?.shardId ?? '']).toBe(shard?.persisted);
      expect(firstStats.records + secondStats.records).toBeGreaterThan(TOTAL);
      // … and every record is stored exactly once (D1: the re-delivered batch starts at the same record, same keys)
      const missing = ids.filter((id) => !stored.has(id));
      const doubled = [...stored].filter(([, n]) => n !== 1).map(([id, n]) => `${id}×${n}`);
      expect(missing, `missing ${missing.join(', ')}`).toEqual([]);
      expect(doubled, `doubled ${doubled.join(', ')}`).toEqual([]);
      expect(stored.size).toBe(TOTAL);
    },
  );
});

describe('records past the stream retention', () => {
  it('counts the records after a checkpoint that are older than the retention, with when they arrived', async () => {
    // Prepare: 10 records ingested and checkpointed, then 30 the handler fails on, left in the stream at stop
    const dir = await mkdtemp(join(tmpdir(), 'skein-retention-'));
    let accept = true;
    let processed!: () => void;
    const tenDone = new Promise<void>((resolve) => {
      processed = resolve;
    });
    const first = await startLocalStack({
      dir,
      shards: 1,
      pollIntervalMs: 20,
      retryBackoffMs: 0,
      handler: async () => {
        if (!accept) throw new Error('handler down');
        return { batchItemFailures: [] };
      },
      onCheckpoint: async () => {
        if (first?.poller.stats().records === 10) processed();
      },
    });
    try {
      const kinesis = kinesisClient({ endpoint: first.endpoints.kinesis });
      const send = (from: number, n: number) =>
        kinesis.send(
          new PutRecordsCommand({
            StreamName: first.endpoints.stream,
            Records: Array.from({ length: n }, (_, i) => ({ Data: Buffer.from(`r${from + i}`), PartitionKey: 'k' })),
          }),
        );
      const before = Date.now();
      await send(0, 10);
      await tenDone;
      accept = false;
      await send(10, 30);
      const after = Date.now();
      kinesis.destroy();
      const stopped = await first.stop();

      // Act: start again 25 hours later (kinesalite's default retention is 24 h, its minimum too)
      const later = await startLocalStack({
        dir,
        shards: 1,
        pollIntervalMs: 20,
        handler: async () => ({ batchItemFailures: [] }),
        now: () => Date.now() + 25 * 3_600_000,
      });
      const { resumed } = later;
      await later.stop();

      // Assess
      expect(stopped.backlog).toMatchObject({ pending: 30, expired: 0, retentionHours: 24 });
      expect(resumed.backlog).toMatchObject({ pending: 0, expired: 30, retentionHours: 24 });
      const [shard] = resumed.backlog?.shards ?? [];
      expect(shard?.expiredFromMs).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
      expect(shard?.expiredToMs).toBeLessThanOrEqual(after);
      expect(describeExpired(resumed.backlog as StreamBacklog)).toMatch(
        /^30 records older than the stream's 24 h retention were never ingested and are gone \(arrived \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ to \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)$/,
      );
    } finally {
      await first.stop().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
