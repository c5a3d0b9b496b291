import type { LogRow, QueryRow, SpanRow } from './rows.ts';
import { compareRows, rowTimeNano } from './rows.ts';

export interface TimelineOptions {
  /** ANSI colours (the CLI turns them on for a TTY without `NO_COLOR`). */
  readonly colour: boolean;
}

/** What was looked up: the title of the output. */
export interface Lookup {
  readonly by: 'trace' | 'request';
  readonly id: string;
}

/** OpenTelemetry severity numbers: ERROR starts at 17, WARN at 13 (logs data model). */
const SEVERITY_ERROR = 17;
const SEVERITY_WARN = 13;
const MAX_SERVICE_WIDTH = 24;
const NANOS_PER_MS = 1_000_000n;

const ANSI = {
  reset: '\x1b[0m',
  bold: '\x1b[1m',
  dim: '\x1b[2m',
  red: '\x1b[31m',
  yellow: '\x1b[33m',
  cyan: '\x1b[36m',
};
type Style = keyof typeof ANSI;

/**
 * A human-readable timeline of lookup rows, one section per trace (a request can span several; rows without a
 * trace id come last). Each section starts with a header line (trace id, services, span and log counts, errors,
 * overall duration, start), then one line per row in time order:
 * `HH:MM:SS.mmm  service  SPAN name (duration, status)` or `… LOG LEVEL message`, spans indented by their depth in
 * the parent tree and logs placed under the span they name. Times are UTC. Text from the data is stripped of
 * control characters so a log line cannot drive the terminal.
 */
export function formatTimeline(rows: readonly QueryRow[], lookup: Lookup, options: TimelineOptions): string {
  const paint = painter(options.colour);
  const groups = groupByTrace(rows);
  const out: string[] = [];
  if (lookup.by === 'request') {
    const traces = [...groups.keys()].filter((k) => k !== undefined).length;
    out.push(
      `${paint('bold', `request ${clean(lookup.id)}`)} · ${plural(traces, 'trace')} · ${plural(rows.length, 'record')}`,
      '',
    );
  }
  for (const [traceId, group] of groups) {
    out.push(...formatTrace(traceId, group, paint), '');
  }
  while (out.length > 0 && out[out.length - 1] === '') out.pop();
  return `${out.join('\n')}\n`;
}

/** Groups rows by trace id, in order of each trace's first row; rows without a trace id last. */
function groupByTrace(rows: readonly QueryRow[]): Map<string | undefined, QueryRow[]> {
  const sorted = [...rows].sort(compareRows);
  const groups = new Map<string | undefined, QueryRow[]>();
  for (const row of sorted) {
    const key = row.row.trace_id ?? undefined;
    if (key === undefined) continue;
    const group = groups.get(key);
    if (group) group.push(row);
    else groups.set(key, [row]);
  }
  const untraced = sorted.filter((r) => r.row.trace_id === null);
  if (untraced.length > 0) groups.set(undefined, untraced);
  return groups;
}

/** A row and the rows under it in the parent tree. */
export interface TimelineNode {
  readonly row: QueryRow;
  readonly children: TimelineNode[];
}

function formatTrace(traceId: string | undefined, rows: readonly QueryRow[], paint: Painter): string[] {
  const services = new Set<string>();
  let spans = 0;
  let logs = 0;
  let errors = 0;
  let start: bigint | undefined;
  let end: bigint | undefined;
  for (const r of rows) {
    if (r.row.service_name) services.add(r.row.service_name);
    const from = rowTimeNano(r);
    const to = r.table === 'spans' ? r.row.end_time_unix_nano : from;
    if (start === undefined || from < start) start = from;
    if (end === undefined || to > end) end = to;
    if (r.table === 'spans') spans++;
    else logs++;
    if (isError(r)) errors++;
  }
  const title = traceId === undefined ? 'no trace id' : `trace ${clean(traceId)}`;
  const header = [
    paint('bold', title),
    `services ${services.size > 0 ? [...services].map(clean).join(', ') : '-'}`,
    plural(spans, 'span'),
    plural(logs, 'log'),
    errors > 0 ? paint('red', plural(errors, 'error')) : '0 errors',
    formatDuration(start !== undefined && end !== undefined ? end - start : 0n),
    start === undefined ? '' : `started ${new Date(Number(start / NANOS_PER_MS)).toISOString()}`,
  ].filter((part) => part !== '');

  const width = Math.min(
    MAX_SERVICE_WIDTH,
    rows.reduce((w, r) => Math.max(w, serviceOf(r).length), 1),
  );
  const lines = [header.join(' · ')];
  const visit = (node: TimelineNode, depth: number): void => {
    lines.push(...formatRow(node.row, depth, width, paint));
    for (const child of node.children) visit(child, depth + 1);
  };
  for (const root of buildTree(rows)) visit(root, 0);
  return lines;
}

/**
 * The parent tree of one trace: a span hangs under its parent span, a log under the span it names; a span whose
 * parent is missing (not ingested yet, or outside the partitions read) and a log without a known span are roots.
 * Children are in time order. Rows caught in a parent cycle (bad data) become roots rather than disappearing.
 */
export function buildTree(rows: readonly QueryRow[]): TimelineNode[] {
  const sorted = [...rows].sort(compareRows);
  const nodes = sorted.map((row): TimelineNode => ({ row, children: [] }));
  const spanNodes = new Map<string, TimelineNode>();
  for (const node of nodes)
    if (node.row.table === 'spans' && node.row.row.span_id && !spanNodes.has(node.row.row.span_id))
      spanNodes.set(node.row.row.span_id, node);

  const roots: TimelineNode[] = [];
  const parentOf = new Map<TimelineNode, TimelineNode>();
  for (const node of nodes) {
    const parentId = node.row.table === 'spans' ? node.row.row.parent_span_id : node.row.row.span_id;
    const parent = parentId ? spanNodes.get(parentId) : undefined;
    if (parent === undefined || parent === node || createsCycle(node, parent, parentOf)) roots.push(node);
    else {
      parent.children.push(node);
      parentOf.set(node, parent);
    }
  }
  return roots;
}

function createsCycle(node: TimelineNode, parent: TimelineNode, parentOf: Map<TimelineNode, TimelineNode>): boolean {
  for (let p: TimelineNode | undefined = parent; p !== undefined; p = parentOf.get(p)) if (p === node) return true;
  return false;
}

function formatRow(r: QueryRow, depth: number, width: number, paint: Painter): string[] {
  const time = paint('dim', clockTime(rowTimeNano(r)));
  const service = paint('cyan', truncate(serviceOf(r), width).padEnd(width));
  const indent = '  '.repeat(depth);
  const prefix = `${time}  ${service}  ${indent}`;
  if (r.table === 'spans') return [prefix + formatSpan(r.row, paint)];
  const [first = '', ...rest] = formatLogBody(r.row).split('\n');
  const continuation = ' '.repeat(12 + 2 + width + 2 + indent.length + 4);
  return [`${prefix}LOG ${formatLevel(r.row, paint)} ${first}`, ...rest.map((line) => continuation + line)];
}

function formatSpan(span: SpanRow, paint: Painter): string {
  const status =
    span.status_code === 'UNSET'
      ? ''
      : span.status_code === 'ERROR'
        ? `, ${paint('red', `ERROR${span.status_message ? `: ${clean(span.status_message)}` : ''}`)}`
        : `, ${clean(span.status_code)}`;
  return `SPAN ${paint('bold', clean(span.name))} (${formatDuration(span.duration_nano)}${status})`;
}

function formatLevel(log: LogRow, paint: Painter): string {
  const level = clean(log.severity_text?.toUpperCase() || levelName(log.severity_number));
  if (log.severity_number >= SEVERITY_ERROR) return paint('red', level);
  if (log.severity_number >= SEVERITY_WARN) return paint('yellow', level);
  return level;
}

function formatLogBody(log: LogRow): string {
  if (log.body === null || log.body === '') return '(no message)';
  return log.body
    .replace(/\r\n?/g, '\n')
    .replace(/\n+$/, '')
    .split('\n')
    .map((line) => clean(line))
    .join('\n');
}

/** Severity number → name (OpenTelemetry logs data model ranges). */
export function levelName(severity: number): string {
  if (severity <= 0) return 'UNSPECIFIED';
  if (severity < 5) return 'TRACE';
  if (severity < 9) return 'DEBUG';
  if (severity < SEVERITY_WARN) return 'INFO';
  if (severity < SEVERITY_ERROR) return 'WARN';
  if (severity < 21) return 'ERROR';
  return 'FATAL';
}

function isError(r: QueryRow): boolean {
  return r.table === 'spans' ? r.row.status_code === 'ERROR' : r.row.severity_number >= SEVERITY_ERROR;
}

function serviceOf(r: QueryRow): string {
  return clean(r.row.service_name ?? '-');
}

/** `HH:MM:SS.mmm`, UTC. */
export function clockTime(nanos: bigint): string {
  return new Date(Number(nanos / NANOS_PER_MS)).toISOString().slice(11, 23);
}

/** Milliseconds (three decimals under 1 ms, one under 10 s), then seconds, then minutes and hours. */
export function formatDuration(nanos: bigint): string {
  const ms = Number(nanos) / 1e6;
  if (ms < 1) return `${ms.toFixed(3)} ms`;
  if (ms < 10_000) return `${ms.toFixed(1)} ms`;
  const seconds = ms / 1000;
  if (seconds < 120) return `${seconds.toFixed(2)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 120) return `${minutes} min ${Math.floor(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

function truncate(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`;
}

/** Control characters (ESC, BEL, …) shown as `\u001b` so data cannot move the cursor or recolour the terminal. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/g;

function clean(text: string): string {
  return text.replace(/\t/g, '  ').replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

type Painter = (style: Style, text: string) => string;

function painter(colour: boolean): Painter {
  return colour ? (style, text) => `${ANSI[style]}${text}${ANSI.reset}` : (_style, text) => text;
}
