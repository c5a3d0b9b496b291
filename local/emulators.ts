import { createHash } from 'node:crypto';
import { mkdir, readdir, rename, writeFile } from 'node:fs/promises';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  type KinesisClient,
  waitUntilStreamExists,
} from '@aws-sdk/client-kinesis';
import { kinesisClient } from '../functions/core/aws-clients.ts';
import { type ConditionalS3Proxy, startConditionalS3Proxy } from './conditional-s3.ts';

const require = createRequire(import.meta.url);

/** Where and how to start the two emulators. */
export interface EmulatorOptions {
  /** State folder: s3rver keeps its objects under `<dir>/s3`, kinesalite its LevelDB under `<dir>/kinesis`. */
  readonly dir: string;
  readonly streamName: string;
  readonly bucket: string;
  /** Shards of the stream (default 2). */
  readonly shards?: number;
  /** Fixed ports; 0 or absent picks a free one. `s3Port` is the S3 endpoint's (the conditional-write proxy's). */
  readonly kinesisPort?: number;
  readonly s3Port?: number;
}

export interface Emulators {
  readonly kinesisEndpoint: string;
  /**
   * The S3 endpoint every client uses: the conditional-write proxy (`local/conditional-s3.ts`) in front of s3rver,
   * which enforces `If-None-Match`/`If-Match` on writes as S3 does (s3rver ignores them).
   */
  readonly s3Endpoint: string;
  /** s3rver's folder: objects are at {@link objectPathOnDisk}`(dataDir, bucket, key)`. */
  readonly dataDir: string;
  /** The stream as found or created: an earlier run's stream (same `dir`) is adopted with its records. */
  readonly stream: StreamFound;
  /** Closes every server (and every open connection to them); kinesalite closes its LevelDB. */
  stop(): Promise<void>;
}

/** The stream `startEmulators` runs with. */
export interface StreamFound {
  /** `false`: it was already in `<dir>/kinesis` (an earlier run) and was adopted as it is. */
  readonly created: boolean;
  readonly shards: number;
  /** Records older than this are dropped by kinesalite, as by Kinesis (default 24 h). */
  readonly retentionHours: number;
}

const HOST = '127.0.0.1';

/** kinesalite's LevelDB folder inside a state folder. */
export function kinesisDir(dir: string): string {
  return join(dir, 'kinesis');
}

/**
 * Starts kinesalite (LevelDB under `<dir>/kinesis`) and s3rver (on disk under `<dir>/s3`) in this process on
 * 127.0.0.1 with the conditional-write proxy in front of s3rver, creates the stream (waits until ACTIVE) or adopts the
 * one an earlier run left in `<dir>`, and creates the bucket.
 */
export async function startEmulators(options: EmulatorOptions): Promise<Emulators> {
  const dataDir = join(options.dir, 's3');
  const kinesalite = await startKinesalite(options.kinesisPort ?? 0, kinesisDir(options.dir));
  let s3: S3rverInstance | undefined;
  let proxy: ConditionalS3Proxy | undefined;
  try {
    const S3rver = loadS3rver();
    s3 = new S3rver({
      address: HOST,
      port: 0,
      silent: true,
      directory: dataDir,
      configureBuckets: [{ name: options.bucket }],
    });
    const s3Address = await s3.run();
    // s3rver ignores conditional writes; every client reaches it through the proxy, which enforces them.
    proxy = await startConditionalS3Proxy({
      upstream: `http://${HOST}:${s3Address.port}`,
      ...(options.s3Port !== undefined ? { port: options.s3Port } : {}),
    });
    const kinesisEndpoint = `http://${HOST}:${kinesalite.port}`;
    const s3Endpoint = proxy.endpoint;
    const kinesis = kinesisClient({ endpoint: kinesisEndpoint });
    let stream: StreamFound;
    try {
      stream = await ensureStream(kinesis, options.streamName, options.shards ?? 2);
    } finally {
      kinesis.destroy();
    }
    const s3Server = s3;
    const s3Proxy = proxy;
    return {
      kinesisEndpoint,
      s3Endpoint,
      dataDir,
      stream,
      async stop() {
        await Promise.all([kinesalite.close(), s3Proxy.stop()]);
        await closeS3rver(s3Server);
      },
    };
  } catch (error) {
    await kinesalite.close().catch(() => undefined);
    await proxy?.stop().catch(() => undefined);
    if (s3?.httpServer) await closeS3rver(s3).catch(() => undefined);
    throw error;
  }
}

/**
 * Where s3rver keeps the bytes of `key`: every `/`-separated segment but the last is a folder, and the last segment
 * gets the suffix `._S3rver_object` (beside it `._S3rver_metadata.json` and `._S3rver_object.md5`). So
 * `tables/logs/dt=2024-05-01/a.parquet` in bucket `skein` is `<dataDir>/skein/tables/logs/dt=2024-05-01/a.parquet._S3rver_object`
 * (s3rver 3.7.1 `FilesystemStore.getResourcePath`; checked in test/integration/local-stack.test.ts). On Windows s3rver
 * also escapes `<>:"\|?*` in keys; the local stack only runs on POSIX.
 */
export function objectPathOnDisk(dataDir: string, bucket: string, key: string): string {
  const parts = key.split('/');
  const last = parts.pop() ?? '';
  return join(dataDir, bucket, ...parts, `${last}${OBJECT_SUFFIX}`);
}

const OBJECT_SUFFIX = '._S3rver_object';

/**
 * Creates the stream, or adopts the one already in kinesalite's LevelDB (`ResourceInUseException`): its records,
 * shards and retention stay as they are, so a restart resumes on the same sequence numbers.
 */
async function ensureStream(kinesis: KinesisClient, streamName: string, shards: number): Promise<StreamFound> {
  let created = true;
  try {
    await kinesis.send(new CreateStreamCommand({ StreamName: streamName, ShardCount: shards }));
  } catch (error) {
    if (!(error instanceof Error && error.name === 'ResourceInUseException')) throw error;
    created = false;
  }
  // With createStreamMs: 0 the stream is ACTIVE almost at once; the waiter polls DescribeStream by name.
  await waitUntilStreamExists(
    { client: kinesis, minDelay: 0.05, maxDelay: 0.25, maxWaitTime: 30 },
    { StreamName: streamName },
  );
  const summary = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: streamName }));
  return {
    created,
    shards: summary.StreamDescriptionSummary?.OpenShardCount ?? shards,
    retentionHours: summary.StreamDescriptionSummary?.RetentionPeriodHours ?? 24,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// kinesalite

interface KinesaliteServer extends Server {
  close(callback?: (error?: Error) => void): this;
}
type Kinesalite = (options: Record<string, unknown>) => KinesaliteServer;

interface RunningKinesalite {
  readonly server: KinesaliteServer;
  readonly port: number;
  /** Refuses new requests, waits for those in flight, then closes LevelDB and the server. */
  close(): Promise<void>;
}

/** How long a stop waits for kinesalite's requests in flight (a GetRecords of 10,000 records takes well under 1 s). */
const KINESALITE_DRAIN_MS = 5_000;

async function startKinesalite(port: number, path: string): Promise<RunningKinesalite> {
  const kinesalite: Kinesalite = require('kinesalite');
  await mkdir(path, { recursive: true });
  // On disk: `path` makes kinesalite keep streams and records in LevelDB (leveldown's prebuilt binary, loaded from
  // its npm package without an install script). Every PutRecords reaches LevelDB's log file (write(2), no fsync)
  // before kinesalite answers, so accepted records survive kill -9 of this process (not a power cut).
  // Stream create/delete/update take effect at once instead of after 500 ms.
  const server = kinesalite({ path, createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 100 });
  // kinesalite's close() closes LevelDB first: a request still being handled (a GetRecords the poller gave up on
  // while stopping) then calls into the closed database, and leveldown throws outside any callback, killing the
  // process. So requests are counted until they answer, and a stop waits for them before closing.
  const handlers = server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
  server.removeAllListeners('request');
  let inFlight = 0;
  let closing = false;
  let drained: (() => void) | undefined;
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (closing) {
      res.writeHead(503, { 'content-type': 'application/x-amz-json-1.1', connection: 'close' });
      res.end('{"__type":"ServiceUnavailable","message":"stopping"}');
      return;
    }
    inFlight++;
    const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
    let ended = false;
    res.end = ((...args: unknown[]) => {
      if (!ended) {
        ended = true;
        inFlight--;
        if (inFlight === 0) drained?.();
      }
      return end(...args);
    }) as ServerResponse['end'];
    for (const handler of handlers) handler.call(server, req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, HOST, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    async close() {
      closing = true;
      if (inFlight > 0)
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, KINESALITE_DRAIN_MS);
          drained = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      await closeServer(server);
    },
  };
}

/** Closes a server and the keep-alive sockets clients still hold (they would keep `close` pending). */
function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((error) => (error ? reject(error) : resolve()));
    server.closeAllConnections();
  });
}

// ---------------------------------------------------------------------------------------------------------------
// s3rver and its two work-arounds

interface S3rverInstance {
  run(): Promise<AddressInfo>;
  httpServer?: Server;
}
type S3rverClass = new (options: Record<string, unknown>) => S3rverInstance;

async function closeS3rver(s3: S3rverInstance): Promise<void> {
  if (s3.httpServer) await closeServer(s3.httpServer);
}

const PATCHED = Symbol.for('skein.local.s3rverPatched');
type PatchedGlobal = typeof globalThis & { [PATCHED]?: true };

/**
 * Loads s3rver 3.7.1 with three fixes, once per process.
 *
 * 1. Continuation tokens. s3rver encrypts `NextContinuationToken` with single DES (`createCipheriv('des', …)`,
 *    lib/controllers/bucket.js). Node 20 ships OpenSSL 3, where DES lives in the legacy provider, so every truncated
 *    ListObjectsV2 (more than 1000 keys) fails with ERR_OSSL_EVP_UNSUPPORTED unless Node runs with
 *    `--openssl-legacy-provider` — which neither `tsx` nor vitest workers do by default. While s3rver's bucket
 *    controller is loaded we hand it a `crypto` whose `createCipheriv`/`createDecipheriv('des', key, iv)` use
 *    `des-ede3-cbc` with the key repeated three times: 3DES with K1 = K2 = K3 is single DES, byte for byte, and
 *    3DES is in OpenSSL 3's default provider. Nothing else in the process sees the substitute.
 * 2. Listing with a delimiter. `FilesystemStore.listObjects` prunes every folder that holds the delimiter below
 *    the prefix, and only adds a common prefix when it meets an object file — so `Prefix: 'tables/',
 *    Delimiter: '/'` over `tables/logs/dt=…/x` returns no common prefixes at all (only objects directly under a
 *    prefix folder are ever found). It also walks folders in directory order, not key order, so `a.b` (file) and
 *    `a/b` (folder) come back unsorted and pages can skip keys. We replace it with a walk that collects the keys
 *    under the prefix, sorts them, then applies start-after, delimiter and max-keys as S3 does, except that only
 *    objects count towards max-keys (s3rver derives the continuation token from the last object of a page, so a
 *    page ending in a common prefix would repeat or crash).
 * 3. Overwrites in place. s3rver writes an object's file where readers find it (and for a body in memory answers before
 *    the bytes are flushed), so DuckDB reading the files while ingest rewrites a retried batch's object can meet a
 *    torn Parquet file ("too small to be a Parquet file"). We write to a temporary file and rename it over the
 *    object, which is atomic on one filesystem, as S3's PUT is.
 */
function loadS3rver(): S3rverClass {
  const g = globalThis as PatchedGlobal;
  const controller = require.resolve('s3rver/lib/controllers/bucket.js');
  if (g[PATCHED] || desWorks()) {
    const S3rver: S3rverClass = require('s3rver');
    patchFilesystemStore();
    return S3rver;
  }
  if (require.cache[controller]) {
    throw new Error(
      's3rver was loaded before local/emulators.ts could patch it, and this Node cannot use DES: run with NODE_OPTIONS=--openssl-legacy-provider',
    );
  }
  const moduleInternals: ModuleInternals = require('node:module');
  const originalLoad = moduleInternals._load;
  const shim = desShim();
  moduleInternals._load = function load(this: unknown, request, parent, isMain) {
    if ((request === 'crypto' || request === 'node:crypto') && parent?.filename === controller) return shim;
    return originalLoad.call(this, request, parent, isMain);
  };
  try {
    const S3rver: S3rverClass = require('s3rver');
    g[PATCHED] = true;
    patchFilesystemStore();
    return S3rver;
  } finally {
    moduleInternals._load = originalLoad;
  }
}

/** Node's CommonJS loader entry point: not in @types/node, stable since Node 0.x. */
interface ModuleInternals {
  _load(request: string, parent: { filename?: string } | null | undefined, isMain: boolean): unknown;
}

function desWorks(): boolean {
  const crypto: typeof import('node:crypto') = require('node:crypto');
  try {
    crypto.createCipheriv('des', Buffer.alloc(8), Buffer.alloc(8));
    return true;
  } catch {
    return false;
  }
}

function desShim(): typeof import('node:crypto') {
  const crypto: typeof import('node:crypto') = require('node:crypto');
  const tripled = (key: Buffer) => Buffer.concat([key, key, key]);
  return Object.assign(Object.create(crypto), {
    createCipheriv: (algorithm: string, key: Buffer, iv: Buffer) =>
      algorithm === 'des'
        ? crypto.createCipheriv('des-ede3-cbc', tripled(key), iv)
        : crypto.createCipheriv(algorithm, key, iv),
    createDecipheriv: (algorithm: string, key: Buffer, iv: Buffer) =>
      algorithm === 'des'
        ? crypto.createDecipheriv('des-ede3-cbc', tripled(key), iv)
        : crypto.createDecipheriv(algorithm, key, iv),
  });
}

interface ListOptions {
  delimiter?: string;
  startAfter?: string;
  prefix?: string;
  maxKeys?: number;
}
interface FilesystemStoreLike {
  getBucketPath(bucket: string): string;
  getMetadata(bucket: string, key: string): Promise<Record<string, unknown>>;
  getResourcePath(bucket: string, key: string, resource: string): string;
  putMetadata(bucket: string, key: string, metadata: Record<string, unknown>, md5: string): Promise<void>;
}
interface FilesystemStoreClass {
  prototype: FilesystemStoreLike & {
    listObjects(this: FilesystemStoreLike, bucket: string, options: ListOptions): Promise<unknown>;
    putObject(this: FilesystemStoreLike, object: StoredObject): Promise<{ size: number; md5: string }>;
    [PATCHED]?: true;
  };
}
interface StoredObject {
  readonly bucket: string;
  readonly key: string;
  readonly metadata: Record<string, unknown>;
  readonly content: Buffer | NodeJS.ReadableStream;
}
type S3ObjectClass = new (bucket: string, key: string, content: null, metadata: Record<string, unknown>) => unknown;

function patchFilesystemStore(): void {
  const FilesystemStore: FilesystemStoreClass = require('s3rver/lib/stores/filesystem.js');
  const S3Object: S3ObjectClass = require('s3rver/lib/models/object.js');
  if (FilesystemStore.prototype[PATCHED]) return;
  FilesystemStore.prototype[PATCHED] = true;
  FilesystemStore.prototype.listObjects = async function listObjects(bucket, options) {
    const { delimiter = '', startAfter = '', prefix = '', maxKeys = Number.POSITIVE_INFINITY } = options;
    const all = await keysUnder(this.getBucketPath(bucket), prefix);
    const page = pageOfKeys(all, { delimiter, startAfter, prefix, maxKeys });
    const metadata = await Promise.all(
      page.keys.map((key) =>
        this.getMetadata(bucket, key).catch((error: NodeJS.ErrnoException) => {
          if (error.code === 'ENOENT') return undefined; // deleted while listing
          throw error;
        }),
      ),
    );
    const objects: unknown[] = [];
    page.keys.forEach((key, i) => {
      const m = metadata[i];
      if (m) objects.push(new S3Object(bucket, key, null, m));
    });
    return { objects, commonPrefixes: page.commonPrefixes, isTruncated: page.isTruncated };
  };
  FilesystemStore.prototype.putObject = async function putObject(object) {
    const objectPath = this.getResourcePath(object.bucket, object.key, 'object');
    await mkdir(dirname(objectPath), { recursive: true });
    const chunks: Buffer[] = [];
    if (Buffer.isBuffer(object.content)) chunks.push(object.content);
    else for await (const chunk of object.content) chunks.push(Buffer.from(chunk));
    const content = Buffer.concat(chunks);
    const md5 = createHash('md5').update(content).digest('hex');
    // Written beside the object under a name no listing takes for a key, then renamed over it: a reader sees the old
    // bytes or the new, never half of the new, as S3 itself never shows a PUT half done.
    const partial = `${objectPath}.${process.pid}-${++partialWrites}.partial`;
    await writeFile(partial, content);
    await rename(partial, objectPath);
    await this.putMetadata(object.bucket, object.key, object.metadata, md5);
    return { size: content.length, md5 };
  };
}

let partialWrites = 0;

/** Every key stored under `bucketPath` that starts with `prefix`, sorted. Only folders that can hold such keys are read. */
async function keysUnder(bucketPath: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  const visit = async (folder: string, keyPrefix: string): Promise<void> => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(folder, { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    for (const entry of entries) {
      if (entry.isDirectory()) {
        const sub = `${keyPrefix}${entry.name}/`;
        if (sub.startsWith(prefix) || prefix.startsWith(sub)) await visit(join(folder, entry.name), sub);
      } else if (entry.name.endsWith(OBJECT_SUFFIX)) {
        const key = keyPrefix + entry.name.slice(0, -OBJECT_SUFFIX.length);
        if (key.startsWith(prefix)) keys.push(key);
      }
    }
  };
  await visit(bucketPath, '');
  return keys.sort(compareKeys);
}

/** S3 orders keys by their UTF-8 bytes. */
function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** One page of a ListObjects answer over sorted `keys` (all starting with `prefix`). */
export function pageOfKeys(
  keys: readonly string[],
  options: { delimiter: string; startAfter: string; prefix: string; maxKeys: number },
): { keys: string[]; commonPrefixes: string[]; isTruncated: boolean } {
  const { delimiter, startAfter, prefix, maxKeys } = options;
  const page: string[] = [];
  const commonPrefixes = new Set<string>();
  let isTruncated = false;
  for (const key of keys) {
    if (startAfter && compareKeys(key, startAfter) <= 0) continue;
    if (delimiter) {
      const at = key.indexOf(delimiter, prefix.length);
      if (at !== -1) {
        const common = key.slice(0, at + delimiter.length);
        // A page that started inside this common prefix already reported it.
        if (!startAfter.startsWith(common)) commonPrefixes.add(common);
        continue;
      }
    }
    if (page.length >= maxKeys) {
      isTruncated = true;
      break;
    }
    page.push(key);
  }
  return { keys: page, commonPrefixes: [...commonPrefixes].sort(compareKeys), isTruncated };
}
