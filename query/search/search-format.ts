import type { SearchHit } from './local-search.ts';

const HEADERS = ['TRACE_ID', 'START', 'DURATION', 'ROOT', 'SERVICES', 'SPANS', 'LOGS', 'ERRORS'] as const;
/** Longest root name and service list shown in the table; `--json` has everything. */
const MAX_ROOT = 48;
const MAX_SERVICES = 48;

/**
 * Search results as an aligned table, newest first: trace id, start (ISO 8601, UTC), duration, root span
 * (`service: name`, `?` when the root span was not received or not indexed), services, spans, log lines, errors.
 */
export function formatSearchTable(traces: readonly SearchHit[]): string {
  const lines: string[][] = [[...HEADERS]];
  for (const t of traces) {
    const root = t.rootName === null ? '?' : `${t.rootService ?? '?'}: ${t.rootName}`;
    lines.push(
      [
        t.traceId,
        new Date(t.startMs).toISOString(),
        formatMs(t.durationMs),
        cut(root, MAX_ROOT),
        cut(t.services.join(','), MAX_SERVICES),
        String(t.spans),
        String(t.logs),
        t.errors === null ? '?' : String(t.errors),
      ].map(clean),
    );
  }
  const widths = HEADERS.map((_, i) => lines.reduce((w, line) => Math.max(w, (line[i] ?? '').length), 0));
  return `${lines
    .map((line) => line.map((cell, i) => (i === line.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  '))
    .join('\n')}\n`;
}

/** One search result as a JSON object for `--json` (one per line). */
export function toJsonTrace(t: SearchHit): Record<string, unknown> {
  return {
    trace_id: t.traceId,
    start: new Date(t.startMs).toISOString(),
    duration_ms: t.durationMs,
    root_service: t.rootService,
    root_name: t.rootName,
    services: t.services,
    spans: t.spans,
    logs: t.logs,
    errors: t.errors,
    matched_spans: t.matchedSpans,
  };
}

function formatMs(ms: number): string {
  if (ms < 1_000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(2)} s`;
  return `${(ms / 60_000).toFixed(1)} min`;
}

function cut(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

function clean(text: string): string {
  return text.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
