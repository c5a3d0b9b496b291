// Compiles the `skein` CLI to JavaScript under dist/ (package.json "bin"), so the published command starts without
// compiling TypeScript at run time. Commands stay lazily loaded (one chunk per dynamic import). Packages with native
// code, WebAssembly or files of their own are left to node_modules; the rest (AWS SDK, zod, yaml…) is bundled,
// which saves resolving hundreds of small modules at start-up.
import { build } from 'esbuild';

const EXTERNAL = [
  '@duckdb/node-api',
  'kinesalite',
  's3rver',
  'leveldown',
  'parquet-wasm',
  'apache-arrow',
  'esbuild',
  'aws-cdk-lib',
  'constructs',
  'tsx',
];

await build({
  entryPoints: ['bin/skein.ts'],
  outdir: 'dist',
  outbase: '.',
  chunkNames: 'bin/chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: EXTERNAL,
  // Bundled CommonJS code (the AWS SDK's dependencies) calls require() for Node built-ins.
  banner: {
    js: "import { createRequire as __skeinCreateRequire } from 'node:module';\nconst require = __skeinCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
});

// The console's page (dist/console/), which `skein console` and `skein local up` serve.
const { buildConsole } = await import('./build-console.mjs');
await buildConsole();
