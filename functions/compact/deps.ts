import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/logger.ts';
import type { ObjectStore } from '../core/object-store.ts';
import type { CompactConfig } from './config.ts';

/** The compactor's settings without the wiring-only ones (bucket, log level): what the domain code reads. */
export type CompactSettings = Omit<CompactConfig, 'bucket' | 'logLevel'>;

/** Everything the compactor touches, passed in: the same code runs on S3, on s3rver and on a memory store. */
export interface CompactDeps {
  readonly store: ObjectStore;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly config: CompactSettings;
}

export const PARQUET_CONTENT_TYPE = 'application/vnd.apache.parquet';
export const JSON_CONTENT_TYPE = 'application/json';
/** Parallel GETs/PUTs per hour: enough to hide S3 latency, few enough to keep memory and sockets bounded. */
export const IO_CONCURRENCY = 8;
