import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { synthTemplate } from '../../support/cdk.ts';
import { dataBucketId, functionDescribed, getAtt, objectsUnder } from './template-helpers.ts';

describe('compaction', () => {
  let template: Template;
  let compact: ReturnType<typeof functionDescribed>;
  let bucket: string;

  beforeAll(() => {
    template = synthTemplate();
    compact = functionDescribed(template, 'Skein compact');
    bucket = dataBucketId(template);
  });

  it('runs the compact handler on Node.js 24 ARM64 with 3008 MB, 15 minutes and one run at a time', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('^Skein compact'),
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      MemorySize: 3008,
      Timeout: 900,
      ReservedConcurrentExecutions: 1,
      Environment: {
        Variables: { SKEIN_BUCKET: { Ref: bucket }, SKEIN_LOG_LEVEL: 'info', NODE_OPTIONS: '--enable-source-maps' },
      },
    });
  });

  it('is invoked every minute by EventBridge (the index of the open hour is merged a minute at a time), and not retried asynchronously', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      State: 'ENABLED',
      Targets: [Match.objectLike({ Arn: getAtt(compact.id) })],
    });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: compact.id },
      MaximumRetryAttempts: 0,
    });
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: getAtt(compact.id),
      Principal: 'events.amazonaws.com',
    });
  });

  it('may only list, read, write and delete under tables/ of the data bucket, write its last-run marker and its log group', () => {
    const s3 = compact.statements.filter((s) => s.Action.some((a) => a.startsWith('s3:')));

    expect(s3).toEqual([
      {
        Sid: 'ListOwnPrefixes',
        Effect: 'Allow',
        Action: ['s3:ListBucket'],
        Resource: getAtt(bucket),
        Condition: { StringLike: { 's3:prefix': ['tables/*'] } },
      },
      {
        Effect: 'Allow',
        Action: ['s3:DeleteObject', 's3:GetObject', 's3:PutObject'],
        Resource: objectsUnder(bucket, 'tables/'),
      },
      {
        Sid: 'WriteLastRunMarker',
        Effect: 'Allow',
        Action: ['s3:PutObject'],
        Resource: { 'Fn::Join': ['', [getAtt(bucket), '/status/compact/last-run.json']] },
      },
    ]);
    expect(compact.statements.map((s) => s.Action)).toEqual(
      expect.arrayContaining([['logs:CreateLogStream', 'logs:PutLogEvents']]),
    );
    expect(compact.statements).toHaveLength(4);
  });
});
