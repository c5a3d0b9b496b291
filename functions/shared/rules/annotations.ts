import type { CompiledRule } from './compile-rules.ts';
import { parseTemplate, renderTemplate, type Template } from './template.ts';

/** Parsed templates by source text: rules are few and their templates fixed, so this stays small. */
const parsed = new Map<string, Template | null>();

function templateOf(text: string): Template | null {
  let template = parsed.get(text);
  if (template === undefined) {
    const result = parseTemplate(text);
    template = result.ok ? result.template : null;
    parsed.set(text, template);
  }
  return template;
}

/**
 * The annotations of an alert: each template of the rule rendered with `$labels` = the series labels with the rule
 * labels over them, and `$value`. Never throws: a template that does not parse (only possible for rules that did not
 * come through `loadRules`) is returned as written.
 */
export function renderAnnotations(
  rule: Pick<CompiledRule, 'labels' | 'annotations'>,
  sample: { readonly labels: Readonly<Record<string, string>>; readonly value: number | null },
): Record<string, string> {
  const labels: Record<string, string> = { ...sample.labels, ...rule.labels };
  const out: Record<string, string> = {};
  for (const [name, text] of Object.entries(rule.annotations)) {
    const template = templateOf(text);
    out[name] = template === null ? text : renderTemplate(template, { labels, value: sample.value });
  }
  return out;
}
