import { Aws, Duration, Fn, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Stream, StreamEncryption, StreamMode } from 'aws-cdk-lib/aws-kinesis';
import { Key } from 'aws-cdk-lib/aws-kms';
import { StartingPosition } from 'aws-cdk-lib/aws-lambda';
import { KinesisEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Bucket } from 'aws-cdk-lib/aws-s3';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { INGEST_NODE_OPTIONS } from '../functions/ingest/node-options.ts';
import { ConfigError } from '../schemas/errors.ts';
import {
  bucketCfn,
  ESM_CJS_SHIM,
  LAMBDA_TASK_ROOT,
  RULES_DIR,
  skeinBundle,
  validateRuleFiles,
} from './lambda-function.ts';
import type { SkeinSettings } from './settings.ts';
import { DATA_PREFIXES } from './storage.ts';

export { ESM_CJS_SHIM };

/** Entry of the ingest Lambda, relative to the repository root. */
export const INGEST_ENTRY = 'functions/ingest/handler.ts';

/**
 * Event source mapping settings that are not deploy-time knobs: each is a correctness choice.
 * Retries are bounded so a poison batch cannot block its shard for the whole retention period; bisecting narrows
 * a failing batch down to the bad record; records older than a day are handed to the on-failure queue instead of
 * being retried further (must stay ≤ the stream retention, and Lambda caps it at 7 days).
 */
export const INGEST_EVENT_SOURCE = {
  retryAttempts: 10,
  maxRecordAge: Duration.days(1),
  /**
   * One concurrent batch per shard keeps records of a shard in order. Object keys are derived from the batch's first
   * record (`<shard>-<firstSeq>`, docs/decisions.md D1), so a retried batch overwrites its own objects only if the
   * retry starts where the failed batch started, which needs in-order processing per shard.
   */
  parallelizationFactor: 1,
} as const;

/**
 * The stream's physical name: `<skein:streamName>-<8 hex digits of the stack's id>`, e.g. `skein-51af3dc0`. The
 * stream is retained when the stack is deleted, so a fixed name would make the next deploy of a stack of the same
 * name fail (the name is taken). The stack id is new for every created stack and fixed for its lifetime, so updates
 * keep the name and a redeploy after a delete creates a new stream beside the retained one. Producers take the name
 * from the `StreamName` output.
 */
export function streamPhysicalName(prefix: string): string {
  const stackUuid = Fn.select(2, Fn.split('/', Aws.STACK_ID));
  return Fn.join('-', [prefix, Fn.select(0, Fn.split('-', stackUuid))]);
}

export interface IngestProps {
  readonly bucket: Bucket;
  readonly settings: SkeinSettings;
}

/**
 * The Kinesis stream, the ingest Lambda and the event source mapping between them, with the on-failure queue that
 * records batches Lambda gave up on (shard id and sequence range, for a replay from the stream).
 */
export class Ingest extends Construct {
  readonly stream: Stream;
  readonly streamKey: Key;
  readonly function: NodejsFunction;
  readonly role: Role;
  readonly failedBatches: Queue;
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: IngestProps) {
    super(scope, id);
    const { settings, bucket } = props;

    // Customer-managed key (docs/decisions.md): its key policy can admit producers in other accounts, which the
    // AWS-managed aws/kinesis key cannot, and access to the stream's data can be revoked at the key.
    this.streamKey = new Key(this, 'StreamKey', {
      description: `Skein: server-side encryption of the Kinesis stream ${settings.streamName}`,
      enableKeyRotation: true,
    });
    this.stream = new Stream(this, 'Stream', {
      streamName: streamPhysicalName(settings.streamName),
      // Kept when the stack is deleted: records not ingested yet stay readable until the retention period ends.
      removalPolicy: RemovalPolicy.RETAIN,
      streamMode: StreamMode.ON_DEMAND,
      encryption: StreamEncryption.KMS,
      encryptionKey: this.streamKey,
      retentionPeriod: Duration.days(settings.streamRetentionDays),
    });
    Validations.of(this.stream).acknowledge({
      id: 'AwsSolutions-KDS3',
      reason:
        'Customer-managed key chosen on purpose: producers in other accounts need a key policy grant, which aws/kinesis cannot give. Kinesis reuses data keys, so KMS calls scale with producers and shards, not records (docs/decisions.md).',
    });

    if (INGEST_EVENT_SOURCE.maxRecordAge.toDays() > settings.streamRetentionDays) {
      throw new ConfigError(
        `skein:streamRetentionDays ${settings.streamRetentionDays} is shorter than the event source's maximum record age`,
      );
    }

    this.failedBatches = new Queue(this, 'FailedBatches', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // The longest SQS allows: the messages say which stream records were lost, long after the stream dropped them.
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.failedBatches).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself the dead-letter destination of the Kinesis event source mapping (failed-batch metadata for replay); a DLQ behind it would only move the same messages.',
    });

    this.logGroup = new LogGroup(this, 'Logs', { retention: RetentionDays.ONE_MONTH });

    // An explicit role instead of the default one: no AWSLambdaBasicExecutionRole (logs:* on every log group),
    // only writes to this function's own log group.
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: 'Skein ingest: read the stream, write Parquet and quarantine objects, report failed batches',
    });
    this.logGroup.grantWrite(this.role);
    // Rollups of each batch go to rollups/ (the evaluator reads them); rule files decide which rollups exist.
    const objectPrefixes = [DATA_PREFIXES.tables, DATA_PREFIXES.quarantine, DATA_PREFIXES.rollups];
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'WriteTablesAndQuarantine',
        actions: ['s3:PutObject'],
        resources: objectPrefixes.map((prefix) => bucket.arnForObjects(`${prefix}*`)),
      }),
    );
    for (const prefix of objectPrefixes) {
      Validations.of(this.role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(bucketCfn(bucket))}.Arn>/${prefix}*]`,
        reason: `s3:PutObject only, under ${prefix} of the Skein data bucket: object keys are derived from each batch (dt/hour or minute, shard, first sequence number), so they cannot be listed in advance.`,
      });
    }

    // Not a SkeinFunction: that would nest the function, role and log group one level deeper and change their
    // logical ids (CloudFormation would replace them). The bundle settings are the same.
    this.function = new NodejsFunction(this, 'Function', {
      // The rules decide which rollups a batch writes: the same files as the evaluator's, checked at synthesis.
      ...skeinBundle(INGEST_ENTRY, validateRuleFiles(settings.rules)),
      description: 'Skein ingest: Kinesis batch → sorted Parquet in S3',
      memorySize: 1024,
      timeout: Duration.minutes(2),
      role: this.role,
      logGroup: this.logGroup,
      environment: {
        SKEIN_BUCKET: bucket.bucketName,
        SKEIN_ROW_GROUP_ROWS: String(settings.rowGroupRows),
        SKEIN_LOG_LEVEL: settings.logLevel,
        SKEIN_FORMAT: settings.format,
        SKEIN_RULES_DIR: `${LAMBDA_TASK_ROOT}/${RULES_DIR}`,
        SKEIN_ALLOWED_LATENESS_SECONDS: String(settings.allowedLatenessSeconds),
        NODE_OPTIONS: INGEST_NODE_OPTIONS,
      },
    });

    this.function.addEventSource(
      new KinesisEventSource(this.stream, {
        startingPosition: StartingPosition.TRIM_HORIZON,
        batchSize: settings.batchSize,
        maxBatchingWindow: Duration.seconds(settings.batchWindowSeconds),
        reportBatchItemFailures: true,
        bisectBatchOnError: true,
        retryAttempts: INGEST_EVENT_SOURCE.retryAttempts,
        maxRecordAge: INGEST_EVENT_SOURCE.maxRecordAge,
        parallelizationFactor: INGEST_EVENT_SOURCE.parallelizationFactor,
        onFailure: new SqsDlq(this.failedBatches),
      }),
    );
  }
}
