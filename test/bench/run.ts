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

/**
 * `npm run bench -- [name…] [--rows N] [--compare]`: `--rows` sizes the lookup bench's window (1.08 M rows by
 * default); `--compare` adds parquet-wasm's other codecs to the Parquet writer bench.
 */
function parseArgs(argv: readonly string[]): { only: string[]; rows?: number; compare: boolean } {
  const only: string[] = [];
  let rows: number | undefined;
  let compare = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--rows') {
      rows = Number(argv[++i]);
      if (!Number.isInteger(rows) || rows < 100_000) throw new Error('--rows: a whole number of at least 100000');
    } else if (arg === '--compare') compare = true;
    else only.push(arg);
  }
  return rows === undefined ? { only, compare } : { only, rows, compare };
}

const { only, rows, compare } = parseArgs(process.argv.slice(2));
const benches: { name: string; run: () => Promise<string[]> }[] = [
  { name: 'ingest', run: benchFormats },
  { name: 'parquet', run: () => benchParquetWriter({ compare }) },
  { name: 'rollup', run: benchRollup },
  { name: 'evaluate', run: benchEvaluate },
  { name: 'lookup', run: () => benchLookup(rows === undefined ? {} : { rows }) },
  { name: 'console', run: benchConsole },
];

console.log(`skein benchmarks — node ${process.version}, ${new Date().toISOString()}`);
for (const bench of benches) {
  if (only.length > 0 && !only.includes(bench.name)) continue;
  const started = performance.now();
  for (const line of await bench.run()) console.log(line);
  console.log(`  (${((performance.now() - started) / 1000).toFixed(1)} s)\n`);
}
