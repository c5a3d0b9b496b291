import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { Alerting } from './alerting.ts';
import { CloudWatchSubscription } from './cloudwatch-subscription.ts';
import { Compaction } from './compaction.ts';
import { Ingest } from './ingest.ts';
import { DeadLetterAlarm, IncompleteEvaluationAlarm, IngestAlarms, ScheduledFunctionAlarms } from './monitoring.ts';
import { Query } from './query.ts';
import { type SkeinSettings, scanLimitBytes } from './settings.ts';
import { Storage } from './storage.ts';

export interface SkeinStackProps extends StackProps {
  /** Validated settings, usually from {@link settingsFromContext}. */
  readonly settings: SkeinSettings;
}

/**
 * The whole AWS side of Skein: stream → ingest Lambda → S3, the compactor, the alerting path (evaluator, notifier)
 * and the Athena catalogue over the data.
 */
export class SkeinStack extends Stack {
  readonly storage: Storage;
  readonly ingest: Ingest;
  readonly query: Query;
  readonly alarms: IngestAlarms;
  readonly compaction: Compaction;
  readonly alerting: Alerting;
  readonly cloudWatchSubscription: CloudWatchSubscription;

  constructor(scope: Construct, id: string, props: SkeinStackProps) {
    super(scope, id, props);
    const { settings } = props;

    this.storage = new Storage(this, 'Storage', { quarantineExpiryDays: settings.quarantineExpiryDays });
    this.ingest = new Ingest(this, 'Ingest', { bucket: this.storage.bucket, settings });
    this.query = new Query(this, 'Query', {
      bucket: this.storage.bucket,
      bytesScannedCutoffPerQuery: scanLimitBytes(settings),
      accessLogs: this.storage.accessLogsFor('athena-results'),
    });
    this.alarms = new IngestAlarms(this, 'Alarms', {
      function: this.ingest.function,
      failedBatches: this.ingest.failedBatches,
      alarmTopicArn: settings.alarmTopicArn,
    });
    this.compaction = new Compaction(this, 'Compaction', { bucket: this.storage.bucket, settings });
    this.alerting = new Alerting(this, 'Alerting', {
      bucket: this.storage.bucket,
      settings,
      stream: this.ingest.stream,
      streamKey: this.ingest.streamKey,
    });
    new ScheduledFunctionAlarms(this, 'CompactAlarms', {
      name: 'compact',
      function: this.compaction.fn.function,
      alarmTopicArn: settings.alarmTopicArn,
    });
    new ScheduledFunctionAlarms(this, 'EvaluateAlarms', {
      name: 'evaluate',
      function: this.alerting.evaluate.function,
      alarmTopicArn: settings.alarmTopicArn,
    });
    new IncompleteEvaluationAlarm(this, 'IncompleteEvaluationAlarm', { alarmTopicArn: settings.alarmTopicArn });
    if (this.alerting.notify) {
      new ScheduledFunctionAlarms(this, 'NotifyAlarms', {
        name: 'notify',
        function: this.alerting.notify.function,
        alarmTopicArn: settings.alarmTopicArn,
      });
      new DeadLetterAlarm(this, 'DeadLetterAlarm', { alarmTopicArn: settings.alarmTopicArn });
    }
    this.cloudWatchSubscription = new CloudWatchSubscription(this, 'CloudWatchSubscription', {
      stream: this.ingest.stream,
      streamKey: this.ingest.streamKey,
    });

    new CfnOutput(this, 'StreamName', {
      description: 'Kinesis stream producers write to',
      value: this.ingest.stream.streamName,
    });
    new CfnOutput(this, 'BucketName', {
      description: 'S3 bucket of the Parquet tables and the quarantine',
      value: this.storage.bucket.bucketName,
    });
    new CfnOutput(this, 'WorkGroupName', { description: 'Athena workgroup', value: this.query.workGroup.ref });
    new CfnOutput(this, 'DatabaseName', { description: 'Glue database', value: this.query.database.ref });
    for (const [i, secret] of this.alerting.secrets.entries()) {
      new CfnOutput(this, `NotifierSecret${i}`, {
        description: 'Secrets Manager secret of the notifier: set its value with aws secretsmanager put-secret-value',
        value: secret.secretName,
      });
    }
    new CfnOutput(this, 'FailedBatchQueueUrl', {
      description: 'SQS queue of the Kinesis batches Lambda gave up on (shard and sequence range to replay)',
      value: this.ingest.failedBatches.queueUrl,
    });
    // What `skein smoke` names in its hints (log groups are /aws/lambda/<name>).
    const functions = {
      IngestFunctionName: this.ingest.function,
      CompactFunctionName: this.compaction.fn.function,
      EvaluateFunctionName: this.alerting.evaluate.function,
      ...(this.alerting.notify ? { NotifyFunctionName: this.alerting.notify.function } : {}),
    };
    for (const [id, fn] of Object.entries(functions))
      new CfnOutput(this, id, {
        description: `Lambda function (${id.replace('FunctionName', '').toLowerCase()})`,
        value: fn.functionName,
      });
    new CfnOutput(this, 'CloudWatchSubscriptionRoleArn', {
      description: 'Role for CloudWatch Logs subscription filters that deliver to the stream (--role-arn)',
      value: this.cloudWatchSubscription.role.roleArn,
    });
  }
}
