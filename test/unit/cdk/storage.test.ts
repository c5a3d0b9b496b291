import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { synthTemplate } from '../../support/cdk.ts';

function bucketId(template: Template, lifecycleRuleId: string): string {
  const found = Object.keys(
    template.findResources('AWS::S3::Bucket', {
      Properties: { LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ Id: lifecycleRuleId })]) } },
    }),
  );
  expect(found).toHaveLength(1);
  return found[0] ?? '';
}

describe('buckets', () => {
  let template: Template;
  let ids: { data: string; results: string; accessLogs: string };

  beforeAll(() => {
    template = synthTemplate();
    ids = {
      data: bucketId(template, 'expire-quarantine'),
      results: bucketId(template, 'expire-query-results'),
      accessLogs: bucketId(template, 'expire-access-logs'),
    };
  });

  it('are three: data, Athena results and access logs', () => {
    template.resourceCountIs('AWS::S3::Bucket', 3);
  });

  it.each(['data', 'results', 'accessLogs'] as const)(
    '%s bucket: SSE-S3, no public access, no ACLs, retained',
    (name) => {
      const bucket = template.findResources('AWS::S3::Bucket')[ids[name]];

      expect(bucket?.DeletionPolicy).toBe('Retain');
      expect(bucket?.UpdateReplacePolicy).toBe('Retain');
      expect(bucket?.Properties).toMatchObject({
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
        },
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
      });
      expect(bucket?.Properties.VersioningConfiguration).toBeUndefined();
    },
  );

  it.each(['data', 'results', 'accessLogs'] as const)(
    '%s bucket: policy denies plain HTTP and TLS below 1.2',
    (name) => {
      template.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: { Ref: ids[name] },
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Principal: { AWS: '*' },
              Action: 's3:*',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
            Match.objectLike({
              Effect: 'Deny',
              Action: 's3:*',
              Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } },
            }),
          ]),
        },
      });
    },
  );

  it('data and results buckets log access to the access-log bucket, each under its own prefix', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      LoggingConfiguration: { DestinationBucketName: { Ref: ids.accessLogs }, LogFilePrefix: 'data/' },
    });
    template.hasResourceProperties('AWS::S3::Bucket', {
      LoggingConfiguration: { DestinationBucketName: { Ref: ids.accessLogs }, LogFilePrefix: 'athena-results/' },
    });
  });

  it('data bucket expires quarantine/ after 30 days, keeps tables/ and aborts stale multipart uploads', () => {
    const rules = template.findResources('AWS::S3::Bucket')[ids.data]?.Properties.LifecycleConfiguration.Rules;

    expect(rules).toEqual([
      { Id: 'expire-quarantine', Prefix: 'quarantine/', ExpirationInDays: 30, Status: 'Enabled' },
      { Id: 'abort-incomplete-uploads', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 }, Status: 'Enabled' },
    ]);
  });

  it('takes the quarantine expiry from the context', () => {
    const custom = synthTemplate({ 'skein:quarantineExpiryDays': '90' });

    custom.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([Match.objectLike({ Prefix: 'quarantine/', ExpirationInDays: 90 })]),
      },
    });
  });

  it('results bucket expires query results after 7 days', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([{ Id: 'expire-query-results', ExpirationInDays: 7, Status: 'Enabled' }]),
      },
    });
  });

  it('access-log bucket lets only the S3 logging service of this account write, and only from the Skein buckets', () => {
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: ids.accessLogs },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'logging.s3.amazonaws.com' },
            Action: 's3:PutObject',
            Condition: Match.objectLike({ StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } }),
          }),
        ]),
      },
    });
  });
});
