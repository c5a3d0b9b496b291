import { Duration } from 'aws-cdk-lib';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import type { Bucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { grantHeartbeat } from './heartbeat-grant.ts';
import { grantPrefixes, SkeinFunction } from './lambda-function.ts';
import type { SkeinSettings } from './settings.ts';
import { DATA_PREFIXES } from './storage.ts';

/** Entry of the compact Lambda, relative to the repository root. */
export const COMPACT_ENTRY = 'functions/compact/handler.ts';

/**
 * How often the compactor runs: every minute, so the index objects of the open hour are merged a minute at a time
 * (the middle tier of the index, decision D24); closed hours are compacted by the same runs once settled.
 */
export const COMPACT_SCHEDULE = Duration.minutes(1);

export interface CompactionProps {
  readonly bucket: Bucket;
  readonly settings: SkeinSettings;
}

/**
 * The compactor: every minute it merges the open hours' per-batch index objects (one object per minute, one per hour
 * once closed), and merges the small per-batch objects of settled hours into large sorted ones and re-partitions the
 * trace index by bucket (functions/compact, decisions D13, D14, D24). One run at a time (reserved concurrency 1):
 * runs are safe to overlap (manifests are written with If-None-Match), but a second one would only redo the same
 * work; a minute's invocation that finds a long run still going is throttled and retried by the async queue.
 */
export class Compaction extends Construct {
  readonly fn: SkeinFunction;
  readonly schedule: Rule;

  constructor(scope: Construct, id: string, props: CompactionProps) {
    super(scope, id);
    const { bucket, settings } = props;

    this.fn = new SkeinFunction(this, 'Compact', {
      entry: COMPACT_ENTRY,
      description: 'Skein compact: merges the open hours index objects, compacts closed hours, re-partitions the index',
      roleDescription: 'Skein compact: read, write and delete objects under tables/ of the data bucket',
      // Memory buys CPU on Lambda (a full vCPU at 1,769 MB, two at 3,538 MB); an hour is held in memory while merged.
      memorySize: 3008,
      timeout: Duration.minutes(15),
      reservedConcurrentExecutions: 1,
      environment: { SKEIN_BUCKET: bucket.bucketName, SKEIN_LOG_LEVEL: settings.logLevel },
    });
    grantPrefixes(
      this.fn.role,
      bucket,
      [
        {
          prefix: DATA_PREFIXES.tables,
          actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
          list: true,
        },
      ],
      () =>
        'Object actions under tables/ only: the compactor reads the raw objects of any closed hour, writes compacted objects and manifests, and deletes superseded objects; their keys are not known in advance.',
    );
    grantHeartbeat(this.fn.role, bucket, 'compact');
    // A failed run is not retried asynchronously: the next scheduled run picks the same hours up.
    this.fn.function.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: Duration.minutes(5) });

    this.schedule = new Rule(this, 'Schedule', {
      description: 'Skein: run the compactor',
      schedule: Schedule.rate(COMPACT_SCHEDULE),
      targets: [new LambdaFunction(this.fn.function, { retryAttempts: 2, maxEventAge: Duration.minutes(5) })],
    });
  }
}
