import { Duration, Stack } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Topic } from 'aws-cdk-lib/aws-sns';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE } from '../functions/core/metrics.ts';
import { EVALUATE_METRICS } from '../functions/evaluate/metrics.ts';
import { NOTIFY_METRICS } from '../functions/notify/notify-metrics.ts';

/** The notifier's EMF metric of dead-lettered notifications; the alarm reads its total, without dimensions. */
export const DEAD_LETTERED_METRIC = NOTIFY_METRICS.deadLettered;

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

export interface ScheduledFunctionAlarmsProps {
  /** What the function is called in alarm names and descriptions (`compact`, `evaluate`). */
  readonly name: string;
  readonly function: IFunction;
  /** Topic notified on ALARM and OK; without it the alarms only change state. */
  readonly alarmTopicArn?: string | undefined;
}

/** The window in which a function on a 1- or 5-minute schedule must have run at least once. */
export const NOT_RUN_WINDOW = Duration.minutes(10);

/** Alarms of a scheduled function: it failed, or it has not run at all (schedule disabled, throttled, deleted). */
export class ScheduledFunctionAlarms extends Construct {
  readonly errors: Alarm;
  readonly notRun: Alarm;

  constructor(scope: Construct, id: string, props: ScheduledFunctionAlarmsProps) {
    super(scope, id);
    const prefix = Stack.of(this).stackName;
    this.errors = new Alarm(this, 'Errors', {
      alarmName: `${prefix}-${props.name}-errors`,
      alarmDescription: `The ${props.name} function failed (exception, timeout or out of memory). See its log group; the next scheduled run retries.`,
      metric: props.function.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.notRun = new Alarm(this, 'NotRun', {
      alarmName: `${prefix}-${props.name}-not-running`,
      alarmDescription: `The ${props.name} function was not invoked for ${NOT_RUN_WINDOW.toMinutes()} minutes: its EventBridge schedule is disabled or failing.`,
      metric: props.function.metricInvocations({ period: NOT_RUN_WINDOW, statistic: 'Sum' }),
      threshold: 1,
      comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 1,
      // No invocations means no data points at all: that is exactly the condition to alarm on.
      treatMissingData: TreatMissingData.BREACHING,
    });
    notify(this, [this.errors, this.notRun], props.alarmTopicArn);
  }
}

export interface SkeinMetricAlarmProps {
  /** Topic notified on ALARM and OK; without it the alarm only changes state. */
  readonly alarmTopicArn?: string | undefined;
}

/** What one alarm on a Skein metric (namespace `Skein`, no dimensions) reads and says. */
interface SkeinMetricAlarmSpec {
  /** The alarm's construct id: kept stable, since a changed logical id would replace a custom-named alarm. */
  readonly alarmId: string;
  readonly alarmSuffix: string;
  readonly description: string;
  readonly metricName: string;
  readonly period: Duration;
  /** The alarm fires when the period's sum is above this. */
  readonly threshold: number;
}

/** An alarm on the sum of one of Skein's own EMF metrics over a period, quiet when nothing is reported. */
class SkeinMetricAlarm extends Construct {
  readonly alarm: Alarm;

  constructor(scope: Construct, id: string, spec: SkeinMetricAlarmSpec, props: SkeinMetricAlarmProps) {
    super(scope, id);
    this.alarm = new Alarm(this, spec.alarmId, {
      alarmName: `${Stack.of(this).stackName}-${spec.alarmSuffix}`,
      alarmDescription: spec.description,
      metric: new Metric({
        namespace: METRICS_NAMESPACE,
        metricName: spec.metricName,
        period: spec.period,
        statistic: 'Sum',
      }),
      threshold: spec.threshold,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    notify(this, [this.alarm], props.alarmTopicArn);
  }
}

/** Notifications the notifier gave up on: each is under alerts/dead-letter/ with its last error. */
export class DeadLetterAlarm extends SkeinMetricAlarm {
  constructor(scope: Construct, id: string, props: SkeinMetricAlarmProps) {
    super(
      scope,
      id,
      {
        alarmId: 'DeadLettered',
        alarmSuffix: 'notify-dead-lettered',
        description:
          'The notifier dead-lettered notifications (retry budget exhausted or a permanent error): they are under alerts/dead-letter/ with the last error. Check the endpoint and its secret, then re-drive (runbook).',
        metricName: DEAD_LETTERED_METRIC,
        period: Duration.minutes(5),
        threshold: 0,
      },
      props,
    );
  }
}

/** Alert rules evaluated on incomplete minutes this many times in the alarm's period before an operator is told. */
export const INCOMPLETE_MINUTES_ALARM = { period: Duration.minutes(15), threshold: 2 } as const;

/**
 * The evaluator ran out of patience with a shard (decision D15): minutes were evaluated before every shard was
 * ingested past them, so alerts may have missed data (an error-rate rule may have stayed quiet). One such minute is a
 * blip; three in a quarter of an hour is a stalled shard or ingest falling behind.
 */
export class IncompleteEvaluationAlarm extends SkeinMetricAlarm {
  constructor(scope: Construct, id: string, props: SkeinMetricAlarmProps) {
    super(
      scope,
      id,
      {
        alarmId: 'IncompleteMinutes',
        alarmSuffix: 'evaluate-incomplete-minutes',
        description: `Alert rules were evaluated on minutes some shard had not been ingested past (more than ${INCOMPLETE_MINUTES_ALARM.threshold} in ${INCOMPLETE_MINUTES_ALARM.period.toMinutes()} minutes): alerts may have missed data. \`skein alerts\` names the shards and how far behind they were; check ingest's iterator age and errors (runbook: incomplete minutes).`,
        metricName: EVALUATE_METRICS.incompleteMinutes,
        period: INCOMPLETE_MINUTES_ALARM.period,
        threshold: INCOMPLETE_MINUTES_ALARM.threshold,
      },
      props,
    );
  }
}

function notify(scope: Construct, alarms: readonly Alarm[], topicArn: string | undefined): void {
  if (!topicArn) return;
  const action = new SnsAction(Topic.fromTopicArn(scope, 'AlarmTopic', topicArn));
  for (const alarm of alarms) {
    alarm.addAlarmAction(action);
    alarm.addOkAction(action);
  }
}
