import type { WindowView } from '../../functions/shared/rules/compile-rules.ts';
import type { Aggregate } from '../../schemas/measures.ts';

/** Builders for rule files and the window views compiled rules read. */

export interface RuleYamlOptions {
  readonly group?: string;
  readonly name?: string;
  readonly expr?: string;
  readonly severity?: string;
  readonly extra?: string;
}

/** A one-group, one-rule YAML file; `extra` is appended to the rule (indented by the caller's 8 spaces). */
export function aRuleFile(o: RuleYamlOptions = {}): string {
  return [
    'groups:',
    `  - name: ${o.group ?? 'api'}`,
    '    rules:',
    `      - name: ${o.name ?? 'HighErrorRate'}`,
    `        expr: ${o.expr ?? 'ratio(spans{status="error"}, spans) by (service) [5m] > 0.1'}`,
    '        labels:',
    `          severity: ${o.severity ?? 'critical'}`,
    ...(o.extra === undefined ? [] : [o.extra]),
    '',
  ].join('\n');
}

/** The group key ingest writes for these `by` values (sorted-by order). */
export function groupKey(...values: string[]): string {
  return JSON.stringify(values);
}

/** A `WindowView` over fixed aggregates per measure id, and fixed known groups. */
export function aWindowView(
  aggregates: Readonly<Record<string, Readonly<Record<string, Aggregate>>>>,
  known: Readonly<Record<string, readonly string[]>> = {},
): WindowView & { readonly windows: number[] } {
  const windows: number[] = [];
  return {
    windows,
    aggregate(measureId, windowMs) {
      windows.push(windowMs);
      return new Map(Object.entries(aggregates[measureId] ?? {}));
    },
    knownGroups: (measureId) => known[measureId] ?? [],
  };
}
