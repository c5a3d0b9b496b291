import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { packageRoot } from '../../functions/core/package-root.ts';

/** One file the console serves, with its content type. */
export interface Asset {
  readonly body: Buffer;
  readonly type: string;
}

/** Where `npm run build` (scripts/build-console.mjs) writes the page's bundle. */
export const ASSETS_DIR = join(packageRoot(import.meta.url), 'dist', 'console');
export const ASSET_FILES = {
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
} as const;
export type AssetName = keyof typeof ASSET_FILES;

/**
 * The page's assets: the built ones under dist/console/ when they are there (`npm ci`, `npm test` and the published
 * package build them), else built now in memory with esbuild from console/page/ — so `npm start` (which runs the
 * TypeScript sources) works on a checkout that was never built. `fresh` always builds (tests of the page itself).
 */
export async function loadAssets(
  options: { readonly dir?: string; readonly fresh?: boolean } = {},
): Promise<Map<AssetName, Asset>> {
  if (!options.fresh) {
    const built = await readBuilt(options.dir ?? ASSETS_DIR);
    if (built) return built;
  }
  // scripts/build-console.mjs holds the one esbuild configuration; it is plain JavaScript, loaded as it is.
  const script = join(packageRoot(import.meta.url), 'scripts', 'build-console.mjs');
  const { buildConsole } = (await import(pathToFileURL(script).href)) as {
    buildConsole(options: { write: false }): Promise<{ path: string; contents: Uint8Array }[]>;
  };
  const files = await buildConsole({ write: false });
  const out = new Map<AssetName, Asset>();
  for (const name of Object.keys(ASSET_FILES) as AssetName[]) {
    const file = files.find((f) => f.path.endsWith(`/${name}`));
    if (file) out.set(name, { body: Buffer.from(file.contents), type: ASSET_FILES[name] });
  }
  return out;
}

async function readBuilt(dir: string): Promise<Map<AssetName, Asset> | undefined> {
  const out = new Map<AssetName, Asset>();
  for (const name of Object.keys(ASSET_FILES) as AssetName[]) {
    try {
      out.set(name, { body: await readFile(join(dir, name)), type: ASSET_FILES[name] });
    } catch {
      return undefined;
    }
  }
  return out;
}
