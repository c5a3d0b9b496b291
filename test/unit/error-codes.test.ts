import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../functions/core/package-root.ts';
import { ERROR_CODES, SkeinError, type SkeinErrorCode, UsageError } from '../../schemas/errors.ts';

const ROOT = packageRoot(import.meta.url);
const SOURCE_FOLDERS = ['bin', 'cli', 'local', 'console', 'lib', 'query', 'functions', 'schemas'];

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const nested = await Promise.all(
    entries.map((e) =>
      e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
    ),
  );
  return nested.flat();
}

describe('SkeinError codes', () => {
  it('are a closed list: a code not in ERROR_CODES does not compile', () => {
    // @ts-expect-error 'something_went_wrong' is not a SkeinErrorCode (npx tsc --noEmit fails if this compiles)
    const free = new SkeinError('something_went_wrong', 'x');
    const known: SkeinErrorCode = 'store_failed';

    expect(free.code).toBe('something_went_wrong');
    expect(new SkeinError(known, 'x').code).toBe('store_failed');
    expect(new UsageError('x').code).toBe('usage');
  });

  it('each name a failure that some source file raises', async () => {
    // Prepare
    const files = (await Promise.all(SOURCE_FOLDERS.map((f) => sourceFiles(join(ROOT, f))))).flat();
    const texts = await Promise.all(files.map(async (f) => ({ f, text: await readFile(f, 'utf8') })));
    // schemas/errors.ts counts after its list of codes (its subclasses raise usage, config_invalid, store_failed).
    const text = texts
      .map(({ f, text }) =>
        f.endsWith('schemas/errors.ts') ? text.slice(text.indexOf('export type SkeinErrorCode')) : text,
      )
      .join('\n');

    // Act
    const unused = Object.keys(ERROR_CODES).filter((code) => !text.includes(`'${code}'`));

    // Assess
    expect(unused).toEqual([]);
  });
});
