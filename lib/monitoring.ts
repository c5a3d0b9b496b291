import { Duration, Stack } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Topic } from 'aws-cdk-lib/aws-sns';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/**
 * Ingest falls behind: the oldest record of the last batch waited this long on the stream. Far below the event
 * source's one-day maximum record age, after which records go to the failed-batch queue instead.
 */
export const ITERATOR_AGE_ALARM_MS = 15 * 60 * 1000;

export interface IngestAlarmsProps {
  readonly function: IFunction;
  readonly failedBatches: IQueue;
  /** Topic notified on ALARM and OK; without it the alarms only change state. */
  readonly alarmTopicArn?: string | undefined;
}

/** Alarms an operator must act on: batches given up on, ingest falling behind, the function failing. */
export class IngestAlarms extends Construct {
  readonly failedBatches: Alarm;
  readonly iteratorAge: Alarm;
  readonly errors: Alarm;

  constructor(scope: Construct, id: string, props: IngestAlarmsProps) {
    super(scope, id);
    const prefix = Stack.of(this).stackName;

    this.failedBatches = new Alarm(this, 'FailedBatches', {
      alarmName: `${prefix}-ingest-failed-batches`,
      alarmDescription:
        'Lambda gave up on Kinesis records (retries or maximum record age exhausted). Each message names the shard and sequence range: replay them from the stream before its retention ends (runbook: failed batches).',
      metric: props.failedBatches.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(5),
        statistic: 'Maximum',
      }),
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });

    this.iteratorAge = new Alarm(this, 'IteratorAge', {
      alarmName: `${prefix}-ingest-iterator-age`,
      alarmDescription: `Ingest is more than ${ITERATOR_AGE_ALARM_MS / 60_000} minutes behind the stream for 15 minutes: records wait longer and, after one day, are dropped to the failed-batch queue.`,
      metric: props.function.metric('IteratorAge', { period: Duration.minutes(5), statistic: 'Maximum' }),
      threshold: ITERATOR_AGE_ALARM_MS,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 3,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });

    // The handler reports failed records as batchItemFailures; an invocation error (throw, timeout, out of memory)
    // is unexpected and fails the whole batch, so one is worth a look.
    this.errors = new Alarm(this, 'Errors', {
      alarmName: `${prefix}-ingest-errors`,
      alarmDescription:
        'The ingest function failed whole invocations (exception, timeout or out of memory): the batch is retried and bisected. See its log group.',
      metric: props.function.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });

    if (props.alarmTopicArn) {
      const action = new SnsAction(Topic.fromTopicArn(this, 'AlarmTopic', props.alarmTopicArn));
      for (const alarm of [this.failedBatches, this.iteratorAge, this.errors]) {
        alarm.addAlarmAction(action);
        alarm.addOkAction(action);
      }
    }
  }
}
