import type { Matcher, Route } from '../../schemas/notify-config.ts';

/** Where a transition goes: the receiver and the (inherited) grouping settings of the route that matched it. */
export type RouteMatch = Route;

/**
 * The routes an alert with `labels` matches, in Alertmanager's order: depth-first from the root (which matches every
 * alert); among siblings the first match wins unless it has `continue: true`; a node none of whose children match is
 * itself the match. A missing label matches as the empty string, as in Alertmanager.
 * @example routeAlert(config.route, { alertname: 'HighErrorRate', severity: 'critical' }).map((r) => r.receiver)
 */
export function routeAlert(root: Route, labels: Readonly<Record<string, string>>): RouteMatch[] {
  const out: RouteMatch[] = [];
  visit(root, labels, out);
  return out;
}

function visit(node: Route, labels: Readonly<Record<string, string>>, out: RouteMatch[]): boolean {
  if (!matchesAll(node.matchers, labels)) return false;
  let matchedChild = false;
  for (const child of node.routes) {
    if (!visit(child, labels, out)) continue;
    matchedChild = true;
    if (!child.continue) break;
  }
  if (!matchedChild) out.push(node);
  return true;
}

/** True when every matcher holds for `labels`. */
export function matchesAll(matchers: readonly Matcher[], labels: Readonly<Record<string, string>>): boolean {
  for (const m of matchers) {
    const value = Object.hasOwn(labels, m.name) ? (labels[m.name] ?? '') : '';
    let holds: boolean;
    switch (m.op) {
      case '=':
        holds = value === m.value;
        break;
      case '!=':
        holds = value !== m.value;
        break;
      case '=~':
        holds = m.regex?.test(value) ?? false;
        break;
      case '!~':
        holds = !(m.regex?.test(value) ?? false);
        break;
    }
    if (!holds) return false;
  }
  return true;
}
