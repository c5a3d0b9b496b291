import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { consoleCommand } from '../../cli/console-command.ts';
import { runSkein } from '../../cli/main.ts';
import { writeEndpoints } from '../../local/endpoints.ts';
import { captureIo } from '../builders/cli-io.ts';

describe('skein console', () => {
  it('is listed and dispatched by the skein command', async () => {
    // Prepare
    const io = captureIo();

    // Act
    const code = await runSkein(['console', '--help'], io);

    // Assess
    expect(code).toBe(0);
    expect(io.out()).toMatch(/^Usage: skein console /);
  });

  it('refuses --bucket without --athena --workgroup, since lookups on AWS go through Athena', async () => {
    // Prepare
    const io = captureIo();

    // Act
    const code = await consoleCommand(['--bucket', 'skein-data'], io);

    // Assess
    expect(code).toBe(2);
    expect(io.err()).toContain('--bucket needs --athena --workgroup <wg>');
  });

  it('refuses Athena flags for the local stack and a port out of range', async () => {
    // Prepare
    const athena = captureIo();
    const port = captureIo();

    // Act
    const athenaCode = await consoleCommand(['--local', '.skein', '--workgroup', 'wg'], athena);
    const portCode = await consoleCommand(['--port', '70000'], port);

    // Assess
    expect(athenaCode).toBe(2);
    expect(athena.err()).toContain('--workgroup goes with --bucket <name>');
    expect(portCode).toBe(2);
    expect(port.err()).toContain('--port must be 0 to 65535');
  });

  it('serves the local stack of a folder on 127.0.0.1 until stopped', async () => {
    // Prepare
    const dir = await mkdtemp(join(tmpdir(), 'skein-console-cli-'));
    await writeEndpoints(dir, {
      kinesis: 'http://127.0.0.1:1',
      s3: 'http://127.0.0.1:1',
      stream: 's',
      bucket: 'b',
      dataDir: dir,
    });
    const io = captureIo();
    const stop = new AbortController();

    // Act
    const running = consoleCommand(['--local', dir, '--port', '0'], io, { signal: stop.signal });
    let url: string | undefined;
    for (let i = 0; i < 200 && url === undefined; i++) {
      url = /Skein console: (http:\/\/127\.0\.0\.1:\d+)/.exec(io.out())?.[1];
      if (url === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const page = await fetch(`${url}/pipeline`);
    stop.abort();
    const code = await running;
    await rm(dir, { recursive: true, force: true });

    // Assess
    expect(url).toBeDefined();
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(code).toBe(0);
  });
});
