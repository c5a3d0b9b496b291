import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { describeIssue, UsageError } from '../schemas/errors.ts';

/** What `skein local up` writes to `<dir>/endpoints.json` once the stack is ready. */
export const Endpoints = z.object({
  kinesis: z.url(),
  s3: z.url(),
  stream: z.string().min(1),
  bucket: z.string().min(1),
  /** s3rver's folder: objects are `<dataDir>/<bucket>/<key>._S3rver_object`. */
  dataDir: z.string().min(1),
  /** The console `skein local up` serves (absent until it runs, and with older stacks). */
  console: z.url().optional(),
});
export type Endpoints = z.infer<typeof Endpoints>;

export const ENDPOINTS_FILE = 'endpoints.json';

export async function writeEndpoints(dir: string, endpoints: Endpoints): Promise<void> {
  await writeFile(join(dir, ENDPOINTS_FILE), `${JSON.stringify(endpoints, null, 2)}\n`);
}

/** Reads `<dir>/endpoints.json`; a clear error when the local stack is not running there. */
export async function readEndpoints(dir: string): Promise<Endpoints> {
  const path = join(dir, ENDPOINTS_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new UsageError(
      `no local stack at ${dir}: ${path} is missing (start one with 'npm start' or 'skein local up')`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new UsageError(`${path} is not valid JSON: restart the local stack to rewrite it`);
  }
  const parsed = Endpoints.safeParse(json);
  if (!parsed.success) throw new UsageError(`${path} is not a valid endpoints file: ${describeIssue(parsed.error)}`);
  return parsed.data;
}
