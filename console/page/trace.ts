import { elementScroll, observeElementOffset, observeElementRect, Virtualizer } from '@tanstack/virtual-core';
import type { TraceAnswer, ViewLog, ViewSpan } from '../view-types.ts';
import { api, append, attributeTable, copyable, el, formatNs, replace, serviceColour } from './dom.ts';

type Span = ViewSpan;
type Log = ViewLog;
type Row = Span | Log;

const ROW_HEIGHT = 24;
const INDENT_PX = 14;
const LOG_LIST_MAX = 2_000;

/**
 * A trace or request: the waterfall (spans on a time axis, nested, coloured by service, errors marked, events as
 * ticks, critical path outlined, log lines under their span) in virtualised rows, the details of the selected row,
 * and every log line in a list filtered by severity, service and text.
 */
export async function renderTrace(
  root: HTMLElement,
  by: 'trace' | 'request',
  id: string,
  signal: AbortSignal,
): Promise<void> {
  append(root, el('p', { class: 'dim' }, `Looking up ${by} ${id}…`));
  const t = await api<TraceAnswer>(`/api/${by}/${encodeURIComponent(id)}`);
  if (signal.aborted) return;
  if (t.rows.length === 0) {
    replace(
      root,
      el('h1', {}, `${by} ${t.id}`),
      el('p', {}, `No records for ${by} ${t.id}.`),
      el('p', { class: 'dim' }, t.read),
    );
    return;
  }
  const details = el(
    'aside',
    { class: 'details', id: 'details' },
    el('p', { class: 'dim' }, 'Select a span or a log line.'),
  );
  const total = Math.max(1, t.durationNs);
  const waterfall = waterfallView(t.rows, total, (row) => replace(details, ...detailsOf(row)), signal);
  replace(
    root,
    el('h1', {}, `${by} `, el('code', {}, t.id)),
    el(
      'p',
      { class: 'summary' },
      `${t.services.length} service${t.services.length === 1 ? '' : 's'} (${t.services.join(', ')}) · ${t.spanCount} spans · ${t.logCount} logs · `,
      el('span', { class: t.errorCount ? 'errors' : '' }, `${t.errorCount} errors`),
      ` · ${formatNs(t.durationNs)} · started ${new Date(t.startMs).toISOString()}`,
    ),
    el('div', { class: 'links' }, copyable('Link', location.href), copyable('CLI', t.cli)),
    el('div', { class: 'trace-layout' }, waterfall, details),
    logList(t.rows, (row) => replace(details, ...detailsOf(row))),
    el('p', { class: 'dim' }, t.read),
  );
}

function waterfallView(
  rows: readonly Row[],
  total: number,
  select: (row: Row) => void,
  signal: AbortSignal,
): HTMLElement {
  const axis = el('div', { class: 'axis' }, el('div', { class: 'axis-label' }, 'span'));
  const scale = el('div', { class: 'axis-scale' });
  for (const f of [0, 0.25, 0.5, 0.75, 1]) {
    const tick = el('span', { class: 'tick' }, formatNs(total * f));
    tick.style.left = `${f * 100}%`;
    scale.append(tick);
  }
  axis.append(scale);
  const inner = el('div', { class: 'wf-inner' });
  const scroller = el('div', { class: 'wf-scroll', id: 'waterfall', role: 'list', 'data-rows': rows.length }, inner);
  let selected: number | undefined;
  const draw = (v: Virtualizer<HTMLDivElement, Element>) => {
    inner.style.height = `${v.getTotalSize()}px`;
    const items = v.getVirtualItems();
    const nodes: HTMLElement[] = [];
    for (const item of items) {
      const row = rows[item.index];
      if (row === undefined) continue;
      const node = rowView(row, item.index, total);
      node.style.transform = `translateY(${item.start}px)`;
      if (item.index === selected) node.classList.add('selected');
      nodes.push(node);
    }
    inner.replaceChildren(...nodes);
  };
  const virtualizer = new Virtualizer<HTMLDivElement, Element>({
    count: rows.length,
    getScrollElement: () => scroller,
    estimateSize: () => ROW_HEIGHT,
    overscan: 12,
    observeElementRect,
    observeElementOffset,
    scrollToFn: elementScroll,
    onChange: (v) => draw(v),
  });
  inner.addEventListener('click', (event) => {
    const target = event.target instanceof Element ? event.target.closest('[data-index]') : null;
    if (!(target instanceof HTMLElement)) return;
    const index = Number(target.dataset.index);
    const row = rows[index];
    if (row === undefined) return;
    selected = index;
    draw(virtualizer);
    select(row);
  });
  // Mounted once the scroller is in the document (its size is what the virtualiser measures).
  queueMicrotask(() => {
    const cleanup = virtualizer._didMount();
    virtualizer._willUpdate();
    draw(virtualizer);
    signal.addEventListener('abort', cleanup, { once: true });
  });
  return el('div', { class: 'waterfall' }, axis, scroller);
}

function rowView(row: Row, index: number, total: number): HTMLElement {
  const colour = serviceColour(row.service);
  const label = el('div', { class: 'wf-label' });
  label.style.paddingLeft = `${row.depth * INDENT_PX + 4}px`;
  const lane = el('div', { class: 'wf-lane' });
  const common = {
    class: `wf-row ${row.kind}${row.error ? ' error' : ''}${row.kind === 'span' && row.critical ? ' critical' : ''}`,
    'data-index': index,
    'data-kind': row.kind,
    'data-depth': row.depth,
    'data-span-id': row.spanId ?? '',
    role: 'listitem',
  };
  if (row.kind === 'span') {
    const dot = el('span', { class: 'dot' });
    dot.style.background = colour;
    append(label, dot, el('span', { class: 'svc' }, row.service), ' ', el('span', { class: 'name' }, row.name));
    if (row.error) append(label, ' ', el('span', { class: 'err-mark', title: row.statusMessage ?? 'error' }, '!'));
    const bar = el('div', { class: 'bar', title: `${row.name} · ${formatNs(row.durationNs)}` });
    bar.style.left = `${(row.startNs / total) * 100}%`;
    bar.style.width = `max(2px, ${(row.durationNs / total) * 100}%)`;
    bar.style.background = colour;
    for (const e of row.events) {
      const tick = el('span', { class: 'event', title: e.name });
      tick.style.left = `${row.durationNs > 0 ? ((e.atNs - row.startNs) / row.durationNs) * 100 : 0}%`;
      bar.append(tick);
    }
    append(lane, bar, el('span', { class: 'dur' }, formatNs(row.durationNs)));
    const dur = lane.lastElementChild as HTMLElement;
    dur.style.left = `${Math.min(((row.startNs + row.durationNs) / total) * 100, 100)}%`;
  } else {
    append(
      label,
      el('span', { class: `sev sev-${row.severity.toLowerCase()}` }, row.severity),
      ' ',
      el('span', { class: 'body' }, firstLine(row.body)),
    );
    const mark = el('div', { class: 'log-mark', title: row.body });
    mark.style.left = `${(row.atNs / total) * 100}%`;
    lane.append(mark);
  }
  return el('div', common, label, lane);
}

function detailsOf(row: Row): HTMLElement[] {
  const ids = {
    trace_id: row.traceId,
    span_id: row.spanId,
    ...(row.kind === 'span' ? { parent_span_id: row.parentSpanId } : {}),
    request_id: row.requestId,
    service: row.service,
  };
  if (row.kind === 'span')
    return [
      el('h3', {}, row.name),
      el(
        'p',
        {},
        `${row.spanKind} · ${formatNs(row.durationNs)} · starts at +${formatNs(row.startNs)} · status ${row.status}`,
        row.statusMessage ? `: ${row.statusMessage}` : '',
        row.critical ? ' · on the critical path' : '',
      ),
      attributeTable('Ids', ids),
      attributeTable('Attributes', row.attributes),
      attributeTable('Resource', row.resource),
      attributeTable(
        'Events',
        Object.fromEntries(row.events.map((e, i) => [`${i + 1}. ${e.name} (+${formatNs(e.atNs)})`, e.attributes])),
      ),
      attributeTable('Links', row.links),
    ];
  return [
    el('h3', {}, `${row.severity} log line`),
    el('p', {}, `at +${formatNs(row.atNs)}`),
    el('pre', { class: 'log-body' }, row.body),
    attributeTable('Ids', ids),
    attributeTable('Attributes', row.attributes),
    attributeTable('Resource', row.resource),
  ];
}

/** Every log line of the trace, filtered by minimum severity, service and text. */
function logList(rows: readonly Row[], select: (row: Row) => void): HTMLElement {
  const logs = rows.filter((r): r is Log => r.kind === 'log').sort((a, b) => a.atNs - b.atNs);
  const severity = el('select', { 'aria-label': 'minimum severity', id: 'log-severity' });
  for (const [label, min] of [
    ['all', 0],
    ['info+', 9],
    ['warn+', 13],
    ['error+', 17],
  ] as const)
    severity.append(el('option', { value: min }, label));
  const service = el(
    'select',
    { 'aria-label': 'service', id: 'log-service' },
    el('option', { value: '' }, 'all services'),
  );
  for (const s of [...new Set(logs.map((l) => l.service))].sort()) service.append(el('option', { value: s }, s));
  const text = el('input', { type: 'search', placeholder: 'text', 'aria-label': 'text', id: 'log-text' });
  const list = el('ol', { class: 'log-list', id: 'log-list' });
  const count = el('span', { class: 'dim' });
  const apply = () => {
    const min = Number(severity.value);
    const needle = text.value.toLowerCase();
    const shown = logs.filter(
      (l) =>
        l.severityNumber >= min &&
        (service.value === '' || l.service === service.value) &&
        (needle === '' || l.body.toLowerCase().includes(needle)),
    );
    list.replaceChildren(
      ...shown.slice(0, LOG_LIST_MAX).map((l) => {
        const item = el(
          'li',
          { class: l.error ? 'error' : undefined },
          el('span', { class: 'at' }, `+${formatNs(l.atNs)}`),
          el('span', { class: 'svc' }, l.service),
          el('span', { class: `sev sev-${l.severity.toLowerCase()}` }, l.severity),
          el('span', { class: 'body' }, l.body),
        );
        item.addEventListener('click', () => select(l));
        return item;
      }),
    );
    count.textContent = `${shown.length} of ${logs.length}${shown.length > LOG_LIST_MAX ? ` (first ${LOG_LIST_MAX} shown)` : ''}`;
  };
  for (const control of [severity, service]) control.addEventListener('change', apply);
  text.addEventListener('input', apply);
  apply();
  return el(
    'section',
    { class: 'logs' },
    el('h2', {}, 'Logs'),
    el('div', { class: 'filters' }, severity, service, text, count),
    list,
  );
}

function firstLine(text: string): string {
  const line = text.split('\n', 1)[0] ?? '';
  return line.length > 200 ? `${line.slice(0, 199)}…` : line;
}
