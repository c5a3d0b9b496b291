import type { AlertTransition } from '../../schemas/alerts.ts';
import type { TextRedactor } from '../core/redact.ts';
import { queryUrl, safeAnnotations } from './alert-text.ts';

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
 * `endsAt` = now on resolve, `generatorURL` = the query link.
 */
export function alertmanagerAlert(
  t: AlertTransition,
  options: { nowMs: number; resendIntervalMs: number; queryUrlTemplate?: string | undefined; redactor: TextRedactor },
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
    annotations: safeAnnotations(t, options.redactor),
    startsAt: t.starts_at,
    endsAt: new Date(endsMs).toISOString(),
    ...(link === undefined ? {} : { generatorURL: link }),
  };
}
