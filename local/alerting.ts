import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type Clock, systemClock } from '../functions/core/clock.ts';
import { withHeartbeat } from '../functions/core/heartbeat.ts';
import type { Logger } from '../functions/core/logger.ts';
import type { ObjectStore } from '../functions/core/object-store.ts';
import { type EvaluationSummary, evaluateOnce } from '../functions/evaluate/evaluate.ts';
import type { ShardProgress } from '../functions/evaluate/shard-progress.ts';
import { endpointBreakers } from '../functions/notify/delivery-policy.ts';
import { DEAD_LETTER_PREFIX, DONE_NAME, NOTIFY_PREFIX } from '../functions/notify/delivery-store.ts';
import { nodeHttpSender } from '../functions/notify/http-sender.ts';
import { type NotifySummary, notifyOnce } from '../functions/notify/notify-once.ts';
import { type SecretProvider, staticSecretProvider } from '../functions/notify/secrets.ts';
import type { CompiledRuleSet } from '../functions/shared/rules/compile-rules.ts';
import { listAlerts } from '../query/alerts.ts';
import { describeError } from '../schemas/errors.ts';
import { type NotifyConfig, parseNotifyConfig } from '../schemas/notify-config.ts';
import {
  AlertmanagerError,
  findAlertmanager,
  type RunningAlertmanager,
  SETUP_HINT,
  startAlertmanager,
} from './alertmanager.ts';
import { type ScheduledJob, scheduleJob } from './scheduler.ts';
import { type Sink, startSink } from './sinks.ts';

/** Secret ids of `config/notify.local.yaml`, resolved by {@link localSecrets}. */
export const LOCAL_SECRET_IDS = {
  pagerDutyRoutingKey: 'local/pagerduty-routing-key',
  slackWebhookUrl: 'local/slack-webhook-url',
} as const;

/** Placeholders a local notifier configuration may use; filled in by {@link localNotifyConfig}. */
export interface LocalNotifyUrls {
  /** `${ALERTMANAGER_URL}` */
  readonly alertmanagerUrl: string;
  /** `${PAGERDUTY_URL}` */
  readonly pagerDutyUrl: string;
}

/**
 * Parses a notifier configuration for the local stack: `${ALERTMANAGER_URL}` and `${PAGERDUTY_URL}` are replaced by
 * the URLs of what the stack started, and `http://127.0.0.1` endpoints are allowed.
 *
 * @throws NotifyConfigError naming `source:line:column` of the first problem.
 */
export function localNotifyConfig(text: string, urls: LocalNotifyUrls, source: string): NotifyConfig {
  const filled = text
    .replaceAll(placeholder('ALERTMANAGER_URL'), urls.alertmanagerUrl)
    .replaceAll(placeholder('PAGERDUTY_URL'), urls.pagerDutyUrl);
  return parseNotifyConfig(filled, { source, allowLoopbackHttp: true });
}

/** `${NAME}` as it appears in the file. */
function placeholder(name: string): string {
  return `\${${name}}`;
}

/** The local secrets: a routing key made up for this run and the Slack sink's webhook URL. */
export function localSecrets(values: {
  readonly routingKey: string;
  readonly slackWebhookUrl: string;
}): SecretProvider {
  return staticSecretProvider({
    [LOCAL_SECRET_IDS.pagerDutyRoutingKey]: values.routingKey,
    [LOCAL_SECRET_IDS.slackWebhookUrl]: values.slackWebhookUrl,
  });
}

export interface LocalSinks {
  /** Alertmanager's webhook receiver posts here (version "4" payloads); without Alertmanager, the notifier does. */
  readonly webhook: Sink;
  readonly pagerduty: Sink;
  readonly slack: Sink;
}

export interface LocalAlertingOptions {
  /** The stack's state folder: sink logs go to `<dir>/sinks/*.ndjson`, Alertmanager's files to `<dir>/alertmanager/`. */
  readonly dir: string;
  /** The local bucket, through the conditional-write proxy (the alert state needs real `If-Match`). */
  readonly store: ObjectStore;
  readonly rules: CompiledRuleSet;
  /** The notifier configuration's text (placeholders allowed) and its name for error messages. */
  readonly notifyConfig: { readonly text: string; readonly source: string };
  readonly logger: Logger;
  readonly evaluateEveryMs: number;
  /** Allowed lateness (ms): the same value ingest assigns minutes with (D15). */
  readonly latenessMs: number;
  /** How long a stalled shard may hold a minute back past its end + lateness. */
  readonly maxWaitMs: number;
  /** The local stream (kinesalite), asked how far idle shards are; without it, the rollups' watermarks alone. */
  readonly progress?: ShardProgress;
  readonly notifyEveryMs: number;
  /** `auto`: start Alertmanager when installed; `required`: fail when it is not; `off`: never. */
  readonly alertmanager: 'auto' | 'required' | 'off';
  readonly clock?: Clock;
}

/** Counters for the progress line. */
export interface AlertingStatus {
  readonly firing: number;
  readonly pending: number;
  /** (transition, endpoint) deliveries finished as delivered, and dead-lettered ones. */
  readonly delivered: number;
  readonly dead: number;
}

export interface LocalAlerting {
  readonly sinks: LocalSinks;
  /** The real Alertmanager, or `undefined` when it is not installed (or was turned off). */
  readonly alertmanager: RunningAlertmanager | undefined;
  /** Why `alertmanager` is undefined. */
  readonly alertmanagerMissing: 'not installed' | 'did not start' | 'turned off' | undefined;
  readonly evaluator: ScheduledJob;
  readonly notifier: ScheduledJob;
  /** The last evaluator and notifier summaries. */
  lastEvaluation(): EvaluationSummary | undefined;
  lastNotifyPass(): NotifySummary | undefined;
  /** Reads the alert states and delivery records (a few LISTs and one GET per rule group). */
  status(): Promise<AlertingStatus>;
  /** Stops the evaluator and the notifier (waiting for runs in flight), then Alertmanager and the sinks. Idempotent. */
  stop(): Promise<void>;
}

/** Alertmanager route timings for the local stack: a notification within seconds, a resolve within 10 s. */
const ALERTMANAGER_TIMINGS = { groupWait: '2s', groupInterval: '10s', repeatInterval: '1h' } as const;

/**
 * The alerting path of the local stack: starts the PagerDuty, Slack and webhook sinks and (when installed) the real
 * Alertmanager posting to the webhook sink, builds the notifier configuration pointing at them, and runs the real
 * evaluator (`evaluateOnce`, every `evaluateEveryMs`) and notifier (`notifyOnce`, every `notifyEveryMs`) on the store.
 *
 * @throws AlertmanagerError when `alertmanager` is `required` and it is not installed or does not start;
 * NotifyConfigError for a bad notifier configuration. Whatever was started is stopped again first.
 */
export async function startLocalAlerting(options: LocalAlertingOptions): Promise<LocalAlerting> {
  const { store, rules, logger } = options;
  const clock = options.clock ?? systemClock;
  const sinkDir = join(options.dir, 'sinks');
  await mkdir(sinkDir, { recursive: true });
  const started: { stop(): Promise<void> }[] = [];
  const stopStarted = async () => {
    for (const part of started.reverse()) await part.stop().catch(() => undefined);
  };
  try {
    const webhook = await startSink({ kind: 'webhook', logFile: join(sinkDir, 'webhook.ndjson') });
    started.push(webhook);
    const pagerduty = await startSink({ kind: 'pagerduty', logFile: join(sinkDir, 'pagerduty.ndjson') });
    started.push(pagerduty);
    const slack = await startSink({ kind: 'slack', logFile: join(sinkDir, 'slack.ndjson') });
    started.push(slack);

    let alertmanager: RunningAlertmanager | undefined;
    let alertmanagerMissing: LocalAlerting['alertmanagerMissing'];
    if (options.alertmanager === 'off') alertmanagerMissing = 'turned off';
    else if (findAlertmanager() === undefined) {
      if (options.alertmanager === 'required')
        throw new AlertmanagerError(`prometheus-alertmanager is not installed: ${SETUP_HINT}`);
      alertmanagerMissing = 'not installed';
    } else {
      try {
        alertmanager = await startAlertmanager({
          dir: join(options.dir, 'alertmanager'),
          webhookUrl: webhook.url,
          ...ALERTMANAGER_TIMINGS,
        });
        started.push(alertmanager);
      } catch (error) {
        if (options.alertmanager === 'required') throw error;
        // Its message carries the tail of Alertmanager's stderr, the webhook URL redacted.
        logger.warn('Alertmanager did not start; running without it', { error: describeError(error) });
        alertmanagerMissing = 'did not start';
      }
    }

    const config = localNotifyConfig(
      options.notifyConfig.text,
      // Without Alertmanager its API posts go to the webhook sink, which records them: nothing is lost from view.
      { alertmanagerUrl: alertmanager?.url ?? webhook.baseUrl, pagerDutyUrl: pagerduty.url },
      options.notifyConfig.source,
    );
    const secrets = localSecrets({ routingKey: randomBytes(16).toString('hex'), slackWebhookUrl: slack.url });
    const breakers = endpointBreakers(config.delivery);
    const http = nodeHttpSender();

    let lastEvaluation: EvaluationSummary | undefined;
    let lastNotifyPass: NotifySummary | undefined;
    const evaluateLogger = logger.child({ component: 'evaluate' });
    const evaluator = scheduleJob({
      name: 'evaluator',
      everyMs: options.evaluateEveryMs,
      logger: evaluateLogger,
      clock,
      // The same last-run marker as the Lambda handler writes (D20), so `skein smoke --local` sees the evaluator run.
      job: () =>
        withHeartbeat(
          store,
          'evaluate',
          clock,
          () =>
            evaluateOnce({
              store,
              rules,
              clock,
              logger: evaluateLogger,
              config: { latenessMs: options.latenessMs, maxWaitMs: options.maxWaitMs },
              ...(options.progress !== undefined ? { progress: options.progress } : {}),
            }),
          (error) => evaluateLogger.warn('last-run marker not written', { error: String(error) }),
        ),
      onResult: (summary) => {
        lastEvaluation = summary;
      },
    });
    started.push(evaluator);
    const notifyLogger = logger.child({ component: 'notify' });
    const notifier = scheduleJob({
      name: 'notifier',
      everyMs: options.notifyEveryMs,
      logger: notifyLogger,
      clock,
      job: () =>
        notifyOnce({ store, config, secrets, http, clock, logger: notifyLogger, random: Math.random, breakers }, {}),
      onResult: (summary) => {
        lastNotifyPass = summary;
      },
    });
    started.push(notifier);

    let stopping: Promise<void> | undefined;
    return {
      sinks: { webhook, pagerduty, slack },
      alertmanager,
      alertmanagerMissing,
      evaluator,
      notifier,
      lastEvaluation: () => lastEvaluation,
      lastNotifyPass: () => lastNotifyPass,
      async status() {
        const [alerts, deliveries] = await Promise.all([listAlerts(store), countDeliveries(store)]);
        let firing = 0;
        let pending = 0;
        for (const a of alerts) {
          if (a.state === 'firing') firing++;
          else if (a.state === 'pending') pending++;
        }
        return { firing, pending, ...deliveries };
      },
      stop() {
        // The evaluator and the notifier stop first (their runs finish), so no run posts to a stopped sink.
        stopping ??= (async () => {
          await Promise.all([evaluator.stop(), notifier.stop()]);
          await stopStarted();
        })();
        return stopping;
      },
    };
  } catch (error) {
    await stopStarted();
    throw error;
  }
}

/**
 * Delivered and dead-lettered (transition, endpoint) pairs, from the notifier's records: a transition whose every
 * endpoint is terminal has a `_done` marker; its endpoint records are delivered unless dead-lettered. Transitions still
 * in flight are not counted yet.
 */
export async function countDeliveries(store: ObjectStore): Promise<{ delivered: number; dead: number }> {
  const [records, letters] = await Promise.all([store.list(NOTIFY_PREFIX), store.list(DEAD_LETTER_PREFIX)]);
  const doneName = `/${DONE_NAME}.json`;
  const stemOf = (key: string, prefix: string) => key.slice(prefix.length, key.lastIndexOf('/'));
  const done = new Set<string>();
  for (const key of records) if (key.endsWith(doneName)) done.add(stemOf(key, NOTIFY_PREFIX));
  let delivered = 0;
  for (const key of records) if (!key.endsWith(doneName) && done.has(stemOf(key, NOTIFY_PREFIX))) delivered++;
  let dead = 0;
  for (const key of letters) {
    dead++;
    // An unreadable outbox entry is dead-lettered as `_invalid` without any endpoint record to discount.
    if (!key.endsWith('/_invalid.json') && done.has(stemOf(key, DEAD_LETTER_PREFIX))) delivered--;
  }
  return { delivered: Math.max(0, delivered), dead };
}
