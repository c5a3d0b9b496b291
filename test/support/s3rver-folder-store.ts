import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ObjectStore } from '../../functions/core/object-store.ts';

const OBJECT_SUFFIX = '._S3rver_object';
const METADATA_SUFFIX = '._S3rver_metadata.json';

/**
 * An `ObjectStore` over a folder laid out exactly as s3rver lays out a bucket (`<dir>/<bucket>/<key>._S3rver_object`,
 * then its metadata file), so the local query layer reads what it writes — without running s3rver. Single process
 * only: conditional writes are checked, not locked. ETags are the MD5 of the body, as S3 computes them for a PUT.
 */
export function s3rverFolderStore(dataDir: string, bucket: string): ObjectStore {
  const root = join(dataDir, bucket);
  const path = (key: string) => join(root, `${key}${OBJECT_SUFFIX}`);
  const etagOf = (body: Uint8Array) => `"${createHash('md5').update(body).digest('hex')}"`;
  const read = async (key: string): Promise<Uint8Array | undefined> => {
    try {
      return new Uint8Array(await readFile(path(key)));
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  };
  const write = async (key: string, body: Uint8Array, contentType: string): Promise<string> => {
    const file = path(key);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, body);
    const etag = etagOf(body);
    // s3rver writes the metadata after the data: readers treat an object without it as still being written.
    await writeFile(join(root, `${key}${METADATA_SUFFIX}`), JSON.stringify({ 'content-type': contentType, etag }));
    return etag;
  };
  return {
    async put(key, body, contentType) {
      await write(key, body, contentType);
    },
    get: read,
    async list(prefix) {
      // Only the folder the prefix names down to its last `/` can hold its keys: walk that, not the whole bucket.
      const folder = prefix.slice(0, prefix.lastIndexOf('/') + 1);
      const keys: string[] = [];
      await walk(join(root, folder), folder, keys);
      return keys.filter((k) => k.startsWith(prefix)).sort();
    },
    async delete(key) {
      await rm(path(key), { force: true });
      await rm(join(root, `${key}${METADATA_SUFFIX}`), { force: true });
    },
    async getVersioned(key) {
      const body = await read(key);
      return body === undefined ? undefined : { body, etag: etagOf(body) };
    },
    async putIf(key, body, contentType, condition) {
      const current = await read(key);
      const holds =
        'ifNoneMatch' in condition
          ? current === undefined
          : current !== undefined && etagOf(current) === condition.ifMatch;
      return holds ? write(key, body, contentType) : undefined;
    },
  };
}

async function walk(dir: string, prefix: string, out: string[]): Promise<void> {
  let found: import('node:fs').Dirent[];
  try {
    found = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if (isMissing(error)) return;
    throw error;
  }
  const names = new Set(found.map((d) => d.name));
  for (const entry of found) {
    if (entry.isDirectory()) await walk(join(dir, entry.name), `${prefix}${entry.name}/`, out);
    else if (entry.name.endsWith(OBJECT_SUFFIX)) {
      const key = entry.name.slice(0, -OBJECT_SUFFIX.length);
      if (names.has(`${key}${METADATA_SUFFIX}`)) out.push(`${prefix}${key}`);
    }
  }
}

function isMissing(error: unknown): boolean {
  return typeof error === 'object' && error !== null && 'code' in error && error.code === 'ENOENT';
}
