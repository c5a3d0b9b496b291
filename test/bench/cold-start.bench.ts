/**
 * Cold start of the ingest function: the size of its bundle, built the way CDK's NodejsFunction builds it
 * (`skeinBundle` in lib/lambda-function.ts: esbuild, ESM, minified, source map, the AWS SDK bundled), and the time a
 * fresh Node process takes to import it (module init: configuration, clients, logger — no handler call).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { INGEST_NODE_OPTIONS } from '../../functions/ingest/node-options.ts';
import { ESM_CJS_SHIM, REPO_ROOT } from '../../lib/lambda-function.ts';

const RUNS = 5;

/** Bundles `entry` (repository-relative) as CDK does and reports its size and the best of 5 module init times. */
export async function benchColdStart(entry = 'functions/ingest/handler.ts'): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'skein-cold-start-'));
  try {
    const outfile = join(dir, 'index.mjs');
    await build({
      entryPoints: [join(REPO_ROOT, entry)],
      outfile,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'esm',
      mainFields: ['module', 'main'],
      banner: { js: ESM_CJS_SHIM },
      minify: true,
      sourcemap: true,
      sourcesContent: false,
      logLevel: 'error',
    });
    const bytes = statSync(outfile).size;
    const zipped = gzipSync(readFileSync(outfile)).length;
    const plain = bestInit(outfile, []);
    // What the deployed function runs with (its NODE_OPTIONS).
    const deployed = bestInit(outfile, INGEST_NODE_OPTIONS.split(' '));
    return [
      `cold start (${entry}): bundle ${(bytes / 1024).toFixed(0)} KiB (${(zipped / 1024).toFixed(0)} KiB gzipped), ` +
        `module init ${plain.toFixed(0)} ms, ${deployed.toFixed(0)} ms with ${INGEST_NODE_OPTIONS} ` +
        `(best of ${RUNS} fresh node ${process.version} processes each)`,
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The fastest of {@link RUNS} fresh processes importing the bundle, in milliseconds. */
function bestInit(bundle: string, nodeOptions: readonly string[]): number {
  const script =
    'const t0 = performance.now(); await import(process.argv[1]); process.stdout.write(String(performance.now() - t0));';
  const env = { ...process.env, SKEIN_BUCKET: 'bench', AWS_REGION: 'us-east-1', NODE_NO_WARNINGS: '1' };
  let best = Number.POSITIVE_INFINITY;
  for (let run = 0; run < RUNS; run++) {
    const out = execFileSync(process.execPath, [...nodeOptions, '--input-type=module', '-e', script, bundle], {
      env,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    best = Math.min(best, Number(out.toString()));
  }
  return best;
}
