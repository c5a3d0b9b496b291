import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { s3Client } from '../../functions/core/aws-clients.ts';
import { type ObjectStore, s3ObjectStore } from '../../functions/core/object-store.ts';
import { etagMatches } from '../../local/conditional-s3.ts';
import { type Emulators, startEmulators } from '../../local/emulators.ts';

const BUCKET = 'skein-conditional';
const text = (value: string) => new TextEncoder().encode(value);
const decode = (bytes: Uint8Array | undefined) => (bytes ? new TextDecoder().decode(bytes) : undefined);
const md5Etag = (bytes: Uint8Array) => `"${createHash('md5').update(bytes).digest('hex')}"`;

describe('conditional writes through the local S3 endpoint (proxy in front of s3rver)', () => {
  let dir: string;
  let emulators: Emulators;
  let s3: S3Client;
  let store: ObjectStore;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'skein-conditional-'));
    emulators = await startEmulators({ dir, streamName: 'skein-conditional', bucket: BUCKET, shards: 1 });
    s3 = s3Client({ endpoint: emulators.s3Endpoint });
    store = s3ObjectStore(s3, BUCKET);
  });

  afterAll(async () => {
    s3?.destroy();
    await emulators?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('creates an object with ifNoneMatch once, then refuses to overwrite it', async () => {
    // Prepare
    const key = 'state/create-once.json';
    // Act
    const first = await store.putIf(key, text('first'), 'application/json', { ifNoneMatch: '*' });
    const second = await store.putIf(key, text('second'), 'application/json', { ifNoneMatch: '*' });
    // Assess
    expect(first).toBe(md5Etag(text('first')));
    expect(second).toBeUndefined();
    expect(decode(await store.get(key))).toBe('first');
  });

  it('replaces an object with ifMatch on the current ETag and refuses a stale one', async () => {
    // Prepare
    const key = 'state/compare-and-set.json';
    const v1 = await store.putIf(key, text('v1'), 'application/json', { ifNoneMatch: '*' });
    if (!v1) throw new Error('setup: the first write must succeed');
    // Act
    const v2 = await store.putIf(key, text('v2'), 'application/json', { ifMatch: v1 });
    const stale = await store.putIf(key, text('v3'), 'application/json', { ifMatch: v1 });
    // Assess
    expect(v2).toBe(md5Etag(text('v2')));
    expect(stale).toBeUndefined();
    expect(await store.getVersioned(key)).toEqual({ body: text('v2'), etag: v2 });
  });

  it('accepts an ifMatch ETag without its quotes, as S3 does', async () => {
    // Prepare
    const key = 'state/unquoted.json';
    const v1 = await store.putIf(key, text('a'), 'application/json', { ifNoneMatch: '*' });
    // Act
    const v2 = await store.putIf(key, text('b'), 'application/json', { ifMatch: (v1 ?? '').replaceAll('"', '') });
    // Assess
    expect(v2).toBe(md5Etag(text('b')));
  });

  it('answers ifMatch on a missing key with 404 NoSuchKey, like S3', async () => {
    // Prepare
    const key = 'state/never-written.json';
    // Act
    const attempt = s3.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: text('x'), IfMatch: md5Etag(text('x')) }),
    );
    // Assess
    await expect(attempt).rejects.toMatchObject({ name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } });
    expect(await store.get(key)).toBeUndefined();
  });

  it("answers a failed precondition with S3's 412 XML error body, and the connection stays usable", async () => {
    // Prepare
    const key = 'state/xml-error.json';
    await store.put(key, text('there'), 'application/json');
    // Act: an unsigned PUT (s3rver accepts those), so the raw answer can be read
    const refused = await fetch(`${emulators.s3Endpoint}/${BUCKET}/${key}`, {
      method: 'PUT',
      headers: { 'If-None-Match': '*', 'Content-Type': 'application/json' },
      body: 'not stored',
    });
    const body = await refused.text();
    const after = await fetch(`${emulators.s3Endpoint}/${BUCKET}/${key}`);
    // Assess
    expect(refused.status).toBe(412);
    expect(refused.headers.get('content-type')).toBe('application/xml');
    expect(body).toContain(
      '<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message><Condition>If-None-Match</Condition>',
    );
    expect(await after.text()).toBe('there');
    expect(after.headers.get('etag')).toBe(md5Etag(text('there')));
  });

  it('lets exactly one of 20 concurrent ifNoneMatch writers win', async () => {
    // Prepare
    const key = 'state/race-create.json';
    const bodies = Array.from({ length: 20 }, (_, i) => text(`writer-${i}`));
    // Act
    const results = await Promise.all(
      bodies.map((body) => store.putIf(key, body, 'application/json', { ifNoneMatch: '*' })),
    );
    // Assess
    const winners = results.flatMap((etag, i) => (etag ? [i] : []));
    expect(winners).toHaveLength(1);
    const winner = winners[0] ?? -1;
    expect(await store.getVersioned(key)).toEqual({ body: bodies[winner], etag: results[winner] });
  });

  it('loses no update when 20 writers increment one counter by read-modify-compare-and-set', async () => {
    // Prepare
    const key = 'state/counter.txt';
    await store.putIf(key, text('0'), 'text/plain', { ifNoneMatch: '*' });
    let conflicts = 0;
    const increment = async (): Promise<void> => {
      for (;;) {
        const current = await store.getVersioned(key);
        if (!current) throw new Error('the counter disappeared');
        const next = Number(decode(current.body)) + 1;
        if (await store.putIf(key, text(String(next)), 'text/plain', { ifMatch: current.etag })) return;
        conflicts += 1;
      }
    };
    // Act
    await Promise.all(Array.from({ length: 20 }, increment));
    // Assess
    expect(decode(await store.get(key))).toBe('20');
    expect(conflicts).toBeGreaterThan(0); // the writers really raced: without enforcement they would all "win"
  });

  it('never shows a read half of a write: every GET during 120 overwrites is one whole version', async () => {
    // Prepare: versions of growing length, as an alert state grows; the reader's length must match its bytes
    const key = 'state/growing.json';
    const version = (n: number) => text(JSON.stringify({ n, pad: 'x'.repeat(n * 37) }));
    await store.put(key, version(0), 'application/json');
    let writing = true;
    const seen: string[] = [];

    // Act: one writer overwrites the key while four readers read it as fast as they can
    const writer = (async () => {
      for (let n = 1; n <= 120; n++) await store.put(key, version(n), 'application/json');
      writing = false;
    })();
    const reader = async () => {
      while (writing) {
        const body = await store.getVersioned(key);
        if (body) seen.push(`${decode(body.body)}\u0000${body.etag}`);
      }
    };
    await Promise.all([writer, reader(), reader(), reader(), reader()]);

    // Assess: each read parses, is one of the versions, and carries that version's ETag
    expect(seen.length).toBeGreaterThan(50);
    for (const entry of seen) {
      const [json = '', etag] = entry.split('\u0000');
      const parsed = JSON.parse(json) as { n: number };
      expect(json).toBe(decode(version(parsed.n)));
      expect(etag).toBe(md5Etag(version(parsed.n)));
    }
  });

  it('streams a 5 MB object through unchanged both ways, with its ETag on GET and HEAD', async () => {
    // Prepare
    const key = 'tables/logs/dt=2024-05-01/hour=12/large.parquet';
    const body = new Uint8Array(randomBytes(5 * 1024 * 1024));
    // Act
    await store.put(key, body, 'application/octet-stream');
    const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    const bytes = await got.Body?.transformToByteArray();
    const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    // Assess
    expect(bytes?.length).toBe(body.length);
    expect(Buffer.compare(Buffer.from(bytes ?? []), Buffer.from(body))).toBe(0);
    expect(got.ETag).toBe(md5Etag(body));
    expect(head.ETag).toBe(md5Etag(body));
    expect(head.ContentLength).toBe(body.length);
  });

  it('still lists keys and common prefixes', async () => {
    // Prepare
    for (const key of ['listed/a/1.json', 'listed/a/2.json', 'listed/b/3.json', 'listed/top.json'])
      await store.put(key, text('{}'), 'application/json');
    // Act
    const keys = await store.list('listed/');
    const top = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'listed/', Delimiter: '/' }));
    // Assess
    expect(keys).toEqual(['listed/a/1.json', 'listed/a/2.json', 'listed/b/3.json', 'listed/top.json']);
    expect(top.CommonPrefixes?.map((p) => p.Prefix)).toEqual(['listed/a/', 'listed/b/']);
    expect(top.Contents?.map((c) => c.Key)).toEqual(['listed/top.json']);
  });

  it('sees a delete: ifNoneMatch succeeds again after the object was deleted', async () => {
    // Prepare
    const key = 'state/deleted.json';
    await store.putIf(key, text('old'), 'application/json', { ifNoneMatch: '*' });
    // Act
    await store.delete(key);
    const recreated = await store.putIf(key, text('new'), 'application/json', { ifNoneMatch: '*' });
    // Assess
    expect(recreated).toBe(md5Etag(text('new')));
  });
});

describe('etagMatches', () => {
  it.each([
    ['"abc"', '"abc"', true],
    ['abc', '"abc"', true],
    ['"abc"', 'abc', true],
    ['W/"abc"', '"abc"', true],
    ['"x", "abc"', '"abc"', true],
    ['*', '"abc"', true],
    ['"abd"', '"abc"', false],
    ['"abc"', undefined, false],
  ])('compares If-Match %s with current ETag %s as %s', (header, current, expected) => {
    // Act + Assess
    expect(etagMatches(header, current)).toBe(expected);
  });
});
