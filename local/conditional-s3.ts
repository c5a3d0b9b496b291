import { randomBytes } from 'node:crypto';
import { Agent, createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { setTimeout as delay } from 'node:timers/promises';

/** Where the proxy forwards to, and where it listens. */
export interface ConditionalS3ProxyOptions {
  /** s3rver's endpoint, e.g. `http://127.0.0.1:4569`. */
  readonly upstream: string;
  /** Port on 127.0.0.1; 0 or absent picks a free one. */
  readonly port?: number;
}

export interface ConditionalS3Proxy {
  /** The endpoint clients use instead of the upstream's, e.g. `http://127.0.0.1:53123`. */
  readonly endpoint: string;
  /** The fault schedule (empty unless a test adds rules): what S3 does to us on a bad day. */
  readonly faults: S3Faults;
  /** Stops listening, closes every open connection (both sides) and waits until the server is closed. */
  stop(): Promise<void>;
}

/**
 * What an injected fault does to one request, as S3 (or the network to it) does on a bad day:
 * - `internal-error`: 500 InternalError; `slow-down`: 503 SlowDown (S3's throttling answer; the SDK retries both);
 * - `latency`: the request is served normally after `latencyMs`;
 * - `hang`: the request is read and never answered (until the client gives up or the proxy stops);
 * - `reset`: the connection is destroyed without an answer (the client sees ECONNRESET / socket hang up).
 */
export type S3FaultKind = 'internal-error' | 'slow-down' | 'latency' | 'hang' | 'reset';
export const S3_FAULT_KINDS: readonly S3FaultKind[] = ['internal-error', 'slow-down', 'latency', 'hang', 'reset'];

/** The S3 operations a rule can select: object reads, HEADs, writes (PUT/POST), deletes, and bucket listings. */
export type S3Operation = 'get' | 'head' | 'put' | 'delete' | 'list';

/** One entry of the fault schedule. A request meets the first rule that selects it and still has hits left. */
export interface S3FaultRule {
  readonly kind: S3FaultKind;
  /** Operations it applies to (all when absent). */
  readonly operations?: readonly S3Operation[];
  /** Object keys (or, for a listing, the listed prefix) it applies to: those starting with this (all when absent). */
  readonly keyPrefix?: string;
  /** Of the requests it selects, only every `every`-th is hit (default 1: each). */
  readonly every?: number;
  /** Hits before the rule is spent (default: unlimited). */
  readonly times?: number;
  /** For `latency`: the added delay (default 200 ms). */
  readonly latencyMs?: number;
  /**
   * For `internal-error` and `reset` of a write: the write reaches s3rver first and only the answer is lost — the
   * ambiguous failure where the client cannot tell whether its write happened.
   */
  readonly afterWrite?: boolean;
}

/** The test-controlled fault schedule of one proxy. */
export interface S3Faults {
  /** Adds a rule; returns a function that removes it. */
  add(rule: S3FaultRule): () => void;
  /** Removes every rule (hangs in progress are not released: their clients time out or the proxy stops). */
  clear(): void;
  /** Faults injected so far, per kind. */
  injected(): Readonly<Record<S3FaultKind, number>>;
}

const HOST = '127.0.0.1';

/**
 * Starts an HTTP proxy in front of s3rver that enforces S3's conditional writes, which s3rver ignores.
 *
 * Every request is streamed to the upstream unchanged (method, path, query, headers, body), and its answer streamed
 * back (status, headers including `ETag`, body). Object writes — PutObject/CopyObject, DeleteObject and
 * CompleteMultipartUpload — are serialised per bucket and key by an in-process lock, so all writers must go through
 * this one proxy. A write that carries `If-None-Match: *` or `If-Match: <etag>` is checked inside the lock with a
 * HEAD at the upstream and answered as S3 answers it: 412 PreconditionFailed when the condition does not hold, 404
 * NoSuchKey for `If-Match` on a missing key, 501 NotImplemented for `If-None-Match` with anything but `*`; otherwise
 * it is forwarded, still inside the lock, so no other write to the key interleaves between the check and the write.
 * Object reads (GET and HEAD of a key) share the same lock with each other but not with a write: s3rver keeps an
 * object's bytes and its metadata (length, ETag) in two files, and a read between the two updates would get the new
 * bytes cut to the old length. As on S3, a read sees one whole version.
 *
 * @example
 * const proxy = await startConditionalS3Proxy({ upstream: 'http://127.0.0.1:4569' });
 * const store = s3ObjectStore(s3Client({ endpoint: proxy.endpoint }), 'skein-local');
 * await store.putIf('state/a.json', body, 'application/json', { ifNoneMatch: '*' }); // undefined the second time
 * await proxy.stop();
 */
export async function startConditionalS3Proxy(options: ConditionalS3ProxyOptions): Promise<ConditionalS3Proxy> {
  const upstream = new URL(options.upstream);
  if (upstream.protocol !== 'http:') throw new Error(`upstream must be an http:// URL, got ${options.upstream}`);
  const target: Upstream = {
    hostname: upstream.hostname,
    port: Number(upstream.port || 80),
    agent: new Agent({ keepAlive: true }),
  };
  const acquire = keyedLock();
  const faults = faultSchedule();
  const server = createServer((req, res) => {
    handle(req, res, target, acquire, faults).catch((error: unknown) => {
      // handle() answers every failure itself; this is the last resort for a bug, never a hung client.
      if (!res.headersSent) sendError(res, 500, 'InternalError', `proxy: ${errorMessage(error)}`);
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, HOST, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  let stopping: Promise<void> | undefined;
  return {
    endpoint: `http://${HOST}:${port}`,
    faults,
    stop() {
      stopping ??= new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
        target.agent.destroy();
      });
      return stopping;
    },
  };
}

interface Upstream {
  readonly hostname: string;
  readonly port: number;
  readonly agent: Agent;
}

/** What a request does to one object, when it writes one. */
interface ObjectWrite {
  /** `<bucket>/<key>`, decoded: the lock's key. */
  readonly lockKey: string;
  /** The request's path without its query, as sent (still encoded): what the HEAD for a precondition asks for. */
  readonly path: string;
  /** Whether `If-Match` / `If-None-Match` apply (not to DeleteObject here: see below). */
  readonly conditional: boolean;
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  upstream: Upstream,
  acquire: (key: string, mode: LockMode) => Promise<() => void>,
  faults: FaultSchedule,
): Promise<void> {
  const fault = faults.match(req);
  let lose: LostAnswer | undefined;
  if (fault) {
    if (fault.afterWrite && (fault.kind === 'internal-error' || fault.kind === 'reset') && objectWrite(req)) {
      lose = fault.kind; // served below as usual (lock, preconditions, write); only the answer is replaced
    } else if (await injectFault(fault, req, res)) return;
  }
  const write = objectWrite(req);
  if (!write) {
    const read = objectRead(req);
    const release = read === undefined ? undefined : await acquire(read, 'read');
    try {
      await forward(req, res, upstream, lose);
    } finally {
      release?.();
    }
    return;
  }
  const release = await acquire(write.lockKey, 'write');
  try {
    if (write.conditional) {
      const failure = await checkPreconditions(req, write.path, upstream);
      if (failure) {
        req.resume(); // discard the body we will not store; keeps the connection usable
        if (lose) answerLost(res, lose);
        else sendError(res, failure.status, failure.code, failure.message, failure.extra);
        return;
      }
    }
    await forward(req, res, upstream, lose);
  } finally {
    release();
  }
}

interface FaultSchedule extends S3Faults {
  /** The rule this request meets (its hit counted), if any. */
  match(req: IncomingMessage): S3FaultRule | undefined;
}

interface ScheduledRule {
  readonly rule: S3FaultRule;
  seen: number;
  hits: number;
}

function faultSchedule(): FaultSchedule {
  const rules: ScheduledRule[] = [];
  const counts: Record<S3FaultKind, number> = { 'internal-error': 0, 'slow-down': 0, latency: 0, hang: 0, reset: 0 };
  return {
    add(rule) {
      const entry: ScheduledRule = { rule, seen: 0, hits: 0 };
      rules.push(entry);
      return () => {
        const at = rules.indexOf(entry);
        if (at !== -1) rules.splice(at, 1);
      };
    },
    clear() {
      rules.length = 0;
    },
    injected() {
      return { ...counts };
    },
    match(req) {
      if (rules.length === 0) return undefined;
      const target = requestTarget(req);
      if (target === undefined) return undefined;
      for (const entry of rules) {
        const { rule } = entry;
        if (rule.operations && !rule.operations.includes(target.operation)) continue;
        if (rule.keyPrefix !== undefined && !target.key.startsWith(rule.keyPrefix)) continue;
        if (rule.times !== undefined && entry.hits >= rule.times) continue;
        entry.seen++;
        if (entry.seen % Math.max(1, rule.every ?? 1) !== 0) continue;
        entry.hits++;
        counts[rule.kind]++;
        return rule;
      }
      return undefined;
    },
  };
}

/** The operation and object key (or listed prefix) of a path-style request; undefined for anything else. */
function requestTarget(req: IncomingMessage): { operation: S3Operation; key: string } | undefined {
  const url = req.url ?? '/';
  const queryAt = url.indexOf('?');
  const path = queryAt === -1 ? url : url.slice(0, queryAt);
  const slash = path.indexOf('/', 1);
  const key = slash === -1 ? '' : decodePath(path.slice(slash + 1));
  switch (req.method) {
    case 'GET':
      if (key !== '') return { operation: 'get', key };
      return {
        operation: 'list',
        key: new URLSearchParams(queryAt === -1 ? '' : url.slice(queryAt + 1)).get('prefix') ?? '',
      };
    case 'HEAD':
      return { operation: 'head', key };
    case 'PUT':
    case 'POST':
      return key === '' ? undefined : { operation: 'put', key };
    case 'DELETE':
      return key === '' ? undefined : { operation: 'delete', key };
    default:
      return undefined;
  }
}

/** A fault that lets a write happen and then loses its answer. */
type LostAnswer = 'internal-error' | 'reset';

/**
 * Applies `fault` to a request before it reaches the upstream. Resolves true when the request was answered (or
 * dropped) here, false when it must still be served normally (after added latency).
 */
async function injectFault(fault: S3FaultRule, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  if (fault.kind === 'latency') {
    await delay(fault.latencyMs ?? 200);
    return false;
  }
  req.resume(); // read the body we will not store
  if (fault.kind === 'hang') return true; // answer nothing: the client's timeout (or the proxy's stop) ends it
  if (fault.kind === 'slow-down') sendError(res, 503, 'SlowDown', 'Please reduce your request rate.');
  else answerLost(res, fault.kind);
  return true;
}

/** The answer the client gets instead of the real one: a 500, or a connection closed without an answer. */
function answerLost(res: ServerResponse, kind: LostAnswer): void {
  if (kind === 'reset') res.socket?.destroy();
  else sendError(res, 500, 'InternalError', 'We encountered an internal error. Please try again.');
}

/**
 * Recognises the requests that replace or remove an object, path-style (`/<bucket>/<key>`, as our clients send them
 * with `forcePathStyle`). A PUT with a sub-resource (`?acl`, `?tagging`, `?partNumber&uploadId` …) changes no
 * object's bytes and is forwarded without the lock; so is every bucket-level request. S3 also honours `If-Match` on
 * DeleteObject, but nothing in Skein uses it: DELETE takes the lock (so a check cannot interleave with it) and its
 * conditional headers are passed through to s3rver, which ignores them.
 */
function objectWrite(req: IncomingMessage): ObjectWrite | undefined {
  const method = req.method ?? '';
  if (method !== 'PUT' && method !== 'DELETE' && method !== 'POST') return undefined;
  const url = req.url ?? '/';
  const queryAt = url.indexOf('?');
  const path = queryAt === -1 ? url : url.slice(0, queryAt);
  const slash = path.indexOf('/', 1);
  if (slash === -1 || slash === path.length - 1) return undefined; // no key: a bucket request
  const query = new URLSearchParams(queryAt === -1 ? '' : url.slice(queryAt + 1));
  let subresource = false;
  let uploadId = false;
  for (const name of query.keys()) {
    if (name === 'uploadId') uploadId = true;
    // `x-id=PutObject` is added by SDK v3; `X-Amz-*` are presigned-URL parameters.
    else if (name !== 'x-id' && !/^x-amz-/i.test(name)) subresource = true;
  }
  let conditional: boolean;
  if (method === 'PUT') {
    if (subresource || uploadId) return undefined; // UploadPart, PutObjectAcl, PutObjectTagging …
    conditional = true;
  } else if (method === 'POST') {
    if (!uploadId || subresource) return undefined; // only CompleteMultipartUpload writes an object
    conditional = true;
  } else {
    if (subresource || uploadId) return undefined; // AbortMultipartUpload, DeleteObjectTagging …
    conditional = false;
  }
  return { lockKey: decodePath(path.slice(1)), path, conditional };
}

/** The lock key of a request that reads an object (GET or HEAD of `/<bucket>/<key>`), or `undefined`. */
function objectRead(req: IncomingMessage): string | undefined {
  if (req.method !== 'GET' && req.method !== 'HEAD') return undefined;
  const url = req.url ?? '/';
  const queryAt = url.indexOf('?');
  const path = queryAt === -1 ? url : url.slice(0, queryAt);
  const slash = path.indexOf('/', 1);
  if (slash === -1 || slash === path.length - 1) return undefined; // no key: a bucket request (a listing)
  return decodePath(path.slice(1));
}

function decodePath(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path; // malformed escapes: s3rver will refuse it anyway; the raw text is still a consistent lock key
  }
}

interface PreconditionFailure {
  readonly status: number;
  readonly code: string;
  readonly message: string;
  readonly extra: Readonly<Record<string, string>>;
}

/**
 * S3's answers, from the S3 User Guide "Conditional writes" and its PutObject reference: `If-None-Match` accepts only
 * `*` and fails with 412 when the key exists; `If-Match` fails with 412 when the ETag differs and with 404 NoSuchKey
 * when there is no object (real S3 answers 404 there, not 412). ETags compare as opaque strings: S3 accepts them with
 * or without their double quotes.
 */
async function checkPreconditions(
  req: IncomingMessage,
  path: string,
  upstream: Upstream,
): Promise<PreconditionFailure | undefined> {
  const ifNoneMatch = headerValue(req, 'if-none-match');
  const ifMatch = headerValue(req, 'if-match');
  if (ifNoneMatch === undefined && ifMatch === undefined) return undefined;
  if (ifNoneMatch !== undefined && ifNoneMatch.trim() !== '*') {
    return {
      status: 501,
      code: 'NotImplemented',
      message: 'A header you provided implies functionality that is not implemented',
      extra: { Header: 'If-None-Match' },
    };
  }
  const current = await headEtag(path, upstream);
  if (ifNoneMatch !== undefined && current.exists) return preconditionFailed('If-None-Match');
  if (ifMatch !== undefined) {
    if (!current.exists) {
      return {
        status: 404,
        code: 'NoSuchKey',
        message: 'The specified key does not exist.',
        extra: { Key: decodePath(path.slice(path.indexOf('/', 1) + 1)) },
      };
    }
    if (!etagMatches(ifMatch, current.etag)) return preconditionFailed('If-Match');
  }
  return undefined;
}

function preconditionFailed(condition: string): PreconditionFailure {
  return {
    status: 412,
    code: 'PreconditionFailed',
    message: 'At least one of the pre-conditions you specified did not hold',
    extra: { Condition: condition },
  };
}

/** True when `header` (`*`, or one or more comma-separated ETags) names the current ETag. */
export function etagMatches(header: string, current: string | undefined): boolean {
  if (current === undefined) return false;
  const want = opaqueEtag(current);
  for (const candidate of header.split(',')) {
    const trimmed = candidate.trim();
    if (trimmed === '*' || opaqueEtag(trimmed) === want) return true;
  }
  return false;
}

function opaqueEtag(etag: string): string {
  const strong = etag.startsWith('W/') ? etag.slice(2) : etag;
  return strong.length >= 2 && strong.startsWith('"') && strong.endsWith('"') ? strong.slice(1, -1) : strong;
}

/** The object's current ETag at the upstream, by an anonymous HEAD (s3rver lets unsigned requests through). */
function headEtag(path: string, upstream: Upstream): Promise<{ exists: boolean; etag: string | undefined }> {
  return new Promise((resolve, reject) => {
    const head = request(
      { hostname: upstream.hostname, port: upstream.port, method: 'HEAD', path, agent: upstream.agent },
      (res) => {
        res.resume();
        const status = res.statusCode ?? 0;
        if (status === 404) resolve({ exists: false, etag: undefined });
        else if (status === 200) resolve({ exists: true, etag: headerValue(res, 'etag') });
        else reject(new Error(`HEAD ${path} at the upstream answered ${status}`));
      },
    );
    head.on('error', reject);
    head.end();
  });
}

/**
 * Streams `req` to the upstream and its answer back (or, with `lose`, replaces that answer by the fault). Resolves once the answer has been passed on completely or the
 * exchange failed (then the client gets a 502 or, when the answer had begun, a closed connection); never rejects.
 */
function forward(req: IncomingMessage, res: ServerResponse, upstream: Upstream, lose?: LostAnswer): Promise<void> {
  return new Promise<void>((resolve) => {
    let settled = false;
    const settle = () => {
      if (!settled) {
        settled = true;
        resolve();
      }
    };
    const out = request({
      hostname: upstream.hostname,
      port: upstream.port,
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      headers: endToEnd(req.rawHeaders, REQUEST_HOP_HEADERS),
      agent: upstream.agent,
    });
    out.on('response', (answer) => {
      if (lose) {
        // The upstream applied the request; its answer is read and replaced by the fault.
        answer.resume();
        answer.on('end', () => {
          answerLost(res, lose);
          settle();
        });
        answer.on('error', () => {
          answerLost(res, lose);
          settle();
        });
        return;
      }
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, endToEnd(answer.rawHeaders, RESPONSE_HOP_HEADERS));
      pipeline(answer, res).then(settle, () => {
        res.destroy();
        settle();
      });
    });
    out.on('error', (error) => {
      if (!res.headersSent) sendError(res, 502, 'BadGateway', `proxy: upstream failed: ${error.message}`);
      else res.destroy();
      settle();
    });
    // A client that goes away mid-body makes pipeline destroy `out`, which reports through 'error' above.
    pipeline(req, out).catch(() => undefined);
    // A client that gives up waiting for the answer (its request timeout) closes the connection: stop waiting for the
    // upstream too, so a write's lock is released instead of being held for as long as the upstream keeps silent.
    res.on('close', () => {
      if (settled || res.writableFinished) return;
      out.destroy();
      settle();
    });
  });
}

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection and are not forwarded; Node frames each side itself.
 * `Expect: 100-continue` was already answered by this server (Node sends the 100 when no `checkContinue` listener is
 * set), so the upstream must not wait for it again. None of these is part of a SigV4 signature.
 */
const REQUEST_HOP_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'expect',
]);
const RESPONSE_HOP_HEADERS = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/** `rawHeaders` (name, value, name, value …) without hop-by-hop headers, names' case and order kept. */
function endToEnd(raw: readonly string[], hop: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] ?? '';
    if (!hop.has(name.toLowerCase())) out.push(name, raw[i + 1] ?? '');
  }
  return out;
}

function headerValue(message: IncomingMessage, name: string): string | undefined {
  const value = message.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** An S3-style XML error (the SDK reads `Code` as the error's name). */
function sendError(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  extra: Readonly<Record<string, string>> = {},
): void {
  const requestId = randomBytes(8).toString('hex').toUpperCase();
  let fields = `<Code>${code}</Code><Message>${escapeXml(message)}</Message>`;
  for (const [name, value] of Object.entries(extra)) fields += `<${name}>${escapeXml(value)}</${name}>`;
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error>${fields}<RequestId>${requestId}</RequestId><HostId>skein-local</HostId></Error>`;
  res.writeHead(status, {
    'Content-Type': 'application/xml',
    'Content-Length': Buffer.byteLength(body),
    'x-amz-request-id': requestId,
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

type LockMode = 'read' | 'write';

/**
 * A readers-writer lock per key: any number of reads at once, or one write alone. Granted in call order: a read asked
 * for after a waiting write waits for that write (writers are not starved). Keys are dropped when no one holds or
 * waits for them, so the map only holds keys in use.
 */
function keyedLock(): (key: string, mode: LockMode) => Promise<() => void> {
  interface KeyState {
    readers: number;
    writing: boolean;
    readonly waiting: { readonly mode: LockMode; readonly grant: () => void }[];
  }
  const keys = new Map<string, KeyState>();
  const free = (state: KeyState, mode: LockMode) =>
    !state.writing && (mode === 'read' || state.readers === 0) && state.waiting.length === 0;
  const take = (state: KeyState, mode: LockMode) => {
    if (mode === 'read') state.readers++;
    else state.writing = true;
  };
  const wake = (key: string, state: KeyState) => {
    for (let next = state.waiting[0]; next !== undefined; next = state.waiting[0]) {
      if (state.writing || (next.mode === 'write' && state.readers > 0)) break;
      state.waiting.shift();
      take(state, next.mode);
      next.grant();
      if (next.mode === 'write') break;
    }
    if (!state.writing && state.readers === 0 && state.waiting.length === 0) keys.delete(key);
  };
  return async (key, mode) => {
    let state = keys.get(key);
    if (state === undefined) {
      state = { readers: 0, writing: false, waiting: [] };
      keys.set(key, state);
    }
    const held = state;
    if (free(held, mode)) take(held, mode);
    else await new Promise<void>((grant) => held.waiting.push({ mode, grant }));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (mode === 'read') held.readers--;
      else held.writing = false;
      wake(key, held);
    };
  };
}
