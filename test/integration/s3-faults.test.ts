import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { s3Client } from '../../functions/core/aws-clients.ts';
import { type ObjectStore, s3ObjectStore } from '../../functions/core/object-store.ts';
import { type ConditionalS3Proxy, startConditionalS3Proxy } from '../../local/conditional-s3.ts';
import { type Emulators, startEmulators } from '../../local/emulators.ts';

const BUCKET = 'skein-faults';
const text = (value: string) => new TextEncoder().encode(value);
const decode = (bytes: Uint8Array | undefined) => (bytes ? new TextDecoder().decode(bytes) : undefined);

/**
 * The S3 proxy's fault schedule on the real s3rver: a second proxy (faults only in use) in front of the local stack's
 * S3 endpoint, reached by the AWS SDK as every Skein component reaches S3 (3 attempts, its own retry rules).
 */
describe('S3 faults injected by the local S3 proxy', () => {
  let dir: string;
  let emulators: Emulators;
  let proxy: ConditionalS3Proxy;
  let s3: S3Client;
  let store: ObjectStore;
  let impatient: S3Client;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'skein-s3-faults-'));
    emulators = await startEmulators({ dir, streamName: 'skein-faults', bucket: BUCKET, shards: 1 });
    proxy = await startConditionalS3Proxy({ upstream: emulators.s3Endpoint });
    s3 = s3Client({ endpoint: proxy.endpoint });
    store = s3ObjectStore(s3, BUCKET);
    impatient = s3Client({ endpoint: proxy.endpoint, requestTimeoutMs: 300 });
  });

  afterAll(async () => {
    s3?.destroy();
    impatient?.destroy();
    await proxy?.stop();
    await emulators?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers 503 SlowDown and 500 InternalError as scheduled, and the SDK retry goes through', async () => {
    // Prepare
    proxy.faults.clear();
    const before = proxy.faults.injected();
    proxy.faults.add({ kind: 'slow-down', operations: ['put'], keyPrefix: 'tables/', times: 1 });
    proxy.faults.add({ kind: 'internal-error', operations: ['get'], keyPrefix: 'tables/', times: 1 });

    // Act
    await store.put('tables/a.parquet', text('rows'), 'application/octet-stream');
    const read = await store.get('tables/a.parquet');

    // Assess
    expect(decode(read)).toBe('rows');
    const after = proxy.faults.injected();
    expect(after['slow-down'] - before['slow-down']).toBe(1);
    expect(after['internal-error'] - before['internal-error']).toBe(1);
  });

  it('fails a call once every SDK attempt met the fault, and leaves other prefixes and operations alone', async () => {
    // Prepare
    proxy.faults.clear();
    await store.put('rollups/ok.json', text('{}'), 'application/json');
    await store.put('state/x.json', text('x'), 'application/json');
    proxy.faults.add({ kind: 'internal-error', operations: ['get'], keyPrefix: 'state/' });

    // Act
    const failed = store.get('state/x.json');

    // Assess
    await expect(failed).rejects.toThrow(/InternalError|internal error/i);
    expect(decode(await store.get('rollups/ok.json'))).toBe('{}');
    expect(await store.list('state/')).toEqual(['state/x.json']);
    proxy.faults.clear();
    expect(decode(await store.get('state/x.json'))).toBe('x');
  });

  it('resets connections without an answer, and the SDK retries on a new one', async () => {
    // Prepare
    proxy.faults.clear();
    const before = proxy.faults.injected().reset;
    proxy.faults.add({ kind: 'reset', operations: ['put', 'list'], times: 2 });

    // Act
    await store.put('tables/reset.parquet', text('r'), 'application/octet-stream');
    const listed = await store.list('tables/reset');

    // Assess
    expect(listed).toEqual(['tables/reset.parquet']);
    expect(proxy.faults.injected().reset - before).toBe(2);
  });

  it('holds a request unanswered past the client timeout; the client gives up and a later call is served', async () => {
    // Prepare
    proxy.faults.clear();
    await store.put('tables/hang.parquet', text('h'), 'application/octet-stream');
    proxy.faults.add({ kind: 'hang', operations: ['get'], keyPrefix: 'tables/hang', times: 3 });

    // Act
    const hung = s3ObjectStore(impatient, BUCKET).get('tables/hang.parquet');

    // Assess
    await expect(hung).rejects.toThrow();
    expect(decode(await s3ObjectStore(impatient, BUCKET).get('tables/hang.parquet'))).toBe('h');
  });

  it('releases a write lock when the client gives up on a silent upstream, so the retry of that write goes through', async () => {
    // Prepare: a locking proxy in front of the faulty one; the faulty one leaves the first PUT of the key unanswered
    proxy.faults.clear();
    proxy.faults.add({ kind: 'hang', operations: ['put'], keyPrefix: 'state/held', times: 1 });
    const locking = await startConditionalS3Proxy({ upstream: proxy.endpoint });
    const client = s3Client({ endpoint: locking.endpoint, requestTimeoutMs: 300 });
    try {
      // Act: the SDK's first attempt times out unanswered; its retry needs the same key's lock
      const etag = await s3ObjectStore(client, BUCKET).putIf('state/held.json', text('v1'), 'application/json', {
        ifNoneMatch: '*',
      });

      // Assess
      expect(etag).toBeDefined();
      expect(proxy.faults.injected().hang).toBeGreaterThanOrEqual(1);
      expect(decode(await store.get('state/held.json'))).toBe('v1');
    } finally {
      client.destroy();
      await locking.stop();
    }
  });

  it('adds latency and then serves the request', async () => {
    // Prepare
    proxy.faults.clear();
    const before = proxy.faults.injected().latency;
    proxy.faults.add({ kind: 'latency', latencyMs: 50, every: 2 });

    // Act
    for (let i = 0; i < 4; i++) await store.put(`tables/slow-${i}.parquet`, text(`${i}`), 'application/octet-stream');

    // Assess
    expect(await store.list('tables/slow-')).toHaveLength(4);
    expect(proxy.faults.injected().latency - before).toBeGreaterThanOrEqual(2);
  });

  it('can apply a conditional create and lose its answer: the retry is refused although the write happened', async () => {
    // Prepare: the ambiguous failure every conditional writer must tolerate (docs/reliability.md).
    proxy.faults.clear();
    proxy.faults.add({ kind: 'reset', operations: ['put'], keyPrefix: 'state/ambiguous', afterWrite: true, times: 1 });

    // Act
    const etag = await store.putIf('state/ambiguous.json', text('mine'), 'application/json', { ifNoneMatch: '*' });

    // Assess: the SDK retried after the reset, and the proxy (as S3) refused the second create.
    expect(etag).toBeUndefined();
    expect(decode(await store.get('state/ambiguous.json'))).toBe('mine');
  });
});
