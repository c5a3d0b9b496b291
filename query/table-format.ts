import type { QueryRow } from './rows.ts';
import { compareRows, rowTimeNano } from './rows.ts';

const NANOS_PER_MS = 1_000_000n;
/** Longest text shown in the last column; the rest is cut with `…` (use --json for everything). */
const MAX_TEXT = 160;
const HEADERS = ['TIME', 'TABLE', 'SERVICE', 'TRACE_ID', 'SPAN_ID', 'LEVEL', 'TEXT'] as const;

/**
 * Lookup rows as a plain table with aligned columns, one row per line in time order: time (ISO 8601, UTC), table,
 * service, trace id, span id, level (a log's severity, a span's status) and text (a log's body, a span's name and
 * duration). No colours, control characters escaped, so it pipes into `column`, `grep` or a file as it is.
 */
export function formatTable(rows: readonly QueryRow[]): string {
  const lines: string[][] = [[...HEADERS]];
  for (const r of [...rows].sort(compareRows)) {
    const time = new Date(Number(rowTimeNano(r) / NANOS_PER_MS)).toISOString();
    const level = r.table === 'logs' ? (r.row.severity_text ?? String(r.row.severity_number)) : r.row.status_code;
    const text =
      r.table === 'logs' ? (r.row.body ?? '') : `${r.row.name} (${(Number(r.row.duration_nano) / 1e6).toFixed(1)} ms)`;
    lines.push(
      [
        time,
        r.table === 'logs' ? 'log' : 'span',
        r.row.service_name ?? '-',
        r.row.trace_id ?? '-',
        r.row.span_id ?? '-',
        level,
        cut(text),
      ].map(clean),
    );
  }
  const widths = HEADERS.map((_, i) => lines.reduce((w, line) => Math.max(w, (line[i] ?? '').length), 0));
  return `${lines
    .map((line) => line.map((cell, i) => (i === line.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  '))
    .join('\n')}\n`;
}

function cut(text: string): string {
  const oneLine = text.replace(/\r?\n/g, ' ⏎ ');
  return oneLine.length <= MAX_TEXT ? oneLine : `${oneLine.slice(0, MAX_TEXT - 1)}…`;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

function clean(text: string): string {
  return text.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
