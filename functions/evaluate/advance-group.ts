import type { AlertGroupState } from '../../schemas/alert-state.ts';
import type { Aggregate } from '../../schemas/measures.ts';
import { renderAnnotations } from '../shared/rules/annotations.ts';
import type { WindowView } from '../shared/rules/compile-rules.ts';
import { MINUTE_MS } from '../shared/watermark.ts';
import { type Annotate, pruneRetired, type StateRule, type StateSample, stepRule } from './alert-state.ts';
import type { RollupWindow } from './rollup-reader.ts';

/**
 * One group's step of an evaluator run: its rules over the planned minutes, the known groups of `absent` measures
 * (with their last exemplars, D22) and the rules' view of each minute. No I/O: `evaluate.ts` reads and commits.
 */

/** Known groups of `absent` measures not seen for this long are forgotten: a service gone for an hour stops alerting. */
export const KNOWN_GROUP_RETENTION_MINUTES = 60;

/** What the evaluator needs of a compiled rule (a `CompiledRule` fits). */
export interface EvaluatorRule extends StateRule {
  /** The longest window its expression reads. */
  readonly windowMs: number;
  readonly measureIds: readonly string[];
  /** Whether it uses `absent(…)`: its measures' known groups are tracked in the group state. */
  readonly absent: boolean;
  /** Group evaluation interval (whole minutes); every minute when absent. */
  readonly intervalMs?: number | undefined;
  /** Annotation templates, rendered with `renderAnnotations` for each transition. */
  readonly annotations: Readonly<Record<string, string>>;
  evaluate(view: WindowView): readonly StateSample[];
}

/** The minutes a group evaluates: every minute after `last` up to `minute`, bounded by the catch-up. */
export function plannedMinutes(
  last: number | null,
  minute: number,
  maxCatchUp: number,
): { minutes: number[]; skipped: number } {
  if (last === null) return { minutes: [minute], skipped: 0 };
  if (last >= minute) return { minutes: [], skipped: 0 };
  const from = Math.max(last + 1, minute - maxCatchUp + 1);
  const minutes: number[] = [];
  for (let m = from; m <= minute; m++) minutes.push(m);
  return { minutes, skipped: from - (last + 1) };
}

/** What `advanceGroup` works with: one group's state and rules, and what the run shares between groups. */
export interface GroupStep {
  /** The group's state as read for this attempt (may be newer than the one planned from); updated in place. */
  readonly state: AlertGroupState;
  readonly rules: readonly EvaluatorRule[];
  readonly window: RollupWindow;
  /** The minute the run evaluates up to. */
  readonly minute: number;
  readonly maxCatchUp: number;
  /** Merged (measure, window) aggregates, one per run, shared by every group. */
  readonly cache: Map<string, ReadonlyMap<string, Aggregate>>;
  readonly counts: { samples: number; incomplete: number };
  readonly mergeTime: { ms: number };
}

/**
 * Evaluates the group's rules for every planned minute (from the state it is given, which may be newer than the
 * one planned from) and records the transitions in `unflushed`. Returns the number of minutes evaluated.
 */
export function advanceGroup(step: GroupStep): number {
  const { state, rules, window, minute, counts } = step;
  const { minutes } = plannedMinutes(state.last_evaluated_minute, minute, step.maxCatchUp);
  const absentMeasures = new Set<string>();
  for (const r of rules) if (r.absent) for (const id of r.measureIds) absentMeasures.add(id);
  const annotators = rules.map(
    (rule): Annotate =>
      (labels, value) =>
        renderAnnotations(rule, { labels, value }),
  );
  for (const m of minutes) {
    trackKnownGroups(state, absentMeasures, window, m);
    const view = windowView(window, m, state, step.cache, step.mergeTime);
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i];
      const annotate = annotators[i];
      if (rule === undefined || annotate === undefined) continue;
      const interval = windowMinutes(rule.intervalMs ?? MINUTE_MS);
      if (m % interval !== 0) continue;
      // A rule added since some of the window's rollups were written has no data there, not zero: evaluating it
      // would fire `absent(...)` or a `< threshold` rule falsely. It waits until every rollup read carries it.
      if (!rule.measureIds.every((id) => window.isMeasureComplete(id))) {
        counts.incomplete++;
        continue;
      }
      const samples = rule.evaluate(view);
      counts.samples += samples.length;
      for (const t of stepRule(rule, state, samples, m, annotate)) state.unflushed.push(t);
    }
  }
  state.last_evaluated_minute = Math.max(state.last_evaluated_minute ?? minute, minute);
  pruneRetired(state, minute);
  return minutes.length;
}

/**
 * Records the groups of `absent` measures with data at minute `m`, with that minute's exemplars (what an absent
 * alert carries, D22), and forgets those unseen for an hour.
 */
function trackKnownGroups(
  state: AlertGroupState,
  measures: ReadonlySet<string>,
  window: RollupWindow,
  m: number,
): void {
  for (const id of measures) {
    let known = state.known_groups[id];
    if (known === undefined) {
      known = {};
      state.known_groups[id] = known;
    }
    for (const [key, agg] of window.aggregate(id, m, m)) {
      if (agg.n <= 0) continue;
      known[key] = m;
      if (agg.exemplars !== undefined && agg.exemplars.length > 0) {
        state.known_exemplars ??= {};
        state.known_exemplars[id] ??= {};
        state.known_exemplars[id][key] = agg.exemplars;
      }
    }
    const exemplars = state.known_exemplars?.[id];
    for (const [key, seen] of Object.entries(known)) {
      if (m - seen < KNOWN_GROUP_RETENTION_MINUTES) continue;
      delete known[key];
      if (exemplars !== undefined) delete exemplars[key];
    }
  }
  for (const id of Object.keys(state.known_groups)) if (!measures.has(id)) delete state.known_groups[id];
  if (state.known_exemplars !== undefined) {
    for (const id of Object.keys(state.known_exemplars)) if (!measures.has(id)) delete state.known_exemplars[id];
    if (Object.keys(state.known_exemplars).length === 0) delete state.known_exemplars;
  }
}

/**
 * The rules' view of minute `m`: each (measure, window) merged once per `cache` (one per run, shared by every group),
 * whatever the number of rules reading it.
 */
export function windowView(
  window: RollupWindow,
  m: number,
  state: Pick<AlertGroupState, 'known_groups' | 'known_exemplars'>,
  cache: Map<string, ReadonlyMap<string, Aggregate>> = new Map(),
  mergeTime: { ms: number } = { ms: 0 },
): WindowView {
  return {
    aggregate(measureId, windowMs) {
      const w = windowMinutes(windowMs);
      const key = `${m}:${w}:${measureId}`;
      let merged = cache.get(key);
      if (merged === undefined) {
        const t0 = performance.now();
        merged = window.aggregate(measureId, m - w + 1, m);
        mergeTime.ms += performance.now() - t0;
        cache.set(key, merged);
      }
      return merged;
    },
    knownGroups(measureId) {
      return Object.keys(state.known_groups[measureId] ?? {});
    },
    lastExemplars(measureId, key) {
      return state.known_exemplars?.[measureId]?.[key];
    },
  };
}

export function windowMinutes(ms: number): number {
  return Math.max(1, Math.ceil(ms / MINUTE_MS));
}
