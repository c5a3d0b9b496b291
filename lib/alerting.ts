import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Annotations, Duration, SecretValue, Stack, Validations } from 'aws-cdk-lib';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IStream } from 'aws-cdk-lib/aws-kinesis';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { type Bucket, EventType } from 'aws-cdk-lib/aws-s3';
import { LambdaDestination } from 'aws-cdk-lib/aws-s3-notifications';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { OUTBOX_PREFIX } from '../schemas/alerts.ts';
import { ConfigError } from '../schemas/errors.ts';
import { type NotifyConfig, parseNotifyConfig } from '../schemas/notify-config.ts';
import { grantHeartbeat } from './heartbeat-grant.ts';
import {
  grantPrefixes,
  LAMBDA_TASK_ROOT,
  REPO_ROOT,
  RULES_DIR,
  SkeinFunction,
  validateRuleFiles,
} from './lambda-function.ts';
import type { SkeinSettings } from './settings.ts';
import { DATA_PREFIXES } from './storage.ts';

/** Entries of the alerting Lambdas, relative to the repository root. */
export const EVALUATE_ENTRY = 'functions/evaluate/handler.ts';
export const NOTIFY_ENTRY = 'functions/notify/handler.ts';

/** The evaluator evaluates the last closed minute; the notifier re-drives retries on the same beat. */
export const ALERTING_SCHEDULE = Duration.minutes(1);

/** Where the notifier's configuration is bundled (its `SKEIN_NOTIFY_CONFIG_FILE`). */
export const NOTIFY_CONFIG_BUNDLE_PATH = 'notify.yaml';

/**
 * Value of a notifier secret the stack creates: the operator replaces it (docs/runbook.md, "Notifier secrets"); until then
 * a delivery through it fails and is dead-lettered, which the DeadLettered alarm shows.
 */
export const SECRET_PLACEHOLDER = 'SET_ME';

const ALERTS = {
  state: `${DATA_PREFIXES.alerts}state/`,
  outbox: OUTBOX_PREFIX,
} as const;

export interface AlertingProps {
  readonly bucket: Bucket;
  readonly settings: SkeinSettings;
  /** The stream ingest reads: the evaluator asks it how far idle shards are (D15). */
  readonly stream: IStream;
  /** The stream's customer-managed key (reading records needs kms:Decrypt). */
  readonly streamKey: IKey;
}

/** The secrets a notifier configuration names (PagerDuty routing keys, Slack webhook URLs), sorted, distinct. */
export function notifierSecretIds(config: NotifyConfig): string[] {
  const ids = new Set<string>();
  for (const receiver of config.receivers.values()) {
    if (receiver.pagerduty) ids.add(receiver.pagerduty.routingKeySecret);
    if (receiver.slack) ids.add(receiver.slack.webhookUrlSecret);
  }
  return [...ids].sort();
}

/** Reads and validates the notifier configuration at synthesis; undefined when the file does not exist. */
export function loadNotifierConfig(path: string, root: string = REPO_ROOT): NotifyConfig | undefined {
  const file = join(root, path);
  if (!existsSync(file)) return undefined;
  // Alertmanager URLs, PagerDuty and Slack endpoints must be https and on allowed hosts: checked here too, so a
  // bad file stops `cdk synth` instead of the deployed notifier.
  return parseNotifyConfig(readFileSync(file, 'utf8'), { source: path });
}

/**
 * The alerting path on AWS: the evaluator (every minute: rules × rollups → alert state → outbox) and, when a notifier
 * configuration exists, the notifier (on every outbox object, and every minute for retries) with one Secrets
 * Manager secret per secret its configuration names.
 */
export class Alerting extends Construct {
  readonly evaluate: SkeinFunction;
  readonly evaluateSchedule: Rule;
  readonly notify: SkeinFunction | undefined;
  readonly notifySchedule: Rule | undefined;
  readonly secrets: Secret[] = [];

  constructor(scope: Construct, id: string, props: AlertingProps) {
    super(scope, id);
    const { bucket, settings } = props;
    const rules = validateRuleFiles(settings.rules);

    this.evaluate = new SkeinFunction(this, 'Evaluate', {
      entry: EVALUATE_ENTRY,
      description: 'Skein evaluate: alert rules over per-minute rollups → alert state and outbox',
      roleDescription: 'Skein evaluate: read and merge rollups, read and write alert state and the outbox',
      memorySize: 1024,
      timeout: Duration.seconds(50),
      // Not needed for correctness (state and outbox are written conditionally), but overlapping runs only waste.
      reservedConcurrentExecutions: 1,
      environment: {
        SKEIN_BUCKET: bucket.bucketName,
        SKEIN_RULES_DIR: `${LAMBDA_TASK_ROOT}/${RULES_DIR}`,
        SKEIN_LOG_LEVEL: settings.logLevel,
        SKEIN_ALLOWED_LATENESS_SECONDS: String(settings.allowedLatenessSeconds),
        SKEIN_EVALUATION_MAX_WAIT_SECONDS: String(settings.evaluationMaxWaitSeconds),
        SKEIN_STREAM_NAME: props.stream.streamName,
      },
      files: rules,
    });
    // Shards whose rollups show them behind are asked of the stream (an idle shard invokes no ingest): list its
    // shards and read a few records after a shard's last processed one. This stream only; its key only to decrypt.
    this.evaluate.role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['kinesis:ListShards', 'kinesis:GetShardIterator', 'kinesis:GetRecords'],
        resources: [props.stream.streamArn],
      }),
    );
    this.evaluate.role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['kms:Decrypt'], resources: [props.streamKey.keyArn] }),
    );
    grantPrefixes(
      this.evaluate.role,
      bucket,
      [
        // It merges the per-batch rollups of each closed minute into one object and deletes the parts.
        {
          prefix: DATA_PREFIXES.rollups,
          actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
          list: true,
        },
        { prefix: ALERTS.state, actions: ['s3:GetObject', 's3:PutObject'], list: true },
        { prefix: ALERTS.outbox, actions: ['s3:GetObject', 's3:PutObject'], list: true },
      ],
      (g) =>
        `Object actions under ${g.prefix} only: keys are per minute or per alert fingerprint, not known in advance.`,
    );
    grantHeartbeat(this.evaluate.role, bucket, 'evaluate');
    this.evaluate.function.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: Duration.minutes(1) });
    this.evaluateSchedule = new Rule(this, 'EvaluateSchedule', {
      description: 'Skein: evaluate the alert rules',
      schedule: Schedule.rate(ALERTING_SCHEDULE),
      targets: [new LambdaFunction(this.evaluate.function, { retryAttempts: 2, maxEventAge: Duration.minutes(1) })],
    });

    const notifyConfig = loadNotifierConfig(settings.notifyConfig);
    if (notifyConfig === undefined) {
      Annotations.of(this).addInfo(
        `no notifier deployed: ${settings.notifyConfig} does not exist (copy config/notify.example.yaml, or set -c skein:notifyConfig=<file>). Alert transitions stay in alerts/outbox/.`,
      );
      this.notify = undefined;
      this.notifySchedule = undefined;
      return;
    }

    for (const [i, secretId] of notifierSecretIds(notifyConfig).entries()) {
      if (secretId.startsWith('arn:')) {
        throw new ConfigError(
          `${settings.notifyConfig}: secret ${secretId} is an ARN; name the secrets by name and the stack creates them`,
        );
      }
      const secret = new Secret(this, `NotifySecret${i}`, {
        secretName: secretId,
        description: `Skein notifier: ${secretId} (set it with aws secretsmanager put-secret-value)`,
        secretStringValue: SecretValue.unsafePlainText(SECRET_PLACEHOLDER),
      });
      Validations.of(secret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason:
          'A PagerDuty routing key or a Slack webhook URL is issued by the third party; no rotation Lambda can issue a new one. The operator replaces it by hand (docs/runbook.md, "Notifier secrets").',
      });
      this.secrets.push(secret);
    }

    const notify = new SkeinFunction(this, 'Notify', {
      entry: NOTIFY_ENTRY,
      description: 'Skein notify: outbox → Alertmanager, PagerDuty, Slack, with retries and dead letters',
      roleDescription: 'Skein notify: read the outbox, write delivery records and dead letters, read its secrets',
      memorySize: 512,
      timeout: Duration.seconds(50),
      environment: {
        SKEIN_BUCKET: bucket.bucketName,
        SKEIN_NOTIFY_CONFIG_FILE: `${LAMBDA_TASK_ROOT}/${NOTIFY_CONFIG_BUNDLE_PATH}`,
        SKEIN_LOG_LEVEL: settings.logLevel,
      },
      files: [{ from: settings.notifyConfig, to: NOTIFY_CONFIG_BUNDLE_PATH }],
    });
    this.notify = notify;
    grantPrefixes(
      notify.role,
      bucket,
      [{ prefix: DATA_PREFIXES.alerts, actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'], list: true }],
      () =>
        'Object actions under alerts/ only: the notifier reads outbox entries and alert state, writes delivery records and dead letters and deletes delivered entries; keys are per alert transition.',
    );
    if (this.secrets.length > 0) {
      notify.role.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'ReadNotifierSecrets',
          actions: ['secretsmanager:GetSecretValue'],
          resources: this.secrets.map((s) => s.secretArn),
        }),
      );
    }
    bucket.addEventNotification(EventType.OBJECT_CREATED, new LambdaDestination(notify.function), {
      prefix: OUTBOX_PREFIX,
    });
    acknowledgeNotificationHandler(Stack.of(this));
    this.notifySchedule = new Rule(this, 'NotifySchedule', {
      description: 'Skein: re-drive notifier retries and re-sends',
      schedule: Schedule.rate(ALERTING_SCHEDULE),
      targets: [new LambdaFunction(notify.function, { retryAttempts: 2, maxEventAge: Duration.minutes(1) })],
    });
  }
}

/**
 * S3 event notifications are configured by CDK's own singleton custom resource (BucketNotificationsHandler), whose
 * role carries AWSLambdaBasicExecutionRole, which cdk-nag flags. It is CDK's code and runs only at deployment.
 */
function acknowledgeNotificationHandler(stack: Stack): void {
  const handler = stack.node.tryFindChild('BucketNotificationsHandler050a0587b7544547bf325f094a3db834');
  if (!handler) return;
  Validations.of(handler).acknowledge({
    id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
    reason:
      "CDK's BucketNotificationsHandler custom resource (configures the S3 event notification to the notifier) comes with this role; it runs only at deployment.",
  });
}
