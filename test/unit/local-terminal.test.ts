import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { humanLine, LOG_FILE, localLogWriter, Terminal } from '../../cli/terminal.ts';
import { createLogger } from '../../functions/core/logger.ts';

function sink(isTTY: boolean) {
  let text = '';
  return { write: (s: string) => (text += s), isTTY, text: () => text };
}

describe('what skein local up shows a person', () => {
  it('redraws one progress line on a terminal and keeps other lines above it', () => {
    // Prepare
    const out = sink(true);
    const terminal = new Terminal(out, out, 10_000);

    // Act
    terminal.progress('[00:02] ingested 10');
    terminal.progress('[00:04] ingested 20');
    terminal.line('Caught up');
    terminal.done();

    // Assess
    expect(out.text()).toBe(
      '\r\x1b[2K[00:02] ingested 10\r\x1b[2K[00:04] ingested 20\r\x1b[2KCaught up\n[00:04] ingested 20\n',
    );
  });

  it('prints the progress as plain lines at most every interval when not a terminal', () => {
    // Prepare
    const out = sink(false);
    let now = 100_000;
    const terminal = new Terminal(out, out, 10_000, () => now);

    // Act
    terminal.progress('a');
    now += 2_000;
    terminal.progress('b');
    now += 10_000;
    terminal.progress('c');

    // Assess
    expect(out.text()).toBe('a\nc\n');
  });

  it('writes every JSON log line to the state folder and only warnings and errors, short, to the terminal', async () => {
    // Prepare
    const dir = await mkdtemp(join(tmpdir(), 'skein-terminal-'));
    const out = sink(false);
    const err = sink(false);
    const file = localLogWriter(dir, new Terminal(out, err, 10_000));
    const log = createLogger({ service: 'skein-local', write: file.write }).child({ component: 'notify' });

    // Act
    log.info('notify pass', { delivered: 1 });
    log.warn('poller error', { error: 'ECONNRESET' });

    // Assess
    const lines = (await readFile(join(dir, LOG_FILE), 'utf8')).trim().split('\n');
    expect(lines.map((l) => JSON.parse(l).msg)).toEqual(['notify pass', 'poller error']);
    expect(out.text()).toBe('');
    expect(err.text()).toBe('warn: poller error [notify]: ECONNRESET\n');
    expect(humanLine('{"level":"info","msg":"x"}')).toBeUndefined();
    await rm(dir, { recursive: true, force: true });
  });
});
