import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { s3Client } from '../core/aws-clients.ts';
import { systemClock } from '../core/clock.ts';
import { s3ObjectStore } from '../core/object-store.ts';
import { loadIngestConfig } from './config.ts';
import { ingestBatch } from './ingest-batch.ts';

// Wiring only: configuration and clients are built once per execution environment.
const config = loadIngestConfig(process.env);
const store = s3ObjectStore(s3Client({ region: process.env.AWS_REGION }), config.bucket);

export const handler = (event: KinesisStreamEvent): Promise<KinesisStreamBatchResponse> =>
  ingestBatch(event, { store, config, clock: systemClock });
