import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLocalUp } from '../../cli/local-up-command.ts';
import { LOG_FILE } from '../../cli/terminal.ts';
import { kinesisClient, s3Client } from '../../functions/core/aws-clients.ts';
import { s3ObjectStore } from '../../functions/core/object-store.ts';
import { objectPathOnDisk } from '../../local/emulators.ts';
import { readEndpoints } from '../../local/endpoints.ts';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import { captureIo } from '../builders/cli-io.ts';

interface Delivery {
  shardId: string;
  sequenceNumber: string;
  text: string;
  attempt: number;
}

/** The test's "ingest function": fails once with a partial batch response at the record `failOnce`, if given. */
function testHandler() {
  const deliveries: Delivery[] = [];
  const waiters: { done: () => boolean; resolve: () => void }[] = [];
  const state = { failOnce: undefined as string | undefined, invocations: 0 };
  const handler = async (event: KinesisStreamEvent): Promise<KinesisStreamBatchResponse> => {
    const attempt = ++state.invocations;
    const batch = event.Records.map((r) => ({
      shardId: r.eventID.slice(0, r.eventID.indexOf(':')),
      sequenceNumber: r.kinesis.sequenceNumber,
      text: Buffer.from(r.kinesis.data, 'base64').toString('utf8'),
      attempt,
    }));
    deliveries.push(...batch);
    const failing = batch.find((d) => d.text === state.failOnce);
    if (failing) state.failOnce = undefined;
    for (const w of waiters.filter((w) => w.done())) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
    return { batchItemFailures: failing ? [{ itemIdentifier: failing.sequenceNumber }] : [] };
  };
  const until = (done: () => boolean) =>
    done() ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ done, resolve }));
  return { handler, deliveries, state, until };
}

async function put(kinesis: KinesisClient, stream: string, texts: readonly string[], partitionKey?: string) {
  const out = await kinesis.send(
    new PutRecordsCommand({
      StreamName: stream,
      Records: texts.map((text, i) => ({ Data: Buffer.from(text), PartitionKey: partitionKey ?? `trace-${i}` })),
    }),
  );
  return (out.Records ?? []).map((r) => ({ shardId: r.ShardId ?? '', sequenceNumber: r.SequenceNumber ?? '' }));
}

describe('the local stack', () => {
  let dir: string;
  let stack: LocalStack;
  let kinesis: KinesisClient;
  let s3: S3Client;
  const test = testHandler();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'skein-stack-'));
    stack = await startLocalStack({ dir, handler: test.handler, pollIntervalMs: 20, retryBackoffMs: 0, batchSize: 25 });
    kinesis = kinesisClient({ endpoint: stack.endpoints.kinesis });
    s3 = s3Client({ endpoint: stack.endpoints.s3 });
  });

  afterAll(async () => {
    kinesis?.destroy();
    s3?.destroy();
    await stack?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('writes endpoints.json that readEndpoints accepts', async () => {
    // Act
    const endpoints = await readEndpoints(dir);
    // Assess
    expect(endpoints).toEqual(stack.endpoints);
    expect(endpoints.kinesis).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(endpoints.s3).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(endpoints.dataDir).toBe(join(dir, 's3'));
  });

  it('delivers every record to the handler once, in order per shard', async () => {
    // Prepare
    const texts = Array.from({ length: 200 }, (_, i) => `ordered-${i}`);
    // Act
    const acks = [
      ...(await put(kinesis, stack.endpoints.stream, texts.slice(0, 100))),
      ...(await put(kinesis, stack.endpoints.stream, texts.slice(100))),
    ];
    await test.until(() => test.deliveries.filter((d) => d.text.startsWith('ordered-')).length >= texts.length);
    // Assess
    const delivered = test.deliveries.filter((d) => d.text.startsWith('ordered-'));
    expect(delivered).toHaveLength(texts.length);
    for (const shardId of new Set(acks.map((a) => a.shardId))) {
      const expected = acks.filter((a) => a.shardId === shardId).map((a) => a.sequenceNumber);
      expect(delivered.filter((d) => d.shardId === shardId).map((d) => d.sequenceNumber)).toEqual(expected);
    }
    expect(new Set(acks.map((a) => a.shardId)).size).toBe(2);
  });

  it('re-sends the records from the failed sequence number after a partial batch failure', async () => {
    // Prepare: one partition key, so all records go to one shard, in order
    const texts = Array.from({ length: 10 }, (_, i) => `partial-${i}`);
    test.state.failOnce = 'partial-6';
    // Act
    const acks = await put(kinesis, stack.endpoints.stream, texts, 'one-trace');
    await test.until(() => test.deliveries.filter((d) => d.text.startsWith('partial-')).length >= 14);
    // Assess
    const delivered = test.deliveries.filter((d) => d.text.startsWith('partial-'));
    const [first, ...retried] = [...new Set(delivered.map((d) => d.attempt))].map((attempt) =>
      delivered.filter((d) => d.attempt === attempt),
    );
    expect(first?.map((d) => d.text)).toEqual(texts);
    expect(retried.flat().map((d) => d.text)).toEqual(texts.slice(6));
    expect(retried.flat()[0]?.sequenceNumber).toBe(acks[6]?.sequenceNumber);
  });

  it('stores objects where objectPathOnDisk says, byte for byte', async () => {
    // Prepare
    const key = 'tables/logs/dt=2024-05-01/hour=12/shardId-000000000000-1-2.parquet';
    const body = new Uint8Array([0x50, 0x41, 0x52, 0x31, 0, 1, 2, 3, 0x50, 0x41, 0x52, 0x31]);
    // Act
    await s3.send(new PutObjectCommand({ Bucket: stack.endpoints.bucket, Key: key, Body: body }));
    // Assess
    const onDisk = await readFile(objectPathOnDisk(stack.endpoints.dataDir, stack.endpoints.bucket, key));
    expect(new Uint8Array(onDisk)).toEqual(body);
    expect(objectPathOnDisk('/d', 'b', key)).toBe(`/d/b/${key}._S3rver_object`);
  });

  it('lists more than 1000 keys through continuation tokens, in key order', async () => {
    // Prepare: without the DES work-around the second page fails with ERR_OSSL_EVP_UNSUPPORTED on Node 20
    const store = s3ObjectStore(s3, stack.endpoints.bucket);
    const keys = Array.from(
      { length: 1010 },
      (_, i) => `paged/${i % 2 ? 'b' : 'a'}/${String(i).padStart(5, '0')}.json`,
    );
    // Written straight into s3rver's folder (its own layout, see objectPathOnDisk): 1000 PUTs take ~10 s here.
    const paths = keys.map((key) => objectPathOnDisk(stack.endpoints.dataDir, stack.endpoints.bucket, key));
    for (const folder of new Set(paths.map((p) => dirname(p)))) await mkdir(folder, { recursive: true });
    await Promise.all(
      paths.map(async (path) => {
        await writeFile(path, '{}');
        await writeFile(`${path}.md5`, '99914b932bd37a50b983c5e7c90ae93b'); // else s3rver hashes each object on first list
      }),
    );
    await store.put('paged/a.json', new Uint8Array([1]), 'application/json');
    // Act
    const first = await s3.send(new ListObjectsV2Command({ Bucket: stack.endpoints.bucket, Prefix: 'paged/' }));
    const listed = await store.list('paged/');
    // Assess
    expect(first.IsTruncated).toBe(true);
    expect(first.Contents).toHaveLength(1000);
    // s3rver walked folders in directory order ('paged/a/…' before 'paged/a.json'); S3 sorts by key bytes
    const firstKeys = (first.Contents ?? []).map((c) => c.Key ?? '');
    expect(firstKeys[0]).toBe('paged/a.json');
    expect(firstKeys).toEqual([...firstKeys].sort());
    expect(listed).toEqual([...keys, 'paged/a.json'].sort());
  });

  it('lists common prefixes of nested keys with a delimiter', async () => {
    // Prepare
    const store = s3ObjectStore(s3, stack.endpoints.bucket);
    for (const key of [
      'nested/logs/dt=2024-05-01/hour=00/a',
      'nested/logs/dt=2024-05-02/hour=00/b',
      'nested/spans/dt=2024-05-01/hour=01/c',
      'nested/top.json',
    ])
      await store.put(key, new Uint8Array([1]), 'application/octet-stream');
    // Act
    const top = await s3.send(
      new ListObjectsV2Command({ Bucket: stack.endpoints.bucket, Prefix: 'nested/', Delimiter: '/' }),
    );
    const days = await s3.send(
      new ListObjectsV2Command({ Bucket: stack.endpoints.bucket, Prefix: 'nested/logs/', Delimiter: '/' }),
    );
    // Assess: unpatched s3rver 3.7.1 returns no CommonPrefixes at all for either
    expect(top.CommonPrefixes?.map((p) => p.Prefix)).toEqual(['nested/logs/', 'nested/spans/']);
    expect(top.Contents?.map((c) => c.Key)).toEqual(['nested/top.json']);
    expect(days.CommonPrefixes?.map((p) => p.Prefix)).toEqual([
      'nested/logs/dt=2024-05-01/',
      'nested/logs/dt=2024-05-02/',
    ]);
    expect(days.Contents ?? []).toEqual([]);
  });
});

describe('stopping the local stack', () => {
  it('leaves nothing running: a process that starts, uses and stops it exits by itself', async () => {
    // Prepare
    const dir = await mkdtemp(join(tmpdir(), 'skein-stack-exit-'));
    const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));
    const script = join(dir, 'run.mts');
    await writeFile(
      script,
      `
import { createRequire } from 'node:module';
const { PutRecordsCommand } = createRequire(${JSON.stringify(here('../../package.json'))})('@aws-sdk/client-kinesis');
import { kinesisClient, s3Client } from '${here('../../functions/core/aws-clients.ts')}';
import { s3ObjectStore } from '${here('../../functions/core/object-store.ts')}';
import { startLocalStack } from '${here('../../local/stack.ts')}';
let seen = 0;
let done;
const all = new Promise((resolve) => { done = resolve; });
const stack = await startLocalStack({ dir: ${JSON.stringify(join(dir, 'state'))}, pollIntervalMs: 20, handler: async (event) => {
  seen += event.Records.length;
  if (seen >= 20) done();
  return { batchItemFailures: [] };
} });
const kinesis = kinesisClient({ endpoint: stack.endpoints.kinesis });
await kinesis.send(new PutRecordsCommand({ StreamName: stack.endpoints.stream, Records: Array.from({ length: 20 }, (_, i) => ({ Data: Buffer.from('x' + i), PartitionKey: 'k' + i })) }));
const s3 = s3Client({ endpoint: stack.endpoints.s3 });
await s3ObjectStore(s3, stack.endpoints.bucket).put('a/b', new Uint8Array([1]), 'x');
await all;
kinesis.destroy();
s3.destroy();
await stack.stop();
console.log('stopped', seen);
`,
    );
    // Act
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      cwd: here('../..'),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const exit = await new Promise<{ code: number | null; timedOut: boolean }>((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve({ code: null, timedOut: true });
      }, 30_000);
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, timedOut: false });
      });
    });
    await rm(dir, { recursive: true, force: true });
    // Assess
    expect({ ...exit, stderr: exit.code === 0 ? '' : stderr }).toEqual({ code: 0, timedOut: false, stderr: '' });
    expect(stdout.trim()).toBe('stopped 20');
  });
});

describe('skein local up', () => {
  it('prints its usage for --help', async () => {
    // Prepare
    const io = captureIo();
    // Act
    const code = await runLocalUp(['--help'], io, { makeHandler: () => async () => undefined });
    // Assess
    expect(code).toBe(0);
    expect(io.out()).toContain('Usage: skein local up');
  });

  it.each([
    [['--shards', '0'], '--shards must be a whole number from 1 to 50'],
    [['--shards', 'two'], "got 'two'"],
    [['--bogus'], 'bogus'],
    [['extra'], "unexpected argument 'extra'"],
    [['--evaluate-every', 'often'], "--evaluate-every must be a duration such as 10s or 1m (at least 1s), got 'often'"],
    [['--allowed-lateness', '5 seconds'], "--allowed-lateness must be a duration such as 10s or 1m, got '5 seconds'"],
    [['--no-alerting', '--rules', 'rules/examples'], '--rules has no effect with --no-alerting'],
  ])('refuses %j with exit 2 and a one-line reason', async (args, reason) => {
    // Prepare
    const io = captureIo();
    // Act
    const code = await runLocalUp(args, io, { makeHandler: () => async () => undefined });
    // Assess
    expect(code).toBe(2);
    expect(io.err().split('\n')[0]).toContain(reason);
    expect(io.out()).toBe('');
  });

  it('exits 1 naming the rule path when the rules cannot be loaded, before starting anything', async () => {
    // Prepare
    const dir = await mkdtemp(join(tmpdir(), 'skein-up-rules-'));
    const io = captureIo();
    // Act
    const code = await runLocalUp(['--dir', join(dir, 'state'), '--rules', join(dir, 'missing')], io, {
      makeHandler: () => async () => undefined,
    });
    // Assess
    expect(code).toBe(1);
    expect(io.err().trim().split('\n')).toHaveLength(1);
    expect(io.err()).toContain(join(dir, 'missing'));
    expect(io.out()).toBe('');
    await expect(readEndpoints(join(dir, 'state'))).rejects.toThrow();
    await rm(dir, { recursive: true, force: true });
  });

  it('runs the stack with the demo until stopped, then exits 0', async () => {
    // Prepare
    const dir = await mkdtemp(join(tmpdir(), 'skein-up-'));
    const io = captureIo();
    const stop = new AbortController();
    let ingested = 0;
    const makeHandler = () => async (event: KinesisStreamEvent) => {
      ingested += event.Records.length;
      if (ingested >= 20) stop.abort();
      return { batchItemFailures: [] };
    };
    // Act
    const code = await runLocalUp(['--dir', join(dir, 'state'), '--shards', '1'], io, {
      makeHandler,
      signal: stop.signal,
      demoRatePerSecond: 50,
      progressIntervalMs: 100,
    });
    // Assess
    expect(code).toBe(0);
    expect(io.out()).toMatch(/npx skein query trace [0-9a-f]{32} --local /);
    expect(io.out()).toContain('npx skein push --local');
    expect(io.out()).toMatch(/Stopped\. Ingested \d+ records/);
    // JSON logs go to the state folder; the terminal gets people's lines only
    const logLines = (await readFile(join(dir, 'state', LOG_FILE), 'utf8')).trim().split('\n');
    expect(logLines.length).toBeGreaterThan(0);
    for (const line of logLines) expect(JSON.parse(line)).toHaveProperty('level');
    for (const line of io
      .err()
      .split('\n')
      .filter((l) => l !== ''))
      expect(line).toMatch(/^(warn|error): /);
    expect(await readEndpoints(join(dir, 'state'))).toMatchObject({ stream: 'skein-local', bucket: 'skein-local' });
    await rm(dir, { recursive: true, force: true });
  });
});
