import type { AlertTransition } from '../../schemas/alerts.ts';
import type { TextRedactor } from '../core/redact.ts';

/** Longest annotation value a notification carries (characters): a bounded, redacted excerpt, never a raw log body. */
export const MAX_ANNOTATION_CHARS = 1024;
export const TRUNCATION_MARKER = '… [truncated]';

/** `text` cut to `max` characters including {@link TRUNCATION_MARKER} when it is longer. */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  return text.slice(0, Math.max(0, max - TRUNCATION_MARKER.length)) + TRUNCATION_MARKER;
}

/** Annotations as notifications carry them: each value redacted and cut to {@link MAX_ANNOTATION_CHARS}. */
export function safeAnnotations(t: AlertTransition, redactor: TextRedactor): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(t.annotations)) {
    const value = t.annotations[key] ?? '';
    out[key] = isSecretName(redactor, key) ? '[REDACTED]' : truncate(redactor.redactText(value), MAX_ANNOTATION_CHARS);
  }
  return out;
}

function isSecretName(redactor: TextRedactor, key: string): boolean {
  return redactor.isSecretKey(key);
}

/** The alert's one-line title: its `summary` annotation, else `alertname` and the rule group. */
export function alertTitle(t: AlertTransition, annotations: Readonly<Record<string, string>>): string {
  return annotations.summary ?? `${t.labels.alertname ?? t.rule} (${t.group})`;
}

/**
 * The link to the query behind an alert: `template` with `{{fingerprint}}`, `{{rule}}`, `{{group}}`, `{{trace_id}}`
 * (label or annotation `trace_id`) and `{{labels.NAME}}` replaced by URL-encoded values; `undefined` without a
 * template.
 */
export function queryUrl(template: string | undefined, t: AlertTransition): string | undefined {
  if (template === undefined) return undefined;
  return template.replace(/\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}/g, (_m, name: string) => {
    let value: string | undefined;
    if (name === 'fingerprint') value = t.fingerprint;
    else if (name === 'rule') value = t.rule;
    else if (name === 'group') value = t.group;
    else if (name === 'trace_id') value = t.labels.trace_id ?? t.annotations.trace_id;
    else if (name.startsWith('labels.')) value = t.labels[name.slice('labels.'.length)];
    return encodeURIComponent(value ?? '');
  });
}

/** One exemplar as notifications show it (D22): ids, time, value and service, and how to open it. */
export interface ExemplarView {
  readonly trace_id: string | null;
  readonly request_id: string | null;
  /** ISO time of the row. */
  readonly time: string;
  readonly value: number;
  readonly service?: string;
  /** The command that opens it: `skein query trace <id>` (or `request <id>` for a row without a trace id). */
  readonly query: string;
  /** `<console_url>/trace/<id>` (or `/request/<id>`), only when a console URL is configured. */
  readonly url?: string;
}

/**
 * The exemplars of a firing transition as notifications carry them: request ids and services redacted like
 * annotations (ids are ids, but a producer may put anything in a request id), each with its command and, when a
 * console URL is configured, its link. Empty for resolves and for transitions without exemplars.
 */
export function exemplarViews(
  t: AlertTransition,
  redactor: TextRedactor,
  consoleUrl: string | undefined,
): ExemplarView[] {
  if (t.status !== 'firing') return [];
  const out: ExemplarView[] = [];
  for (const e of t.exemplars ?? []) {
    const requestId = e.request_id === null ? null : redactor.redactText(e.request_id);
    const [kind, id] = e.trace_id !== null ? (['trace', e.trace_id] as const) : (['request', requestId] as const);
    if (id === null) continue;
    const view: ExemplarView = {
      trace_id: e.trace_id,
      request_id: requestId,
      time: new Date(e.time_ms).toISOString(),
      value: e.value,
      ...(e.service === undefined ? {} : { service: redactor.redactText(e.service) }),
      query: `skein query ${kind} ${id}`,
      ...(consoleUrl === undefined ? {} : { url: `${consoleUrl}/${kind}/${encodeURIComponent(id)}` }),
    };
    out.push(view);
  }
  return out;
}
