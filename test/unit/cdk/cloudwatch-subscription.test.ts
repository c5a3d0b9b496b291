import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { synthTemplate } from '../../support/cdk.ts';

const Statement = z.object({
  Sid: z.string().optional(),
  Effect: z.string(),
  Action: z.union([z.string(), z.array(z.string())]),
  Resource: z.unknown(),
});
const PolicyResource = z.object({
  Properties: z.object({ PolicyDocument: z.object({ Statement: z.array(Statement) }) }),
});
const RoleResource = z.object({
  Properties: z.object({
    AssumeRolePolicyDocument: z.object({
      Statement: z.array(
        z.object({
          Effect: z.string(),
          Action: z.string(),
          Principal: z.unknown(),
          Condition: z.unknown().optional(),
        }),
      ),
    }),
  }),
});

const getAtt = (logicalId: string, attribute = 'Arn') => ({ 'Fn::GetAtt': [logicalId, attribute] });

function only(template: Template, type: string, props: Record<string, unknown> = {}): [string, unknown] {
  const found = Object.entries(template.findResources(type, props));
  expect(found, `exactly one ${type}`).toHaveLength(1);
  const [entry] = found;
  if (!entry) throw new Error(`no ${type}`);
  return entry;
}

describe('CloudWatch Logs subscription role', () => {
  let template: Template;
  let roleId: string;
  let role: z.infer<typeof RoleResource>;

  beforeAll(() => {
    // Prepare
    // Act
    template = synthTemplate();

    const [id, resource] = only(template, 'AWS::IAM::Role', {
      Properties: { AssumeRolePolicyDocument: { Statement: [{ Principal: { Service: 'logs.amazonaws.com' } }] } },
    });
    roleId = id;
    role = RoleResource.parse(resource);
  });

  it('is assumable only by CloudWatch Logs acting for log groups of this account and region', () => {
    expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      {
        Effect: 'Allow',
        Action: 'sts:AssumeRole',
        Principal: { Service: 'logs.amazonaws.com' },
        Condition: {
          StringLike: {
            'aws:SourceArn': {
              'Fn::Join': [
                '',
                [
                  'arn:',
                  { Ref: 'AWS::Partition' },
                  ':logs:',
                  { Ref: 'AWS::Region' },
                  ':',
                  { Ref: 'AWS::AccountId' },
                  ':*',
                ],
              ],
            },
          },
        },
      },
    ]);
  });

  it('may only put records on the Skein stream and generate data keys of the stream key', () => {
    const [streamId] = only(template, 'AWS::Kinesis::Stream');
    const [keyId] = only(template, 'AWS::KMS::Key');
    const policies = template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleId }] } });

    const statements = Object.values(policies).flatMap(
      (p) => PolicyResource.parse(p).Properties.PolicyDocument.Statement,
    );

    expect(statements).toEqual([
      {
        Sid: 'PutRecordsOnTheSkeinStream',
        Effect: 'Allow',
        Action: ['kinesis:PutRecord', 'kinesis:PutRecords'],
        Resource: getAtt(streamId),
      },
      { Sid: 'EncryptWithTheStreamKey', Effect: 'Allow', Action: 'kms:GenerateDataKey', Resource: getAtt(keyId) },
    ]);
    expect(template.findResources('AWS::IAM::ManagedPolicy')).toEqual({});
  });

  it('outputs its ARN for put-subscription-filter --role-arn', () => {
    template.hasOutput('CloudWatchSubscriptionRoleArn', { Value: getAtt(roleId) });
  });
});
