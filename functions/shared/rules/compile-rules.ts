import { z } from 'zod';
import { parseDuration } from '../../../schemas/durations.ts';
import { SkeinError } from '../../../schemas/errors.ts';
import type { Exemplar } from '../../../schemas/exemplars.ts';
import type { Aggregate, MeasureKind, MeasureSpec, Selector } from '../../../schemas/measures.ts';
import type { NoData, RuleGroup } from '../../../schemas/rules.ts';
import { sketchQuantile } from '../../core/sketch.ts';
import { type Comparison, formatExprError, parseExpr, type RuleExpr, type ValueFunc } from './expr-parser.ts';
import { measureId } from './measure-id.ts';

/** What a rule reads at an evaluation: merged per-minute aggregates of its measures. */
export interface WindowView {
  /** Aggregates of a measure merged over the window [end - windowMs, end), by group key. Missing key = no rows. */
  aggregate(measureId: string, windowMs: number): ReadonlyMap<string, Aggregate>;
  /** Group keys of a measure seen recently (the evaluator remembers them; used by absent(...) by (...)). */
  knownGroups(measureId: string): Iterable<string>;
  /** The exemplars of a group's last minute with data (the evaluator remembers them for absent(...) rules). */
  lastExemplars?(measureId: string, key: string): readonly Exemplar[] | undefined;
}

/** One series of a rule at one evaluation. */
export interface RuleSample {
  /** The series labels: the rule's `by` labels under their alert label names (see `alertLabelName`). */
  readonly labels: Readonly<Record<string, string>>;
  /** The value compared with the threshold; `null` when the series has no data in the window. */
  readonly value: number | null;
  /** Whether the condition holds. A series without data is never active here: `noData` is the evaluator's job. */
  readonly active: boolean;
  /**
   * Example rows of the window behind the value (D22): for `ratio` the numerator's latest rows, for `min` the
   * smallest values, for `quantile`/`max`/`avg`/`sum` the largest, for `count`/`rate` the latest; for `absent` the
   * last rows seen before the silence. Absent when the rollups hold none.
   */
  readonly exemplars?: readonly Exemplar[];
}

export interface CompiledRule {
  readonly group: string;
  readonly name: string;
  readonly expr: string;
  /** The group's evaluation interval. */
  readonly intervalMs: number;
  readonly forMs: number;
  readonly keepFiringForMs: number;
  readonly windowMs: number;
  /** Rule labels, `severity` included. */
  readonly labels: Readonly<Record<string, string>>;
  /** Annotation templates, rendered by `renderAnnotations`. */
  readonly annotations: Readonly<Record<string, string>>;
  readonly route?: string;
  /** What a series without data counts as (always `ok` for absent(…) rules, whose condition is the lack of data). */
  readonly noData: NoData;
  readonly measureIds: readonly string[];
  readonly absent: boolean;
  /** Every series of the rule at this evaluation: its by-labels, its value (null = no data) and whether the condition holds. */
  evaluate(view: WindowView): RuleSample[];
}

export interface CompiledRuleSet {
  readonly rules: readonly CompiledRule[];
  /** Every measure the rules read, each once (rules that mean the same measure share it). */
  readonly measures: readonly MeasureSpec[];
}

/**
 * The label name a `by` label gets on alerts: Alertmanager accepts only `[A-Za-z_][A-Za-z0-9_]*`, so
 * `attr.http.route` becomes `attr_http_route` (and `resource.k8s-pod` `resource_k8s_pod`).
 */
export function alertLabelName(label: string): string {
  return label.replace(/[^A-Za-z0-9_]/g, '_');
}

/**
 * Compiles loaded rule groups into rules the evaluator runs and the measures ingest must roll up. Throws a
 * `SkeinError` (`rule_invalid`) on a rule `loadRules` would have rejected.
 * @example const { rules, measures } = compileRules(loaded.groups);
 */
export function compileRules(groups: readonly RuleGroup[]): CompiledRuleSet {
  const measures = new Map<string, MeasureSpec>();
  const rules: CompiledRule[] = [];
  for (const group of groups) {
    for (const rule of group.rules) {
      const parsed = parseExpr(rule.expr);
      if (!parsed.ok)
        throw new SkeinError('rule_invalid', `rule ${group.name}/${rule.name}: ${formatExprError(parsed.error)}`);
      const measureSpecs = measuresOf(parsed.expr);
      for (const m of measureSpecs) if (!measures.has(m.id)) measures.set(m.id, m);
      const ids = measureSpecs.map((m) => m.id);
      rules.push(
        compiledRule(
          {
            group: group.name,
            name: rule.name,
            expr: rule.expr,
            intervalMs: durationMs(group.interval, 'interval', group.name),
            forMs: durationMs(rule.for, 'for', rule.name),
            keepFiringForMs: durationMs(rule.keep_firing_for, 'keep_firing_for', rule.name),
            windowMs: parsed.expr.windowMs,
            labels: { ...rule.labels },
            annotations: { ...rule.annotations },
            ...(rule.route === undefined ? {} : { route: rule.route }),
            noData: parsed.expr.type === 'absent' ? 'ok' : rule.no_data,
            measureIds: ids,
            absent: parsed.expr.type === 'absent',
          },
          parsed.expr,
        ),
      );
    }
  }
  return { rules, measures: [...measures.values()] };
}

function durationMs(text: string, what: string, owner: string): number {
  const ms = parseDuration(text);
  if (ms === undefined) throw new SkeinError('rule_invalid', `${owner}: ${what} '${text}' is not a duration`);
  return ms;
}

const KIND_OF: Readonly<Record<ValueFunc | 'absent', MeasureKind>> = {
  count: 'count',
  rate: 'count',
  ratio: 'count',
  absent: 'count',
  quantile: 'sketch',
  max: 'stats',
  min: 'stats',
  avg: 'stats',
  sum: 'stats',
};

function measuresOf(expr: RuleExpr): MeasureSpec[] {
  const kind = KIND_OF[expr.type === 'absent' ? 'absent' : expr.func];
  const field = expr.type === 'value' ? expr.field : undefined;
  return expr.selectors.map((selector: Selector) => {
    const definition = { selector, by: [...expr.by], kind, ...(field === undefined ? {} : { field }) };
    return { id: measureId(definition), ...definition };
  });
}

type RuleFields = Omit<CompiledRule, 'evaluate'>;

function compiledRule(fields: RuleFields, expr: RuleExpr): CompiledRule {
  const labelNames = expr.by.map(alertLabelName);
  const labelsOf = (key: string): Record<string, string> | undefined => groupLabels(key, labelNames);
  const evaluate =
    expr.type === 'absent'
      ? absentEvaluator(fields, expr.by.length > 0, labelsOf)
      : valueEvaluator(fields, expr.func, expr.q, expr.cmp, expr.threshold, labelsOf);
  return { ...fields, evaluate };
}

const GroupKey = z.array(z.string());

/** Labels from a group key (JSON of the `by` values in sorted-by order); `undefined` for a key that is not one. */
function groupLabels(key: string, names: readonly string[]): Record<string, string> | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(key);
  } catch {
    return undefined;
  }
  const values = GroupKey.safeParse(parsed);
  if (!values.success || values.data.length !== names.length) return undefined;
  const labels: Record<string, string> = {};
  for (let i = 0; i < names.length; i++) labels[names[i] ?? ''] = values.data[i] ?? '';
  return labels;
}

const NO_BY_KEY = '[]';

function absentEvaluator(
  fields: RuleFields,
  grouped: boolean,
  labelsOf: (key: string) => Record<string, string> | undefined,
): (view: WindowView) => RuleSample[] {
  const id = fields.measureIds[0] ?? '';
  return (view) => {
    const window = view.aggregate(id, fields.windowMs);
    const sample = (labels: Record<string, string>, key: string): RuleSample => {
      const present = (window.get(key)?.n ?? 0) > 0;
      if (present) return { labels, value: null, active: false };
      return withExemplars({ labels, value: 1, active: true }, view.lastExemplars?.(id, key));
    };
    if (!grouped) return [sample({}, NO_BY_KEY)];
    const samples: RuleSample[] = [];
    for (const key of unionKeys([view.knownGroups(id), window.keys()])) {
      const labels = labelsOf(key);
      if (labels === undefined) continue;
      samples.push(sample(labels, key));
    }
    return samples;
  };
}

function valueEvaluator(
  fields: RuleFields,
  func: ValueFunc,
  q: number | undefined,
  cmp: Comparison,
  threshold: number,
  labelsOf: (key: string) => Record<string, string> | undefined,
): (view: WindowView) => RuleSample[] {
  const [first = '', second = ''] = fields.measureIds;
  const seconds = fields.windowMs / 1000;
  const compare = comparator(cmp);
  const seriesValue = (a: Aggregate | undefined, b: Aggregate | undefined): number | null => {
    switch (func) {
      case 'count':
        return a?.n ?? 0;
      case 'rate':
        return (a?.n ?? 0) / seconds;
      case 'ratio': {
        const total = b?.n ?? 0;
        return total > 0 ? (a?.n ?? 0) / total : null;
      }
      case 'quantile':
        return a?.sketch === undefined || a.n === 0 ? null : (sketchQuantile(a.sketch, q ?? 0.5) ?? null);
      case 'max':
        return a === undefined || a.n === 0 ? null : (a.max ?? null);
      case 'min':
        return a === undefined || a.n === 0 ? null : (a.min ?? null);
      case 'sum':
        return a === undefined || a.n === 0 ? null : (a.sum ?? null);
      case 'avg':
        return a === undefined || a.n === 0 || a.sum === undefined ? null : a.sum / a.n;
    }
  };
  return (view) => {
    const windowA = view.aggregate(first, fields.windowMs);
    const windowB = func === 'ratio' ? view.aggregate(second, fields.windowMs) : undefined;
    const sources: Iterable<string>[] = [[NO_BY_KEY], view.knownGroups(first), windowA.keys()];
    if (windowB !== undefined) sources.push(view.knownGroups(second), windowB.keys());
    const samples: RuleSample[] = [];
    for (const key of unionKeys(sources)) {
      const labels = labelsOf(key);
      if (labels === undefined) continue;
      const a = windowA.get(key);
      const value = seriesValue(a, windowB?.get(key));
      const sample = { labels, value, active: value !== null && compare(value, threshold) };
      samples.push(withExemplars(sample, func === 'min' ? a?.exemplars_low : a?.exemplars));
    }
    return samples;
  };
}

function withExemplars(sample: RuleSample, exemplars: readonly Exemplar[] | undefined): RuleSample {
  return exemplars === undefined || exemplars.length === 0 ? sample : { ...sample, exemplars };
}

function unionKeys(sources: readonly Iterable<string>[]): Set<string> {
  const keys = new Set<string>();
  for (const source of sources) for (const key of source) keys.add(key);
  return keys;
}

function comparator(cmp: Comparison): (value: number, threshold: number) => boolean {
  switch (cmp) {
    case '>':
      return (v, t) => v > t;
    case '>=':
      return (v, t) => v >= t;
    case '<':
      return (v, t) => v < t;
    case '<=':
      return (v, t) => v <= t;
    case '==':
      return (v, t) => v === t;
    case '!=':
      return (v, t) => v !== t;
  }
}
