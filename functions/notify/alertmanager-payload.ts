import type { AlertTransition } from '../../schemas/alerts.ts';
import type { TextRedactor } from '../core/redact.ts';
import { exemplarViews, queryUrl, safeAnnotations } from './alert-text.ts';

/** One element of Alertmanager's `POST /api/v2/alerts` body (`postableAlert` in its OpenAPI spec). */
export interface PostableAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL?: string;
}

/** Alertmanager keeps an alert firing until `endsAt`; re-sends every `resendInterval` push it this far ahead. */
export const ENDS_AT_RESEND_FACTOR = 4;

/**
 * The Alertmanager v2 alert for a transition at `nowMs`: labels = the alert identity (empty values left out, as
 * Alertmanager drops them), redacted annotations, `startsAt` from the transition, `endsAt` = now + 4 × the re-send
 * interval while firing (so it stays firing between re-sends and expires by itself if the notifier stops) and
 * `endsAt` = now on resolve, `generatorURL` = the query link. A firing alert with exemplars (D22) also carries the
 * annotations `exemplar_trace_ids` (comma-separated; `exemplar_request_ids` for rows without a trace id),
 * `skein_query` (the command that opens the first) and, with a console URL, `exemplar_url` (its link).
 */
export function alertmanagerAlert(
  t: AlertTransition,
  options: {
    nowMs: number;
    resendIntervalMs: number;
    queryUrlTemplate?: string | undefined;
    consoleUrl?: string | undefined;
    redactor: TextRedactor;
  },
): PostableAlert {
  const labels: Record<string, string> = {};
  for (const key of Object.keys(t.labels)) {
    const value = t.labels[key];
    if (value !== undefined && value !== '') labels[key] = value;
  }
  const endsMs =
    t.status === 'firing' ? options.nowMs + ENDS_AT_RESEND_FACTOR * options.resendIntervalMs : options.nowMs;
  const link = queryUrl(options.queryUrlTemplate, t);
  return {
    labels,
    annotations: { ...safeAnnotations(t, options.redactor), ...exemplarAnnotations(t, options) },
    startsAt: t.starts_at,
    endsAt: new Date(endsMs).toISOString(),
    ...(link === undefined ? {} : { generatorURL: link }),
  };
}

/** The annotations naming a firing alert's exemplars; none without exemplars. */
function exemplarAnnotations(
  t: AlertTransition,
  options: { consoleUrl?: string | undefined; redactor: TextRedactor },
): Record<string, string> {
  const views = exemplarViews(t, options.redactor, options.consoleUrl);
  const first = views[0];
  if (first === undefined) return {};
  const out: Record<string, string> = {};
  const traceIds = views.flatMap((v) => (v.trace_id === null ? [] : [v.trace_id]));
  const requestIds = views.flatMap((v) => (v.trace_id === null && v.request_id !== null ? [v.request_id] : []));
  if (traceIds.length > 0) out.exemplar_trace_ids = traceIds.join(',');
  if (requestIds.length > 0) out.exemplar_request_ids = requestIds.join(',');
  out.skein_query = first.query;
  if (first.url !== undefined) out.exemplar_url = first.url;
  return out;
}
