import uPlot from 'uplot';
import { api, append, el, link, replace, serviceColour } from './dom.ts';

interface Alert {
  readonly rule: string;
  readonly state: 'firing' | 'pending' | 'resolved';
  readonly fingerprint: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number | null;
  readonly active_at: string;
  readonly fired_at?: string;
  readonly resolved_at?: string;
}

interface Exemplar {
  readonly trace_id: string | null;
  readonly request_id: string | null;
  readonly time_ms: number;
  readonly value: number;
  readonly service?: string;
}

interface RuleDetail {
  readonly rule: string;
  readonly group: string | null;
  readonly expr: string | null;
  readonly threshold: { readonly cmp: string; readonly value: number } | null;
  readonly minutes: number[];
  readonly series: { readonly labels: Readonly<Record<string, string>>; readonly values: (number | null)[] }[];
  readonly firing: {
    readonly labels: Readonly<Record<string, string>>;
    readonly fromMs: number;
    readonly toMs: number | null;
  }[];
  readonly exemplars: Exemplar[];
  readonly alerts: Alert[];
  readonly notifications: {
    readonly key: string;
    readonly status: string;
    readonly evaluatedAt: string | null;
    readonly labels: Readonly<Record<string, string>>;
    readonly deliveries: { endpoint: string; status: string; attempts: number; lastError: string | null }[];
    readonly dead: boolean;
  }[];
  readonly note: string | null;
}

/** `/alerts`: every rule with how many of its series fire, are pending or resolved, and every alert series. */
export async function renderAlerts(root: HTMLElement): Promise<void> {
  const { rules, alerts } = await api<{
    rules: {
      group: string;
      rule: string;
      expr: string;
      severity: string | null;
      firing: number;
      pending: number;
      resolved: number;
    }[];
    alerts: Alert[];
  }>('/api/alerts');
  replace(
    root,
    el('h1', {}, 'Alerts'),
    table(
      ['rule', 'group', 'severity', 'firing', 'pending', 'resolved', 'expression'],
      rules.map((r) => [
        link(`/alerts/${encodeURIComponent(r.rule)}`, r.rule),
        r.group,
        r.severity ?? '-',
        el('span', { class: r.firing ? 'firing' : '' }, String(r.firing)),
        String(r.pending),
        String(r.resolved),
        el('code', {}, r.expr),
      ]),
      'rules',
    ),
    el('h2', {}, 'Series'),
    alerts.length === 0
      ? el('p', { class: 'dim' }, 'No alert is pending, firing or recently resolved.')
      : alertTable(alerts),
  );
}

/** `/alerts/<rule>`: its value per minute against the threshold, firing shaded, exemplars as links to their traces. */
export async function renderRule(
  root: HTMLElement,
  rule: string,
  params: URLSearchParams,
  signal: AbortSignal,
): Promise<void> {
  const hours = params.get('hours') ?? '3';
  const d = await api<RuleDetail>(`/api/alerts/${encodeURIComponent(rule)}?hours=${encodeURIComponent(hours)}`);
  if (signal.aborted) return;
  const chartBox = el('div', { class: 'chart', id: 'rule-chart' });
  replace(
    root,
    el('h1', {}, link('/alerts', 'Alerts'), ' / ', d.rule),
    el('p', {}, d.group ? `group ${d.group} · ` : '', el('code', {}, d.expr ?? '(expression unknown)')),
    d.note ? el('p', { class: 'dim' }, d.note) : null,
    el(
      'p',
      { class: 'dim' },
      'Last ',
      ...['1', '3', '6', '24'].flatMap((h) => [link(`/alerts/${encodeURIComponent(rule)}?hours=${h}`, `${h} h`), ' ']),
    ),
    chartBox,
    el('h2', {}, 'Exemplars'),
    d.exemplars.length === 0
      ? el('p', { class: 'dim' }, 'No exemplars kept for this rule.')
      : table(
          ['time (UTC)', 'value', 'service', 'trace', 'request'],
          d.exemplars.map((e) => [
            new Date(e.time_ms).toISOString().replace('T', ' ').slice(0, 19),
            formatValue(e.value),
            e.service ?? '-',
            e.trace_id ? link(`/trace/${e.trace_id}`, el('code', {}, e.trace_id)) : '-',
            e.request_id ? link(`/request/${encodeURIComponent(e.request_id)}`, e.request_id) : '-',
          ]),
          'exemplars',
        ),
    el('h2', {}, 'Series'),
    d.alerts.length === 0
      ? el('p', { class: 'dim' }, 'None pending, firing or recently resolved.')
      : alertTable(d.alerts),
    el('h2', {}, 'Notifications'),
    d.notifications.length === 0
      ? el('p', { class: 'dim' }, 'None sent.')
      : table(
          ['evaluated', 'transition', 'labels', 'deliveries'],
          d.notifications.map((n) => [
            n.evaluatedAt ?? '-',
            n.status,
            labelsText(n.labels),
            n.deliveries.length === 0
              ? 'not picked up yet'
              : n.deliveries
                  .map(
                    (x) =>
                      `${x.endpoint}: ${x.status}${x.attempts > 1 ? ` (${x.attempts} attempts)` : ''}${x.lastError ? ` — ${x.lastError}` : ''}`,
                  )
                  .join('; '),
          ]),
          'notifications',
        ),
  );
  drawChart(chartBox, d);
}

function drawChart(box: HTMLElement, d: RuleDetail): void {
  if (d.minutes.length === 0) {
    append(box, el('p', { class: 'dim' }, 'No value curve: the rule is not among the rule files the console loaded.'));
    return;
  }
  const xs = d.minutes.map((ms) => ms / 1000);
  const data: uPlot.AlignedData = [xs, ...d.series.map((s) => s.values)];
  const series: uPlot.Series[] = [
    {},
    ...d.series.map((s) => ({
      label: labelsText(s.labels) || 'value',
      stroke: serviceColour(labelsText(s.labels)),
      width: 1.5,
      spanGaps: false,
    })),
  ];
  if (d.threshold) {
    data.push(xs.map(() => d.threshold?.value ?? null));
    series.push({
      label: `threshold ${d.threshold.cmp} ${formatValue(d.threshold.value)}`,
      stroke: '#c0392b',
      dash: [6, 4],
      width: 1,
    });
  }
  const firing = d.firing;
  const exemplars = d.exemplars.filter((e) => e.trace_id !== null || e.request_id !== null);
  const plot = new uPlot(
    {
      width: Math.max(320, box.clientWidth || 900),
      height: 280,
      series,
      scales: { x: { time: true } },
      axes: [{}, { values: (_u, ticks) => ticks.map(formatValue) }],
      hooks: {
        drawClear: [
          (u) => {
            // Firing periods, shaded under the curves.
            const { ctx } = u;
            ctx.save();
            ctx.fillStyle = 'rgba(231, 76, 60, 0.15)';
            for (const p of firing) {
              const from = u.valToPos(p.fromMs / 1000, 'x', true);
              const to = u.valToPos((p.toMs ?? Date.now()) / 1000, 'x', true);
              ctx.fillRect(from, u.bbox.top, Math.max(2, to - from), u.bbox.height);
            }
            ctx.restore();
          },
        ],
        draw: [(u) => placeExemplars(u, exemplars)],
      },
    },
    data,
    box,
  );
  box.dataset.series = String(d.series.length);
  box.dataset.plot = plot.series.length > 0 ? 'drawn' : '';
}

/** Exemplars as links laid over the plot at (time, value): a click opens the trace. */
function placeExemplars(u: uPlot, exemplars: readonly Exemplar[]): void {
  u.over.querySelectorAll('a.exemplar').forEach((a) => {
    a.remove();
  });
  for (const e of exemplars) {
    const x = u.valToPos(e.time_ms / 1000, 'x');
    const y = u.valToPos(e.value, 'y');
    const path = e.trace_id ? `/trace/${e.trace_id}` : `/request/${encodeURIComponent(e.request_id ?? '')}`;
    const a = link(path);
    a.className = 'exemplar';
    a.title = `exemplar ${e.trace_id ?? e.request_id} · ${formatValue(e.value)}${e.service ? ` · ${e.service}` : ''}`;
    a.dataset.traceId = e.trace_id ?? '';
    a.style.left = `${Math.min(Math.max(x, 0), u.over.clientWidth)}px`;
    a.style.top = `${Math.min(Math.max(Number.isFinite(y) ? y : 0, 0), u.over.clientHeight)}px`;
    u.over.append(a);
  }
}

function alertTable(alerts: readonly Alert[]): HTMLElement {
  return table(
    ['state', 'rule', 'labels', 'value', 'active since', 'fired', 'resolved'],
    alerts.map((a) => [
      el('span', { class: a.state }, a.state),
      link(`/alerts/${encodeURIComponent(a.rule)}`, a.rule),
      labelsText(a.labels),
      a.value === null ? 'no data' : formatValue(a.value),
      a.active_at,
      a.fired_at ?? '-',
      a.resolved_at ?? '-',
    ]),
    'series',
  );
}

function table(head: string[], rows: (string | Node)[][], id: string): HTMLElement {
  return el(
    'table',
    { class: 'grid', id },
    el('thead', {}, el('tr', {}, ...head.map((h) => el('th', {}, h)))),
    el('tbody', {}, ...rows.map((r) => el('tr', {}, ...r.map((c) => el('td', {}, c))))),
  );
}

function labelsText(labels: Readonly<Record<string, string>>): string {
  return Object.entries(labels)
    .filter(([k]) => k !== 'alertname')
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
}

function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Math.abs(v) >= 1000) return v.toFixed(0);
  return String(Math.round(v * 1000) / 1000);
}
