import { SpanStatusCode, trace } from '@opentelemetry/api';
import type { AlertGroupState } from '../../schemas/alert-state.ts';
import { describeError } from '../../schemas/errors.ts';
import type { Aggregate, ShardMark } from '../../schemas/measures.ts';
import type { IncompleteMinute, LaggingShard } from '../../schemas/watermarks.ts';
import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/logger.ts';
import { mapLimit } from '../core/map-limit.ts';
import { emfDocument, type MetricWriter } from '../core/metrics.ts';
import type { ObjectStore } from '../core/object-store.ts';
import { minuteLabel } from '../shared/rollup.ts';
import { renderAnnotations } from '../shared/rules/annotations.ts';
import type { WindowView } from '../shared/rules/compile-rules.ts';
import { lastCompleteMinute, lastFinalMinute, MINUTE_MS, mergeMark, mergeMarks } from '../shared/watermark.ts';
import { type Annotate, pruneRetired, type StateRule, type StateSample, stepRule } from './alert-state.ts';
import { EVALUATE_METRICS } from './metrics.ts';
import {
  compactRollupMinute,
  ROLLUP_COMPACTION_GRACE_MS,
  type RollupWindow,
  readRollupWindow,
} from './rollup-reader.ts';
import { probeShard, readProgress, type ShardProgress, type StreamShard, writeProgress } from './shard-progress.ts';
import { readGroupState, updateGroupState } from './state-store.ts';

/** At most this many missed minutes are evaluated in one run; older ones are skipped (a clock jump, an outage). */
export const MAX_CATCH_UP_MINUTES = 15;
/** Groups worked on at once (each is a GET, a conditional PUT and its outbox writes). */
const GROUP_CONCURRENCY = 8;
/** Known groups of `absent` measures not seen for this long are forgotten: a service gone for an hour stops alerting. */
export const KNOWN_GROUP_RETENTION_MINUTES = 60;

/** What the evaluator needs of a compiled rule (H1's `CompiledRule` fits). */
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

export interface EvaluatorRuleSet {
  readonly rules: readonly EvaluatorRule[];
}

export interface EvaluateOptions {
  /**
   * Allowed lateness L (ms), the same as ingest's (SKEIN_ALLOWED_LATENESS_SECONDS): minute M is complete once every
   * shard is ingested past `end(M) + L`. The lateness recorded in the rollups read is used when it is larger.
   */
  readonly latenessMs: number;
  /** A minute a stalled shard holds back is evaluated anyway this long after `end(M) + L` (visible: logged, counted). */
  readonly maxWaitMs: number;
  /** Catch-up bound; {@link MAX_CATCH_UP_MINUTES} by default. */
  readonly maxCatchUpMinutes?: number;
}

export interface EvaluateDeps {
  readonly store: ObjectStore;
  readonly rules: EvaluatorRuleSet;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly config: EvaluateOptions;
  /**
   * The stream, asked about shards whose watermark (from the rollups) is behind: an idle shard has no invocation and
   * so no rollup. Without it (offline, unit tests), the shards are those the rollups and the progress object name.
   */
  readonly progress?: ShardProgress;
  /** Where EMF metric lines go (stdout in Lambda); none when absent. */
  readonly metrics?: MetricWriter;
}

export interface EvaluationSummary {
  /** The last minute (epoch minutes) this run evaluated up to: the last complete one, or one whose wait ran out. */
  readonly minute: number;
  /** The last minute every shard is ingested past (end + allowed lateness); may be ahead of `minute`. */
  readonly completeMinute: number | null;
  /** Minutes evaluated before every shard was past them (their maximum wait ran out), with the shards missing. */
  readonly incompleteMinutes: readonly IncompleteMinute[];
  /** Shards whose progress was asked of the stream (their rollups showed them behind). */
  readonly shardsProbed: number;
  /** Group-minutes evaluated (a group evaluating 3 missed minutes counts 3). */
  readonly minutesEvaluated: number;
  /** Group-minutes skipped because they were more than the catch-up bound behind. */
  readonly minutesSkipped: number;
  readonly groups: number;
  readonly rules: number;
  /** Series the rules produced, summed over rules and minutes evaluated (each a state-machine step). */
  readonly seriesEvaluated: number;
  /** Rule-minutes not evaluated because some rollup of the window predates the rule (it has no data there yet). */
  readonly rulesWaiting: number;
  /** Alert series held in state (pending, firing, recently resolved) after the run. */
  readonly series: number;
  /** Transitions committed by this run. */
  readonly transitions: number;
  /** Outbox entries created by this run (including flushes of earlier runs' transitions). */
  readonly outboxWritten: number;
  /** Conditional state writes lost to another evaluator (each retried). */
  readonly conflicts: number;
  readonly objectsRead: number;
  /** Rollup arrival minutes compacted into a new generation by this run. */
  readonly minutesCompacted: number;
  readonly durationMs: number;
  /**
   * Where the time went: fetching and parsing rollups, merging them over each (measure, window), evaluating rules
   * and stepping states, writing state and outbox, compacting.
   */
  readonly timings: {
    readonly readMs: number;
    readonly mergeMs: number;
    readonly evaluateMs: number;
    readonly writeMs: number;
    readonly compactMs: number;
  };
}

const tracer = trace.getTracer('skein-evaluate');

/**
 * One evaluator run (D15). The minutes due are those whose end plus the allowed lateness has passed; of those, each
 * rule group evaluates, in order, every minute after its `last_evaluated_minute` that is complete — every shard
 * ingested past the minute's end + lateness, by the watermarks the rollups carry, the progress object, and (for
 * shards behind) the stream itself — or whose maximum wait ran out (then logged, counted and recorded for `skein
 * alerts`). At most {@link MAX_CATCH_UP_MINUTES} are evaluated (older ones are skipped and logged). State and
 * transitions are committed with the conditional-write protocol of `updateGroupState`, then the rollup minutes that
 * can no longer change are compacted. A clock that went backwards evaluates nothing (it only flushes). Rollups are
 * read once per run for the union of all windows.
 */
export function evaluateOnce(deps: EvaluateDeps): Promise<EvaluationSummary> {
  return tracer.startActiveSpan('skein.evaluate', async (span) => {
    try {
      const summary = await run(deps);
      span.setAttributes({
        'skein.evaluate.minute': summary.minute,
        'skein.evaluate.minutes_evaluated': summary.minutesEvaluated,
        'skein.evaluate.rules': summary.rules,
        'skein.evaluate.series': summary.series,
        'skein.evaluate.transitions': summary.transitions,
        'skein.evaluate.objects_read': summary.objectsRead,
      });
      deps.logger.info('evaluation finished', { ...summary });
      return summary;
    } catch (error) {
      span.recordException(error instanceof Error ? error : new Error(String(error)));
      span.setStatus({ code: SpanStatusCode.ERROR, message: describeError(error) });
      deps.logger.error('evaluation failed', { error: describeError(error) });
      throw error;
    } finally {
      span.end();
    }
  });
}

async function run(deps: EvaluateDeps): Promise<EvaluationSummary> {
  const started = performance.now();
  const { store, logger, config } = deps;
  const maxCatchUp = config.maxCatchUpMinutes ?? MAX_CATCH_UP_MINUTES;
  const now = deps.clock();
  // The newest minute whose end + lateness has passed: nothing later can be complete yet.
  const due = lastFinalMinute(now, config.latenessMs);

  const byGroup = new Map<string, EvaluatorRule[]>();
  for (const rule of deps.rules.rules) {
    const list = byGroup.get(rule.group);
    if (list === undefined) byGroup.set(rule.group, [rule]);
    else list.push(rule);
  }
  const [groups, progressRead] = await Promise.all([
    mapLimit([...byGroup], GROUP_CONCURRENCY, async ([name, rules]) => ({
      name,
      rules,
      first: await readGroupState(store, name),
    })),
    readProgress(store),
  ]);
  // What the groups would evaluate if every due minute were complete: the rollups read cover that.
  const wanted = groups.map((g) => ({ ...g, ...plannedMinutes(g.first.state.last_evaluated_minute, due, maxCatchUp) }));
  // A new group starts at the minute this run evaluates up to: at the earliest, the one whose maximum wait ran out.
  const forcedEarliest = lastFinalMinute(now - config.maxWaitMs, config.latenessMs);
  let earliest = due + 1;
  let longestWindow = 1;
  for (const p of wanted) {
    if (p.minutes.length === 0) continue;
    const first = p.first.state.last_evaluated_minute === null ? Math.min(due, forcedEarliest) : (p.minutes[0] ?? due);
    earliest = Math.min(earliest, first);
    for (const r of p.rules) longestWindow = Math.max(longestWindow, windowMinutes(r.windowMs));
  }
  const readStarted = performance.now();
  const measureIds = [
    ...new Set(wanted.flatMap((p) => (p.minutes.length > 0 ? p.rules.flatMap((r) => r.measureIds) : []))),
  ];
  const fromMinute = earliest - longestWindow + 1;
  let window = earliest <= due ? await readRollupWindow(store, { fromMinute, toMinute: due, measureIds }) : undefined;
  let readMs = performance.now() - readStarted;

  // Which due minutes are complete: every shard's watermark past end(M) + L (D15).
  const completeness =
    window === undefined
      ? undefined
      : await completeMinutes(deps, window, progressRead.progress.shards, fromMinute, due, now);
  const minute =
    completeness === undefined ? due : Math.min(due, Math.max(completeness.complete, completeness.forcedTo));
  const plans = groups.map((g) => ({
    ...g,
    ...plannedMinutes(g.first.state.last_evaluated_minute, minute, maxCatchUp),
  }));
  // A new group evaluating a minute before the window read (a larger lateness recorded in the rollups than
  // configured): read again, from there.
  const firstPlanned = Math.min(...plans.flatMap((p) => p.minutes.slice(0, 1)));
  if (window !== undefined && firstPlanned - longestWindow + 1 < fromMinute) {
    const again = performance.now();
    window = await readRollupWindow(store, { fromMinute: firstPlanned - longestWindow + 1, toMinute: due, measureIds });
    readMs += performance.now() - again;
  }
  const read = window;
  const minutesSkipped = plans.reduce((n, p) => n + p.skipped, 0);
  for (const p of plans) {
    if (p.skipped > 0)
      logger.warn('evaluation minutes skipped: more than the catch-up bound behind', {
        group: p.name,
        skipped: p.skipped,
        last_evaluated_minute: p.first.state.last_evaluated_minute,
        minute,
      });
  }
  // Minutes some group evaluates now although a shard is not past them: their wait ran out.
  const incompleteMinutes: IncompleteMinute[] = [];
  if (completeness !== undefined) {
    const evaluatedNow = new Set(plans.flatMap((p) => p.minutes));
    for (const m of [...evaluatedNow].sort((a, b) => a - b)) {
      if (m <= completeness.complete) continue;
      const shards = completeness.lagging(m);
      incompleteMinutes.push({ minute: m, evaluated_at_ms: now, shards });
      logger.warn('minute evaluated before every shard was ingested past it: its maximum wait ran out', {
        minute: m,
        minute_label: minuteLabel(m),
        shards: shards.map((x) => ({ shard_id: x.shard_id, behind_ms: x.behind_ms })),
      });
    }
    if (deps.metrics)
      deps.metrics(
        emfDocument(now, {}, {}, [
          { name: EVALUATE_METRICS.incompleteMinutes, unit: 'Count', value: incompleteMinutes.length },
          { name: EVALUATE_METRICS.shardsBehind, unit: 'Count', value: completeness.behind },
        ]),
      );
    if (completeness.proven.size > 0 || incompleteMinutes.length > 0) {
      try {
        await writeProgress(store, progressRead, completeness.proven, incompleteMinutes);
      } catch (error) {
        // The progress object saves probes and shows stalls; the evaluation itself is committed below regardless.
        logger.error('writing the evaluation progress failed', { error: describeError(error) });
      }
    }
  }

  let evaluateMs = 0;
  let minutesEvaluated = 0;
  let transitions = 0;
  let outboxWritten = 0;
  let conflicts = 0;
  let series = 0;
  let samples = 0;
  let rulesWaiting = 0;
  const cache = new Map<string, ReadonlyMap<string, Aggregate>>();
  const mergeTime = { ms: 0 };
  const writeStarted = performance.now();
  await mapLimit(plans, GROUP_CONCURRENCY, async (plan) => {
    let evaluated = 0;
    const counts = { samples: 0, incomplete: 0 };
    const result = await updateGroupState(
      store,
      plan.name,
      minute,
      (state) => {
        const t0 = performance.now();
        counts.samples = 0;
        counts.incomplete = 0;
        evaluated =
          read === undefined ? 0 : advanceGroup(state, plan.rules, read, minute, maxCatchUp, cache, counts, mergeTime);
        evaluateMs += performance.now() - t0;
        return state;
      },
      plan.first,
    );
    if (result.advanced) {
      minutesEvaluated += evaluated;
      samples += counts.samples;
      rulesWaiting += counts.incomplete;
    }
    transitions += result.committed.length;
    outboxWritten += result.written;
    conflicts += result.conflicts;
    for (const rule of Object.values(result.state.rules)) series += Object.keys(rule).length;
  });
  const writeMs = performance.now() - writeStarted - evaluateMs;

  // Compact the arrival minutes that closed with the minutes evaluated now (nothing can land in them any more), and
  // revisit those compacted a grace period ago: the objects a generation covers are deleted on that second call.
  const compactStarted = performance.now();
  let minutesCompacted = 0;
  if (window !== undefined && minutesEvaluated > 0) {
    // An arrival partition p is closed once every shard is past end(p) (no batch can start in it any more); two
    // minutes more leave room for a retried batch rewriting its own key.
    const complete = completeness?.complete ?? minute;
    const closedTo = Math.min(minute, complete) - 2;
    const closedFrom = Math.max(earliest - 2, closedTo - maxCatchUp + 1);
    const revisit = Math.ceil(ROLLUP_COMPACTION_GRACE_MS / MINUTE_MS) + 1;
    const minutes = new Set<number>();
    for (let m = closedFrom; m <= closedTo; m++) minutes.add(m).add(m - revisit);
    for (const m of [...minutes].sort((a, b) => a - b)) {
      try {
        const result = await compactRollupMinute(store, m, deps.clock);
        if (result.written) minutesCompacted++;
      } catch (error) {
        // Compaction only saves reads: a minute left uncompacted is still read correctly, from its batch objects.
        logger.error('rollup compaction failed', { minute: m, error: describeError(error) });
      }
    }
  }
  const compactMs = performance.now() - compactStarted;

  const complete = completeness?.complete;
  return {
    minute,
    completeMinute: complete === undefined || !Number.isFinite(complete) ? null : complete,
    incompleteMinutes,
    shardsProbed: completeness?.probed ?? 0,
    minutesEvaluated,
    minutesSkipped,
    groups: plans.length,
    rules: deps.rules.rules.length,
    seriesEvaluated: samples,
    rulesWaiting,
    series,
    transitions,
    outboxWritten,
    conflicts,
    objectsRead: window?.objectsRead ?? 0,
    minutesCompacted,
    durationMs: Math.round(performance.now() - started),
    timings: {
      readMs: round(readMs),
      mergeMs: round(mergeTime.ms),
      evaluateMs: round(evaluateMs - mergeTime.ms),
      writeMs: round(writeMs),
      compactMs: round(compactMs),
    },
  };
}

/** Which due minutes are complete, and what holds the others back. */
interface Completeness {
  /** The last minute every shard is past (±Infinity: no shards / a shard never seen). */
  readonly complete: number;
  /** The last minute whose maximum wait has run out. */
  readonly forcedTo: number;
  /** Marks proven by reading the stream this run (saved in the progress object). */
  readonly proven: ReadonlyMap<string, ShardMark>;
  /** Shards asked of the stream. */
  readonly probed: number;
  /** Shards not past the last due minute after the probes. */
  readonly behind: number;
  /** The shards not past minute `m`, and how far behind the clock their watermark is. */
  lagging(m: number): LaggingShard[];
}

/**
 * The completeness of the due minutes: the watermarks of the rollups read and of the progress object; then, for each
 * shard not past the last due minute, what the stream says follows its last processed record. The allowed lateness
 * is the configured one, or the largest the rollups read were written with.
 */
async function completeMinutes(
  deps: EvaluateDeps,
  window: RollupWindow,
  progressShards: Readonly<Record<string, ShardMark>>,
  fromMinute: number,
  due: number,
  now: number,
): Promise<Completeness> {
  const latenessMs = Math.max(deps.config.latenessMs, window.latenessMs ?? 0);
  const marks = new Map(window.marks);
  mergeMarks(marks, progressShards);
  const proven = new Map<string, ShardMark>();
  let probed = 0;
  let shards: string[];
  if (deps.progress === undefined) shards = [...marks.keys()];
  else {
    const port = deps.progress;
    let listed: readonly StreamShard[];
    try {
      listed = await port.listShards();
    } catch (error) {
      // The stream cannot be asked (throttled, permissions): the shards the rollups name decide, as offline.
      deps.logger.warn('listing the stream shards failed', { error: describeError(error) });
      listed = [...marks.keys()].map((shardId) => ({ shardId, closed: false }));
    }
    shards = listed.map((s) => s.shardId);
    const behind = listed.filter((s) => {
      const mark = marks.get(s.shardId);
      return mark === undefined || lastFinalMinute(mark.arrival_ms, latenessMs) < due;
    });
    probed = behind.length;
    await mapLimit(behind, GROUP_CONCURRENCY, async (shard) => {
      try {
        const result = await probeShard(port, shard, marks.get(shard.shardId), fromMinute * MINUTE_MS, now);
        if (result.proven) {
          mergeMark(marks, shard.shardId, result.mark);
          if (marks.get(shard.shardId) === result.mark) proven.set(shard.shardId, result.mark);
        }
      } catch (error) {
        // The stream could not be read (throttled, a trimmed position): the shard stays behind this run.
        deps.logger.warn('reading shard progress from the stream failed', {
          shard_id: shard.shardId,
          error: describeError(error),
        });
      }
    });
  }
  const complete = lastCompleteMinute(shards, marks, latenessMs);
  const forcedTo = lastFinalMinute(now - deps.config.maxWaitMs, latenessMs);
  const behind = shards.filter((id) => {
    const mark = marks.get(id);
    return mark === undefined || lastFinalMinute(mark.arrival_ms, latenessMs) < due;
  }).length;
  return {
    complete,
    forcedTo,
    proven,
    probed,
    behind,
    lagging(m) {
      const out: LaggingShard[] = [];
      for (const id of [...shards].sort()) {
        const mark = marks.get(id);
        if (mark !== undefined && lastFinalMinute(mark.arrival_ms, latenessMs) >= m) continue;
        out.push({ shard_id: id, behind_ms: mark === undefined ? null : Math.max(0, now - mark.arrival_ms) });
      }
      return out;
    },
  };
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

/**
 * Evaluates the group's rules for every planned minute (from the state it is given, which may be newer than the
 * one planned from) and records the transitions in `unflushed`. Returns the number of minutes evaluated.
 */
function advanceGroup(
  state: AlertGroupState,
  rules: readonly EvaluatorRule[],
  window: RollupWindow,
  minute: number,
  maxCatchUp: number,
  cache: Map<string, ReadonlyMap<string, Aggregate>>,
  counts: { samples: number; incomplete: number },
  mergeTime: { ms: number },
): number {
  const { minutes } = plannedMinutes(state.last_evaluated_minute, minute, maxCatchUp);
  const absentMeasures = new Set<string>();
  for (const r of rules) if (r.absent) for (const id of r.measureIds) absentMeasures.add(id);
  const annotators = rules.map(
    (rule): Annotate =>
      (labels, value) =>
        renderAnnotations(rule, { labels, value }),
  );
  for (const m of minutes) {
    trackKnownGroups(state, absentMeasures, window, m);
    const view = windowView(window, m, state, cache, mergeTime);
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

/** Records the groups of `absent` measures with data at minute `m`, and forgets those unseen for an hour. */
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
    for (const [key, agg] of window.aggregate(id, m, m)) if (agg.n > 0) known[key] = m;
    for (const [key, seen] of Object.entries(known)) if (m - seen >= KNOWN_GROUP_RETENTION_MINUTES) delete known[key];
  }
  for (const id of Object.keys(state.known_groups)) if (!measures.has(id)) delete state.known_groups[id];
}

/**
 * The rules' view of minute `m`: each (measure, window) merged once per `cache` (one per run, shared by every group),
 * whatever the number of rules reading it.
 */
export function windowView(
  window: RollupWindow,
  m: number,
  state: Pick<AlertGroupState, 'known_groups'>,
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
  };
}

function windowMinutes(ms: number): number {
  return Math.max(1, Math.ceil(ms / MINUTE_MS));
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
