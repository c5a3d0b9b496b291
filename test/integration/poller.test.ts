import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kinesisClient } from '../../functions/core/aws-clients.ts';
import { type Emulators, startEmulators } from '../../local/emulators.ts';
import { type FailureInfo, type KinesisBatchHandler, type Poller, startPoller } from '../../local/poller.ts';

interface Seen {
  shardId: string;
  sequenceNumber: string;
  text: string;
}

/** A handler that records what it is given and lets a test await "n records seen". */
function recordingHandler(
  respond: (event: KinesisStreamEvent, call: number) => Promise<KinesisStreamBatchResponse | undefined> = async () =>
    undefined,
) {
  const seen: Seen[] = [];
  const batches: Seen[][] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  let call = 0;
  const handler: KinesisBatchHandler = async (event) => {
    const batch = event.Records.map((r) => ({
      shardId: r.eventID.split(':')[0] ?? '',
      sequenceNumber: r.kinesis.sequenceNumber,
      text: Buffer.from(r.kinesis.data, 'base64').toString('utf8'),
    }));
    batches.push(batch);
    const response = await respond(event, call++);
    if (!response?.batchItemFailures?.length) seen.push(...batch);
    else {
      const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
      seen.push(
        ...batch.slice(
          0,
          batch.findIndex((r) => failed.has(r.sequenceNumber)),
        ),
      );
    }
    for (const w of waiters.filter((w) => seen.length >= w.n)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
    return response;
  };
  const seenAtLeast = (n: number) =>
    seen.length >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve }));
  return { handler, seen, batches, seenAtLeast };
}

async function put(kinesis: KinesisClient, streamName: string, texts: string[]): Promise<void> {
  for (let i = 0; i < texts.length; i += 500) {
    const out = await kinesis.send(
      new PutRecordsCommand({
        StreamName: streamName,
        Records: texts
          .slice(i, i + 500)
          .map((text, j) => ({ Data: Buffer.from(text), PartitionKey: `pk-${(i + j) % 97}` })),
      }),
    );
    expect(out.FailedRecordCount ?? 0).toBe(0);
  }
}

const texts = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

describe('the Kinesis poller against kinesalite', () => {
  let dir: string;
  let emulators: Emulators;
  let kinesis: KinesisClient;
  let streamCounter = 0;
  const pollers: Poller[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'skein-poller-'));
    emulators = await startEmulators({ dir, streamName: 'unused', bucket: 'unused', shards: 1 });
    kinesis = kinesisClient({ endpoint: emulators.kinesisEndpoint });
  });

  afterAll(async () => {
    await Promise.all(pollers.map((p) => p.stop()));
    kinesis?.destroy();
    await emulators?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** A fresh stream per test, so tests do not see each other's records. */
  async function newStream(shards: number): Promise<string> {
    const { CreateStreamCommand, waitUntilStreamExists } = await import('@aws-sdk/client-kinesis');
    const name = `poller-test-${++streamCounter}`;
    await kinesis.send(new CreateStreamCommand({ StreamName: name, ShardCount: shards }));
    await waitUntilStreamExists(
      { client: kinesis, minDelay: 0.05, maxDelay: 0.25, maxWaitTime: 30 },
      { StreamName: name },
    );
    return name;
  }

  async function poll(options: Omit<Parameters<typeof startPoller>[0], 'kinesis'>): Promise<Poller> {
    const poller = await startPoller({ kinesis, pollIntervalMs: 20, retryBackoffMs: 0, ...options });
    pollers.push(poller);
    return poller;
  }

  it('delivers every record once, in order per shard, as a real KinesisStreamEvent', async () => {
    // Prepare
    const streamName = await newStream(2);
    const events: KinesisStreamEvent[] = [];
    const rec = recordingHandler(async (event) => {
      events.push(event);
      return { batchItemFailures: [] };
    });
    const poller = await poll({ streamName, handler: rec.handler, batchSize: 50 });
    const sent = texts('a', 600);
    // Act
    await put(kinesis, streamName, sent);
    await rec.seenAtLeast(sent.length);
    // Assess
    expect(rec.seen.map((s) => s.text).sort()).toEqual([...sent].sort());
    for (const shardId of new Set(rec.seen.map((s) => s.shardId))) {
      const order = rec.seen.filter((s) => s.shardId === shardId).map((s) => BigInt(s.sequenceNumber));
      expect(order).toEqual([...order].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    expect(new Set(rec.seen.map((s) => s.shardId)).size).toBe(2);
    expect(Math.max(...rec.batches.map((b) => b.length))).toBeLessThanOrEqual(50);
    const first = events[0]?.Records[0];
    expect(first).toMatchObject({
      eventSource: 'aws:kinesis',
      eventVersion: '1.0',
      eventName: 'aws:kinesis:record',
      awsRegion: 'us-east-1',
      eventSourceARN: `arn:aws:kinesis:us-east-1:000000000000:stream/${streamName}`,
      kinesis: { kinesisSchemaVersion: '1.0' },
    });
    expect(first?.eventID).toBe(`${first?.eventID.split(':')[0]}:${first?.kinesis.sequenceNumber}`);
    expect(first?.kinesis.approximateArrivalTimestamp).toBeCloseTo(Date.now() / 1000, -2);
    await poller.stop(); // the poller counts after the handler returns
    const stats = poller.stats();
    expect(stats.records).toBe(600);
    expect(stats.retries).toBe(0);
    expect(stats.shards.every((s) => s.checkpoint !== undefined)).toBe(true);
  });

  it('retries from the lowest failed record of a partial batch response', async () => {
    // Prepare
    const streamName = await newStream(1);
    const rec = recordingHandler(async (event, call) => {
      const failed = event.Records[4]?.kinesis.sequenceNumber;
      const later = event.Records[7]?.kinesis.sequenceNumber;
      return call === 0 && failed && later
        ? { batchItemFailures: [{ itemIdentifier: later }, { itemIdentifier: failed }] }
        : { batchItemFailures: [] };
    });
    const sent = texts('b', 10);
    await put(kinesis, streamName, sent);
    // Act
    const poller = await poll({ streamName, handler: rec.handler, batchSize: 10 });
    await rec.seenAtLeast(10);
    // Assess
    expect(rec.batches.map((b) => b.map((s) => s.text))).toEqual([sent, sent.slice(4)]);
    expect(rec.seen.map((s) => s.text)).toEqual(sent);
    await poller.stop();
    expect(poller.stats()).toMatchObject({ batches: 2, retries: 1, partialFailures: 1, records: 10 });
  });

  it('persists the checkpoint after each success, before the record that failed after a partial failure', async () => {
    // Prepare
    const streamName = await newStream(1);
    const checkpoints: { shardId: string; sequenceNumber: string; invokedBefore: number }[] = [];
    const rec = recordingHandler(async (event, call) => {
      const failed = event.Records[4]?.kinesis.sequenceNumber;
      return call === 0 && failed ? { batchItemFailures: [{ itemIdentifier: failed }] } : { batchItemFailures: [] };
    });
    const sent = texts('c', 10);
    await put(kinesis, streamName, sent);
    // Act
    const poller = await poll({
      streamName,
      handler: rec.handler,
      batchSize: 10,
      onCheckpoint: async (shardId, last) => {
        checkpoints.push({ shardId, sequenceNumber: last.sequenceNumber, invokedBefore: rec.batches.length });
      },
    });
    await rec.seenAtLeast(10);
    await poller.stop();
    // Assess: written at record 4 (the one before the failed record 5), then at the last; each before the next call
    const seqs = rec.batches[0]?.map((s) => s.sequenceNumber) ?? [];
    const shardId = rec.batches[0]?.[0]?.shardId ?? '';
    expect(checkpoints).toEqual([
      { shardId, sequenceNumber: seqs[3], invokedBefore: 1 },
      { shardId, sequenceNumber: seqs[9], invokedBefore: 2 },
    ]);
    expect(poller.stats().shards[0]).toMatchObject({ checkpoint: seqs[9], persisted: seqs[9] });
  });

  it('bisects a failing batch, reports the poison record to onFailure and moves on', async () => {
    // Prepare
    const streamName = await newStream(1);
    const failures: FailureInfo[] = [];
    let reported!: () => void;
    const failureReported = new Promise<void>((resolve) => {
      reported = resolve;
    });
    const rec = recordingHandler(async (event) => {
      if (event.Records.some((r) => Buffer.from(r.kinesis.data, 'base64').toString() === 'c-5'))
        throw new Error('poison');
      return undefined;
    });
    const sent = texts('c', 8);
    await put(kinesis, streamName, sent);
    // Act
    const poller = await poll({
      streamName,
      handler: rec.handler,
      batchSize: 8,
      bisectBatchOnError: true,
      maximumRetryAttempts: 1,
      onFailure: (info) => {
        failures.push(info);
        reported();
      },
    });
    await rec.seenAtLeast(7);
    await failureReported;
    // Assess
    expect(rec.seen.map((s) => s.text)).toEqual(sent.filter((t) => t !== 'c-5'));
    const poison = rec.batches.flat().find((s) => s.text === 'c-5');
    expect(failures).toEqual([
      expect.objectContaining({
        reason: 'RetryAttemptsExhausted',
        shardId: 'shardId-000000000000',
        startSequenceNumber: poison?.sequenceNumber,
        endSequenceNumber: poison?.sequenceNumber,
        batchSize: 1,
        lastError: 'Error: poison',
      }),
    ]);
    await poller.stop();
    expect(poller.stats()).toMatchObject({ failures: 1, discardedRecords: 1, records: 7 });
  });

  it('reports records older than the maximum age instead of sending them', async () => {
    // Prepare: the clock says it is one hour later than the records arrived
    const streamName = await newStream(1);
    const failures: FailureInfo[] = [];
    let reported!: () => void;
    const failureReported = new Promise<void>((resolve) => {
      reported = resolve;
    });
    const rec = recordingHandler();
    await put(kinesis, streamName, texts('d', 3));
    // Act
    await poll({
      streamName,
      handler: rec.handler,
      maximumRecordAgeMs: 60_000,
      clock: () => Date.now() + 3_600_000,
      onFailure: (info) => {
        failures.push(info);
        reported();
      },
    });
    await failureReported;
    // Assess
    expect(rec.batches).toEqual([]);
    expect(failures).toEqual([expect.objectContaining({ reason: 'RecordAgeExceeded', batchSize: 3 })]);
  });

  it('gathers records for the batching window before invoking', async () => {
    // Prepare
    const streamName = await newStream(1);
    const rec = recordingHandler();
    await poll({ streamName, handler: rec.handler, batchSize: 1000, maximumBatchingWindowMs: 1500 });
    // Act
    await put(kinesis, streamName, texts('e', 5));
    await put(kinesis, streamName, texts('f', 5));
    await rec.seenAtLeast(10);
    // Assess
    expect(rec.batches.map((b) => b.length)).toEqual([10]);
  });

  it('resumes after a checkpoint and starts at LATEST when asked', async () => {
    // Prepare
    const streamName = await newStream(1);
    const first = recordingHandler();
    const poller = await poll({ streamName, handler: first.handler });
    await put(kinesis, streamName, texts('g', 3));
    await first.seenAtLeast(3);
    await poller.stop();
    const checkpoints = Object.fromEntries(poller.stats().shards.map((s) => [s.shardId, s.checkpoint ?? '']));
    await put(kinesis, streamName, texts('h', 2));
    // Act
    const resumed = recordingHandler();
    await poll({ streamName, handler: resumed.handler, checkpoints });
    await resumed.seenAtLeast(2);
    // Assess
    expect(resumed.seen.map((s) => s.text)).toEqual(['h-0', 'h-1']);
  });

  it('waits for the invocation in flight when stopped', async () => {
    // Prepare
    const streamName = await newStream(1);
    let release!: () => void;
    let entered!: () => void;
    const inHandler = new Promise<void>((resolve) => {
      entered = resolve;
    });
    let finished = false;
    const poller = await poll({
      streamName,
      handler: async () => {
        entered();
        await new Promise<void>((resolve) => {
          release = resolve;
        });
        finished = true;
        return undefined;
      },
    });
    await put(kinesis, streamName, texts('i', 1));
    await inHandler;
    // Act
    let stopReturned = false;
    const stopped = poller.stop().then(() => {
      stopReturned = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    const returnedBeforeRelease = stopReturned;
    release();
    await stopped;
    // Assess
    expect(returnedBeforeRelease).toBe(false);
    expect(finished).toBe(true);
    expect(poller.stats().records).toBe(1);
  });
});
