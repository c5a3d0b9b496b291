import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { type KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertsCommand } from '../../cli/alerts-command.ts';
import { quarantineCommand } from '../../cli/quarantine-command.ts';
import { createLogger } from '../../functions/core/logger.ts';
import type { ObjectStore } from '../../functions/core/object-store.ts';
import { evaluateOnce } from '../../functions/evaluate/evaluate.ts';
import { kinesisShardProgress } from '../../functions/evaluate/shard-progress.ts';
import type { CompiledRuleSet } from '../../functions/shared/rules/compile-rules.ts';
import { loadCompiledRules } from '../../functions/shared/rules/load-compiled-rules.ts';
import { DEFAULT_MAX_WAIT_MS, MAX_ALLOWED_LATENESS_MS, minuteDeadlineMs } from '../../functions/shared/watermark.ts';
import { type LocalAlerting, startLocalAlerting } from '../../local/alerting.ts';
import { findAlertmanager, SETUP_HINT } from '../../local/alertmanager.ts';
import type { LocalStack } from '../../local/stack.ts';
import { captureIo } from '../builders/cli-io.ts';
import { aSecretfulBatch } from '../builders/secret-payloads.ts';
import { aLogLine } from '../builders/telemetry.ts';
import { type CountingStack, startCountingStack } from '../support/counting-stack.ts';
import { aNamedSecret, aValueSecret, findSecrets } from '../support/secrets.ts';

const MINUTE_MS = 60_000;
/** The data is sent two minutes after its minute: with the largest allowed lateness it counts in its own minute. */
const LATENESS_MS = MAX_ALLOWED_LATENESS_MS;
const NOTIFICATION_TIMEOUT_MS = 30_000;

/** A rule whose labels and annotations come from the data: the user and the message of error logs. */
const RULES = `groups:
  - name: leaky
    rules:
      - name: ErrorsByUser
        expr: count(logs{severity>="error"}) by (service, attr.user, body) [1m] > 0
        labels:
          severity: critical
        annotations:
          summary: "{{ $labels.attr_user }} failed: {{ $labels.body }}"
`;

/** Every file under `dir`, recursively, with its path. */
/**
 * The stream's own storage, as Kinesis keeps a producer's records (encrypted at rest, for the retention): what the
 * producer sent, byte for byte, before Skein reads it — so not something Skein writes, and the one place not scanned.
 */
const STREAM_STORAGE = 'kinesis';

async function filesUnder(dir: string): Promise<{ path: string; body: Buffer }[]> {
  const out: { path: string; body: Buffer }[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    if (path.startsWith(join(dir, STREAM_STORAGE) + sep)) continue;
    out.push({ path, body: await readFile(path) });
  }
  return out;
}

/**
 * "No secret anywhere" on the real local parts (decision D17): secrets planted in good and bad records of every
 * format go through kinesalite, the poller and the ingest function into s3rver, an alert fires with labels and
 * annotations drawn from those records, and the notifier delivers it to the real Alertmanager and the PagerDuty and
 * Slack sinks. No file under the state folder, no notification and no log or printed line holds a secret.
 */
describe('no secret anywhere on the local stack', () => {
  const [planted] = fc.sample(
    fc.record({
      value: fc.array(aValueSecret, { minLength: 6, maxLength: 6 }),
      named: fc.array(aNamedSecret, { minLength: 3, maxLength: 3 }),
    }),
    { numRuns: 1, seed: 20_261_203 },
  );
  if (planted === undefined) throw new Error('no secrets sampled');
  const needles = [...planted.value, ...planted.named].map((s) => s.needle);
  const logLines: string[] = [];
  const logger = createLogger({ service: 'local', level: 'debug', write: (l) => logLines.push(l) });
  let dir = '';
  let stack: LocalStack | undefined;
  let alerting: LocalAlerting | undefined;
  let kinesis: KinesisClient | undefined;
  let running: CountingStack | undefined;
  let store: ObjectStore;
  let rules: CompiledRuleSet;

  beforeAll(async () => {
    if (!findAlertmanager()) throw new Error(`prometheus-alertmanager is not installed: ${SETUP_HINT}`);
    dir = await mkdtemp(join(tmpdir(), 'skein-secrets-'));
    const rulesFile = join(dir, 'rules.yaml');
    await writeFile(rulesFile, RULES);
    rules = await loadCompiledRules(rulesFile);
    running = await startCountingStack(
      { dir, shards: 1, pollIntervalMs: 50, batchSize: 500, retryBackoffMs: 0 },
      { measures: rules.measures, latenessMs: LATENESS_MS },
      logger,
    );
    ({ stack, kinesis, store } = running);
  });

  afterAll(async () => {
    await alerting?.stop();
    await running?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('keeps them out of every stored object, state file, notification, log line and CLI output', async () => {
    // Prepare: every format, good and bad, with secrets; error logs whose user and message carry secrets
    if (!stack || !kinesis) throw new Error('the stack did not start');
    const m0 = Math.floor(Date.now() / MINUTE_MS) - 2;
    const batch = aSecretfulBatch({ ...planted, timeMs: m0 * MINUTE_MS + 10_000, cutSeed: 617 });
    const errors = planted.value.map((secret, i) =>
      aLogLine({
        level: 'ERROR',
        service: 'billing',
        timeMs: m0 * MINUTE_MS + 20_000 + i,
        msg: `payment failed with ${secret.text}`,
        extra: { user: planted.value[(i + 1) % planted.value.length]?.text, [planted.named[0]?.key ?? 'x']: 'pwX1' },
      }),
    );
    const records = [...batch.records, ...errors.map((line) => Buffer.from(line))];
    const out = await kinesis.send(
      new PutRecordsCommand({
        StreamName: stack.endpoints.stream,
        Records: records.map((data, i) => ({ Data: data, PartitionKey: `pk-${i}` })),
      }),
    );
    expect(out.FailedRecordCount ?? 0).toBe(0);
    await running?.waitForIngested(records.length);

    // Act: evaluate the pushed minute (only it: the alert stays firing, so Alertmanager notifies too)
    const evaluation = await evaluateOnce({
      store,
      rules,
      // Past the minute's end + lateness: kinesalite has nothing after what was ingested, so the minute is complete.
      clock: () => minuteDeadlineMs(m0, LATENESS_MS) + 2_000,
      logger,
      config: { latenessMs: LATENESS_MS, maxWaitMs: DEFAULT_MAX_WAIT_MS },
      progress: kinesisShardProgress(kinesis, stack.endpoints.stream, { atTimestamp: false }),
    });
    expect(evaluation.transitions).toBeGreaterThan(0);
    // Then the local alerting path: its notifier (every 500 ms) delivers the outbox to Alertmanager, PagerDuty and
    // Slack. (Started now: its scheduled evaluator would otherwise have moved the state past the pushed minutes.)
    alerting = await startLocalAlerting({
      dir,
      store,
      rules,
      notifyConfig: { text: await readFile('config/notify.local.yaml', 'utf8'), source: 'config/notify.local.yaml' },
      logger,
      evaluateEveryMs: 10 * MINUTE_MS,
      latenessMs: LATENESS_MS,
      maxWaitMs: DEFAULT_MAX_WAIT_MS,
      notifyEveryMs: 500,
      alertmanager: 'required',
    });

    const { webhook, pagerduty, slack } = alerting.sinks;
    const fired = (r: { rawBody: string }) => r.rawBody.includes('ErrorsByUser');
    const any = () => true;
    await Promise.all([
      webhook.waitFor(fired, NOTIFICATION_TIMEOUT_MS),
      pagerduty.waitFor(any, NOTIFICATION_TIMEOUT_MS),
      slack.waitFor(any, NOTIFICATION_TIMEOUT_MS),
    ]);
    const cli = [captureIo(), captureIo(), captureIo()] as const;
    await quarantineCommand(['ls', '--local', dir, '--all', '--json'], cli[0]);
    await quarantineCommand(['ls', '--local', dir, '--all'], cli[1]);
    await alertsCommand(['--local', dir], cli[2]);
    await alerting.stop();

    // Assess: the alert fired from the planted data, and the quarantine holds the bad records
    expect(running?.ingested()).toBe(records.length);
    const files = await filesUnder(dir);
    const stored = (prefix: string) => files.filter((f) => f.path.includes(`/${prefix}`));
    expect(stored('quarantine/').length).toBeGreaterThan(0);
    expect(stored('alerts/outbox/').length).toBeGreaterThan(0);
    expect(stored('alerts/state/').length).toBeGreaterThan(0);
    expect(stored('tables/logs/').length).toBeGreaterThan(0);
    expect(stored('rollups/').length).toBeGreaterThan(0);
    expect(stored('sinks/').length).toBe(3);
    expect(cli[2].out()).toContain('ErrorsByUser');
    const notifications = [...webhook.received, ...pagerduty.received, ...slack.received];
    expect(notifications.length).toBeGreaterThanOrEqual(3);
    // The alert's labels and annotations carry the data (user and message), with the secrets replaced.
    expect(webhook.received.find(fired)?.rawBody).toMatch(/"attr_user":"[^"]*\[REDACTED\]/);
    expect(webhook.received.find(fired)?.rawBody).toContain('payment failed with');

    // Assess: no secret, in any form, anywhere
    const leaks: string[] = [];
    for (const file of files) leaks.push(...findSecrets(file.body, needles).map((f) => `${file.path}: ${f}`));
    for (const r of notifications) leaks.push(...findSecrets(r.rawBody, needles).map((f) => `${r.path}: ${f}`));
    for (const line of logLines) leaks.push(...findSecrets(line, needles).map((f) => `log line: ${f}`));
    for (const io of cli) leaks.push(...findSecrets(io.out() + io.err(), needles).map((f) => `CLI output: ${f}`));
    expect(leaks).toEqual([]);
  }, 60_000);
});
