import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningConsole, startConsole } from '../../console/server/server.ts';
import { memoryObjectStore } from '../../functions/core/object-store.ts';
import { aWideTrace } from '../builders/traces.ts';
import { launchChromium } from '../support/chromium.ts';

const SPANS = 10_000;
const TRACE = 'b'.repeat(32);

/** A 10,000-span trace in Chromium: the waterfall keeps only the visible rows in the page and reaches every span. */
describe('a 10,000-span trace in the console', () => {
  let server: RunningConsole;
  let browser: Browser;

  beforeAll(async () => {
    const rows = aWideTrace(TRACE, SPANS);
    server = await startConsole({
      source: {
        where: 'fixed rows',
        store: memoryObjectStore(),
        cliTarget: '--local .skein',
        replayCommand: 'skein replay --local .skein',
        lookup: async (_by, id) => ({ rows: id === TRACE ? rows : [], read: 'fixed rows' }),
        search: async () => ({ traces: [], read: 'none' }),
      },
    });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('draws only the visible rows and scrolls to the last span', async () => {
    // Prepare
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });

    // Act
    await page.goto(`${server.url}/trace/${TRACE}`);
    await page.waitForSelector('#app[data-state="ready"] #waterfall .wf-row');
    const drawnAtTop = await page.locator('#waterfall .wf-row').count();
    const declared = await page.locator('#waterfall').getAttribute('data-rows');
    await page.$eval('#waterfall', (el) => {
      el.scrollTop = el.scrollHeight;
    });
    await page.waitForSelector(`#waterfall .wf-row[data-index="${SPANS - 1}"]`);
    const drawnAtEnd = await page.locator('#waterfall .wf-row').count();
    await page.close();

    // Assess
    expect(declared).toBe(String(SPANS));
    expect(drawnAtTop).toBeGreaterThan(10);
    expect(drawnAtTop).toBeLessThan(100);
    expect(drawnAtEnd).toBeLessThan(100);
  });
});
