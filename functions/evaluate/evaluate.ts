import { describeError } from '../../schemas/errors.ts';
import type { Aggregate, ShardMark } from '../../schemas/measures.ts';
import type { IncompleteMinute, LaggingShard } from '../../schemas/watermarks.ts';
import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/logger.ts';
import { mapLimit } from '../core/map-limit.ts';
import { emfDocument, type MetricWriter } from '../core/metrics.ts';
import type { ObjectStore } from '../core/object-store.ts';
import { minuteLabel } from '../shared/rollup.ts';
import { lastCompleteMinute, lastFinalMinute, MINUTE_MS, mergeMark, mergeMarks } from '../shared/watermark.ts';
import { advanceGroup, type EvaluatorRule, plannedMinutes, windowMinutes } from './advance-group.ts';
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

export type { EvaluatorRule } from './advance-group.ts';
export { KNOWN_GROUP_RETENTION_MINUTES, plannedMinutes, windowView } from './advance-group.ts';

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
export async function evaluateOnce(deps: EvaluateDeps): Promise<EvaluationSummary> {
  try {
    const summary = await run(deps);
    deps.logger.info('evaluation finished', { ...summary });
    return summary;
  } catch (error) {
    deps.logger.error('evaluation failed', { error: describeError(error) });
    throw error;
  }
}

/** A rule group as read at the start of a run. */
interface GroupRead {
  readonly name: string;
  readonly rules: EvaluatorRule[];
  readonly first: Awaited<ReturnType<typeof readGroupState>>;
}

/** A rule group and the minutes it evaluates this run. */
interface GroupPlan extends GroupRead {
  readonly minutes: number[];
  readonly skipped: number;
}

/** The rollups a run reads: the union of its groups' windows. */
interface WindowRead {
  readonly window: RollupWindow | undefined;
  readonly earliest: number;
  readonly fromMinute: number;
  readonly longestWindow: number;
  readonly measureIds: readonly string[];
  readonly readMs: number;
}

/** What advancing every group committed. */
interface AdvanceTotals {
  minutesEvaluated: number;
  transitions: number;
  outboxWritten: number;
  conflicts: number;
  series: number;
  samples: number;
  rulesWaiting: number;
  evaluateMs: number;
  writeMs: number;
  readonly mergeTime: { ms: number };
}

async function run(deps: EvaluateDeps): Promise<EvaluationSummary> {
  const started = performance.now();
  const maxCatchUp = deps.config.maxCatchUpMinutes ?? MAX_CATCH_UP_MINUTES;
  const now = deps.clock();
  // The newest minute whose end + lateness has passed: nothing later can be complete yet.
  const due = lastFinalMinute(now, deps.config.latenessMs);
  const [groups, progressRead] = await Promise.all([readGroups(deps), readProgress(deps.store)]);
  const read = await readWindow(deps, groups, due, now, maxCatchUp);

  // Which due minutes are complete: every shard's watermark past end(M) + L (D15).
  const completeness =
    read.window === undefined
      ? undefined
      : await completeMinutes(deps, read.window, progressRead.progress.shards, read.fromMinute, due, now);
  const minute =
    completeness === undefined ? due : Math.min(due, Math.max(completeness.complete, completeness.forcedTo));
  const plans = groups.map((g) => ({
    ...g,
    ...plannedMinutes(g.first.state.last_evaluated_minute, minute, maxCatchUp),
  }));
  const { window, readMs } = await rereadForNewGroups(deps.store, read, plans, due);
  const minutesSkipped = reportSkipped(deps.logger, plans, minute);
  const incompleteMinutes =
    completeness === undefined ? [] : await reportIncomplete(deps, completeness, plans, progressRead, now);

  const totals = await advanceGroups(deps.store, plans, window, minute, maxCatchUp);

  const compactStarted = performance.now();
  const minutesCompacted =
    window !== undefined && totals.minutesEvaluated > 0
      ? await compactClosedMinutes(deps, minute, completeness?.complete ?? minute, read.earliest, maxCatchUp)
      : 0;
  const compactMs = performance.now() - compactStarted;

  const complete = completeness?.complete;
  return {
    minute,
    completeMinute: complete === undefined || !Number.isFinite(complete) ? null : complete,
    incompleteMinutes,
    shardsProbed: completeness?.probed ?? 0,
    minutesEvaluated: totals.minutesEvaluated,
    minutesSkipped,
    groups: plans.length,
    rules: deps.rules.rules.length,
    seriesEvaluated: totals.samples,
    rulesWaiting: totals.rulesWaiting,
    series: totals.series,
    transitions: totals.transitions,
    outboxWritten: totals.outboxWritten,
    conflicts: totals.conflicts,
    objectsRead: window?.objectsRead ?? 0,
    minutesCompacted,
    durationMs: Math.round(performance.now() - started),
    timings: {
      readMs: round(readMs),
      mergeMs: round(totals.mergeTime.ms),
      evaluateMs: round(totals.evaluateMs - totals.mergeTime.ms),
      writeMs: round(totals.writeMs),
      compactMs: round(compactMs),
    },
  };
}

/** The rules by group, each with its state as stored now. */
function readGroups(deps: EvaluateDeps): Promise<GroupRead[]> {
  const byGroup = new Map<string, EvaluatorRule[]>();
  for (const rule of deps.rules.rules) {
    const list = byGroup.get(rule.group);
    if (list === undefined) byGroup.set(rule.group, [rule]);
    else list.push(rule);
  }
  return mapLimit([...byGroup], GROUP_CONCURRENCY, async ([name, rules]) => ({
    name,
    rules,
    first: await readGroupState(deps.store, name),
  }));
}

/**
 * Reads the rollups the groups would need if every due minute were complete: from the earliest minute a group may
 * evaluate (a new group: at the earliest, the one whose maximum wait ran out), less the longest window. Nothing is
 * read when no group has a minute to evaluate.
 */
async function readWindow(
  deps: EvaluateDeps,
  groups: readonly GroupRead[],
  due: number,
  now: number,
  maxCatchUp: number,
): Promise<WindowRead> {
  const { config } = deps;
  const wanted = groups.map((g) => ({ ...g, ...plannedMinutes(g.first.state.last_evaluated_minute, due, maxCatchUp) }));
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
  const window =
    earliest <= due ? await readRollupWindow(deps.store, { fromMinute, toMinute: due, measureIds }) : undefined;
  return { window, earliest, fromMinute, longestWindow, measureIds, readMs: performance.now() - readStarted };
}

/**
 * A new group evaluating a minute before the window read (a larger lateness recorded in the rollups than
 * configured): reads again, from there.
 */
async function rereadForNewGroups(
  store: ObjectStore,
  read: WindowRead,
  plans: readonly GroupPlan[],
  due: number,
): Promise<{ window: RollupWindow | undefined; readMs: number }> {
  const firstPlanned = Math.min(...plans.flatMap((p) => p.minutes.slice(0, 1)));
  if (read.window === undefined || firstPlanned - read.longestWindow + 1 >= read.fromMinute) {
    return { window: read.window, readMs: read.readMs };
  }
  const again = performance.now();
  const window = await readRollupWindow(store, {
    fromMinute: firstPlanned - read.longestWindow + 1,
    toMinute: due,
    measureIds: read.measureIds,
  });
  return { window, readMs: read.readMs + performance.now() - again };
}

/** Logs the groups more than the catch-up bound behind; returns the group-minutes skipped. */
function reportSkipped(logger: Logger, plans: readonly GroupPlan[], minute: number): number {
  for (const p of plans) {
    if (p.skipped > 0)
      logger.warn('evaluation minutes skipped: more than the catch-up bound behind', {
        group: p.name,
        skipped: p.skipped,
        last_evaluated_minute: p.first.state.last_evaluated_minute,
        minute,
      });
  }
  return plans.reduce((n, p) => n + p.skipped, 0);
}

/**
 * The minutes some group evaluates now although a shard is not past them (their wait ran out): logged, counted in
 * the metrics and recorded in the progress object with the probes proven this run.
 */
async function reportIncomplete(
  deps: EvaluateDeps,
  completeness: Completeness,
  plans: readonly GroupPlan[],
  progressRead: Awaited<ReturnType<typeof readProgress>>,
  now: number,
): Promise<IncompleteMinute[]> {
  const { logger } = deps;
  const incompleteMinutes: IncompleteMinute[] = [];
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
      await writeProgress(deps.store, progressRead, completeness.proven, incompleteMinutes);
    } catch (error) {
      // The progress object saves probes and shows stalls; the evaluation itself is committed below regardless.
      logger.error('writing the evaluation progress failed', { error: describeError(error) });
    }
  }
  return incompleteMinutes;
}

/** Evaluates and commits every group's planned minutes (conditional writes, `updateGroupState`). */
async function advanceGroups(
  store: ObjectStore,
  plans: readonly GroupPlan[],
  window: RollupWindow | undefined,
  minute: number,
  maxCatchUp: number,
): Promise<AdvanceTotals> {
  const totals: AdvanceTotals = {
    minutesEvaluated: 0,
    transitions: 0,
    outboxWritten: 0,
    conflicts: 0,
    series: 0,
    samples: 0,
    rulesWaiting: 0,
    evaluateMs: 0,
    writeMs: 0,
    mergeTime: { ms: 0 },
  };
  const cache = new Map<string, ReadonlyMap<string, Aggregate>>();
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
          window === undefined
            ? 0
            : advanceGroup({
                state,
                rules: plan.rules,
                window,
                minute,
                maxCatchUp,
                cache,
                counts,
                mergeTime: totals.mergeTime,
              });
        totals.evaluateMs += performance.now() - t0;
        return state;
      },
      plan.first,
    );
    if (result.advanced) {
      totals.minutesEvaluated += evaluated;
      totals.samples += counts.samples;
      totals.rulesWaiting += counts.incomplete;
    }
    totals.transitions += result.committed.length;
    totals.outboxWritten += result.written;
    totals.conflicts += result.conflicts;
    for (const rule of Object.values(result.state.rules)) totals.series += Object.keys(rule).length;
  });
  totals.writeMs = performance.now() - writeStarted - totals.evaluateMs;
  return totals;
}

/**
 * Compacts the arrival minutes that closed with the minutes evaluated now (nothing can land in them any more), and
 * revisits those compacted a grace period ago: the objects a generation covers are deleted on that second call.
 * Returns the minutes compacted into a new generation.
 */
async function compactClosedMinutes(
  deps: EvaluateDeps,
  minute: number,
  complete: number,
  earliest: number,
  maxCatchUp: number,
): Promise<number> {
  // An arrival partition p is closed once every shard is past end(p) (no batch can start in it any more); two
  // minutes more leave room for a retried batch rewriting its own key.
  const closedTo = Math.min(minute, complete) - 2;
  const closedFrom = Math.max(earliest - 2, closedTo - maxCatchUp + 1);
  const revisit = Math.ceil(ROLLUP_COMPACTION_GRACE_MS / MINUTE_MS) + 1;
  const minutes = new Set<number>();
  for (let m = closedFrom; m <= closedTo; m++) minutes.add(m).add(m - revisit);
  let compacted = 0;
  for (const m of [...minutes].sort((a, b) => a - b)) {
    try {
      const result = await compactRollupMinute(deps.store, m, deps.clock);
      if (result.written) compacted++;
    } catch (error) {
      // Compaction only saves reads: a minute left uncompacted is still read correctly, from its batch objects.
      deps.logger.error('rollup compaction failed', { minute: m, error: describeError(error) });
    }
  }
  return compacted;
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

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
