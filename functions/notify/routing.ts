import { createHash } from 'node:crypto';
import type { AlertTransition } from '../../schemas/alerts.ts';
import type { Matcher, NotifyConfig, Route } from '../../schemas/notify-config.ts';
import { type Endpoint, receiverEndpoints } from './endpoints.ts';

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

/** An endpoint a transition goes to, and the route that sent it there. */
export interface RoutedEndpoint {
  readonly endpoint: Endpoint;
  readonly route: RouteMatch;
}

/**
 * Every endpoint of the receivers the transition's routes name, each once (its first route wins). The transition's
 * `route` (from its rule) matches as the label `__route__`.
 */
export function routedEndpoints(config: NotifyConfig, t: AlertTransition): RoutedEndpoint[] {
  const labels = t.route === undefined ? t.labels : { ...t.labels, __route__: t.route };
  const out: RoutedEndpoint[] = [];
  const seen = new Set<string>();
  for (const route of routeAlert(config.route, labels)) {
    const receiver = config.receivers.get(route.receiver);
    if (!receiver) continue;
    for (const endpoint of receiverEndpoints(receiver)) {
      if (seen.has(endpoint.id)) continue;
      seen.add(endpoint.id);
      out.push({ endpoint, route });
    }
  }
  return out;
}

/** The group of a transition on a route: the route's position and its `group_by` label values (`...`: all labels). */
export function groupHash(route: Route, t: AlertTransition): string {
  const parts = [route.path];
  if (route.groupBy.includes('...')) parts.push(t.fingerprint);
  else for (const name of route.groupBy) parts.push(`${name}=${t.labels[name] ?? ''}`);
  return createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 16);
}
