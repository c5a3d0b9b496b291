import 'uplot/dist/uPlot.min.css';
import './style.css';
import { renderAlerts, renderRule } from './alerts.ts';
import { api, errorBox, replace } from './dom.ts';
import { renderFind } from './find.ts';
import { renderPipeline } from './pipeline.ts';
import { renderTrace } from './trace.ts';

/** A page: draws into `root`; resolves once its data is shown. `signal` aborts when the user navigates away. */
type Page = (root: HTMLElement, signal: AbortSignal) => Promise<void>;

function route(path: string, params: URLSearchParams): Page | undefined {
  const [, first = '', second, ...rest] = path.split('/');
  if (rest.length > 0) return undefined;
  const arg = second === undefined ? undefined : decodeURIComponent(second);
  if ((first === '' || first === 'search') && arg === undefined) return (root) => renderFind(root, params);
  if ((first === 'trace' || first === 'request') && arg) return (root, signal) => renderTrace(root, first, arg, signal);
  if (first === 'alerts' && arg === undefined) return (root) => renderAlerts(root);
  if (first === 'alerts' && arg) return (root, signal) => renderRule(root, arg, params, signal);
  if (first === 'pipeline' && arg === undefined) return (root) => renderPipeline(root);
  return undefined;
}

let current: AbortController | undefined;

/** Draws the page of the current URL; `data-state` on #app says loading, ready or error (tests wait on it). */
async function show(): Promise<void> {
  const root = document.getElementById('app');
  if (root === null) return;
  current?.abort();
  const controller = new AbortController();
  current = controller;
  const page = route(location.pathname, new URLSearchParams(location.search));
  root.dataset.state = 'loading';
  replace(root);
  try {
    if (page === undefined) throw new Error(`no page at ${location.pathname}`);
    await page(root, controller.signal);
    if (!controller.signal.aborted) root.dataset.state = 'ready';
  } catch (error) {
    if (controller.signal.aborted) return;
    replace(root, errorBox(error));
    root.dataset.state = 'error';
  }
}

/** Navigates inside the console without reloading. */
export function navigate(path: string): void {
  history.pushState(null, '', path);
  void show();
}

document.addEventListener('click', (event) => {
  const target = event.target instanceof Element ? event.target.closest('a[data-route]') : null;
  if (!(target instanceof HTMLAnchorElement) || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0)
    return;
  event.preventDefault();
  navigate(target.getAttribute('href') ?? '/');
});
window.addEventListener('popstate', () => void show());
window.addEventListener('skein:navigate', (event) => navigate((event as CustomEvent<string>).detail));

document.addEventListener('DOMContentLoaded', () => {
  void show();
  api<{ where: string }>('/api/about')
    .then((about) => {
      const where = document.getElementById('where');
      if (where) where.textContent = about.where;
    })
    .catch(() => undefined);
});
