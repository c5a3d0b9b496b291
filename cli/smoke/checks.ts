import { randomBytes, randomUUID } from 'node:crypto';
import { heartbeatKey, readHeartbeat } from '../../functions/core/heartbeat.ts';
import {
  ALERT_STATE_PREFIX,
  DeliveryRecord,
  DONE_NAME,
  doneKey,
  NOTIFY_PREFIX,
  outboxStem,
  TERMINAL,
} from '../../functions/notify/delivery-store.ts';
import { AlertTransition, outboxKey } from '../../schemas/alerts.ts';
import { describeError } from '../../schemas/errors.ts';
import { pushRecords } from '../put-records.ts';
import { buildProbes, PROBE_FAMILIES, type ProbeFamily, type ProbeSet, probeFamilyOf } from './probes.ts';
import type { IngestHealth, LookupOutcome, LookupRequest, SmokeTarget } from './target.ts';

export type CheckStatus = 'pass' | 'fail' | 'skip';

/** One line of the report. */
export interface CheckResult {
  readonly name: string;
  readonly status: CheckStatus;
  readonly ms: number;
  /** What was seen (pass) or what is wrong (fail, skip). */
  readonly detail: string;
  /** What to do about a failure. */
  readonly hint?: string;
}

/** The bound the lookups must stay within, and where it comes from (for the report line). */
export interface ScanBound {
  readonly bytes: number;
  readonly basis: string;
}

export interface SmokeOptions {
  readonly scanBound: ScanBound;
  /** Send a test notification through the notifier (`--notify`). */
  readonly notify: boolean;
  /** Bound of each poll; the target's default when absent. */
  readonly waitMs?: number;
  /** Highest acceptable iterator age. */
  readonly maxIteratorAgeMs?: number;
  readonly clock?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Each result as soon as it is known (the CLI prints it). */
  readonly onResult?: (result: CheckResult) => void;
}

/** Ingest lag worth a look: Lambda's default alarm guidance is minutes; a healthy stream reads within seconds. */
export const MAX_ITERATOR_AGE_MS = 60_000;

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs every check against `target`, in order: probes in, lookups (index and time range, trace and request) with
 * their bytes scanned, each probe row exactly once, conditional writes, the scheduled functions' last runs, ingest
 * lag, failed batches, and with `notify` a test notification through the real notifier. Returns every result; the
 * run fails when any result is `fail` (a `skip` follows from an earlier failure and says which).
 */
export async function runSmoke(target: SmokeTarget, options: SmokeOptions): Promise<CheckResult[]> {
  const clock = options.clock ?? Date.now;
  const sleep = options.sleep ?? defaultSleep;
  const waitMs = options.waitMs ?? target.defaultWaitMs;
  const results: CheckResult[] = [];
  const report = (result: CheckResult) => {
    results.push(result);
    options.onResult?.(result);
  };
  const timed = async (name: string, body: () => Promise<Omit<CheckResult, 'name' | 'ms'>>) => {
    const started = clock();
    let outcome: Omit<CheckResult, 'name' | 'ms'>;
    try {
      outcome = await body();
    } catch (error) {
      outcome = {
        status: 'fail',
        detail: describeError(error),
        hint: 'see the error; run again with the same command',
      };
    }
    const result = { name, ms: clock() - started, ...outcome };
    report(result);
    return result;
  };
  const ctx: CheckContext = { target, clock, sleep, waitMs };

  const probes = await buildProbes(clock());
  const arrived = await timed('probes reach S3 as rows', () => sendProbes(ctx, probes));
  const lookups = lookupCases(probes);
  const seen: { name: string; outcome: LookupOutcome }[] = [];
  for (const lookup of lookups) {
    if (arrived.status !== 'pass') {
      report({ name: lookup.name, status: 'skip', ms: 0, detail: 'no probe rows to look up (see above)' });
      continue;
    }
    await timed(lookup.name, async () => {
      const outcome = await target.lookup(lookup.request);
      seen.push({ name: lookup.name, outcome });
      return judgeLookup(outcome, options.scanBound);
    });
  }
  if (arrived.status === 'pass') await timed('views return each probe row exactly once', async () => judgeOnce(seen));
  else report({ name: 'views return each probe row exactly once', status: 'skip', ms: 0, detail: 'no probe rows' });

  await timed('conditional writes hold on the bucket', () => checkConditionalWrites(target));
  for (const fn of ['compact', 'evaluate'] as const)
    await timed(`${fn === 'compact' ? 'compactor' : 'evaluator'} ran recently`, () => checkMarker(ctx, fn));
  const health = await target.ingestHealth().catch((error: unknown) => error);
  await timed('ingest iterator age is low', async () =>
    judgeIteratorAge(health, options.maxIteratorAgeMs ?? MAX_ITERATOR_AGE_MS),
  );
  await timed('failed-batch queue is empty', async () => judgeFailedBatches(health));
  if (options.notify) for (const result of await checkNotify(ctx)) report(result);
  return results;
}

interface CheckContext {
  readonly target: SmokeTarget;
  readonly clock: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly waitMs: number;
}

type Judged = Omit<CheckResult, 'name' | 'ms'>;

/** Puts the four probes and polls the trace lookup until a row of each family is there, or `waitMs` runs out. */
async function sendProbes(ctx: CheckContext, probes: ProbeSet): Promise<Judged> {
  const { target } = ctx;
  try {
    await pushRecords(probes.records, { stream: target.stream, putRecords: target.putRecords, maxAttempts: 4 });
  } catch (error) {
    return {
      status: 'fail',
      detail: `PutRecords to ${target.stream} failed: ${describeError(error)}`,
      hint:
        target.kind === 'local'
          ? 'is skein local up still running in that folder?'
          : 'check the stream name, the region and that your credentials may kinesis:PutRecords (and use its KMS key)',
    };
  }
  const deadline = ctx.clock() + ctx.waitMs;
  let missing: ProbeFamily[] = [...PROBE_FAMILIES];
  let lastError: string | undefined;
  for (;;) {
    try {
      const { rows } = await target.lookup({ by: 'trace', id: probes.traceId, viaCli: true });
      const found = new Set(rows.map((r) => probeFamilyOf(r.attributes)));
      missing = PROBE_FAMILIES.filter((f) => !found.has(f));
      lastError = undefined;
    } catch (error) {
      lastError = describeError(error);
    }
    if (missing.length === 0 && lastError === undefined)
      return {
        status: 'pass',
        detail: `${PROBE_FAMILIES.length} of ${PROBE_FAMILIES.length} (${PROBE_FAMILIES.join(', ')}), trace ${probes.traceId}`,
      };
    if (ctx.clock() >= deadline) break;
    await ctx.sleep(Math.min(target.pollEveryMs, Math.max(0, deadline - ctx.clock())));
  }
  const waited = `${seconds(ctx.waitMs)}`;
  return {
    status: 'fail',
    detail: lastError
      ? `the lookup failed while waiting ${waited}: ${lastError}`
      : `no row of ${missing.join(', ')} after ${waited} (trace ${probes.traceId})`,
    hint:
      target.kind === 'local'
        ? 'the poller or the ingest function is not running or failing: look at the local stack’s terminal and log; skein quarantine ls --local <dir> shows records ingest refused'
        : `look at the ingest function’s log group (${target.logGroups?.ingest ?? '/aws/lambda/<ingest function>'}) and Errors metric, the failed-batch queue and skein quarantine ls; then docs/runbook.md “skein smoke”`,
  };
}

interface LookupCase {
  readonly name: string;
  readonly request: LookupRequest;
}

/** Trace and request lookups, through the index and with a time range around the probes (one hour each side). */
function lookupCases(probes: ProbeSet): LookupCase[] {
  const range = { since: probes.timeMs - 3_600_000, until: probes.timeMs + 3_600_000 };
  return [
    { name: 'trace query, no time range', request: { by: 'trace', id: probes.traceId } },
    { name: 'trace query, time range', request: { by: 'trace', id: probes.traceId, ...range } },
    { name: 'request query, no time range', request: { by: 'request', id: probes.normalisedRequestId } },
    { name: 'request query, time range', request: { by: 'request', id: probes.normalisedRequestId, ...range } },
  ];
}

function judgeLookup(outcome: LookupOutcome, bound: ScanBound): Judged {
  const families = new Set(outcome.rows.map((r) => probeFamilyOf(r.attributes)));
  const missing = PROBE_FAMILIES.filter((f) => !families.has(f));
  const scanned = `${formatBytes(outcome.bytesScanned)} scanned (bound ${formatBytes(bound.bytes)}: ${bound.basis})`;
  if (missing.length > 0)
    return {
      status: 'fail',
      detail: `found ${PROBE_FAMILIES.length - missing.length} of ${PROBE_FAMILIES.length} probes, missing ${missing.join(', ')}; ${scanned}`,
      hint: 'the views or the index do not see every row: docs/runbook.md “skein smoke”, lookups',
    };
  if (outcome.bytesScanned > bound.bytes)
    return {
      status: 'fail',
      detail: `found all ${PROBE_FAMILIES.length} probes but ${scanned}`,
      hint: 'partition projection is not pruning (the bucket or dt/hour filters are not folded): docs/runbook.md “skein smoke”',
    };
  return { status: 'pass', detail: `${outcome.rows.length} rows, ${scanned}` };
}

/** Every lookup returned each probe family once: no duplicates through the views (compaction, retries, replays). */
function judgeOnce(seen: readonly { name: string; outcome: LookupOutcome }[]): Judged {
  const problems: string[] = [];
  for (const { name, outcome } of seen) {
    const counts = new Map<ProbeFamily, number>();
    for (const r of outcome.rows) {
      const f = probeFamilyOf(r.attributes);
      if (f) counts.set(f, (counts.get(f) ?? 0) + 1);
    }
    const wrong = PROBE_FAMILIES.filter((f) => counts.get(f) !== 1).map((f) => `${f} ×${counts.get(f) ?? 0}`);
    if (wrong.length > 0) problems.push(`${name}: ${wrong.join(', ')}`);
  }
  if (seen.length === 0) return { status: 'skip', detail: 'no lookup answered' };
  if (problems.length > 0)
    return {
      status: 'fail',
      detail: problems.join('; '),
      hint: 'a row seen twice means the views read an object and its replacement: docs/runbook.md “skein smoke”, views',
    };
  return { status: 'pass', detail: `${PROBE_FAMILIES.length} probe rows, once each, in ${seen.length} lookups` };
}

/** Two concurrent `If-None-Match: *` creates of one scratch key: exactly one may win. The key is removed after. */
async function checkConditionalWrites(target: SmokeTarget): Promise<Judged> {
  const key = `status/smoke/${randomUUID()}.scratch`;
  const body = (n: number) => new TextEncoder().encode(`skein smoke scratch ${n}\n`);
  let winners: number;
  try {
    const answers = await Promise.all(
      [1, 2].map((n) => target.store.putIf(key, body(n), 'text/plain', { ifNoneMatch: '*' })),
    );
    winners = answers.filter((etag) => etag !== undefined).length;
  } finally {
    await target.store.delete(key).catch(() => undefined);
  }
  const left = await target.store.get(key);
  if (left !== undefined)
    return {
      status: 'fail',
      detail: `the scratch key ${key} could not be removed`,
      hint: `remove it by hand (aws s3 rm s3://${target.bucket}/${key}) and check s3:DeleteObject`,
    };
  if (winners === 1) return { status: 'pass', detail: 'two concurrent If-None-Match creates: exactly one won' };
  return {
    status: 'fail',
    detail: `two concurrent If-None-Match creates: ${winners} won (exactly 1 must)`,
    hint:
      target.kind === 'local'
        ? 'the local S3 endpoint is not the conditional-write proxy: restart skein local up'
        : 'the bucket does not enforce conditional writes: alert state would lose updates; docs/runbook.md “skein smoke”',
  };
}

async function checkMarker(ctx: CheckContext, fn: 'compact' | 'evaluate'): Promise<Judged> {
  const maxAge = fn === 'compact' ? ctx.target.markerMaxAgeMs.compact : ctx.target.markerMaxAgeMs.evaluate;
  const who = fn === 'compact' ? 'compactor' : 'evaluator';
  const where =
    ctx.target.kind === 'local'
      ? 'look at the local stack’s terminal (is alerting on?)'
      : `look at the ${who}’s log group (${ctx.target.logGroups?.[fn] ?? `/aws/lambda/<${fn} function>`}) and its alarms, and that its EventBridge rule is enabled`;
  const read = await readHeartbeat(ctx.target.store, fn);
  if (!read.ok) return { status: 'fail', detail: read.reason, hint: where };
  if (read.value === undefined)
    return {
      status: 'fail',
      detail: `no last-run marker (${heartbeatKey(fn)}): the ${who} has not finished a run`,
      hint: `it runs on a schedule: wait ${seconds(maxAge)} after deploying and run again; otherwise ${where}`,
    };
  const age = ctx.clock() - Date.parse(read.value.at);
  if (age > maxAge)
    return {
      status: 'fail',
      detail: `last finished ${seconds(age)} ago (more than ${seconds(maxAge)})`,
      hint: where,
    };
  return { status: 'pass', detail: `last finished ${seconds(Math.max(0, age))} ago` };
}

function judgeIteratorAge(health: unknown, maxMs: number): Judged {
  if (!isHealth(health))
    return { status: 'fail', detail: `could not read it: ${describeError(health)}`, hint: 'check your credentials' };
  if (health.reportAgeMs !== undefined && health.reportAgeMs > 30_000)
    return {
      status: 'fail',
      detail: `${health.iteratorSource} last reported ${seconds(health.reportAgeMs)} ago`,
      hint: 'the local stack stopped reporting: is skein local up still running?',
    };
  if (health.iteratorAgeMs === undefined)
    return { status: 'pass', detail: `no data points yet (${health.iteratorSource})` };
  if (health.iteratorAgeMs > maxMs)
    return {
      status: 'fail',
      detail: `${seconds(health.iteratorAgeMs)} behind (more than ${seconds(maxMs)}; ${health.iteratorSource})`,
      hint: 'ingest is falling behind or failing: docs/runbook.md “Ingest is behind”',
    };
  return { status: 'pass', detail: `${seconds(health.iteratorAgeMs)} (${health.iteratorSource})` };
}

function judgeFailedBatches(health: unknown): Judged {
  if (!isHealth(health))
    return { status: 'fail', detail: `could not read it: ${describeError(health)}`, hint: 'check your credentials' };
  if (health.failedBatches === undefined) return { status: 'fail', detail: `unknown (${health.failedSource})` };
  if (health.failedBatches > 0)
    return {
      status: 'fail',
      detail: `${health.failedBatches} failed batch${health.failedBatches === 1 ? '' : 'es'} (${health.failedSource})`,
      hint: 'records were given up on: docs/runbook.md “Failed batches” says how to replay them',
    };
  return { status: 'pass', detail: `0 (${health.failedSource})` };
}

function isHealth(value: unknown): value is IngestHealth {
  return typeof value === 'object' && value !== null && 'iteratorSource' in value && 'failedSource' in value;
}

// --- notifications ---------------------------------------------------------------------------------------------

/**
 * The label set of the test alert: its name says what it is, and `skein_smoke` lets routes and receivers drop it.
 * `service` is new on every run (`skein-smoke-<run>`), so with the usual `group_by: [alertname, service]` each run is
 * a group of its own: a second run within `group_interval` of the first is not held back by it.
 */
export const SMOKE_ALERT_LABELS = {
  alertname: 'SkeinSmokeTest',
  severity: 'critical',
  skein_smoke: 'true',
} as const;

/** How long the resolve is waited for before it is reported as queued. */
const RESOLVE_WAIT_MS = 20_000;

interface DeliverySeen {
  readonly endpoint: string;
  readonly status: string;
  readonly attempts: number;
  readonly lastError: string | undefined;
}

/**
 * Writes a firing test alert to the notifier's outbox (as the evaluator would), waits for each endpoint the routes
 * send it to to answer, then resolves it the same way; one line per endpoint. Then removes its outbox entries and
 * delivery records. Secrets stay with the notifier: this only reads its delivery records, whose errors are redacted.
 */
async function checkNotify(ctx: CheckContext): Promise<CheckResult[]> {
  const { target, clock } = ctx;
  const started = clock();
  const fingerprint = randomBytes(8).toString('hex');
  const transition = (seq: number, status: 'firing' | 'resolved'): AlertTransition => {
    const now = new Date(clock()).toISOString();
    return AlertTransition.parse({
      version: 1,
      fingerprint,
      seq,
      status,
      group: 'skein-smoke',
      rule: SMOKE_ALERT_LABELS.alertname,
      labels: { ...SMOKE_ALERT_LABELS, service: `skein-smoke-${fingerprint.slice(0, 8)}` },
      annotations: {
        summary: 'Skein smoke test: please ignore',
        description: 'Sent by `skein smoke --notify` to check this receiver; it resolves right away.',
      },
      value: null,
      active_at: now,
      starts_at: now,
      ...(status === 'resolved' ? { ends_at: now } : {}),
      evaluated_at: now,
      expr: 'skein smoke --notify',
    });
  };
  const finished: string[] = [];
  let sent = 0;
  const send = async (t: AlertTransition, waitMs: number) => {
    const key = outboxKey(t);
    sent++;
    await target.store.put(key, new TextEncoder().encode(JSON.stringify(t)), 'application/json');
    const { seen, done } = await waitForDeliveries(ctx, key, waitMs);
    // Entries the notifier finished are removed after; one still in flight is left for it to finish.
    if (done) finished.push(key);
    return seen;
  };
  try {
    const firing = await send(transition(1, 'firing'), ctx.waitMs);
    if (firing.length === 0)
      return [
        {
          name: 'notify: test notification',
          status: 'fail',
          ms: clock() - started,
          detail: `the notifier did not pick up the test alert within ${seconds(ctx.waitMs)}`,
          hint:
            target.kind === 'local'
              ? 'is alerting on in the local stack (not --no-alerting)?'
              : 'is the notifier deployed (a notifier configuration, skein:notifyConfig) and its S3 trigger on alerts/outbox/? See its log group',
        },
      ];
    // Resolved whenever a receiver has it firing, so no test alert stays open there. Grouped receivers (PagerDuty,
    // Slack) get a resolve only after the route's group_interval (5 min by default): it is waited for a little, then
    // left queued — the notifier delivers it — and only a resolve that failed counts against the receiver.
    const anyFired = firing.some((d) => d.status === 'delivered');
    const resolved = anyFired ? await send(transition(2, 'resolved'), Math.min(ctx.waitMs, RESOLVE_WAIT_MS)) : [];
    return firing.map((d) => {
      const r = resolved.find((x) => x.endpoint === d.endpoint);
      const resolveFailed = r !== undefined && isTerminal(r.status) && r.status !== 'delivered';
      const ok = d.status === 'delivered' && !resolveFailed;
      const what = (x: DeliverySeen, label: string) =>
        `${label} ${x.status}${x.status === 'delivered' ? '' : ` after ${x.attempts} attempt${x.attempts === 1 ? '' : 's'}${x.lastError ? `: ${x.lastError}` : ''}`}`;
      const resolveText = !anyFired
        ? 'resolve not sent (no receiver had it firing)'
        : r === undefined || !isTerminal(r.status)
          ? 'resolve queued (the notifier sends it after the route’s group_interval)'
          : what(r, 'resolve');
      return {
        name: `notify: ${d.endpoint}`,
        status: ok ? 'pass' : 'fail',
        ms: clock() - started,
        detail: `${what(d, 'firing')}, ${resolveText}`,
        ...(ok
          ? {}
          : {
              hint: `the receiver did not accept it: check its URL and secret (docs/notifications.md) and skein outbox ls; docs/runbook.md “skein smoke”, notifications`,
            }),
      } satisfies CheckResult;
    });
  } finally {
    await removeTestAlert(target, finished, finished.length === sent ? fingerprint : undefined);
  }
}

/** Polls the delivery records of one outbox entry until every endpoint is terminal or the wait runs out. */
async function waitForDeliveries(
  ctx: CheckContext,
  key: string,
  waitMs: number,
): Promise<{ seen: DeliverySeen[]; done: boolean }> {
  const stem = outboxStem(key);
  const deadline = ctx.clock() + waitMs;
  let seen: DeliverySeen[] = [];
  for (;;) {
    const keys = (await ctx.target.store.list(`${NOTIFY_PREFIX}${stem}/`)).filter(
      (k) => !k.endsWith(`/${DONE_NAME}.json`),
    );
    seen = [];
    for (const k of keys) {
      const body = await ctx.target.store.get(k);
      if (body === undefined) continue;
      seen.push(parseDelivery(k, body));
    }
    const done = await ctx.target.store.get(doneKey(stem));
    if (done !== undefined || ctx.clock() >= deadline) return { seen, done: done !== undefined };
    await ctx.sleep(Math.min(ctx.target.pollEveryMs, Math.max(0, deadline - ctx.clock())));
  }
}

function isTerminal(status: string): boolean {
  return [...TERMINAL].some((t) => t === status);
}

function parseDelivery(key: string, body: Uint8Array): DeliverySeen {
  const endpoint = key.slice(key.lastIndexOf('/') + 1, -'.json'.length);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(body));
  } catch {
    return { endpoint, status: 'unreadable', attempts: 0, lastError: undefined };
  }
  const parsed = DeliveryRecord.safeParse(json);
  if (!parsed.success) return { endpoint, status: 'unreadable', attempts: 0, lastError: undefined };
  const { status, attempts, last_error } = parsed.data;
  return { endpoint: parsed.data.endpoint, status, attempts, lastError: last_error };
}

/** Removes what the test alert left: outbox entries first (so the notifier stops looking), then its records. */
async function removeTestAlert(target: SmokeTarget, outboxKeys: readonly string[], fingerprint: string | undefined) {
  for (const key of outboxKeys) await target.store.delete(key).catch(() => undefined);
  for (const key of outboxKeys) {
    const stem = outboxStem(key);
    const records = await target.store.list(`${NOTIFY_PREFIX}${stem}/`).catch(() => []);
    for (const record of records) await target.store.delete(record).catch(() => undefined);
  }
  // The notifier's state of the alert goes only once every entry of it is finished.
  if (fingerprint !== undefined)
    await target.store.delete(`${ALERT_STATE_PREFIX}${fingerprint}.json`).catch(() => undefined);
}

// --- formatting --------------------------------------------------------------------------------------------------

export function seconds(ms: number): string {
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`;
  return `${Math.round(ms / 60_000)} min`;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 * 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
  return `${(bytes / (1024 * 1024 * 1024)).toFixed(2)} GiB`;
}
