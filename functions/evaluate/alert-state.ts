import { createHash } from 'node:crypto';
import type { AlertGroupState, SeriesState } from '../../schemas/alert-state.ts';
import type { AlertTransition } from '../../schemas/alerts.ts';
import type { Exemplar } from '../../schemas/exemplars.ts';

/** A resolved series is kept this many minutes (shown by `skein alerts`), then forgotten — as Prometheus does. */
export const RESOLVED_RETENTION_MINUTES = 15;
/** A forgotten series' last `seq` is remembered this long, so a series that returns continues its numbering. */
export const RETIRED_SEQ_MINUTES = 24 * 60;

const MINUTE_MS = 60_000;

/** What the state machine needs of a compiled rule (a `CompiledRule` fits). */
export interface StateRule {
  readonly group: string;
  readonly name: string;
  readonly expr: string;
  readonly forMs: number;
  readonly keepFiringForMs: number;
  readonly labels: Readonly<Record<string, string>>;
  readonly route?: string | undefined;
  readonly noData: 'ok' | 'keep_state' | 'alerting';
}

/** One series of a rule's result at one minute (a `RuleSample` fits): `value: null` means no data. */
export interface StateSample {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number | null;
  readonly active: boolean;
  /** Example rows of the window behind the value (D22), carried by the series and its firing transition. */
  readonly exemplars?: readonly Exemplar[] | undefined;
}

/** Renders a rule's annotations for one alert (labels and value): `renderAnnotations` bound to the rule. */
export type Annotate = (labels: Readonly<Record<string, string>>, value: number | null) => Record<string, string>;

/**
 * Stable identity of an alert: the first 16 hex digits of the sha256 of its label set, sorted by name. The same
 * labels always give the same fingerprint, whatever their order.
 * @example alertFingerprint({ alertname: 'HighErrorRate', service: 'checkout', severity: 'page' }) // 'a3f0…' (16 hex)
 */
export function alertFingerprint(labels: Readonly<Record<string, string>>): string {
  const names = Object.keys(labels).sort();
  const pairs: string[][] = [];
  for (const name of names) pairs.push([name, labels[name] ?? '']);
  const canonical = JSON.stringify(pairs);
  let fingerprint = fingerprints.get(canonical);
  if (fingerprint === undefined) {
    fingerprint = createHash('sha256').update(canonical).digest('hex').slice(0, 16);
    // Series are the same from one minute to the next: remember them, within a bound (a warm Lambda runs for hours).
    if (fingerprints.size >= FINGERPRINT_CACHE_SIZE) fingerprints.clear();
    fingerprints.set(canonical, fingerprint);
  }
  return fingerprint;
}

const FINGERPRINT_CACHE_SIZE = 200_000;
const fingerprints = new Map<string, string>();

/** The alert label set of a series: series labels, overridden by rule labels, then `alertname` (as Prometheus). */
export function alertLabels(rule: StateRule, seriesLabels: Readonly<Record<string, string>>): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const name in seriesLabels) labels[name] = seriesLabels[name] ?? '';
  for (const name in rule.labels) labels[name] = rule.labels[name] ?? '';
  labels.alertname = rule.name;
  return labels;
}

/** ISO time of the start of an epoch minute. */
export function minuteIso(minute: number): string {
  return new Date(minute * MINUTE_MS).toISOString();
}

/**
 * Applies one evaluation minute of one rule to the series of `state` (Prometheus semantics) and returns the
 * transitions it makes. No I/O and no clock: time is the evaluation minute. It updates `state` in place (a working
 * copy owned by the caller), because a group can hold tens of thousands of series.
 *
 * Per series: inactive → pending when the condition holds (`active_at`); pending → firing once it has held for
 * `for` (`for: 0` fires at once); pending → inactive when it stops holding (no transition); firing → resolved when
 * it has not held for `keep_firing_for` since it last held (at the first minute it does not hold when 0); resolved
 * → pending again when it holds again; resolved → forgotten after {@link RESOLVED_RETENTION_MINUTES}. A series
 * with no data (value `null`, or missing from `samples` while pending or firing) follows `rule.noData`: `ok` = not
 * holding, `alerting` = holding, `keep_state` = no change. Only firing and resolved are transitions; each gets the
 * next per-fingerprint `seq`.
 */
export function stepRule(
  rule: StateRule,
  state: Pick<AlertGroupState, 'rules' | 'retired'>,
  samples: readonly StateSample[],
  minute: number,
  annotate: Annotate,
): AlertTransition[] {
  let series = state.rules[rule.name];
  if (series === undefined) {
    series = {};
    state.rules[rule.name] = series;
  }
  const step: Step = { rule, series, retired: state.retired, minute, annotate, transitions: [] };
  const seen = new Set<string>();
  for (const sample of samples) {
    const labels = alertLabels(rule, sample.labels);
    const fingerprint = alertFingerprint(labels);
    seen.add(fingerprint);
    const holds = sample.value === null ? noDataHolds(rule.noData) : sample.active;
    apply(step, fingerprint, labels, holds, sample.value, sample.exemplars);
  }
  const noData = noDataHolds(rule.noData);
  for (const fingerprint of Object.keys(series)) {
    const s = series[fingerprint];
    if (s === undefined) continue;
    if (!seen.has(fingerprint) && s.status !== 'resolved') apply(step, fingerprint, s.labels, noData, null);
    const after = series[fingerprint];
    if (after?.status === 'resolved' && minute - (after.resolved_at ?? minute) >= RESOLVED_RETENTION_MINUTES) {
      retire(step, fingerprint, after);
    }
  }
  if (Object.keys(series).length === 0) delete state.rules[rule.name];
  return step.transitions;
}

/** Drops remembered sequence numbers older than {@link RETIRED_SEQ_MINUTES}. */
export function pruneRetired(state: Pick<AlertGroupState, 'retired'>, minute: number): void {
  for (const [fingerprint, [, at]] of Object.entries(state.retired)) {
    if (minute - at >= RETIRED_SEQ_MINUTES) delete state.retired[fingerprint];
  }
}

interface Step {
  readonly rule: StateRule;
  readonly series: Record<string, SeriesState>;
  readonly retired: AlertGroupState['retired'];
  readonly minute: number;
  readonly annotate: Annotate;
  readonly transitions: AlertTransition[];
}

function noDataHolds(policy: StateRule['noData']): boolean | undefined {
  if (policy === 'ok') return false;
  if (policy === 'alerting') return true;
  return undefined;
}

function apply(
  step: Step,
  fingerprint: string,
  labels: Record<string, string>,
  holds: boolean | undefined,
  value: number | null,
  exemplars?: readonly Exemplar[],
): void {
  if (holds === undefined) return;
  const { rule, series, minute } = step;
  let s = series[fingerprint];
  if (holds) {
    if (s === undefined || s.status === 'resolved') {
      const seq = s?.seq ?? step.retired[fingerprint]?.[0] ?? 0;
      delete step.retired[fingerprint];
      s = { status: 'pending', labels, active_at: minute, last_held: minute, value, seq };
      series[fingerprint] = s;
    } else {
      s.last_held = minute;
      s.value = value;
    }
    // The window that holds now is the one to show (D22); one without exemplars keeps the last ones.
    if (exemplars !== undefined && exemplars.length > 0) s.exemplars = [...exemplars];
    if (s.status === 'pending' && (minute - s.active_at) * MINUTE_MS >= rule.forMs) {
      s.status = 'firing';
      s.fired_at = minute;
      s.seq += 1;
      step.transitions.push(transition(step, fingerprint, s));
    }
    return;
  }
  if (s === undefined || s.status === 'resolved') return;
  if (value !== null) s.value = value;
  if (s.status === 'pending') {
    retire(step, fingerprint, s);
    return;
  }
  if ((minute - s.last_held) * MINUTE_MS >= rule.keepFiringForMs) {
    s.status = 'resolved';
    s.resolved_at = minute;
    s.seq += 1;
    step.transitions.push(transition(step, fingerprint, s));
  }
}

/** Forgets a series; its `seq` is remembered when it ever emitted one. */
function retire(step: Step, fingerprint: string, s: SeriesState): void {
  delete step.series[fingerprint];
  if (s.seq > 0) step.retired[fingerprint] = [s.seq, step.minute];
}

function transition(step: Step, fingerprint: string, s: SeriesState): AlertTransition {
  const { rule, minute } = step;
  const t: AlertTransition = {
    version: 1,
    fingerprint,
    seq: s.seq,
    status: s.status === 'resolved' ? 'resolved' : 'firing',
    group: rule.group,
    rule: rule.name,
    labels: s.labels,
    annotations: step.annotate(s.labels, s.value),
    value: s.value,
    active_at: minuteIso(s.active_at),
    starts_at: minuteIso(s.fired_at ?? minute),
    evaluated_at: minuteIso(minute),
    expr: rule.expr,
  };
  if (s.status === 'resolved') t.ends_at = minuteIso(minute);
  if (rule.route !== undefined) t.route = rule.route;
  if (s.status === 'firing' && s.exemplars !== undefined) t.exemplars = s.exemplars;
  return t;
}
