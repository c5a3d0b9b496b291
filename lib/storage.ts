import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  type BucketProps,
  type IBucket,
  ObjectOwnership,
} from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

/** Top-level prefixes of the data bucket (docs/architecture.md; keys: decision D1, index: D14). */
export const DATA_PREFIXES = {
  /** Parquet tables: `tables/<table>/dt=YYYY-MM-DD/hour=HH/…` (logs, spans, trace_index). */
  tables: 'tables/',
  /** Records that could not be decoded: raw bytes + reason. */
  quarantine: 'quarantine/',
  /** Per-minute rollups ingest writes and the evaluator reads (and merges per closed minute). */
  rollups: 'rollups/',
  /** Alert state, outbox, delivery records and dead letters (schemas/alerts.ts). */
  alerts: 'alerts/',
} as const;

/** Server access logs are for investigations, not an archive. */
const ACCESS_LOG_EXPIRY_DAYS = 90;

/**
 * Settings every Skein bucket shares: S3-managed encryption, no public access, TLS 1.2+ only, ACLs disabled,
 * failed multipart uploads cleaned up, retained when the stack is deleted.
 */
export function secureBucketProps(): BucketProps {
  return {
    encryption: BucketEncryption.S3_MANAGED,
    blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
    enforceSSL: true,
    minimumTLSVersion: 1.2,
    objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
    versioned: false,
    removalPolicy: RemovalPolicy.RETAIN,
  };
}

/** Where a bucket sends its server access logs. */
export interface AccessLogTarget {
  readonly serverAccessLogsBucket: IBucket;
  readonly serverAccessLogsPrefix: string;
}

export interface StorageProps {
  /** Days until S3 expires objects under `quarantine/`. */
  readonly quarantineExpiryDays: number;
}

/** The data bucket (tables, quarantine) and the bucket that receives the server access logs of every Skein bucket. */
export class Storage extends Construct {
  readonly bucket: Bucket;
  readonly accessLogs: Bucket;

  constructor(scope: Construct, id: string, props: StorageProps) {
    super(scope, id);

    this.accessLogs = new Bucket(this, 'AccessLogs', {
      ...secureBucketProps(),
      lifecycleRules: [
        { id: 'expire-access-logs', expiration: Duration.days(ACCESS_LOG_EXPIRY_DAYS) },
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
    });
    // No access logs of its own (logging the log deliveries would loop); cdk-nag S1 accepts a bucket that is the
    // log target of another bucket in the stack.

    this.bucket = new Bucket(this, 'Data', {
      ...secureBucketProps(),
      ...this.accessLogsFor('data'),
      lifecycleRules: [
        {
          id: 'expire-quarantine',
          prefix: DATA_PREFIXES.quarantine,
          expiration: Duration.days(props.quarantineExpiryDays),
        },
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
    });
  }

  /** Server access log settings for another Skein bucket: its own prefix in the shared log bucket. */
  accessLogsFor(prefix: string): AccessLogTarget {
    // aws-cdk-lib declares `Bucket.isWebsite` as `boolean | undefined` but `IBucket.isWebsite` as optional `boolean`,
    // which exactOptionalPropertyTypes rejects; it is the same object.
    return { serverAccessLogsBucket: this.accessLogs as IBucket, serverAccessLogsPrefix: `${prefix}/` };
  }
}
