import type { TableName } from '../../schemas/columns.ts';

/** The batch identity every object key is derived from: a retried batch maps to the same keys. */
export interface BatchId {
  readonly shardId: string;
  /** Sequence number of the batch's first record. */
  readonly firstSequenceNumber: string;
  /** Arrival time of the batch's first record, epoch ms: it picks the partition. */
  readonly firstArrivalMs: number;
}

/** `dt=YYYY-MM-DD/hour=HH` of an instant, UTC. */
export function partitionPath(epochMs: number): string {
  const iso = new Date(epochMs).toISOString();
  return `dt=${iso.slice(0, 10)}/hour=${iso.slice(11, 13)}`;
}

function batchFileStem(batch: BatchId): string {
  return `${batch.shardId}-${batch.firstSequenceNumber}`;
}

/**
 * `tables/<table>/dt=…/hour=…/<shard>-<firstSeq>.parquet`. Keyed by the first record only (not the last): Lambda
 * retries from the first record of a failed batch but may hand over more or fewer records (batching window,
 * bisect), and the retry must overwrite the earlier attempt's object rather than add a second copy of its rows.
 */
export function tableObjectKey(table: TableName, batch: BatchId): string {
  return `tables/${table}/${partitionPath(batch.firstArrivalMs)}/${batchFileStem(batch)}.parquet`;
}

/** `quarantine/dt=…/hour=…/<shard>-<firstSeq>.ndjson`: one object per batch that had failures. */
export function quarantineObjectKey(batch: BatchId): string {
  return `quarantine/${partitionPath(batch.firstArrivalMs)}/${batchFileStem(batch)}.ndjson`;
}
