import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { loadIngestConfig } from '../../../functions/ingest/config.ts';
import { synthTemplate } from '../../support/cdk.ts';

function onlyLogicalId(template: Template, type: string, props: Record<string, unknown> = {}): string {
  const found = Object.keys(template.findResources(type, props));
  expect(found, `exactly one ${type}`).toHaveLength(1);
  return found[0] ?? '';
}

const PolicyResource = z.object({
  Properties: z.object({
    PolicyDocument: z.object({
      Statement: z.array(
        z.object({
          Effect: z.string(),
          Action: z.union([z.string(), z.array(z.string())]),
          Resource: z.unknown(),
        }),
      ),
    }),
  }),
});
type Statement = z.infer<typeof PolicyResource>['Properties']['PolicyDocument']['Statement'][number];

function ingestStatements(template: Template): Statement[] {
  const fn = onlyLogicalId(template, 'AWS::Lambda::Function', INGEST_FUNCTION);
  const role = z
    .object({ Properties: z.object({ Role: z.object({ 'Fn::GetAtt': z.tuple([z.string(), z.string()]) }) }) })
    .parse(template.findResources('AWS::Lambda::Function')[fn]).Properties.Role['Fn::GetAtt'][0];
  const policies = template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: role }] } });
  return Object.values(policies).flatMap((p) => PolicyResource.parse(p).Properties.PolicyDocument.Statement);
}

/** The ingest function among the stack's functions: the one with the Parquet row group setting. */
const INGEST_FUNCTION = {
  Properties: { Environment: { Variables: Match.objectLike({ SKEIN_ROW_GROUP_ROWS: Match.anyValue() }) } },
};

const getAtt = (logicalId: string, attribute = 'Arn') => ({ 'Fn::GetAtt': [logicalId, attribute] });
const objectsUnder = (bucket: string, prefix: string) => ({ 'Fn::Join': ['', [getAtt(bucket), `/${prefix}*`]] });

describe('ingest stack', () => {
  let template: Template;
  let ids: { bucket: string; stream: string; key: string; queue: string; fn: string; logs: string };

  beforeAll(() => {
    template = synthTemplate();
    ids = {
      bucket: onlyLogicalId(template, 'AWS::S3::Bucket', {
        Properties: {
          LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ Prefix: 'quarantine/' })]) },
        },
      }),
      stream: onlyLogicalId(template, 'AWS::Kinesis::Stream'),
      key: onlyLogicalId(template, 'AWS::KMS::Key'),
      queue: onlyLogicalId(template, 'AWS::SQS::Queue'),
      fn: onlyLogicalId(template, 'AWS::Lambda::Function', INGEST_FUNCTION),
      logs: '',
    };
    const logGroup = template.findResources('AWS::Lambda::Function')[ids.fn]?.Properties.LoggingConfig.LogGroup.Ref;
    ids.logs = typeof logGroup === 'string' ? logGroup : '';
  });

  describe('event source mapping', () => {
    it('reads the stream from the oldest record, in order, with partial batch failures, bisect and bounded retries', () => {
      template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        EventSourceArn: getAtt(ids.stream),
        FunctionName: { Ref: ids.fn },
        StartingPosition: 'TRIM_HORIZON',
        BatchSize: 1000,
        MaximumBatchingWindowInSeconds: 5,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        BisectBatchOnFunctionError: true,
        MaximumRetryAttempts: 10,
        MaximumRecordAgeInSeconds: 86_400,
        ParallelizationFactor: 1,
        DestinationConfig: { OnFailure: { Destination: getAtt(ids.queue) } },
      });
      template.resourceCountIs('AWS::Lambda::EventSourceMapping', 1);
    });

    it('takes batch size and window from the context, as strings from `cdk synth -c`', () => {
      const custom = synthTemplate({ 'skein:batchSize': '250', 'skein:batchWindowSeconds': '20' });

      custom.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        BatchSize: 250,
        MaximumBatchingWindowInSeconds: 20,
      });
    });

    it('keeps the maximum record age within the stream retention', () => {
      const mapping = Object.values(template.findResources('AWS::Lambda::EventSourceMapping'))[0];
      const stream = Object.values(template.findResources('AWS::Kinesis::Stream'))[0];

      expect(mapping?.Properties.MaximumRecordAgeInSeconds).toBeLessThanOrEqual(
        (stream?.Properties.RetentionPeriodHours ?? 0) * 3600,
      );
    });
  });

  describe('function', () => {
    it('runs the ingest handler as an ESM bundle on Node.js 24, ARM64, 1 GB, 2 minutes', () => {
      template.hasResourceProperties('AWS::Lambda::Function', {
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        MemorySize: 1024,
        Timeout: 120,
        LoggingConfig: { LogGroup: { Ref: ids.logs } },
      });
      template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    });

    it('gets exactly the environment its config parser reads', () => {
      const fn = template.findResources('AWS::Lambda::Function')[ids.fn];
      const variables: Record<string, unknown> = fn?.Properties.Environment.Variables;

      expect(variables).toEqual({
        SKEIN_BUCKET: { Ref: ids.bucket },
        SKEIN_ROW_GROUP_ROWS: '10000',
        SKEIN_LOG_LEVEL: 'info',
        SKEIN_FORMAT: 'auto',
        SKEIN_RULES_DIR: '/var/task/rules',
        SKEIN_ALLOWED_LATENESS_SECONDS: '30',
        // Source-mapped stack traces, and a young generation a whole batch of rows can die in (D28).
        NODE_OPTIONS: '--enable-source-maps --max-semi-space-size=64',
      });
      const literal = Object.entries(variables).map(([k, v]) => [k, typeof v === 'string' ? v : undefined]);
      const config = loadIngestConfig({ ...Object.fromEntries(literal), SKEIN_BUCKET: 'skein-data-example' });
      expect(config).toMatchObject({
        bucket: 'skein-data-example',
        rowGroupRows: 10_000,
        logLevel: 'info',
        format: 'auto',
        latenessMs: 30_000,
      });
    });

    it('passes row group size and log level from the context', () => {
      const custom = synthTemplate({ 'skein:rowGroupRows': 5000, 'skein:logLevel': 'debug' });

      custom.hasResourceProperties('AWS::Lambda::Function', {
        Environment: { Variables: Match.objectLike({ SKEIN_ROW_GROUP_ROWS: '5000', SKEIN_LOG_LEVEL: 'debug' }) },
      });
    });
  });

  describe('stream', () => {
    it('is on-demand, encrypted with a rotating customer-managed key, and keeps records 7 days', () => {
      template.hasResourceProperties('AWS::Kinesis::Stream', {
        Name: nameWithStackSuffix('skein'),
        StreamModeDetails: { StreamMode: 'ON_DEMAND' },
        StreamEncryption: { EncryptionType: 'KMS', KeyId: getAtt(ids.key) },
        RetentionPeriodHours: 168,
        ShardCount: Match.absent(),
      });
      template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    });

    it('takes its name and retention from the context', () => {
      const custom = synthTemplate({ 'skein:streamName': 'telemetry-prod', 'skein:streamRetentionDays': 3 });

      custom.hasResourceProperties('AWS::Kinesis::Stream', {
        Name: nameWithStackSuffix('telemetry-prod'),
        RetentionPeriodHours: 72,
      });
    });

    it('is kept when the stack is deleted, under a name a redeploy of the stack does not collide with', () => {
      // Retained: records not ingested yet outlive a stack deletion. Its name ends in 8 hex digits of the stack id,
      // which CloudFormation makes new for every created stack: a redeploy after a delete creates a new stream
      // beside the retained one instead of failing on a taken name; an update keeps the name.
      template.hasResource('AWS::Kinesis::Stream', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
      template.hasOutput('StreamName', { Value: { Ref: ids.stream } });
    });
  });

  describe('failed-batch queue', () => {
    it('is encrypted, TLS-only and keeps messages 14 days', () => {
      template.hasResourceProperties('AWS::SQS::Queue', {
        SqsManagedSseEnabled: true,
        MessageRetentionPeriod: 14 * 24 * 3600,
      });
      template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: ids.queue }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      });
    });
  });

  describe('ingest role', () => {
    it('has no managed policies, like every Skein function role', () => {
      const roles = template.findResources('AWS::IAM::Role', {
        Properties: {
          AssumeRolePolicyDocument: {
            Statement: [Match.objectLike({ Principal: { Service: 'lambda.amazonaws.com' } })],
          },
        },
      });

      expect(Object.keys(roles)).toHaveLength(3);
      for (const role of Object.values(roles)) expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    });

    it('may only put objects under tables/, quarantine/ and rollups/, read the stream, decrypt, log and report failed batches', () => {
      const granted = ingestStatements(template).map((s) => ({
        Effect: s.Effect,
        Action: [s.Action].flat().sort(),
        Resource: s.Resource,
      }));

      expect(granted).toEqual(
        expect.arrayContaining([
          {
            Effect: 'Allow',
            Action: ['s3:PutObject'],
            Resource: expect.arrayContaining([
              objectsUnder(ids.bucket, 'tables/'),
              objectsUnder(ids.bucket, 'quarantine/'),
              objectsUnder(ids.bucket, 'rollups/'),
            ]),
          },
          {
            Effect: 'Allow',
            Action: [
              'kinesis:DescribeStream',
              'kinesis:DescribeStreamConsumer',
              'kinesis:DescribeStreamSummary',
              'kinesis:GetRecords',
              'kinesis:GetShardIterator',
              'kinesis:ListShards',
              'kinesis:ListStreams',
              'kinesis:SubscribeToShard',
            ],
            Resource: getAtt(ids.stream),
          },
          { Effect: 'Allow', Action: ['kms:Decrypt'], Resource: getAtt(ids.key) },
          { Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: getAtt(ids.logs) },
          {
            Effect: 'Allow',
            Action: ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'],
            Resource: getAtt(ids.queue),
          },
        ]),
      );
      expect(granted).toHaveLength(5);
      const s3 = granted.find((s) => s.Action.some((a) => a.startsWith('s3:')));
      expect(s3?.Resource).toHaveLength(3);
    });

    it('grants no wildcard action and no `*` resource', () => {
      const statements = ingestStatements(template);

      for (const statement of statements) {
        for (const action of [statement.Action].flat()) expect(action).not.toContain('*');
        for (const resource of [statement.Resource].flat()) expect(resource).not.toBe('*');
        expect(statement.Effect).toBe('Allow');
      }
    });
  });

  describe('alarms', () => {
    it('watches the failed-batch queue, the iterator age and the function errors', () => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: getAtt(ids.queue, 'QueueName') }],
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/Lambda',
        MetricName: 'IteratorAge',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: ids.fn } }],
        Statistic: 'Maximum',
        Threshold: 15 * 60 * 1000,
      });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/Lambda',
        MetricName: 'Errors',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: ids.fn } }],
        Statistic: 'Sum',
        Threshold: 1,
      });
      const ingestAlarms = template.findResources('AWS::CloudWatch::Alarm', {
        Properties: { Dimensions: [{ Name: 'FunctionName', Value: { Ref: ids.fn } }] },
      });
      expect(Object.keys(ingestAlarms)).toHaveLength(2);
    });

    it('notifies the alarm topic on ALARM and OK when one is configured', () => {
      const topic = 'arn:aws:sns:eu-west-1:123456789012:skein-alarms';
      const custom = synthTemplate({ 'skein:alarmTopicArn': topic });

      const alarms = Object.values(custom.findResources('AWS::CloudWatch::Alarm'));
      // Ingest (3), errors + not running of the compactor and the evaluator (2 × 2), incomplete minutes (1).
      expect(alarms).toHaveLength(8);
      for (const alarm of alarms) {
        expect(alarm.Properties.AlarmActions).toEqual([topic]);
        expect(alarm.Properties.OKActions).toEqual([topic]);
      }
    });
  });

  it('outputs the stream, bucket, workgroup and database names', () => {
    template.hasOutput('StreamName', { Value: { Ref: ids.stream } });
    template.hasOutput('BucketName', { Value: { Ref: ids.bucket } });
    template.hasOutput('WorkGroupName', {});
    template.hasOutput('DatabaseName', {});
  });
});

/** The physical name lib/ingest.ts gives the stream: `<prefix>-<first 8 hex digits of the stack id's UUID>`. */
function nameWithStackSuffix(prefix: string) {
  const stackUuid = { 'Fn::Select': [2, { 'Fn::Split': ['/', { Ref: 'AWS::StackId' }] }] };
  return { 'Fn::Join': ['-', [prefix, { 'Fn::Select': [0, { 'Fn::Split': ['-', stackUuid] }] }]] };
}
