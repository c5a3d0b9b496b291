import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The folder of the nearest `package.json` above a module: the repository root whether the module runs from its
 * TypeScript source (`local/x.ts`, `functions/evaluate/x.ts`) or from the compiled CLI (`dist/bin/chunks/x.js`),
 * whose depth differs. Files that ship beside the code (`rules/`, `config/`) are found from here.
 */
export function packageRoot(moduleUrl: string): string {
  const start = dirname(fileURLToPath(moduleUrl));
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return start;
  }
}
