import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import type { Clock } from '../core/clock.ts';
import type { ObjectStore } from '../core/object-store.ts';
import type { IngestConfig } from './config.ts';

export interface IngestDeps {
  readonly store: ObjectStore;
  readonly config: IngestConfig;
  readonly clock: Clock;
}

/** PLACEHOLDER while the domain code is written: replaced in the same change. */
export async function ingestBatch(_event: KinesisStreamEvent, _deps: IngestDeps): Promise<KinesisStreamBatchResponse> {
  throw new Error('not yet implemented');
}
