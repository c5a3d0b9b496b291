import type { AlertTransition } from '../../schemas/alerts.ts';
import type { TextRedactor } from '../core/redact.ts';
import {
  alertTitle,
  type ExemplarView,
  exemplarViews,
  queryUrl,
  safeAnnotations,
  TRUNCATION_MARKER,
  truncate,
} from './alert-text.ts';

/** Slack limits (api.slack.com/reference/block-kit): 50 blocks a message, 3000 characters a section text. */
export const SLACK_LIMITS = { blocks: 50, sectionChars: 3000, headerChars: 150, fallbackChars: 3000 } as const;

const STYLE = {
  critical: { emoji: ':red_circle:', color: '#E01E5A', rank: 4 },
  error: { emoji: ':large_orange_circle:', color: '#E8912D', rank: 3 },
  warning: { emoji: ':warning:', color: '#ECB22E', rank: 2 },
  info: { emoji: ':information_source:', color: '#439FE0', rank: 1 },
} as const;
const RESOLVED = { emoji: ':white_check_mark:', color: '#2EB67D' } as const;

type Style = (typeof STYLE)[keyof typeof STYLE];

function styleOf(severity: string | undefined): Style {
  switch (severity?.toLowerCase()) {
    case 'critical':
    case 'page':
      return STYLE.critical;
    case 'error':
      return STYLE.error;
    case 'info':
    case 'none':
      return STYLE.info;
    default:
      return STYLE.warning;
  }
}

export type SlackBlock =
  | { type: 'header'; text: { type: 'plain_text'; text: string; emoji: true } }
  | { type: 'section'; text: { type: 'mrkdwn'; text: string } }
  | { type: 'context'; elements: { type: 'mrkdwn'; text: string }[] };

export interface SlackMessage {
  /** Plain-text fallback: notifications, screen readers, clients without Block Kit. */
  text: string;
  channel?: string;
  attachments: { color: string; fallback: string; blocks: SlackBlock[] }[];
}

/**
 * One incoming-webhook message for a group of transitions: a header (`[FIRING:2] HighErrorRate`), one section per
 * alert (severity emoji, title, description, labels, query link, and for a firing alert its example requests with the
 * `skein query` command and console link, D22), coloured by the most severe firing alert or green
 * when all are resolved, with a plain-text fallback. At most 50 blocks and 3000 characters a section: longer text ends
 * with `… [truncated]`, alerts beyond the block limit are counted in a last "… and N more" block.
 */
export function slackMessage(
  transitions: readonly AlertTransition[],
  options: {
    channel?: string | undefined;
    queryUrlTemplate?: string | undefined;
    consoleUrl?: string | undefined;
    redactor: TextRedactor;
    /** A re-notification of alerts still firing (repeat_interval). */
    repeat?: boolean;
  },
): SlackMessage {
  const firing = transitions.filter((t) => t.status === 'firing');
  const resolved = transitions.length - firing.length;
  let top: Style | undefined;
  for (const t of firing) {
    const s = styleOf(t.labels.severity);
    if (top === undefined || s.rank > top.rank) top = s;
  }
  const names = [...new Set(transitions.map((t) => t.labels.alertname ?? t.rule))];
  const counts = [firing.length > 0 ? `FIRING:${firing.length}` : '', resolved > 0 ? `RESOLVED:${resolved}` : '']
    .filter((s) => s !== '')
    .join(' ');
  const title = `${top ? top.emoji : RESOLVED.emoji} [${counts}] ${names.join(', ')}${options.repeat ? ' (still firing)' : ''}`;

  const blocks: SlackBlock[] = [
    { type: 'header', text: { type: 'plain_text', text: truncate(title, SLACK_LIMITS.headerChars), emoji: true } },
  ];
  const fallback: string[] = [title];
  const room = SLACK_LIMITS.blocks - 1; // the header
  transitions.forEach((t, i) => {
    const annotations = safeAnnotations(t, options.redactor);
    const summary = alertTitle(t, annotations);
    fallback.push(`${t.status === 'firing' ? 'FIRING' : 'RESOLVED'}: ${summary}`);
    const fits = i < room - 1 || (i === room - 1 && transitions.length === room);
    if (!fits) return;
    const emoji = t.status === 'firing' ? styleOf(t.labels.severity).emoji : RESOLVED.emoji;
    const lines = [`${emoji} *${escapeMrkdwn(summary)}*`];
    if (annotations.description) lines.push(escapeMrkdwn(annotations.description));
    const labels = Object.keys(t.labels)
      .sort()
      .map((k) => `${k}=${t.labels[k] ?? ''}`)
      .join(', ');
    lines.push(
      `_${t.status}_ since ${t.status === 'firing' ? t.starts_at : (t.ends_at ?? t.evaluated_at)} · ${escapeMrkdwn(labels)}`,
    );
    const link = queryUrl(options.queryUrlTemplate, t);
    if (link !== undefined) lines.push(`<${link}|Query in Skein>`);
    const exemplars = exemplarViews(t, options.redactor, options.consoleUrl);
    if (exemplars.length > 0) lines.push('*Example requests:*', ...exemplars.map(exemplarLine));
    blocks.push({
      type: 'section',
      text: { type: 'mrkdwn', text: truncate(lines.join('\n'), SLACK_LIMITS.sectionChars) },
    });
  });
  const shown = blocks.length - 1;
  if (shown < transitions.length) {
    blocks.push({
      type: 'context',
      elements: [{ type: 'mrkdwn', text: `… and ${transitions.length - shown} more alerts ${TRUNCATION_MARKER}` }],
    });
  }
  const text = truncate(fallback.join('\n'), SLACK_LIMITS.fallbackChars);
  return {
    text,
    ...(options.channel === undefined ? {} : { channel: options.channel }),
    attachments: [{ color: top ? top.color : RESOLVED.color, fallback: text, blocks }],
  };
}

/** `• 4bf9… orders · 1 · 12:00:03Z — `skein query trace 4bf9…` · <url|open>`: one exemplar, one line. */
function exemplarLine(e: ExemplarView): string {
  const id = e.trace_id ?? e.request_id ?? '';
  const parts = [`• \`${escapeMrkdwn(id)}\``];
  if (e.service !== undefined) parts.push(escapeMrkdwn(e.service));
  parts.push(`value ${e.value}`, e.time);
  let line = `${parts.join(' · ')} — \`${escapeMrkdwn(e.query)}\``;
  if (e.url !== undefined) line += ` · <${e.url}|open in console>`;
  return line;
}

/** Slack's mrkdwn control characters, escaped as its docs require. */
function escapeMrkdwn(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}
