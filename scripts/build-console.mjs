// Bundles the console's page (console/page/main.ts and its CSS, uPlot's included) into dist/console/app.js and
// app.css: one script and one stylesheet, no source maps, minified, nothing loaded from the network. Called by
// scripts/build-cli.mjs (npm run build, hence `npm ci` and `npm test`), and by the console server itself, in
// memory, when dist/console/ is missing (console/server/assets.ts).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** @param {{ write?: boolean }} options */
export async function buildConsole(options = {}) {
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: { app: 'console/page/main.ts' },
    outdir: 'dist/console',
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    legalComments: 'none',
    write: options.write !== false,
    logLevel: 'warning',
  });
  return result.outputFiles ?? [];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildConsole();
