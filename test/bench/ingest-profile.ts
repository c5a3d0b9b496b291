/**
 * The ingest benchmark as its own process: `npm run bench ingest` starts it with the ingest function's
 * `NODE_OPTIONS` (formats.bench.ts). Run it alone, one input at a time, for profiling and quick comparisons:
 *
 *   node --max-semi-space-size=64 --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx test/bench/ingest-profile.ts json-lines
 *
 * Inputs: mixed, json-lines, otlp-proto, otlp-json, kpl, cloudwatch (`FORMAT_INPUTS`); none named: all of them.
 * Prints ingest and its floor measured in the same run on the same bytes, and ingest's stages.
 */
import { pathToFileURL } from 'node:url';
import { FORMAT_INPUTS } from './formats.bench.ts';
import { benchIngestInput } from './ingest.bench.ts';

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const wanted = process.argv.slice(2);
  for (const [name, build] of Object.entries(FORMAT_INPUTS)) {
    if (wanted.length > 0 && !wanted.includes(name)) continue;
    for (const line of await benchIngestInput(build(), Number(process.env.SKEIN_BENCH_RUNS ?? 3))) console.log(line);
    console.log('');
  }
}
