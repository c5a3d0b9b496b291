import type { ObjectStore } from '../../functions/core/object-store.ts';
import type { CompiledRule, CompiledRuleSet } from '../../functions/shared/rules/compile-rules.ts';
import { type ListedAlert, listAlerts } from '../../query/alerts.ts';
import type { AlertTransition } from '../../schemas/alerts.ts';
import type { Exemplar } from '../../schemas/exemplars.ts';

const MINUTE_MS = 60_000;
/** The chart's default span; at most {@link MAX_HOURS} (one rollup LIST per minute, plus the rule's window). */
export const DEFAULT_HOURS = 3;
export const MAX_HOURS = 24;

export interface RuleSummary {
  readonly group: string;
  readonly rule: string;
  readonly expr: string;
  readonly severity: string | null;
  readonly firing: number;
  readonly pending: number;
  readonly resolved: number;
}

/** `/api/alerts`: every rule the console knows (from the rule files and the state), with its series' states. */
export async function alertsOverview(
  store: ObjectStore,
  rules: CompiledRuleSet | undefined,
): Promise<{ rules: RuleSummary[]; alerts: ListedAlert[] }> {
  const alerts = await listAlerts(store);
  const byRule = new Map<string, RuleSummary & { firing: number; pending: number; resolved: number }>();
  const entry = (group: string, rule: string, expr: string, severity: string | null) => {
    let e = byRule.get(rule);
    if (e === undefined) {
      e = { group, rule, expr, severity, firing: 0, pending: 0, resolved: 0 };
      byRule.set(rule, e);
    }
    return e;
  };
  for (const r of rules?.rules ?? []) entry(r.group, r.name, r.expr, r.labels.severity ?? null);
  for (const a of alerts) entry(a.group, a.rule, '', a.labels.severity ?? null)[a.state] += 1;
  return { rules: [...byRule.values()], alerts };
}

/** One series of a rule: its labels and its value per minute (null: no data, or no rollups that minute). */
export interface RuleSeries {
  readonly labels: Readonly<Record<string, string>>;
  readonly values: (number | null)[];
}

export interface FiringPeriod {
  readonly labels: Readonly<Record<string, string>>;
  readonly fromMs: number;
  /** Null while still firing. */
  readonly toMs: number | null;
}

export interface NotificationView {
  readonly key: string;
  readonly status: 'firing' | 'resolved' | 'unknown';
  readonly evaluatedAt: string | null;
  readonly labels: Readonly<Record<string, string>>;
  readonly deliveries: readonly { endpoint: string; status: string; attempts: number; lastError: string | null }[];
  readonly dead: boolean;
}

export interface RuleDetail {
  readonly rule: string;
  readonly group: string | null;
  readonly expr: string | null;
  readonly threshold: { readonly cmp: string; readonly value: number } | null;
  /** Epoch ms of each minute of `series[].values`. */
  readonly minutes: number[];
  readonly series: RuleSeries[];
  readonly firing: FiringPeriod[];
  readonly exemplars: Exemplar[];
  readonly alerts: ListedAlert[];
  readonly notifications: NotificationView[];
  /** Why there is no value curve (no rule file loaded, a rule not in it). */
  readonly note: string | null;
}

/**
 * `/api/alerts/<rule>`: the rule's value per minute over the last `hours` up to the current minute (the rule evaluated over the rollups, as
 * the evaluator does), its threshold, its firing periods (from the outbox's transitions and the current state), the
 * exemplars of its alerts, and the notifications sent for it with their deliveries.
 */
export async function ruleDetail(
  store: ObjectStore,
  rules: CompiledRuleSet | undefined,
  name: string,
  options: { readonly nowMs: number; readonly hours: number },
): Promise<RuleDetail> {
  const [alerts, outbox] = await Promise.all([listAlerts(store), readOutbox(store)]);
  const mine = alerts.filter((a) => a.rule === name);
  const transitions = outbox.filter((o) => o.transition?.rule === name);
  const rule = rules?.rules.find((r) => r.name === name);
  const curve = rule ? await ruleCurve(store, rule, options) : { minutes: [], series: [], threshold: null };
  const exemplars: Exemplar[] = [];
  const seen = new Set<string>();
  const addExemplars = (list: readonly Exemplar[] | undefined) => {
    for (const e of list ?? []) {
      const key = `${e.trace_id}|${e.request_id}|${e.time_ms}`;
      if (!seen.has(key)) {
        seen.add(key);
        exemplars.push(e);
      }
    }
  };
  for (const a of mine) addExemplars(a.exemplars);
  for (const o of transitions) addExemplars(o.transition?.exemplars);
  exemplars.sort((a, b) => a.time_ms - b.time_ms);
  return {
    rule: name,
    group: rule?.group ?? mine[0]?.group ?? transitions[0]?.transition?.group ?? null,
    expr: rule?.expr ?? transitions[0]?.transition?.expr ?? null,
    threshold: curve.threshold,
    minutes: curve.minutes,
    series: curve.series,
    firing: firingPeriods(transitions, mine),
    exemplars,
    alerts: mine,
    notifications: transitions.map(notificationView).reverse(),
    note:
      rules === undefined
        ? 'no rule files loaded: state and notifications only'
        : rule
          ? null
          : 'not in the rule files loaded',
  };
}

async function ruleCurve(
  store: ObjectStore,
  rule: CompiledRule,
  options: { readonly nowMs: number; readonly hours: number },
): Promise<Pick<RuleDetail, 'minutes' | 'series' | 'threshold'>> {
  const [{ readRollupWindow }, { windowView }, { parseExpr }] = await Promise.all([
    import('../../functions/evaluate/rollup-reader.ts'),
    import('../../functions/evaluate/evaluate.ts'),
    import('../../functions/shared/rules/expr-parser.ts'),
  ]);
  // The current minute too, still filling: the evaluator waits for it to complete, people want to see it coming.
  const last = Math.floor(options.nowMs / MINUTE_MS);
  const first = last - Math.round(options.hours * 60) + 1;
  const windowMinutes = Math.max(1, Math.ceil(rule.windowMs / MINUTE_MS));
  const window = await readRollupWindow(store, {
    fromMinute: first - windowMinutes + 1,
    toMinute: last,
    measureIds: rule.measureIds,
  });
  const minutes: number[] = [];
  const series = new Map<string, RuleSeries>();
  const cache = new Map();
  for (let m = first; m <= last; m++) {
    const i = minutes.length;
    minutes.push(m * MINUTE_MS);
    for (const sample of rule.evaluate(windowView(window, m, { known_groups: {} }, cache))) {
      const key = JSON.stringify(Object.entries(sample.labels).sort());
      let s = series.get(key);
      if (s === undefined) {
        s = { labels: sample.labels, values: [] };
        series.set(key, s);
      }
      s.values[i] = sample.value;
    }
  }
  for (const s of series.values()) for (let i = 0; i < minutes.length; i++) s.values[i] ??= null;
  const parsed = parseExpr(rule.expr);
  const threshold =
    parsed.ok && parsed.expr.type !== 'absent' ? { cmp: parsed.expr.cmp, value: parsed.expr.threshold } : null;
  return { minutes, series: [...series.values()], threshold };
}

type OutboxEntry = Awaited<ReturnType<typeof import('../../functions/notify/redrive.ts').listOutbox>>[number];

async function readOutbox(store: ObjectStore): Promise<OutboxEntry[]> {
  const { listOutbox } = await import('../../functions/notify/redrive.ts');
  return listOutbox(store, { all: true });
}

/** Firing from a `firing` transition's start to the `resolved` one of the same fingerprint (or now). */
function firingPeriods(entries: readonly OutboxEntry[], alerts: readonly ListedAlert[]): FiringPeriod[] {
  const open = new Map<string, FiringPeriod>();
  const out: FiringPeriod[] = [];
  const ordered = entries
    .map((e) => e.transition)
    .filter((t): t is AlertTransition => t !== undefined)
    .sort((a, b) => a.seq - b.seq);
  for (const t of ordered) {
    if (t.status === 'firing')
      open.set(t.fingerprint, { labels: t.labels, fromMs: Date.parse(t.starts_at), toMs: null });
    else {
      const began = open.get(t.fingerprint);
      open.delete(t.fingerprint);
      out.push({
        labels: t.labels,
        fromMs: began?.fromMs ?? Date.parse(t.starts_at),
        toMs: Date.parse(t.ends_at ?? t.evaluated_at),
      });
    }
  }
  for (const a of alerts)
    if (a.state === 'firing' && a.fired_at !== undefined && !open.has(a.fingerprint))
      open.set(a.fingerprint, { labels: a.labels, fromMs: Date.parse(a.fired_at), toMs: null });
  return [...out, ...open.values()];
}

function notificationView(e: OutboxEntry): NotificationView {
  const deliveries = Object.entries(e.deliveries).map(([endpoint, d]) => ({
    endpoint,
    status: d.status,
    attempts: d.attempts,
    lastError: d.last_error ?? null,
  }));
  return {
    key: e.key,
    status: e.transition?.status ?? 'unknown',
    evaluatedAt: e.transition?.evaluated_at ?? null,
    labels: e.transition?.labels ?? {},
    deliveries,
    dead: deliveries.some((d) => d.status === 'dead'),
  };
}
