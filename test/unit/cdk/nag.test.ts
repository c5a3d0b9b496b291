import { type App, CfnResource, Validations } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks, NagRuleCompliance, type NagRuleResult, rules } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createSkeinApp } from '../../../lib/skein-app.ts';
import type { SkeinStack } from '../../../lib/skein-stack.ts';
import { CDK_CONTEXT } from '../../support/cdk.ts';

/** The rule behind each acknowledged id, to prove an acknowledgement silences a finding that really exists. */
const RULES: Record<string, (node: CfnResource) => NagRuleResult> = {
  'AwsSolutions-KDS3': rules.kinesis.KinesisDataStreamDefaultKeyWhenSSE,
  'AwsSolutions-SQS3': rules.sqs.SQSQueueDLQ,
  'AwsSolutions-IAM5': rules.iam.IAMNoWildcardPermissions,
  'AwsSolutions-IAM4': rules.iam.IAMNoManagedPolicies,
  'AwsSolutions-SMG4': rules.secretsmanager.SecretsManagerRotationEnabled,
};

/** cdk.json's context with a notifier configuration, so the notifier, its secrets and its S3 trigger are checked too. */
const CONTEXT = { ...CDK_CONTEXT, 'skein:notifyConfig': 'config/notify.example.yaml' };

interface Acknowledgement {
  readonly path: string;
  readonly id: string;
  readonly reason: string;
  readonly scope: IConstruct;
}

function acknowledgements(root: IConstruct): Acknowledgement[] {
  const entries = z.record(z.string(), z.string());
  return root.node.findAll().flatMap((scope) =>
    scope.node.metadata
      .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((m) =>
        Object.entries(entries.parse(m.data)).map(([key, reason]) => ({
          path: scope.node.path,
          id: key.replace(/^annotation::/i, ''),
          reason,
          scope,
        })),
      ),
  );
}

describe('cdk-nag AwsSolutions checks', () => {
  let app: App;
  let stack: SkeinStack;

  // The app exactly as `cdk synth` builds it: esbuild bundling, CloudFormation validation and the nag plugin, which
  // makes synthesis throw on any unacknowledged cdk-nag error.
  beforeAll(() => {
    ({ app, stack } = createSkeinApp({ context: CONTEXT }));
    app.synth();
  }, 120_000);

  it('report no unacknowledged error or warning', () => {
    const report = new AwsSolutionsChecks().validateScope(app);

    const findings = report.violations.map(
      (v) => `${v.severity} ${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
    );
    expect(findings).toEqual([]);
    // cdk-nag 3 reports through the validation plugin, not annotations; none may show up there either.
    const annotations = Annotations.fromStack(stack);
    expect(annotations.findError('*', Match.stringLikeRegexp('AwsSolutions-.*'))).toEqual([]);
    expect(annotations.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*'))).toEqual([]);
    expect(annotations.findError('*', Match.anyValue())).toEqual([]);
  });

  it('acknowledge exactly these findings, each with a reason', () => {
    const acks = acknowledgements(stack);
    const bucketResource = stack.storage.bucket.node.defaultChild;
    if (!(bucketResource instanceof CfnResource)) throw new Error('the data bucket has no CloudFormation resource');
    const dataBucket = stack.getLogicalId(bucketResource);

    const under = (prefix: string) => `AwsSolutions-IAM5[Resource::<${dataBucket}.Arn>/${prefix}*]`;
    expect(acks.map((a) => [a.path, a.id]).sort()).toEqual(
      [
        ['Skein/Ingest/Stream', 'AwsSolutions-KDS3'],
        ['Skein/Ingest/FailedBatches', 'AwsSolutions-SQS3'],
        ['Skein/Ingest/Role', under('tables/')],
        ['Skein/Ingest/Role', under('quarantine/')],
        ['Skein/Ingest/Role', under('rollups/')],
        ['Skein/Compaction/Compact/Role', under('tables/')],
        ['Skein/Alerting/Evaluate/Role', under('rollups/')],
        ['Skein/Alerting/Evaluate/Role', under('alerts/state/')],
        ['Skein/Alerting/Evaluate/Role', under('alerts/outbox/')],
        ['Skein/Alerting/Notify/Role', under('alerts/')],
        ['Skein/Alerting/NotifySecret0', 'AwsSolutions-SMG4'],
        ['Skein/Alerting/NotifySecret1', 'AwsSolutions-SMG4'],
        [
          'Skein/BucketNotificationsHandler050a0587b7544547bf325f094a3db834',
          'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        ],
      ].sort(),
    );
    for (const ack of acks) expect(ack.reason.length, ack.id).toBeGreaterThan(40);
  });

  it('acknowledge only findings their rule really raises', () => {
    for (const ack of acknowledgements(stack)) {
      const [ruleId, finding] = /^([^[]+)(?:\[(.+)\])?$/.exec(ack.id)?.slice(1) ?? [];
      const rule = RULES[ruleId ?? ''];
      expect(rule, `rule of ${ack.id}`).toBeDefined();
      const resources = ack.scope.node.findAll().filter((c) => c instanceof CfnResource);

      const results = resources.map((r) => rule?.(r));

      const raised = results.some((result) =>
        finding === undefined
          ? result === NagRuleCompliance.NON_COMPLIANT
          : Array.isArray(result) && result.includes(finding),
      );
      expect(raised, `${ack.id} at ${ack.path}`).toBe(true);
    }
  });

  it('fail synthesis on a finding nobody acknowledged', () => {
    const { app: other, stack: otherStack } = createSkeinApp({
      context: { ...CONTEXT, 'aws:cdk:bundling-stacks': [] },
      cfnValidation: false,
    });
    new Bucket(otherStack, 'Unlogged', { enforceSSL: true });

    expect(() => other.synth()).toThrowError(/AwsSolutions-S1/);
  });
});
