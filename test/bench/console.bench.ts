/**
 * The console: its shipped asset size (what `npm run build` writes to dist/console/, raw and gzipped), and the time a
 * 10,000-span trace takes to render in Chromium — from navigation to the waterfall drawn, and scrolling to its last
 * span — next to a 10-span trace through the same server and page (the floor: page load, fetch, JSON parse).
 *
 * The rows come from a fixed source (no DuckDB, no S3), so the figure is the console's own: the server's view of the
 * rows, the JSON, and the page. Needs Debian's chromium (scripts/setup-chromium.sh).
 */
import { gzipSync } from 'node:zlib';
import type { Browser } from 'playwright-core';
import { loadAssets } from '../../console/server/assets.ts';
import { startConsole } from '../../console/server/server.ts';
import type { ConsoleSource } from '../../console/server/source.ts';
import { memoryObjectStore } from '../../functions/core/object-store.ts';
import { humanBytes } from '../../query/read-stats.ts';
import { aWideTrace } from '../builders/traces.ts';
import { launchChromium } from '../support/chromium.ts';

const BIG = 10_000;
const SMALL = 10;
const RUNS = 3;

export async function benchConsole(): Promise<string[]> {
  const lines: string[] = [];
  const built = await loadAssets({ fresh: true });
  let raw = 0;
  let zipped = 0;
  for (const [name, asset] of built) {
    raw += asset.body.length;
    zipped += gzipSync(asset.body).length;
    lines.push(
      `  console asset ${name.padEnd(8)} ${humanBytes(asset.body.length).padStart(9)} (${humanBytes(gzipSync(asset.body).length)} gzipped)`,
    );
  }
  lines.push(`  console assets total   ${humanBytes(raw).padStart(9)} (${humanBytes(zipped)} gzipped)`);

  const bigId = 'b'.repeat(32);
  const smallId = 'a'.repeat(32);
  const traces = new Map([
    [bigId, aWideTrace(bigId, BIG)],
    [smallId, aWideTrace(smallId, SMALL)],
  ]);
  const source: ConsoleSource = {
    where: 'bench',
    store: memoryObjectStore(),
    cliTarget: '--local .skein',
    replayCommand: 'skein replay',
    lookup: async (_by, id) => ({ rows: traces.get(id) ?? [], read: 'fixed rows' }),
    search: async () => ({ traces: [], read: 'none' }),
  };
  const server = await startConsole({ source, assets: built });
  let browser: Browser | undefined;
  try {
    const chromium = await launchChromium();
    browser = chromium;
    const measure = async (id: string): Promise<{ drawn: number; scrolled: number }> => {
      const page = await chromium.newPage({ viewport: { width: 1400, height: 900 } });
      const t0 = performance.now();
      await page.goto(`${server.url}/trace/${id}`);
      await page.waitForSelector('#app[data-state="ready"] #waterfall .wf-row');
      const drawn = performance.now() - t0;
      const t1 = performance.now();
      await page.$eval('#waterfall', (el) => {
        el.scrollTop = el.scrollHeight;
      });
      await page.waitForSelector(`#waterfall .wf-row[data-index="${(traces.get(id)?.length ?? 1) - 1}"]`);
      const scrolled = performance.now() - t1;
      await page.close();
      return { drawn, scrolled };
    };
    await measure(smallId); // warm-up: Chromium's first page, the asset cache
    const best = async (id: string) => {
      let drawn = Number.POSITIVE_INFINITY;
      let scrolled = Number.POSITIVE_INFINITY;
      for (let i = 0; i < RUNS; i++) {
        const m = await measure(id);
        drawn = Math.min(drawn, m.drawn);
        scrolled = Math.min(scrolled, m.scrolled);
      }
      return { drawn, scrolled };
    };
    const small = await best(smallId);
    const big = await best(bigId);
    const json = Buffer.byteLength(await (await fetch(`${server.url}/api/trace/${bigId}`)).text());
    lines.push(
      `  render ${BIG.toLocaleString('en-US')}-span trace  ${big.drawn.toFixed(0).padStart(6)} ms to the waterfall, ${big.scrolled.toFixed(0)} ms to scroll to its last span (JSON ${humanBytes(json)}; best of ${RUNS})`,
      `  render ${SMALL}-span trace (floor) ${small.drawn.toFixed(0).padStart(6)} ms to the waterfall, ${small.scrolled.toFixed(0)} ms to its last span`,
    );
  } finally {
    await browser?.close();
    await server.close();
  }
  return lines;
}
