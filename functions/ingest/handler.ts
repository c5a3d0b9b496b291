import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { s3Client } from '../core/aws-clients.ts';
import { systemClock } from '../core/clock.ts';
import { createLogger } from '../core/logger.ts';
import { s3ObjectStore } from '../core/object-store.ts';
import { loadIngestConfig } from './config.ts';
import { ingestBatch } from './ingest-batch.ts';

// Wiring only: configuration, clients and the logger are built once per execution environment.
const config = loadIngestConfig(process.env);
const store = s3ObjectStore(s3Client({ region: process.env.AWS_REGION }), config.bucket);
const logger = createLogger({ service: 'skein-ingest', level: config.logLevel });
// CloudWatch Logs extracts embedded-metric-format lines written to stdout into metrics (namespace Skein).
const metrics = (line: string) => process.stdout.write(`${line}\n`);

export const handler = (event: KinesisStreamEvent, context: Context): Promise<KinesisStreamBatchResponse> =>
  ingestBatch(event, {
    store,
    config,
    clock: systemClock,
    logger: logger.child({ request_id: context.awsRequestId }),
    metrics,
  });
