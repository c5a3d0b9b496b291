import type { KinesisStreamRecord } from 'aws-lambda';
import { type BatchSummary, type IngestDeps, ingest } from '../../functions/ingest/ingest-batch.ts';
import { traceIndexObjectKey } from '../../functions/shared/trace-index.ts';

/**
 * Runs the real `ingest()` on one batch for a test or benchmark set-up, and fails loudly when the batch was not
 * written whole: a failed write, or no trace index object beside the data objects.
 */
export async function ingestWithIndex(
  records: readonly KinesisStreamRecord[],
  deps: IngestDeps,
): Promise<BatchSummary> {
  const { response, summary } = await ingest(records, deps);
  if (response.batchItemFailures.length > 0) throw new Error('ingest failed a batch in a set-up');
  const first = records[0];
  if (first === undefined) return summary;
  const indexKey = traceIndexObjectKey({
    shardId: summary.shardId,
    firstSequenceNumber: summary.firstSequenceNumber,
    firstArrivalMs: Math.round(first.kinesis.approximateArrivalTimestamp * 1000),
  });
  if (!summary.objectKeys.includes(indexKey)) throw new Error(`ingest wrote no trace index object ${indexKey}`);
  return summary;
}
