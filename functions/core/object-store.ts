import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { StoreError } from '../../schemas/errors.ts';

/** The port every Lambda and the CLI use to reach S3 (or s3rver locally, or memory in unit tests). */
export interface ObjectStore {
  put(key: string, body: Uint8Array, contentType: string): Promise<void>;
  /** The object's bytes, or `undefined` when there is no such key. */
  get(key: string): Promise<Uint8Array | undefined>;
  /** Every key under `prefix`, in lexicographic order. */
  list(prefix: string): Promise<string[]>;
  delete(key: string): Promise<void>;
  /** The object's bytes and ETag, or `undefined` when there is no such key. */
  getVersioned(key: string): Promise<VersionedObject | undefined>;
  /**
   * Writes only when `condition` holds at the store — `{ ifNoneMatch: '*' }`: no object exists at `key`;
   * `{ ifMatch: etag }`: the current object has that ETag. Returns the new ETag, or `undefined` when the precondition
   * failed (S3 412 PreconditionFailed or 409 ConditionalRequestConflict): someone else wrote first.
   */
  putIf(key: string, body: Uint8Array, contentType: string, condition: WriteCondition): Promise<string | undefined>;
}

export interface VersionedObject {
  readonly body: Uint8Array;
  readonly etag: string;
}

export type WriteCondition = { readonly ifNoneMatch: '*' } | { readonly ifMatch: string };

/** An `ObjectStore` over one S3 bucket. */
export function s3ObjectStore(client: S3Client, bucket: string): ObjectStore {
  return {
    async put(key, body, contentType) {
      try {
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType }));
      } catch (error) {
        throw new StoreError(`PUT s3://${bucket}/${key} failed: ${errorName(error)}`, { cause: error });
      }
    },
    async get(key) {
      try {
        const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        return out.Body ? await out.Body.transformToByteArray() : new Uint8Array();
      } catch (error) {
        if (error instanceof NoSuchKey || errorName(error) === 'NoSuchKey') return undefined;
        throw new StoreError(`GET s3://${bucket}/${key} failed: ${errorName(error)}`, { cause: error });
      }
    },
    async list(prefix) {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const out = await client.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }),
        );
        for (const item of out.Contents ?? []) if (item.Key) keys.push(item.Key);
        token = out.IsTruncated ? out.NextContinuationToken : undefined;
      } while (token);
      return keys.sort();
    },
    async delete(key) {
      try {
        await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
      } catch (error) {
        throw new StoreError(`DELETE s3://${bucket}/${key} failed: ${errorName(error)}`, { cause: error });
      }
    },
    async getVersioned(key) {
      try {
        const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        const body = out.Body ? await out.Body.transformToByteArray() : new Uint8Array();
        if (!out.ETag) throw new StoreError(`GET s3://${bucket}/${key} returned no ETag`);
        return { body, etag: out.ETag };
      } catch (error) {
        if (error instanceof NoSuchKey || errorName(error) === 'NoSuchKey') return undefined;
        if (error instanceof StoreError) throw error;
        throw new StoreError(`GET s3://${bucket}/${key} failed: ${errorName(error)}`, { cause: error });
      }
    },
    async putIf(key, body, contentType, condition) {
      try {
        const out = await client.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: key,
            Body: body,
            ContentType: contentType,
            ...('ifNoneMatch' in condition ? { IfNoneMatch: condition.ifNoneMatch } : { IfMatch: condition.ifMatch }),
          }),
        );
        if (!out.ETag) throw new StoreError(`PUT s3://${bucket}/${key} returned no ETag`);
        return out.ETag;
      } catch (error) {
        if (isPreconditionFailure(error)) return undefined;
        // `If-Match` on a key that no longer exists is answered 404 NoSuchKey: someone deleted it, the CAS lost.
        if ('ifMatch' in condition && errorName(error) === 'NoSuchKey') return undefined;
        if (error instanceof StoreError) throw error;
        throw new StoreError(`conditional PUT s3://${bucket}/${key} failed: ${errorName(error)}`, { cause: error });
      }
    },
  };
}

/**
 * S3 answers a failed precondition with 412 PreconditionFailed, and a conditional write racing another one on the
 * same key with 409 ConditionalRequestConflict: both mean "someone else wrote first".
 */
function isPreconditionFailure(error: unknown): boolean {
  const name = errorName(error);
  if (name === 'PreconditionFailed' || name === 'ConditionalRequestConflict') return true;
  const status = (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
  return status === 412 || status === 409;
}

/** An in-memory `ObjectStore` for unit tests and benchmarks. */
export function memoryObjectStore(): ObjectStore & { readonly objects: Map<string, Uint8Array> } {
  const objects = new Map<string, Uint8Array>();
  // ETags are a per-write counter: two writes of the same bytes still get different ETags, as a compare-and-set needs.
  const etags = new Map<string, string>();
  let writes = 0;
  const write = (key: string, body: Uint8Array): string => {
    const etag = `"${++writes}"`;
    objects.set(key, body);
    etags.set(key, etag);
    return etag;
  };
  return {
    objects,
    async put(key, body) {
      write(key, body);
    },
    async getVersioned(key) {
      const body = objects.get(key);
      const etag = etags.get(key);
      return body && etag ? { body, etag } : undefined;
    },
    async putIf(key, body, _contentType, condition) {
      const current = etags.get(key);
      const holds = 'ifNoneMatch' in condition ? current === undefined : current === condition.ifMatch;
      return holds ? write(key, body) : undefined;
    },
    async get(key) {
      return objects.get(key);
    },
    async list(prefix) {
      return [...objects.keys()].filter((k) => k.startsWith(prefix)).sort();
    },
    async delete(key) {
      objects.delete(key);
      etags.delete(key);
    },
  };
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : 'UnknownError';
}
