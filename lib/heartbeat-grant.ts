import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { Bucket } from 'aws-cdk-lib/aws-s3';
import { type HeartbeatFunction, heartbeatKey } from '../functions/core/heartbeat.ts';

/**
 * Lets a scheduled function write its last-run marker (`status/<function>/last-run.json`, decision D20): `PutObject`
 * on that one key, so no wildcard and nothing for cdk-nag to acknowledge.
 */
export function grantHeartbeat(grantee: IGrantable, bucket: Bucket, fn: HeartbeatFunction): void {
  grantee.grantPrincipal.addToPrincipalPolicy(
    new PolicyStatement({
      sid: 'WriteLastRunMarker',
      actions: ['s3:PutObject'],
      resources: [bucket.arnForObjects(heartbeatKey(fn))],
    }),
  );
}
