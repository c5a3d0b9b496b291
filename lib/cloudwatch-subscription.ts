import { ArnFormat, Stack } from 'aws-cdk-lib';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IStream } from 'aws-cdk-lib/aws-kinesis';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';

export interface CloudWatchSubscriptionProps {
  /** The stream the subscription filters deliver to. */
  readonly stream: IStream;
  /** The customer-managed key the stream is encrypted with. */
  readonly streamKey: IKey;
}

/**
 * The IAM role CloudWatch Logs assumes to deliver a subscription filter's log events to the Skein stream
 * (`aws logs put-subscription-filter --destination-arn <stream ARN> --role-arn <this role>`, or an account-level
 * subscription filter policy). It can do exactly that: put records on this stream, and generate data keys of the
 * stream's KMS key, which Kinesis server-side encryption needs for every put.
 *
 * Only CloudWatch Logs acting for this account and region can assume it: the trust policy requires `aws:SourceArn`
 * to be a CloudWatch Logs ARN of this account and region (the confused-deputy protection AWS documents for
 * subscription filters, "Subscription filters with Kinesis Data Streams", CloudWatch Logs User Guide). The pattern
 * is `arn:<partition>:logs:<region>:<account>:*`, as documented, so log-group-level and account-level subscription
 * filters both work.
 */
export class CloudWatchSubscription extends Construct {
  readonly role: Role;

  constructor(scope: Construct, id: string, props: CloudWatchSubscriptionProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const logsOfThisAccount = stack.formatArn({
      service: 'logs',
      resource: '*',
      arnFormat: ArnFormat.NO_RESOURCE_NAME,
    });

    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('logs.amazonaws.com', {
        conditions: { StringLike: { 'aws:SourceArn': logsOfThisAccount } },
      }),
      description:
        'Skein: lets CloudWatch Logs subscription filters of this account put log events on the Skein stream',
    });
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'PutRecordsOnTheSkeinStream',
        actions: ['kinesis:PutRecord', 'kinesis:PutRecords'],
        resources: [props.stream.streamArn],
      }),
    );
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'EncryptWithTheStreamKey',
        actions: ['kms:GenerateDataKey'],
        resources: [props.streamKey.keyArn],
      }),
    );
  }
}
