import { api, copyable, el, errorBox, link, replace } from './dom.ts';

interface Trace {
  readonly trace_id: string;
  readonly start: string;
  readonly duration_ms: number;
  readonly root_service: string | null;
  readonly root_name: string | null;
  readonly services: readonly string[];
  readonly spans: number;
  readonly logs: number;
  readonly errors: number | null;
}

const EXAMPLES = [
  '{ status = error }',
  '{ resource.service.name = "orders" && status = error }',
  '{ duration > 500ms }',
  '{ span.http.status_code >= 500 }',
];

/**
 * Find: one box for any id spelling (trace id, UUID, traceparent, X-Ray id, request id) or a search filter in the
 * TraceQL subset of `skein query search`; filters list matching traces with a duration bar each.
 */
export async function renderFind(root: HTMLElement, params: URLSearchParams): Promise<void> {
  const q = params.get('q') ?? '';
  const since = params.get('since') ?? '1h';
  const input = el('input', {
    type: 'search',
    name: 'q',
    id: 'find-box',
    placeholder:
      'trace id, request id, traceparent, X-Ray id — or { resource.service.name = "orders" && status = error }',
    autocomplete: 'off',
    spellcheck: 'false',
  });
  input.value = q;
  const sinceBox = el('select', { name: 'since', 'aria-label': 'since' });
  for (const s of ['15m', '1h', '6h', '1d', '1w']) {
    const option = el('option', { value: s }, `last ${s}`);
    if (s === since) option.selected = true;
    sinceBox.append(option);
  }
  const message = el('div', { class: 'find-message' });
  const results = el('div', { id: 'results' });
  const form = el('form', { class: 'find', role: 'search' }, input, sinceBox, el('button', { type: 'submit' }, 'Find'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void go(input.value.trim(), sinceBox.value, message);
  });
  replace(
    root,
    el('h1', {}, 'Find a request'),
    form,
    message,
    el(
      'p',
      { class: 'dim' },
      'Filters: ',
      ...EXAMPLES.flatMap((e) => [link(`/search?q=${encodeURIComponent(e)}&since=${since}`, el('code', {}, e)), ' ']),
    ),
    results,
  );
  input.focus();
  if (q.startsWith('{')) await showResults(results, q, since);
}

async function go(text: string, since: string, message: HTMLElement): Promise<void> {
  replace(message);
  if (text === '') return;
  const navigate = (path: string) => window.dispatchEvent(new CustomEvent('skein:navigate', { detail: path }));
  if (text.startsWith('{')) {
    navigate(`/search?q=${encodeURIComponent(text)}&since=${encodeURIComponent(since)}`);
    return;
  }
  try {
    const { path } = await api<{ path: string }>(`/api/resolve?id=${encodeURIComponent(text)}`);
    navigate(path);
  } catch (error) {
    replace(message, errorBox(error));
  }
}

async function showResults(results: HTMLElement, q: string, since: string): Promise<void> {
  let answer: { traces: Trace[]; read: string; cli: string };
  try {
    answer = await api(`/api/search?q=${encodeURIComponent(q)}&since=${encodeURIComponent(since)}&limit=50`);
  } catch (error) {
    replace(results, errorBox(error));
    return;
  }
  const { traces } = answer;
  const longest = Math.max(1, ...traces.map((t) => t.duration_ms));
  const rows = traces.map((t) =>
    el(
      'tr',
      { class: t.errors ? 'has-error' : undefined, 'data-trace-id': t.trace_id },
      el('td', {}, link(`/trace/${t.trace_id}`, el('code', {}, t.trace_id.slice(0, 16)))),
      el('td', {}, t.start.replace('T', ' ').slice(0, 23)),
      el('td', {}, t.root_service ?? '-'),
      el('td', {}, t.root_name ?? '-'),
      el('td', { class: 'num' }, `${t.duration_ms} ms`),
      el('td', { class: 'spark' }, durationBar(t.duration_ms / longest, (t.errors ?? 0) > 0)),
      el('td', {}, t.services.join(', ')),
      el('td', { class: 'num' }, String(t.spans)),
      el('td', { class: 'num' }, String(t.logs)),
      el('td', { class: 'num' }, t.errors === null ? '?' : String(t.errors)),
    ),
  );
  replace(
    results,
    el('p', { class: 'dim' }, `${traces.length} trace${traces.length === 1 ? '' : 's'}, newest first · ${answer.read}`),
    traces.length === 0
      ? el('p', {}, 'No traces match in that time range.')
      : el(
          'table',
          { class: 'results' },
          el(
            'thead',
            {},
            el(
              'tr',
              {},
              ...[
                'trace',
                'start (UTC)',
                'root service',
                'root span',
                'duration',
                '',
                'services',
                'spans',
                'logs',
                'errors',
              ].map((h) => el('th', {}, h)),
            ),
          ),
          el('tbody', {}, ...rows),
        ),
    copyable('CLI', answer.cli),
  );
}

/** A sparkline of one duration against the longest of the results. */
function durationBar(fraction: number, error: boolean): HTMLElement {
  const bar = el('span', { class: error ? 'bar error' : 'bar' });
  bar.style.width = `${Math.max(1, Math.round(fraction * 100))}%`;
  return el('span', { class: 'bar-track' }, bar);
}
