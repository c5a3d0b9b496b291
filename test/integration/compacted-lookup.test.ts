import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCompactConfig } from '../../functions/compact/config.ts';
import { runCompaction } from '../../functions/compact/run-compaction.ts';
import { s3Client } from '../../functions/core/aws-clients.ts';
import { memoryLogger } from '../../functions/core/logger.ts';
import { type ObjectStore, s3ObjectStore } from '../../functions/core/object-store.ts';
import { loadIngestConfig } from '../../functions/ingest/config.ts';
import { ingest } from '../../functions/ingest/ingest-batch.ts';
import { type Emulators, objectPathOnDisk, startEmulators } from '../../local/emulators.ts';
import { queryLocal } from '../../query/local-query.ts';
import { isCompactedKey } from '../../schemas/compaction.ts';
import { aKinesisEvent, T0 } from '../builders/kinesis.ts';
import { aLogLine, anOtlpTraceRequest, aSpanId, aTraceId } from '../builders/telemetry.ts';
import { duckQuery } from '../support/duckdb.ts';

const BUCKET = 'skein-compacted-lookup';
const MINUTE = 60_000;
/** The builders' arrival time T0 is 21:30 UTC: batches land in hour 21, which settles at 22:10. */
const COMPACT_AT = T0 + 45 * MINUTE;
const BATCHES = 8;
const TRACES_PER_BATCH = 150;
const TRACE = aTraceId(3 * TRACES_PER_BATCH + 77);

/**
 * The compacted objects' layout with the deployed defaults (D24, "After compaction"), on the real local S3 behind the
 * real ingest, read by the real local lookup: row groups sized per object, min/max on the lookup keys only, so a
 * trace lookup reads the footer and one row group per table — and finds every row it found before compaction.
 */
describe('a lookup over compacted objects with the default layout', () => {
  let dir: string;
  let emulators: Emulators;
  let client: S3Client;
  let store: ObjectStore;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'skein-compacted-lookup-'));
    emulators = await startEmulators({ dir, streamName: BUCKET, bucket: BUCKET, shards: 1 });
    client = s3Client({ endpoint: emulators.s3Endpoint });
    store = s3ObjectStore(client, BUCKET);
  });

  afterAll(async () => {
    client?.destroy();
    await emulators?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Batch `b`: per trace, three log lines with a varied field and one OTLP request of one span. */
  async function ingestBatch(b: number): Promise<void> {
    const payloads: string[] = [];
    for (let t = b * TRACES_PER_BATCH; t < (b + 1) * TRACES_PER_BATCH; t++) {
      const traceId = aTraceId(t);
      for (let i = 0; i < 3; i++) {
        payloads.push(
          aLogLine({
            traceId,
            ...(t % 3 === 0 ? { requestId: `req-${t}` } : {}),
            msg: `batch ${b} line ${i}`,
            timeMs: T0 - MINUTE + t,
            extra: { n: (t * 7919 + i) % 997 },
          }),
        );
      }
      payloads.push(anOtlpTraceRequest('orders', [{ traceId, spanId: aSpanId(t) }]));
    }
    const at = T0 + b * MINUTE;
    const event = aKinesisEvent(payloads, {
      firstSeq: 49650000000000000000000000000000000000000000000000003000n + BigInt(b) * 10_000n,
      arrivalMs: at,
    });
    const config = loadIngestConfig({ SKEIN_BUCKET: BUCKET });
    const { response } = await ingest(event.Records, { store, config, clock: () => at, logger: memoryLogger() });
    expect(response.batchItemFailures).toEqual([]);
  }

  it('reads one row group per table of the compacted hour and finds the same rows', async () => {
    // Prepare
    for (let b = 0; b < BATCHES; b++) await ingestBatch(b);
    const lookup = () => queryLocal({ dataDir: emulators.dataDir, bucket: BUCKET, by: 'trace', id: TRACE });
    const before = await lookup();

    // Act
    const { bucket: _b, logLevel: _l, ...config } = loadCompactConfig({ SKEIN_BUCKET: BUCKET });
    const summary = await runCompaction({ store, clock: () => COMPACT_AT, logger: memoryLogger(), config });
    const after = await lookup();

    // Assess
    expect(summary.failed).toBe(0);
    expect(before.rows.length).toBe(4);
    expect(after.rows).toEqual(before.rows);
    expect(after.stats.objectKeys.every((k) => isCompactedKey(k))).toBe(true);
    expect(after.stats.objectsOpened).toBe(2);
    expect(after.stats.rowGroupsRead).toBe(2);
    expect(after.stats.rowGroupsTotal).toBeGreaterThan(4);
    const files = after.stats.objectKeys.map((k) => `'${objectPathOnDisk(emulators.dataDir, BUCKET, k)}'`).join(', ');
    const withMinMax = await duckQuery(
      `SELECT DISTINCT path_in_schema AS c FROM parquet_metadata([${files}])
       WHERE coalesce(stats_min_value, stats_min) IS NOT NULL ORDER BY 1`,
    );
    expect(withMinMax).toEqual([{ c: 'request_id' }, { c: 'trace_id' }]);
  });
});
