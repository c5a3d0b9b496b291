/**
 * `npm run bench`: every hot path's figure next to its floor, measured in the same run on the same bytes.
 * No thresholds: the numbers are reported, not asserted.
 */
import { benchConsole } from './console.bench.ts';
import { benchEvaluate } from './evaluate.bench.ts';
import { benchFormats } from './formats.bench.ts';
import { benchLookup } from './lookup.bench.ts';
import { benchParquetWriter } from './parquet-writer.bench.ts';
import { benchRollup } from './rollup.bench.ts';

const benches: { name: string; run: () => Promise<string[]> }[] = [
  { name: 'ingest', run: benchFormats },
  { name: 'parquet', run: benchParquetWriter },
  { name: 'rollup', run: benchRollup },
  { name: 'evaluate', run: benchEvaluate },
  { name: 'lookup', run: benchLookup },
  { name: 'console', run: benchConsole },
];

const only = process.argv.slice(2);
console.log(`skein benchmarks — node ${process.version}, ${new Date().toISOString()}`);
for (const bench of benches) {
  if (only.length > 0 && !only.includes(bench.name)) continue;
  const started = performance.now();
  for (const line of await bench.run()) console.log(line);
  console.log(`  (${((performance.now() - started) / 1000).toFixed(1)} s)\n`);
}
