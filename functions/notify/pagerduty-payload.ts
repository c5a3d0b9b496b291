import type { AlertTransition } from '../../schemas/alerts.ts';
import type { PagerDutySeverity } from '../../schemas/notify-config.ts';
import type { TextRedactor } from '../core/redact.ts';
import { alertTitle, exemplarViews, queryUrl, safeAnnotations, truncate } from './alert-text.ts';

/** PagerDuty Events API v2 limits: `summary` at most 1024 characters. */
export const PAGERDUTY_SUMMARY_MAX = 1024;

/** Label `severity` values that map without configuration; anything else is `warning` unless `severity_map` says. */
const DEFAULT_SEVERITY: Readonly<Record<string, PagerDutySeverity>> = {
  critical: 'critical',
  page: 'critical',
  error: 'error',
  warning: 'warning',
  warn: 'warning',
  info: 'info',
  none: 'info',
};

export interface PagerDutyEvent {
  routing_key: string;
  event_action: 'trigger' | 'resolve';
  dedup_key: string;
  client?: string;
  client_url?: string;
  payload?: {
    summary: string;
    source: string;
    severity: PagerDutySeverity;
    timestamp: string;
    component?: string;
    group: string;
    class: string;
    custom_details: Record<string, unknown>;
  };
  links?: { href: string; text: string }[];
}

/** PagerDuty severity of an alert: `severity_map` first, then the built-in mapping, else `warning`. */
export function pagerDutySeverity(
  labelSeverity: string | undefined,
  severityMap: Readonly<Record<string, PagerDutySeverity>>,
): PagerDutySeverity {
  if (labelSeverity === undefined) return 'warning';
  if (Object.hasOwn(severityMap, labelSeverity)) return severityMap[labelSeverity] ?? 'warning';
  return DEFAULT_SEVERITY[labelSeverity.toLowerCase()] ?? 'warning';
}

/**
 * The Events API v2 event for a transition: `trigger` while firing, `resolve` when resolved, `dedup_key` = the alert
 * fingerprint (so a redelivered trigger updates the same incident instead of paging again), a summary of at most 1024
 * characters, source/component/group/class from the alert, annotations and labels in `custom_details`, the query link.
 * Exemplars (D22) go to `custom_details.exemplars` (ids, time, value, service, the `skein query` command) and, when
 * a console URL is configured, one link each in `links`.
 */
export function pagerDutyEvent(
  t: AlertTransition,
  options: {
    routingKey: string;
    severityMap: Readonly<Record<string, PagerDutySeverity>>;
    queryUrlTemplate?: string | undefined;
    consoleUrl?: string | undefined;
    redactor: TextRedactor;
  },
): PagerDutyEvent {
  const link = queryUrl(options.queryUrlTemplate, t);
  if (t.status === 'resolved') {
    return { routing_key: options.routingKey, event_action: 'resolve', dedup_key: t.fingerprint };
  }
  const annotations = safeAnnotations(t, options.redactor);
  const exemplars = exemplarViews(t, options.redactor, options.consoleUrl);
  const links: { href: string; text: string }[] = [];
  if (link !== undefined) links.push({ href: link, text: 'Query in Skein' });
  for (const e of exemplars) {
    if (e.url === undefined) continue;
    const id = e.trace_id ?? e.request_id ?? '';
    links.push({
      href: e.url,
      text: `${e.trace_id === null ? 'Request' : 'Trace'} ${id}${e.service ? ` (${e.service})` : ''}`,
    });
  }
  const component = t.labels.component ?? t.labels.service;
  return {
    routing_key: options.routingKey,
    event_action: 'trigger',
    dedup_key: t.fingerprint,
    client: 'Skein',
    ...(link === undefined ? {} : { client_url: link }),
    payload: {
      summary: truncate(alertTitle(t, annotations), PAGERDUTY_SUMMARY_MAX),
      source: t.labels.instance ?? t.labels.service ?? 'skein',
      severity: pagerDutySeverity(t.labels.severity, options.severityMap),
      timestamp: t.starts_at,
      ...(component === undefined ? {} : { component }),
      group: t.group,
      class: t.rule,
      custom_details: {
        annotations,
        labels: t.labels,
        value: t.value,
        expr: t.expr,
        fingerprint: t.fingerprint,
        active_at: t.active_at,
        ...(exemplars.length === 0 ? {} : { exemplars }),
      },
    },
    ...(links.length === 0 ? {} : { links }),
  };
}
