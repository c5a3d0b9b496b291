import { mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { CliOutput } from './io.ts';

/** Where `skein local up` writes its JSON logs, under the state folder. */
export const LOG_FILE = join('logs', 'skein-local.ndjson');

/**
 * What `skein local up` shows a person: short lines, and one progress line that a terminal redraws in place (a
 * pipe or a file gets it as a plain line every `plainEveryMs` instead, so logs of a CI run stay readable).
 */
export class Terminal {
  private status = '';
  private lastPlain = 0;

  constructor(
    private readonly out: CliOutput,
    private readonly err: CliOutput,
    private readonly plainEveryMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** A line that stays (above the progress line on a terminal). */
  line(text: string, stream: 'out' | 'err' = 'out'): void {
    const target = stream === 'out' ? this.out : this.err;
    if (this.out.isTTY && this.status !== '') {
      this.out.write('\r\x1b[2K');
      target.write(`${text}\n`);
      this.out.write(this.status);
    } else target.write(`${text}\n`);
  }

  /** The progress line: redrawn on a terminal, printed at most every `plainEveryMs` elsewhere. */
  progress(text: string): void {
    if (this.out.isTTY) {
      this.status = text;
      this.out.write(`\r\x1b[2K${text}`);
      return;
    }
    const now = this.now();
    if (now - this.lastPlain < this.plainEveryMs) return;
    this.lastPlain = now;
    this.out.write(`${text}\n`);
  }

  /** Ends the progress line, so what follows starts on a line of its own. */
  done(): void {
    if (this.out.isTTY && this.status !== '') this.out.write('\n');
    this.status = '';
  }
}

/**
 * The local stack's log sink: every JSON line to `<dir>/logs/skein-local.ndjson` (appended, written synchronously so
 * a crash loses none), and warnings and errors also as one short line for the person at the terminal.
 */
export function localLogWriter(dir: string, terminal: Terminal): { write: (line: string) => void; path: string } {
  const path = join(dir, LOG_FILE);
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const fd = openSync(path, 'a');
  return {
    path,
    write: (line: string) => {
      writeSync(fd, `${line}\n`);
      const human = humanLine(line);
      if (human !== undefined) terminal.line(human, 'err');
    },
  };
}

const LogEntry = z.object({
  level: z.string(),
  msg: z.unknown(),
  component: z.string().optional(),
  error: z.string().optional(),
});

/** `warn: poller error (shard shardId-000000000000): …` for warnings and errors; nothing for the rest. */
export function humanLine(jsonLine: string): string | undefined {
  let json: unknown;
  try {
    json = JSON.parse(jsonLine);
  } catch {
    return jsonLine;
  }
  const parsed = LogEntry.safeParse(json);
  if (!parsed.success) return undefined;
  const e = parsed.data;
  if (e.level !== 'warn' && e.level !== 'error') return undefined;
  const where = typeof e.component === 'string' ? ` [${e.component}]` : '';
  const error = typeof e.error === 'string' ? `: ${e.error}` : '';
  return `${e.level}: ${String(e.msg)}${where}${error}`.slice(0, 300);
}
