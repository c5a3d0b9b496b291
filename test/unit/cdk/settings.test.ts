import { App } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { parseSkeinSettings, scanLimitBytes, settingsFromContext } from '../../../lib/settings.ts';
import { environmentFrom } from '../../../lib/skein-app.ts';
import { ConfigError } from '../../../schemas/errors.ts';

describe('stack settings', () => {
  it('default to the documented values', () => {
    expect(parseSkeinSettings({})).toEqual({
      streamName: 'skein',
      streamRetentionDays: 7,
      batchSize: 1000,
      batchWindowSeconds: 5,
      allowedLatenessSeconds: 30,
      evaluationMaxWaitSeconds: 120,
      athenaScanLimitGiB: 10,
      quarantineExpiryDays: 30,
      rowGroupRows: 10_000,
      format: 'auto',
      logLevel: 'info',
      rules: 'rules/examples/service-health.yaml',
      notifyConfig: 'config/notify.yaml',
    });
  });

  it('read skein:<key> from the context, strings included, and let explicit settings win', () => {
    const app = new App({ context: { 'skein:batchSize': '500', 'skein:streamName': 'telemetry', other: 1 } });

    expect(settingsFromContext(app, { streamName: 'from-props' })).toMatchObject({
      batchSize: 500,
      streamName: 'from-props',
    });
  });

  it.each([
    ['skein:batchSize', { batchSize: 10_001 }],
    ['skein:batchWindowSeconds', { batchWindowSeconds: 301 }],
    ['skein:streamRetentionDays', { streamRetentionDays: 0 }],
    ['skein:streamName', { streamName: 'has space' }],
    ['skein:streamName', { streamName: 'x'.repeat(120) }], // + '-<8 hex>' would pass Kinesis' 128 characters
    ['skein:athenaScanLimitGiB', { athenaScanLimitGiB: 0.001 }],
    ['skein:logLevel', { logLevel: 'verbose' }],
    ['skein:format', { format: 'xml' }],
    ['skein:rules', { rules: 'rules/../../etc' }],
    ['skein:rules', { rules: 'elsewhere/rules.yaml' }],
    ['skein:notifyConfig', { notifyConfig: '../outside/notify.yaml' }],
    ['skein:notifyConfig', { notifyConfig: 'config/notify.json' }],
    ['skein:alarmTopicArn', { alarmTopicArn: 'arn:aws:sqs:eu-west-1:123456789012:not-a-topic' }],
  ])('reject a bad %s with a ConfigError naming the key', (key, input) => {
    expect(() => parseSkeinSettings(input)).toThrowError(ConfigError);
    expect(() => parseSkeinSettings(input)).toThrowError(key);
  });

  it('convert the Athena scan limit from GiB to bytes', () => {
    expect(scanLimitBytes({ athenaScanLimitGiB: 10 })).toBe(10_737_418_240);
  });
});

describe('deployment environment', () => {
  it('is pinned only when the CLI knows both account and region', () => {
    expect(environmentFrom({ CDK_DEFAULT_ACCOUNT: '123456789012', CDK_DEFAULT_REGION: 'eu-west-1' })).toEqual({
      account: '123456789012',
      region: 'eu-west-1',
    });
    expect(environmentFrom({ CDK_DEFAULT_REGION: 'us-east-1' })).toBeUndefined();
    expect(environmentFrom({})).toBeUndefined();
  });
});
