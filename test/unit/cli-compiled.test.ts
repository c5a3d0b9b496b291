import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SKEIN_USAGE } from '../../cli/main.ts';

const run = promisify(execFile);
const BIN = 'dist/bin/skein.js';

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

describe('the published skein command (compiled JavaScript)', () => {
  let dir = '';

  beforeAll(async () => {
    await run(process.execPath, ['scripts/build-cli.mjs']);
    dir = await mkdtemp(join(tmpdir(), 'skein-cli-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is what package.json names as the bin, and runs on plain node', async () => {
    // Prepare
    const { default: pkg } = await import('../../package.json', { with: { type: 'json' } });

    // Act
    const help = await run(process.execPath, [BIN, '--help']);

    // Assess
    expect(pkg.bin.skein).toBe(BIN);
    expect(help.stdout).toBe(SKEIN_USAGE);
    expect(help.stderr).toBe('');
  });

  it('prints no runtime warning when a command builds AWS SDK clients on this Node version', async () => {
    // Prepare: a local stack whose endpoints answer nothing, so the S3 client is built and the call fails fast.
    const port = await closedPort();
    const endpoints = {
      kinesis: `http://127.0.0.1:${port}`,
      s3: `http://127.0.0.1:${port}`,
      stream: 'skein-local',
      bucket: 'skein-local',
      dataDir: join(dir, 's3'),
    };
    await writeFile(join(dir, 'endpoints.json'), JSON.stringify(endpoints));

    // Act
    const failed = await run(process.execPath, [BIN, 'alerts', '--local', dir]).catch((error: unknown) => error);

    // Assess: one line saying what failed, no Node or SDK warning around it.
    expect(failed).toMatchObject({ code: 1, stderr: expect.stringMatching(/^skein: .+\n$/) });
    expect(failed).not.toMatchObject({ stderr: expect.stringMatching(/Warning/) });
  });
});
