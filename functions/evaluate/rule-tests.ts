import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { type AlertTransition, AlertTransition as AlertTransitionSchema, OUTBOX_PREFIX } from '../../schemas/alerts.ts';
import { describeError, describeIssue } from '../../schemas/errors.ts';
import type { ShardMark } from '../../schemas/measures.ts';
import { type ExpectedAlert, type RuleTestCase, RuleTestFile } from '../../schemas/rule-tests.ts';
import { EVALUATION_PROGRESS_KEY, type EvaluationProgress, type IncompleteMinute } from '../../schemas/watermarks.ts';
import { memoryLogger } from '../core/logger.ts';
import { memoryObjectStore, type ObjectStore } from '../core/object-store.ts';
import { computeRollup, decodeRollup, encodeRollup, ROLLUP_CONTENT_TYPE, rollupObjectKey } from '../shared/rollup.ts';
import { type CompiledRuleSet, compileRules } from '../shared/rules/compile-rules.ts';
import { loadRuleFiles } from '../shared/rules/load-rules.ts';
import {
  DEFAULT_ALLOWED_LATENESS_MS,
  DEFAULT_MAX_WAIT_MS,
  lastCompleteMinute,
  marksRecord,
  mergeMarks,
  minuteDeadlineMs,
} from '../shared/watermark.ts';
import { evaluateOnce } from './evaluate.ts';
import { formatIncompleteMinute } from './incomplete.ts';
import { parseProgress, type ShardProgress } from './shard-progress.ts';
import { expandTestSeries, RuleTestInputError, rowsForMinute } from './synthetic-rows.ts';

/**
 * The rule test runner behind `skein rules test` (like `promtool test rules`): each case's series become synthetic
 * rows per minute, the real `computeRollup` turns each minute's rows into a rollup object in a memory store, and the
 * real `evaluateOnce` runs minute by minute on a fake clock; the outbox it writes is compared with the alerts the
 * case expects.
 */

const MINUTE_MS = 60_000;
const DEFAULT_START = '2024-01-01T00:00:00Z';
/** The shard synthetic batches arrive on. */
const SYNTHETIC_SHARD = 'shardId-000000000000';
/** Seconds after a minute's end + lateness at which the fake clock evaluates it (past the probe's clock margin). */
const EVALUATE_AFTER_MS = 2_000;
const MAX_ROWS_PER_CASE = 5_000_000;
/** Where ingest's per-minute rollup partitions are (the progress object beside them is read on its own). */
const ROLLUP_PREFIX = 'rollups/minute=';

/** One expected alert compared with what the evaluator wrote. */
export interface AlertCheck {
  readonly alert: string;
  readonly passed: boolean;
  readonly expected: string;
  readonly observed: string;
}

export interface RuleTestCaseResult {
  readonly name: string;
  readonly passed: boolean;
  readonly checks: readonly AlertCheck[];
  /** Alerts of a name the case expects that fired for labels no expectation matches. */
  readonly unexpected: readonly string[];
  /** The case could not run (bad input); it counts as failed. */
  readonly error?: string;
}

export interface RuleTestFileResult {
  readonly file: string;
  readonly passed: boolean;
  readonly cases: readonly RuleTestCaseResult[];
  /** The file could not be read, parsed, or its rule files loaded. */
  readonly error?: string;
}

/** Reads a rule test file, loads the rule files it names (relative to it), and runs every case. */
export async function runRuleTestFile(path: string): Promise<RuleTestFileResult> {
  const fail = (error: string): RuleTestFileResult => ({ file: path, passed: false, cases: [], error });
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    return fail(`cannot read: ${describeError(error)}`);
  }
  let json: unknown;
  try {
    json = parseYaml(text);
  } catch (error) {
    return fail(`not valid YAML: ${describeError(error)}`);
  }
  const parsed = RuleTestFile.safeParse(json);
  if (!parsed.success) return fail(`not a rule test file: ${describeIssue(parsed.error)}`);
  const base = dirname(path);
  const loaded = await loadRuleFiles(parsed.data.rule_files.map((f) => resolve(base, f)));
  if (!loaded.ok)
    return fail(
      `rule files are invalid: ${loaded.errors.map((e) => `${e.file}:${e.line}:${e.column} ${e.message}`).join('; ')}`,
    );
  const rules = compileRules(loaded.groups);
  const cases: RuleTestCaseResult[] = [];
  for (const testCase of parsed.data.tests) cases.push(await runRuleTestCase(rules, testCase));
  return { file: path, passed: cases.every((c) => c.passed), cases };
}

/** Runs one case against compiled rules: synthetic rows → real rollups → real evaluator → outbox → comparison. */
export async function runRuleTestCase(rules: CompiledRuleSet, testCase: RuleTestCase): Promise<RuleTestCaseResult> {
  let outbox: AlertTransition[];
  let startMinute: number;
  try {
    const series = testCase.series.map(expandTestSeries);
    const startMs = Date.parse(testCase.start ?? DEFAULT_START);
    if (startMs % MINUTE_MS !== 0) throw new RuleTestInputError(`start ${testCase.start} is not a whole minute`);
    startMinute = startMs / MINUTE_MS;
    const minutes = testCase.minutes ?? Math.max(...series.map((s) => s.rows.length));
    let total = 0;
    for (const s of series) for (let i = 0; i < minutes; i++) total += s.rows[i] ?? 0;
    if (total > MAX_ROWS_PER_CASE)
      throw new RuleTestInputError(`${total} rows: a case may generate at most ${MAX_ROWS_PER_CASE}`);

    const store = memoryObjectStore();
    let now = 0;
    // Each minute's rows arrive in one batch before the minute ends, and the stream holds nothing else: every minute
    // is complete once its end + lateness has passed, and is evaluated then.
    const progress = drainedStream([SYNTHETIC_SHARD]);
    for (let i = 0; i < minutes; i++) {
      const { logs, spans } = rowsForMinute(series, i, startMs);
      const arrivalMs = startMs + i * MINUTE_MS + 59_000;
      const sequenceNumber = String(1_000_000 + i);
      if (logs.length + spans.length > 0) {
        const rollup = computeRollup(logs, spans, rules.measures, arrivalMs, {
          latenessMs: DEFAULT_ALLOWED_LATENESS_MS,
          shard: { shardId: SYNTHETIC_SHARD, mark: { arrival_ms: arrivalMs, sequence_number: sequenceNumber } },
        });
        const key = rollupObjectKey({
          shardId: SYNTHETIC_SHARD,
          firstSequenceNumber: sequenceNumber,
          firstArrivalMs: arrivalMs,
        });
        await store.put(key, encodeRollup(rollup), ROLLUP_CONTENT_TYPE);
      }
      now = minuteDeadlineMs(startMs / MINUTE_MS + i, DEFAULT_ALLOWED_LATENESS_MS) + EVALUATE_AFTER_MS;
      await evaluateOnce({
        store,
        rules,
        clock: () => now,
        logger: memoryLogger(),
        config: { latenessMs: DEFAULT_ALLOWED_LATENESS_MS, maxWaitMs: DEFAULT_MAX_WAIT_MS },
        progress,
      });
    }
    outbox = await readOutbox(store);
  } catch (error) {
    const message = error instanceof RuleTestInputError ? error.message : describeError(error);
    return { name: testCase.name, passed: false, checks: [], unexpected: [], error: message };
  }
  return compareAlerts(testCase.name, testCase.alerts, outbox, startMinute);
}

/** Every transition in the outbox of `store`, in key order (time, fingerprint, seq). */
export async function readOutbox(store: ObjectStore): Promise<AlertTransition[]> {
  const out: AlertTransition[] = [];
  for (const key of await store.list(OUTBOX_PREFIX)) {
    const bytes = await store.get(key);
    if (bytes === undefined) continue;
    out.push(AlertTransitionSchema.parse(JSON.parse(new TextDecoder().decode(bytes))));
  }
  return out;
}

/** Minutes of a `7m` / `1h30m` / bare number offset. */
export function offsetMinutes(offset: number | string): number {
  if (typeof offset === 'number') return offset;
  const m = /^(?:(\d+)h)?(?:(\d+)m)?$/.exec(offset);
  return m === null ? Number.NaN : Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0);
}

function minuteOf(iso: string, startMinute: number): number {
  return Math.floor(Date.parse(iso) / MINUTE_MS) - startMinute;
}

/** The expected alerts against the transitions seen (minutes relative to the case start). */
export function compareAlerts(
  name: string,
  expected: readonly ExpectedAlert[],
  outbox: readonly AlertTransition[],
  startMinute: number,
): RuleTestCaseResult {
  const matchedFingerprints = new Set<string>();
  const checks: AlertCheck[] = [];
  for (const e of expected) {
    const matched = outbox.filter((t) => matches(t, e));
    for (const t of matched) matchedFingerprints.add(t.fingerprint);
    const fires = matched.filter((t) => t.status === 'firing').map((t) => minuteOf(t.evaluated_at, startMinute));
    const resolves = matched.filter((t) => t.status === 'resolved').map((t) => minuteOf(t.evaluated_at, startMinute));
    const series = new Set(matched.map((t) => t.fingerprint)).size;
    const observed = describeObserved(fires, resolves, series);
    const alert = `${e.alertname}${formatLabels(e.labels)}`;
    if (e.never === true) {
      checks.push({ alert, passed: fires.length === 0, expected: 'never fires', observed });
      continue;
    }
    const fireAt = offsetMinutes(e.fires_at ?? Number.NaN);
    const resolveAt = e.resolves_at === undefined ? undefined : offsetMinutes(e.resolves_at);
    const passed =
      series <= 1 &&
      fires.length === 1 &&
      fires[0] === fireAt &&
      (resolveAt === undefined ? resolves.length === 0 : resolves.length === 1 && resolves[0] === resolveAt);
    const expectedText = `fires ${fireAt}m, ${resolveAt === undefined ? 'does not resolve' : `resolves ${resolveAt}m`}`;
    checks.push({ alert, passed, expected: expectedText, observed });
  }
  const names = new Set(expected.map((e) => e.alertname));
  const unexpected: string[] = [];
  const reported = new Set<string>();
  for (const t of outbox) {
    if (t.status !== 'firing' || !names.has(t.labels.alertname ?? '') || matchedFingerprints.has(t.fingerprint))
      continue;
    if (reported.has(t.fingerprint)) continue;
    reported.add(t.fingerprint);
    const { alertname = t.rule, ...labels } = t.labels;
    unexpected.push(`${alertname}${formatLabels(labels)} fired at ${minuteOf(t.evaluated_at, startMinute)}m`);
  }
  return { name, passed: checks.every((c) => c.passed) && unexpected.length === 0, checks, unexpected };
}

function matches(t: AlertTransition, e: ExpectedAlert): boolean {
  if (t.labels.alertname !== e.alertname) return false;
  for (const [k, v] of Object.entries(e.labels)) if (t.labels[k] !== v) return false;
  return true;
}

function describeObserved(fires: readonly number[], resolves: readonly number[], series: number): string {
  if (fires.length === 0) return resolves.length === 0 ? 'never fired' : `resolved ${minutesList(resolves)}`;
  const text = `fired ${minutesList(fires)}, ${resolves.length === 0 ? 'did not resolve' : `resolved ${minutesList(resolves)}`}`;
  return series > 1 ? `${text} (${series} series match these labels: give more labels)` : text;
}

function minutesList(minutes: readonly number[]): string {
  return minutes.map((m) => `${m}m`).join(' ');
}

function formatLabels(labels: Readonly<Record<string, string>>): string {
  const entries = Object.entries(labels);
  return entries.length === 0 ? '' : `{${entries.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')}}`;
}

/** A readable report: PASS/FAIL per case with the minutes expected and seen, and a total line. */
export function formatRuleTestReport(results: readonly RuleTestFileResult[]): string {
  const lines: string[] = [];
  let passed = 0;
  let failed = 0;
  for (const file of results) {
    lines.push(file.file);
    if (file.error !== undefined) {
      lines.push(`  FAIL  ${file.error}`);
      failed++;
      continue;
    }
    for (const c of file.cases) {
      if (c.passed) passed++;
      else failed++;
      lines.push(`  ${c.passed ? 'PASS' : 'FAIL'}  ${c.name}`);
      if (c.error !== undefined) lines.push(`          ${c.error}`);
      for (const check of c.checks)
        lines.push(
          `        ${check.passed ? ' ' : '✗'} ${check.alert}: expected ${check.expected}; saw ${check.observed}`,
        );
      for (const u of c.unexpected) lines.push(`        ✗ unexpected: ${u}`);
    }
  }
  lines.push('', `${passed + failed} cases: ${passed} passed, ${failed} failed`);
  return `${lines.join('\n')}\n`;
}

/** What evaluating rules over captured rollups (`--data`) found. */
export interface DataRunResult {
  /** Minutes evaluated (epoch minutes): from the first captured minute to the last complete one. */
  readonly fromMinute: number;
  readonly toMinute: number;
  readonly objects: number;
  readonly transitions: readonly AlertTransition[];
  /** Rules none of whose captured rollups computed all their measures: they saw no data. */
  readonly rulesWithoutData: readonly string[];
  /** Minutes the live evaluator evaluated before every shard was past them (from the captured progress object). */
  readonly incomplete: readonly IncompleteMinute[];
}

/** At most a week of captured minutes is replayed (10,080 evaluations). */
const MAX_DATA_MINUTES = 7 * 24 * 60;

/**
 * Evaluates `rules` over the rollups captured under `rollups/` of `source` (e.g. the local stack's s3rver files) in a
 * memory copy (the source is never written), the way the live evaluator does (D15): the real `evaluateOnce`, minute
 * by minute on a fake clock, deciding completeness from the same watermarks — those of the captured rollups and of
 * the captured progress object (what the live evaluator proved from the stream). It evaluates from the first captured
 * minute to the last minute every captured shard is past, so over the same data it makes the same transitions at the
 * same minutes as the live evaluator (a minute live evaluated incomplete excepted: those are reported).
 */
export async function evaluateCapturedRollups(rules: CompiledRuleSet, source: ObjectStore): Promise<DataRunResult> {
  const store = memoryObjectStore();
  let fromMinute = Number.POSITIVE_INFINITY;
  let toMinute = Number.NEGATIVE_INFINITY;
  let latenessMs: number | undefined;
  const measuresSeen = new Set<string>();
  const marks = new Map<string, ShardMark>();
  const keys = (await source.list(ROLLUP_PREFIX)).filter((k) => k.endsWith('.json'));
  for (const key of keys) {
    const bytes = await source.get(key);
    if (bytes === undefined) continue;
    const rollup = decodeRollup(bytes, key);
    for (const m of Object.keys(rollup.minutes)) {
      const minute = Number(m);
      if (minute < fromMinute) fromMinute = minute;
      if (minute > toMinute) toMinute = minute;
    }
    for (const id of rollup.measures) measuresSeen.add(id);
    mergeMarks(marks, rollup.shards);
    if (rollup.lateness_ms !== undefined) latenessMs = Math.max(latenessMs ?? 0, rollup.lateness_ms);
    await store.put(key, bytes, ROLLUP_CONTENT_TYPE);
  }
  const progressBytes = await source.get(EVALUATION_PROGRESS_KEY);
  const progress = progressBytes === undefined ? undefined : parseProgress(progressBytes);
  mergeMarks(marks, progress?.shards);
  // The capture is what there is: every shard is as far as its last watermark. The evaluator reads them all from the
  // progress object (not only those of the partitions each run reads), so no idle stretch holds a minute back.
  const captured: EvaluationProgress = { version: 1, shards: marksRecord(marks), incomplete: [] };
  await store.put(EVALUATION_PROGRESS_KEY, new TextEncoder().encode(JSON.stringify(captured)), 'application/json');
  const rulesWithoutData = rules.rules
    .filter((r) => r.measureIds.some((id) => !measuresSeen.has(id)))
    .map((r) => `${r.group}/${r.name}`);
  const incomplete = progress?.incomplete ?? [];
  if (!Number.isFinite(fromMinute))
    return { fromMinute: 0, toMinute: -1, objects: 0, transitions: [], rulesWithoutData, incomplete };
  const lateness = latenessMs ?? DEFAULT_ALLOWED_LATENESS_MS;
  // The same decision as the evaluator's: the last minute every shard seen is past. Captures from before D15 carry
  // no watermark: their minutes are all taken as complete, as they were then.
  const complete = lastCompleteMinute(marks.keys(), marks, lateness);
  if (Number.isFinite(complete)) toMinute = complete;
  fromMinute = Math.max(fromMinute, toMinute - MAX_DATA_MINUTES + 1);
  let now = 0;
  for (let m = fromMinute; m <= toMinute; m++) {
    now = minuteDeadlineMs(m, lateness);
    await evaluateOnce({
      store,
      rules,
      clock: () => now,
      logger: memoryLogger(),
      config: { latenessMs: lateness, maxWaitMs: DEFAULT_MAX_WAIT_MS },
    });
  }
  return {
    fromMinute,
    toMinute,
    objects: keys.length,
    transitions: await readOutbox(store),
    rulesWithoutData,
    incomplete,
  };
}

/**
 * A stream with nothing unprocessed on `shardIds` (what synthetic rule tests feed the evaluator): every probe finds
 * the shard idle.
 */
export function drainedStream(shardIds: readonly string[]): ShardProgress {
  return {
    listShards: async () => shardIds.map((shardId) => ({ shardId, closed: false })),
    iterator: async () => undefined,
    read: async () => ({ records: [], nextIterator: undefined, millisBehindLatest: 0 }),
  };
}

/** `<time>  FIRING|RESOLVED  alert{labels}  value` per transition, then a summary. */
export function formatDataReport(result: DataRunResult, where: string): string {
  if (result.objects === 0) return `no rollups in ${where}: start the local stack and send data first\n`;
  const iso = (m: number) => new Date(m * MINUTE_MS).toISOString().slice(0, 16).replace('T', ' ');
  const lines = [
    `${result.objects} rollup objects in ${where}, minutes ${iso(result.fromMinute)} – ${iso(result.toMinute)} UTC`,
  ];
  for (const r of result.rulesWithoutData)
    lines.push(`  note: ${r} saw no data: its measures were not rolled up when this data was captured`);
  for (const i of result.incomplete)
    lines.push(`  note: ${formatIncompleteMinute(i)} live; it may differ here, where every shard is complete`);
  for (const t of result.transitions) {
    const { alertname = t.rule, ...labels } = t.labels;
    const value = t.value === null ? 'no data' : String(Number(t.value.toPrecision(6)));
    lines.push(
      `${t.evaluated_at.slice(0, 16).replace('T', ' ')}  ${t.status.toUpperCase().padEnd(8)}  ${alertname}${formatLabels(labels)}  ${value}`,
    );
  }
  const fired = result.transitions.filter((t) => t.status === 'firing').length;
  lines.push(`${fired} firing, ${result.transitions.length - fired} resolved`);
  return `${lines.join('\n')}\n`;
}
