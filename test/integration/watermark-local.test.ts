import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_NOTIFY_CONFIG } from '../../cli/local-up-command.ts';
import { rulesTestCommand } from '../../cli/rules-test-command.ts';
import { memoryLogger } from '../../functions/core/logger.ts';
import type { ObjectStore } from '../../functions/core/object-store.ts';
import { readOutbox } from '../../functions/evaluate/rule-tests.ts';
import { kinesisShardProgress, readProgress } from '../../functions/evaluate/shard-progress.ts';
import { readGroupState } from '../../functions/evaluate/state-store.ts';
import { loadCompiledRules } from '../../functions/shared/rules/load-compiled-rules.ts';
import { DEFAULT_MAX_WAIT_MS, MINUTE_MS, minuteDeadlineMs } from '../../functions/shared/watermark.ts';
import { type LocalAlerting, startLocalAlerting } from '../../local/alerting.ts';
import type { LocalStack } from '../../local/stack.ts';
import type { AlertTransition } from '../../schemas/alerts.ts';
import { captureIo } from '../builders/cli-io.ts';
import { type CountingStack, startCountingStack } from '../support/counting-stack.ts';

/** A small allowed lateness keeps the test short: each minute is complete 15 s after it ends. */
const LATENESS_MS = 15_000;
/** Minutes of data: the heartbeat arrives in the first two, then stops; the consumer lag is high in the middle two. */
const HEARTBEAT = [true, true, false, false] as const;
const LAG = [10, 5_000, 5_000, 10] as const;
/** When each minute's records are pushed after it ends (a batching producer: 0–10 s). */
const PUSH_AFTER_MS = [2_000, 8_000, 3_000, 5_000] as const;

const RULES = `groups:
  - name: raft
    rules:
      - name: RaftLeaderHeartbeatMissing
        expr: absent(logs{body="raft leader heartbeat"}) [1m]
        labels: { severity: critical }
  - name: lag
    rules:
      - name: ConsumerLagHigh
        expr: max(attr.consumer_lag, logs) [1m] > 1000
        for: 1m
        labels: { severity: warning }
`;

/** The reference evaluation of the same data: a `[1m]` threshold with `for: 1m` fires after two minutes above it. */
function referenceLagTransitions(d0: number): string[] {
  const out: string[] = [];
  let firing = false;
  for (let i = 0; i < LAG.length; i++) {
    const above = (LAG[i] ?? 0) > 1000;
    if (!firing && above && i > 0 && (LAG[i - 1] ?? 0) > 1000) {
      firing = true;
      out.push(`ConsumerLagHigh firing ${minuteText(d0 + i)}`);
    } else if (firing && !above) {
      firing = false;
      out.push(`ConsumerLagHigh resolved ${minuteText(d0 + i)}`);
    }
  }
  return out;
}

function minuteText(minute: number): string {
  return new Date(minute * MINUTE_MS).toISOString().slice(0, 16).replace('T', ' ');
}

function describe_(t: AlertTransition): string {
  return `${t.labels.alertname} ${t.status} ${t.evaluated_at.slice(0, 16).replace('T', ' ')}`;
}

/** One JSON log line per record, dated inside minute `minute`; partition keys spread them over both shards. */
function minuteRecords(minute: number, i: number): { PartitionKey: string; Data: Uint8Array }[] {
  const lines: object[] = [];
  const at = (s: number) => new Date(minute * MINUTE_MS + s * 1_000).toISOString();
  if (HEARTBEAT[i]) lines.push({ ts: at(20), level: 'info', msg: 'raft leader heartbeat', service: 'raft' });
  for (let k = 0; k < 6; k++)
    lines.push({ ts: at(5 + k * 8), level: 'info', msg: 'consumer poll', service: 'orders', consumer_lag: LAG[i] });
  return lines.map((line, k) => ({
    PartitionKey: `key-${minute}-${k}`,
    Data: new TextEncoder().encode(JSON.stringify(line)),
  }));
}

/** Resolves when `condition` holds, checking every 250 ms (state is polled, never slept on). */
async function until(condition: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

describe('the evaluator on the local stack evaluates complete minutes, once, on a watermark (real timing)', () => {
  let dir: string;
  let stack: LocalStack;
  let kinesis: KinesisClient;
  let store: ObjectStore;
  let alerting: LocalAlerting | undefined;
  let rulesFile: string;
  let running: CountingStack | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'skein-watermark-'));
    rulesFile = join(dir, 'rules.yaml');
    await writeFile(rulesFile, RULES);
    const rules = await loadCompiledRules(rulesFile);
    running = await startCountingStack(
      { dir, shards: 2, pollIntervalMs: 100, maximumBatchingWindowMs: 1_000, batchSize: 500, retryBackoffMs: 0 },
      { measures: rules.measures, latenessMs: LATENESS_MS },
    );
    ({ stack, kinesis, store } = running);
  });

  afterAll(async () => {
    await alerting?.stop();
    await running?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it(
    'stays quiet while the heartbeat arrives, fires once when it stops, and agrees with the reference and --data',
    async () => {
      // Prepare: minute d0 is the one now filling; each minute's records are pushed 2–8 s after it ends.
      const d0 = Math.floor(Date.now() / MINUTE_MS);
      const rules = await loadCompiledRules(rulesFile);
      const notifyText = await readFile(DEFAULT_NOTIFY_CONFIG, 'utf8');
      let sent = 0;
      const push = async (i: number) => {
        const pushAt = (d0 + i + 1) * MINUTE_MS + (PUSH_AFTER_MS[i] ?? 0);
        await until(async () => Date.now() >= pushAt, `the push time of minute ${i}`, 2 * MINUTE_MS);
        const records = minuteRecords(d0 + i, i);
        const out = await kinesis.send(new PutRecordsCommand({ StreamName: stack.endpoints.stream, Records: records }));
        expect(out.FailedRecordCount ?? 0).toBe(0);
        sent += records.length;
      };

      // Act: minute d0 is pushed and ingested, then the evaluator starts (every 2 s) once d0 is due: its first
      // minute is d0, so the absent rule is never evaluated before the heartbeat began.
      await push(0);
      await until(async () => (running?.ingested() ?? 0) >= sent, 'minute 0 ingested', MINUTE_MS);
      await until(async () => Date.now() >= minuteDeadlineMs(d0, LATENESS_MS) + 1_500, 'minute 0 due', MINUTE_MS);
      alerting = await startLocalAlerting({
        dir,
        store,
        rules,
        notifyConfig: { text: notifyText, source: 'notify.local.yaml' },
        logger: memoryLogger(),
        evaluateEveryMs: 2_000,
        latenessMs: LATENESS_MS,
        maxWaitMs: DEFAULT_MAX_WAIT_MS,
        notifyEveryMs: 60_000,
        alertmanager: 'off',
        progress: kinesisShardProgress(kinesis, stack.endpoints.stream, { atTimestamp: false }),
      });
      const evaluatedThrough = async (minute: number) => {
        const [raft, lag] = await Promise.all([readGroupState(store, 'raft'), readGroupState(store, 'lag')]);
        return (raft.state.last_evaluated_minute ?? -1) >= minute && (lag.state.last_evaluated_minute ?? -1) >= minute;
      };
      const seenBefore: string[][] = [];
      for (let i = 1; i < HEARTBEAT.length; i++) {
        await push(i);
        await until(() => evaluatedThrough(d0 + i), `minute ${i} evaluated`, MINUTE_MS);
        seenBefore.push((await readOutbox(store)).map(describe_));
      }
      await alerting.stop();
      const live = (await readOutbox(store)).map(describe_);
      const progress = (await readProgress(store)).progress;

      // Assess: the heartbeat rule was quiet while the heartbeat arrived (d0, d1) and fired once, at d2, when it stopped
      expect(seenBefore[0]?.filter((t) => t.startsWith('RaftLeaderHeartbeatMissing'))).toEqual([]);
      expect(live.filter((t) => t.startsWith('RaftLeaderHeartbeatMissing'))).toEqual([
        `RaftLeaderHeartbeatMissing firing ${minuteText(d0 + 2)}`,
      ]);
      // …the threshold rule fired and resolved at exactly the minutes the reference evaluation predicts
      expect(live.filter((t) => t.startsWith('ConsumerLagHigh'))).toEqual(referenceLagTransitions(d0));
      // …every minute was evaluated complete (no maximum wait ran out)
      expect(progress.incomplete).toEqual([]);
      expect(running?.ingested()).toBe(sent);

      // Act: `skein rules test --data` over the rollups the stack captured (its s3rver folder)
      const io = captureIo();
      const code = await rulesTestCommand([rulesFile, '--data', dir], io);

      // Assess: the same transitions at the same minutes
      expect(code).toBe(0);
      const printed = io
        .out()
        .split('\n')
        .flatMap((line) => {
          const m = /^(\d{4}-\d\d-\d\d \d\d:\d\d)\s+(FIRING|RESOLVED)\s+(\w+)/.exec(line);
          return m ? [`${m[3]} ${m[2]?.toLowerCase()} ${m[1]}`] : [];
        });
      expect(printed.sort()).toEqual([...live].sort());
    },
    6 * MINUTE_MS,
  );
});
