import { execFileSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';

/** Flags that work on this machine kind (headless container, no GPU, no network besides 127.0.0.1). */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Debian's chromium (scripts/setup-chromium.sh installs it); a clear error when it is missing. */
export function chromiumPath(): string {
  for (const name of ['chromium', 'chromium-browser']) {
    try {
      const path = execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
      if (path) return path;
    } catch {
      // not this name
    }
  }
  throw new Error('chromium is not installed: run `sudo bash scripts/setup-chromium.sh` (npm run pretest:integration)');
}

/** Launches Chromium through playwright-core with a fresh profile (Playwright makes a temporary one per launch). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath(), args: CHROMIUM_ARGS, headless: true });
}

/** The folder screenshots go to (git-ignored): test-output/<name>/. */
export async function screenshotDir(name: string): Promise<string> {
  const dir = join(process.cwd(), 'test-output', name);
  await mkdir(dir, { recursive: true });
  return dir;
}
