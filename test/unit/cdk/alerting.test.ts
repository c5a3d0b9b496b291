import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEvaluateConfig } from '../../../functions/evaluate/config.ts';
import { NotifyEnv } from '../../../functions/notify/config.ts';
import { SECRET_PLACEHOLDER } from '../../../lib/alerting.ts';
import { ruleFiles, validateRuleFiles } from '../../../lib/lambda-function.ts';
import { SkeinSettings } from '../../../lib/settings.ts';
import { ConfigError } from '../../../schemas/errors.ts';
import { synthTemplate } from '../../support/cdk.ts';
import { dataBucketId, functionDescribed, getAtt, objectsUnder } from './template-helpers.ts';

const WITH_NOTIFIER = { 'skein:notifyConfig': 'config/notify.example.yaml' };

describe('alerting', () => {
  let template: Template;
  let bucket: string;
  let evaluate: ReturnType<typeof functionDescribed>;
  let notify: ReturnType<typeof functionDescribed>;

  beforeAll(() => {
    template = synthTemplate(WITH_NOTIFIER);
    bucket = dataBucketId(template);
    evaluate = functionDescribed(template, 'Skein evaluate');
    notify = functionDescribed(template, 'Skein notify');
  });

  describe('evaluator', () => {
    it('runs every minute on Node.js 24 ARM64, one run at a time, with the rules bundled beside it', () => {
      template.hasResourceProperties('AWS::Lambda::Function', {
        Description: Match.stringLikeRegexp('^Skein evaluate'),
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        ReservedConcurrentExecutions: 1,
        Environment: {
          Variables: {
            SKEIN_BUCKET: { Ref: bucket },
            SKEIN_RULES_DIR: '/var/task/rules',
            SKEIN_LOG_LEVEL: 'info',
            NODE_OPTIONS: '--enable-source-maps',
          },
        },
      });
      template.hasResourceProperties('AWS::Events::Rule', {
        ScheduleExpression: 'rate(1 minute)',
        Targets: [Match.objectLike({ Arn: getAtt(evaluate.id) })],
      });
    });

    it('gets an environment its config parser accepts, with the rules folder it names', () => {
      const config = loadEvaluateConfig({ SKEIN_BUCKET: 'skein-data-example', SKEIN_RULES_DIR: '/var/task/rules' });

      expect(config.rulesDir).toBe('/var/task/rules');
    });

    it('may read, merge and delete rollups, read and write alert state and the outbox, and write its last-run marker, nothing else in S3', () => {
      const s3 = evaluate.statements.filter((s) => s.Action.some((a) => a.startsWith('s3:')));

      expect(s3).toEqual([
        {
          Sid: 'ListOwnPrefixes',
          Effect: 'Allow',
          Action: ['s3:ListBucket'],
          Resource: getAtt(bucket),
          Condition: { StringLike: { 's3:prefix': ['rollups/*', 'alerts/state/*', 'alerts/outbox/*'] } },
        },
        {
          Effect: 'Allow',
          Action: ['s3:DeleteObject', 's3:GetObject', 's3:PutObject'],
          Resource: objectsUnder(bucket, 'rollups/'),
        },
        // CDK merges the two statements of equal actions (@aws-cdk/aws-iam:minimizePolicies).
        {
          Effect: 'Allow',
          Action: ['s3:GetObject', 's3:PutObject'],
          Resource: expect.arrayContaining([
            objectsUnder(bucket, 'alerts/state/'),
            objectsUnder(bucket, 'alerts/outbox/'),
          ]),
        },
        {
          Sid: 'WriteLastRunMarker',
          Effect: 'Allow',
          Action: ['s3:PutObject'],
          Resource: { 'Fn::Join': ['', [getAtt(bucket), '/status/evaluate/last-run.json']] },
        },
      ]);
      expect(s3[2]?.Resource).toHaveLength(2);
      // Its log group, its last-run marker, and the stream reads of the next test: nothing else.
      expect(evaluate.statements).toHaveLength(7);
    });

    it('may list the shards of the stream and read a few records after a shard’s last one, decrypting with its key only', () => {
      const stream = Object.keys(template.findResources('AWS::Kinesis::Stream'));
      const key = Object.keys(template.findResources('AWS::KMS::Key'));
      const reads = evaluate.statements.filter((s) =>
        s.Action.some((a) => a.startsWith('kinesis:') || a.startsWith('kms:')),
      );

      expect(stream).toHaveLength(1);
      expect(key).toHaveLength(1);
      expect(reads).toEqual([
        {
          Effect: 'Allow',
          Action: ['kinesis:GetRecords', 'kinesis:GetShardIterator', 'kinesis:ListShards'],
          Resource: getAtt(stream[0] ?? ''),
        },
        { Effect: 'Allow', Action: ['kms:Decrypt'], Resource: getAtt(key[0] ?? '') },
      ]);
    });

    it('gets the stream name, the allowed lateness and the maximum wait, the lateness the same as ingest’s', () => {
      const custom = synthTemplate({ ...WITH_NOTIFIER, 'skein:allowedLatenessSeconds': 20 });
      const variables = (prefix: string) =>
        Object.values(
          custom.findResources('AWS::Lambda::Function', {
            Properties: { Description: Match.stringLikeRegexp(`^${prefix}`) },
          }),
        )[0]?.Properties.Environment.Variables as Record<string, unknown>;
      const evaluateVars = variables('Skein evaluate');
      const stream = Object.keys(custom.findResources('AWS::Kinesis::Stream'))[0] ?? '';

      expect(evaluateVars).toMatchObject({
        SKEIN_ALLOWED_LATENESS_SECONDS: '20',
        SKEIN_EVALUATION_MAX_WAIT_SECONDS: '120',
        SKEIN_STREAM_NAME: { Ref: stream },
      });
      expect(variables('Skein ingest').SKEIN_ALLOWED_LATENESS_SECONDS).toBe('20');
      const config = loadEvaluateConfig({
        SKEIN_BUCKET: 'skein-data-example',
        SKEIN_ALLOWED_LATENESS_SECONDS: '20',
        SKEIN_EVALUATION_MAX_WAIT_SECONDS: '120',
        SKEIN_STREAM_NAME: 'skein',
      });
      expect(config).toMatchObject({ latenessMs: 20_000, maxWaitMs: 120_000, streamName: 'skein' });
    });
  });

  describe('rule files', () => {
    let root: string;

    beforeAll(async () => {
      root = await mkdtemp(join(tmpdir(), 'skein-rules-'));
      await mkdir(join(root, 'rules', 'team'), { recursive: true });
    });
    afterAll(async () => {
      await rm(root, { recursive: true, force: true });
    });

    it('bundles the repository rule files, rule tests left out, each validated at synthesis', () => {
      const files = validateRuleFiles('rules/examples');

      expect(files.length).toBeGreaterThan(0);
      expect(files.every((f) => f.from.startsWith('rules/examples/') && f.to === f.from)).toBe(true);
      expect(files.some((f) => f.from.endsWith('.test.yaml'))).toBe(false);
    });

    it('bundles exactly the selected rule file (skein:rules), by default the request-health rules', () => {
      expect(validateRuleFiles(SkeinSettings.parse({}).rules)).toEqual([
        { from: 'rules/examples/service-health.yaml', to: 'rules/examples/service-health.yaml' },
      ]);
      expect(() => validateRuleFiles('rules/nope.yaml')).toThrowError(/does not exist/);
    });

    it('stop cdk synth with a ConfigError naming file, line and column of an invalid rule', async () => {
      // Prepare
      await writeFile(
        join(root, 'rules', 'team', 'bad.yaml'),
        'groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: count(\n',
      );
      await writeFile(join(root, 'rules', 'team', 'bad.test.yaml'), 'not: [a rule file\n');

      // Act
      const act = () => validateRuleFiles('rules', root);

      // Assess
      expect(ruleFiles('rules', root)).toEqual(['rules/team/bad.yaml']);
      expect(act).toThrowError(ConfigError);
      expect(act).toThrowError(/rules\/team\/bad\.yaml:\d+:\d+/);
    });
  });

  describe('notifier', () => {
    it('runs on every object created under alerts/outbox/ and every minute', () => {
      template.hasResourceProperties('Custom::S3BucketNotifications', {
        BucketName: { Ref: bucket },
        NotificationConfiguration: {
          LambdaFunctionConfigurations: [
            {
              Events: ['s3:ObjectCreated:*'],
              Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: 'alerts/outbox/' }] } },
              LambdaFunctionArn: getAtt(notify.id),
            },
          ],
        },
      });
      template.hasResourceProperties('AWS::Lambda::Permission', {
        FunctionName: getAtt(notify.id),
        Principal: 's3.amazonaws.com',
        SourceArn: getAtt(bucket),
      });
      template.hasResourceProperties('AWS::Events::Rule', {
        ScheduleExpression: 'rate(1 minute)',
        Targets: [Match.objectLike({ Arn: getAtt(notify.id) })],
      });
    });

    it('reads its bundled configuration file through the variable its parser reads', () => {
      const fn = template.findResources('AWS::Lambda::Function')[notify.id];
      const variables: Record<string, unknown> = fn?.Properties.Environment.Variables;

      expect(variables).toEqual({
        SKEIN_BUCKET: { Ref: bucket },
        SKEIN_NOTIFY_CONFIG_FILE: '/var/task/notify.yaml',
        SKEIN_LOG_LEVEL: 'info',
        NODE_OPTIONS: '--enable-source-maps',
      });
      expect(
        NotifyEnv.parse({ SKEIN_BUCKET: 'skein-data-example', SKEIN_NOTIFY_CONFIG_FILE: '/var/task/notify.yaml' }),
      ).toMatchObject({ SKEIN_NOTIFY_CONFIG_FILE: '/var/task/notify.yaml' });
    });

    it('has one placeholder secret per secret its configuration names, and may read exactly those', () => {
      const secrets = template.findResources('AWS::SecretsManager::Secret');
      const byName = new Map(Object.entries(secrets).map(([id, s]) => [s.Properties.Name, { id, s }]));

      expect([...byName.keys()].sort()).toEqual(['skein/pagerduty/routing-key', 'skein/slack/webhook-url']);
      for (const { s } of byName.values()) expect(s.Properties.SecretString).toBe(SECRET_PLACEHOLDER);
      const read = notify.statements.filter((s) => s.Action.some((a) => a.startsWith('secretsmanager:')));
      expect(read).toEqual([
        {
          Sid: 'ReadNotifierSecrets',
          Effect: 'Allow',
          Action: ['secretsmanager:GetSecretValue'],
          Resource: expect.arrayContaining([...byName.values()].map(({ id }) => ({ Ref: id }))),
        },
      ]);
      expect(read[0]?.Resource).toHaveLength(2);
    });

    it('may list, read, write and delete under alerts/ only', () => {
      const s3 = notify.statements.filter((s) => s.Action.some((a) => a.startsWith('s3:')));

      expect(s3).toEqual([
        {
          Sid: 'ListOwnPrefixes',
          Effect: 'Allow',
          Action: ['s3:ListBucket'],
          Resource: getAtt(bucket),
          Condition: { StringLike: { 's3:prefix': ['alerts/*'] } },
        },
        {
          Effect: 'Allow',
          Action: ['s3:DeleteObject', 's3:GetObject', 's3:PutObject'],
          Resource: objectsUnder(bucket, 'alerts/'),
        },
      ]);
      expect(notify.statements).toHaveLength(4);
    });

    it('is not deployed without a configuration file, and a bad one stops synthesis', () => {
      const without = synthTemplate({ 'skein:notifyConfig': 'config/does-not-exist.yaml' });

      expect(
        without.findResources('AWS::Lambda::Function', {
          Properties: { Description: Match.stringLikeRegexp('^Skein notify') },
        }),
      ).toEqual({});
      without.resourceCountIs('AWS::SecretsManager::Secret', 0);
      expect(() => synthTemplate({ 'skein:notifyConfig': 'rules/examples/cluster.yaml' })).toThrowError(ConfigError);
    });
  });

  describe('alarms', () => {
    it.each(['evaluate', 'notify'] as const)(
      'fire when the %s function errors or has not run for 10 minutes',
      (name) => {
        const fn = name === 'evaluate' ? evaluate.id : notify.id;
        const dimensions = [{ Name: 'FunctionName', Value: { Ref: fn } }];

        template.hasResourceProperties('AWS::CloudWatch::Alarm', {
          MetricName: 'Errors',
          Namespace: 'AWS/Lambda',
          Dimensions: dimensions,
          Threshold: 0,
          ComparisonOperator: 'GreaterThanThreshold',
        });
        template.hasResourceProperties('AWS::CloudWatch::Alarm', {
          MetricName: 'Invocations',
          Namespace: 'AWS/Lambda',
          Dimensions: dimensions,
          Period: 600,
          Statistic: 'Sum',
          Threshold: 1,
          ComparisonOperator: 'LessThanThreshold',
          TreatMissingData: 'breaching',
        });
      },
    );

    it('fire when the notifier dead-letters a notification', () => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'Skein',
        MetricName: 'DeadLettered',
        Dimensions: Match.absent(),
        Statistic: 'Sum',
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        TreatMissingData: 'notBreaching',
      });
    });

    it('fire when alert rules are evaluated on incomplete minutes more than twice in 15 minutes', () => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'Skein',
        MetricName: 'MinutesEvaluatedIncomplete',
        Dimensions: Match.absent(),
        Statistic: 'Sum',
        Period: 900,
        Threshold: 2,
        ComparisonOperator: 'GreaterThanThreshold',
        TreatMissingData: 'notBreaching',
      });
    });

    it('fire for the compactor too', () => {
      const compact = functionDescribed(template, 'Skein compact');

      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'Invocations',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: compact.id } }],
        Threshold: 1,
        ComparisonOperator: 'LessThanThreshold',
      });
    });
  });
});
