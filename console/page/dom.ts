/**
 * DOM helpers. Every string from telemetry goes in as text (a Text node or `textContent`), never as HTML: the page
 * has no `innerHTML` with data anywhere, and the server's Content-Security-Policy forbids inline script besides.
 */
type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | undefined | ((event: Event) => void)>;

/** `el('a', { href: '/x', class: 'link' }, 'text', child)`: attributes set with setAttribute, text as Text nodes. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (typeof value === 'function') node.addEventListener(name.replace(/^on/, ''), value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  append(node, ...children);
  return node;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
}

/** Replaces the children of `parent`. */
export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, ...children);
}

/** A link inside the console that navigates without reloading the page. */
export function link(path: string, ...children: Child[]): HTMLAnchorElement {
  return el('a', { href: path, 'data-route': '' }, ...children);
}

/** A read-only text box with a Copy button: the page's link, the equivalent CLI command. */
export function copyable(label: string, text: string): HTMLElement {
  const box = el('input', { type: 'text', readonly: true, class: 'copy-text', 'aria-label': label });
  box.value = text;
  const button = el('button', { type: 'button' }, 'Copy');
  button.addEventListener('click', () => {
    box.select();
    void navigator.clipboard?.writeText(text).catch(() => undefined);
    button.textContent = 'Copied';
    setTimeout(() => {
      button.textContent = 'Copy';
    }, 1500);
  });
  return el('div', { class: 'copy' }, el('span', { class: 'copy-label' }, label), box, button);
}

/** Fetches a console API route as JSON; a non-2xx answer throws its `error` text. */
export async function api<T>(path: string): Promise<T> {
  const res = await fetch(path, { headers: { accept: 'application/json' } });
  const body = (await res.json().catch(() => ({}))) as { error?: string };
  if (!res.ok) throw new Error(body.error ?? `${res.status} ${res.statusText}`);
  return body as T;
}

/** An error box (the message as text). */
export function errorBox(error: unknown): HTMLElement {
  return el('pre', { class: 'error-box' }, error instanceof Error ? error.message : String(error));
}

/** `1.23 s`, `45.6 ms`, `789 µs` */
export function formatNs(ns: number): string {
  if (ns >= 1e9) return `${(ns / 1e9).toFixed(2)} s`;
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(ns >= 1e8 ? 0 : 1)} ms`;
  if (ns >= 1e3) return `${Math.round(ns / 1e3)} µs`;
  return `${Math.round(ns)} ns`;
}

/** A stable colour per service name (HSL hue from a string hash). */
export function serviceColour(service: string): string {
  let h = 0;
  for (let i = 0; i < service.length; i++) h = (h * 31 + service.charCodeAt(i)) >>> 0;
  return `hsl(${h % 360} 55% 55%)`;
}

/** The value of a JSON attribute object as `key = value` rows, nested keys dotted. */
export function attributeTable(title: string, value: unknown): HTMLElement {
  const rows: HTMLElement[] = [];
  const walk = (prefix: string, v: unknown) => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      for (const [k, inner] of Object.entries(v)) walk(prefix ? `${prefix}.${k}` : k, inner);
    } else
      rows.push(
        el('tr', {}, el('th', {}, prefix || '(value)'), el('td', {}, typeof v === 'string' ? v : JSON.stringify(v))),
      );
  };
  walk('', value);
  return el(
    'section',
    { class: 'attrs' },
    el('h4', {}, title),
    rows.length ? el('table', {}, ...rows) : el('p', { class: 'dim' }, 'none'),
  );
}
