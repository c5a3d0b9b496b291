import { Match, type Template } from 'aws-cdk-lib/assertions';
import { expect } from 'vitest';
import { z } from 'zod';

const Statement = z.object({
  Sid: z.string().optional(),
  Effect: z.string(),
  Action: z.union([z.string(), z.array(z.string())]),
  Resource: z.unknown(),
  Condition: z.unknown().optional(),
});
const PolicyResource = z.object({
  Properties: z.object({ PolicyDocument: z.object({ Statement: z.array(Statement) }) }),
});
const FunctionResource = z.object({
  Properties: z.object({ Role: z.object({ 'Fn::GetAtt': z.tuple([z.string(), z.string()]) }) }).loose(),
});

/** The one Lambda function whose description starts with `prefix`: its logical id, role and role statements. */
export function functionDescribed(template: Template, prefix: string) {
  const found = Object.entries(
    template.findResources('AWS::Lambda::Function', {
      Properties: { Description: Match.stringLikeRegexp(`^${prefix}`) },
    }),
  );
  expect(found, `exactly one function described '${prefix}…'`).toHaveLength(1);
  const [id = '', resource] = found[0] ?? [];
  const role = FunctionResource.parse(resource).Properties.Role['Fn::GetAtt'][0];
  const policies = template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: role }] } });
  const statements = Object.values(policies).flatMap(
    (p) => PolicyResource.parse(p).Properties.PolicyDocument.Statement,
  );
  return { id, role, statements: statements.map((s) => ({ ...s, Action: [s.Action].flat().sort() })) };
}

export const getAtt = (logicalId: string, attribute = 'Arn') => ({ 'Fn::GetAtt': [logicalId, attribute] });
export const objectsUnder = (bucket: string, prefix: string) => ({
  'Fn::Join': ['', [getAtt(bucket), `/${prefix}*`]],
});

/** The data bucket: the one that expires quarantine/. */
export function dataBucketId(template: Template): string {
  return (
    Object.keys(
      template.findResources('AWS::S3::Bucket', {
        Properties: {
          LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ Id: 'expire-quarantine' })]) },
        },
      }),
    )[0] ?? ''
  );
}
