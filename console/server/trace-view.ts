import type { LogRow, QueryRow, SpanRow } from '../../query/rows.ts';
import { buildTree, levelName, type TimelineNode } from '../../query/timeline.ts';
import type { TraceView, ViewLog, ViewSpan } from '../view-types.ts';

export type { TraceView, ViewLog, ViewSpan } from '../view-types.ts';

const ERROR_SEVERITY = 17;

/**
 * The rows of a lookup as the page's waterfall: the parent tree of `buildTree` (the CLI's timeline) flattened depth
 * first, times relative to the first row, the critical path marked (from each root span, the child that ends last,
 * then the child of that one that ends last, and so on).
 */
export function traceView(by: 'trace' | 'request', id: string, rows: readonly QueryRow[]): TraceView {
  let start: bigint | undefined;
  let end: bigint | undefined;
  const services = new Set<string>();
  let spanCount = 0;
  let errorCount = 0;
  for (const r of rows) {
    const from = r.table === 'spans' ? r.row.start_time_unix_nano : r.row.time_unix_nano;
    const to = r.table === 'spans' ? r.row.end_time_unix_nano : from;
    if (start === undefined || from < start) start = from;
    if (end === undefined || to > end) end = to;
    if (r.row.service_name) services.add(r.row.service_name);
    if (r.table === 'spans') spanCount++;
    if (isError(r)) errorCount++;
  }
  const origin = start ?? 0n;
  const roots = buildTree(rows);
  const critical = criticalPath(roots);
  const out: (ViewSpan | ViewLog)[] = [];
  const visit = (node: TimelineNode, depth: number): void => {
    out.push(
      node.row.table === 'spans'
        ? spanView(node.row.row, depth, origin, critical.has(node))
        : logView(node.row.row, depth, origin),
    );
    for (const child of node.children) visit(child, depth + 1);
  };
  // An explicit stack would avoid deep recursion, but the tree's depth is the call depth of the traced system.
  for (const root of roots) visit(root, 0);
  return {
    by,
    id,
    startMs: Number(origin / 1_000_000n),
    durationNs: start === undefined || end === undefined ? 0 : Number(end - start),
    services: [...services].sort(),
    rows: out,
    spanCount,
    logCount: rows.length - spanCount,
    errorCount,
  };
}

function criticalPath(roots: readonly TimelineNode[]): Set<TimelineNode> {
  const marked = new Set<TimelineNode>();
  for (const root of roots) {
    for (let node: TimelineNode | undefined = root; node?.row.table === 'spans'; ) {
      marked.add(node);
      let last: TimelineNode | undefined;
      for (const child of node.children)
        if (child.row.table === 'spans' && (last === undefined || endOf(child) > endOf(last))) last = child;
      node = last;
    }
  }
  return marked;
}

function endOf(node: TimelineNode): bigint {
  return node.row.table === 'spans' ? node.row.row.end_time_unix_nano : node.row.row.time_unix_nano;
}

function isError(r: QueryRow): boolean {
  return r.table === 'spans' ? r.row.status_code === 'ERROR' : r.row.severity_number >= ERROR_SEVERITY;
}

function spanView(s: SpanRow, depth: number, origin: bigint, critical: boolean): ViewSpan {
  const startNs = Number(s.start_time_unix_nano - origin);
  return {
    kind: 'span',
    depth,
    traceId: s.trace_id,
    spanId: s.span_id,
    parentSpanId: s.parent_span_id,
    requestId: s.request_id,
    name: s.name,
    spanKind: s.kind,
    service: s.service_name ?? '-',
    startNs,
    durationNs: Number(s.duration_nano),
    error: s.status_code === 'ERROR',
    status: s.status_code,
    statusMessage: s.status_message,
    critical,
    events: spanEvents(s.events, origin),
    attributes: parseJson(s.attributes),
    resource: parseJson(s.resource_attributes),
    links: parseJson(s.links),
  };
}

function logView(l: LogRow, depth: number, origin: bigint): ViewLog {
  return {
    kind: 'log',
    depth,
    traceId: l.trace_id,
    spanId: l.span_id,
    requestId: l.request_id,
    service: l.service_name ?? '-',
    atNs: Number(l.time_unix_nano - origin),
    severity: l.severity_text?.toUpperCase() || levelName(l.severity_number),
    severityNumber: l.severity_number,
    error: l.severity_number >= ERROR_SEVERITY,
    body: l.body ?? '',
    attributes: parseJson(l.attributes),
    resource: parseJson(l.resource_attributes),
  };
}

/** Span events as stored (a JSON array of `{ name, time_unix_nano, attributes }`); anything else is ignored. */
function spanEvents(text: string, origin: bigint): ViewSpan['events'] {
  const parsed = parseJson(text);
  if (!Array.isArray(parsed)) return [];
  const out: { name: string; atNs: number; attributes: unknown }[] = [];
  for (const e of parsed) {
    if (typeof e !== 'object' || e === null) continue;
    const { name, time_unix_nano: time, attributes } = e as Record<string, unknown>;
    if (typeof time !== 'string' && typeof time !== 'number') continue;
    let at: bigint;
    try {
      at = BigInt(time);
    } catch {
      continue;
    }
    out.push({ name: typeof name === 'string' ? name : '', atNs: Number(at - origin), attributes: attributes ?? {} });
  }
  return out;
}

/** A JSON text column as a value for the page; text that is not JSON is kept as text. */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
