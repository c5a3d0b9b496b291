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
import { type Emulators, startEmulators } from '../../local/emulators.ts';
import { queryLocal } from '../../query/local-query.ts';
import { aKinesisEvent, T0 } from '../builders/kinesis.ts';
import { aLogLine, anOtlpTraceRequest, aSpanId, aTraceId } from '../builders/telemetry.ts';

const BUCKET = 'skein-index-tiers';
const MINUTE = 60_000;
/** The builders' arrival time T0 is 21:30 UTC: batches land in hour 21, which ends at 22:00 and settles at 22:10. */
const HOUR_END = T0 + 30 * MINUTE;
const BATCHES = 12;
const TRACE = aTraceId(3);

/**
 * The tiered index (D24) on the real local S3 (s3rver, behind the conditional-write proxy) with the real ingest and
 * the real local lookup: per-batch index objects merged a minute at a time while the hour is open, folded into one
 * once it has closed, then replaced by the bucket rows at compaction — the lookup with no time range finds the same
 * rows at every step and opens fewer index objects than there are batches.
 */
describe('the tiered trace index on the local S3 emulator', () => {
  let dir: string;
  let emulators: Emulators;
  let client: S3Client;
  let store: ObjectStore;
  let nextSeq = 49650000000000000000000000000000000000000000000000002000n;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'skein-index-tiers-'));
    emulators = await startEmulators({ dir, streamName: 'skein-index-tiers', bucket: BUCKET, shards: 1 });
    client = s3Client({ endpoint: emulators.s3Endpoint });
    store = s3ObjectStore(client, BUCKET);
  });

  afterAll(async () => {
    client?.destroy();
    await emulators?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Batch `b` at T0 + b × 30 s: two log lines and a span of `TRACE`, and of one trace of its own. */
  async function ingestBatch(b: number): Promise<void> {
    const payloads: string[] = [];
    for (const traceId of [TRACE, aTraceId(100 + b)]) {
      payloads.push(aLogLine({ traceId, msg: `batch ${b} a`, timeMs: T0 }), aLogLine({ traceId, msg: `batch ${b} b` }));
      payloads.push(anOtlpTraceRequest('orders', [{ traceId, spanId: aSpanId(b * 10 + (traceId === TRACE ? 1 : 2)) }]));
    }
    const at = T0 + (b * MINUTE) / 2;
    const event = aKinesisEvent(payloads, { firstSeq: nextSeq, arrivalMs: at });
    nextSeq += 10_000n;
    const config = loadIngestConfig({ SKEIN_BUCKET: BUCKET });
    const { response } = await ingest(event.Records, { store, config, clock: () => at, logger: memoryLogger() });
    expect(response.batchItemFailures).toEqual([]);
  }

  async function compactAt(now: number) {
    const { bucket: _b, logLevel: _l, ...config } = loadCompactConfig({ SKEIN_BUCKET: BUCKET });
    const summary = await runCompaction({ store, clock: () => now, logger: memoryLogger(), config });
    expect(summary.failed).toBe(0);
    return summary;
  }

  async function lookup() {
    const result = await queryLocal({ dataDir: emulators.dataDir, bucket: BUCKET, by: 'trace', id: TRACE });
    return { rows: result.rows.length, indexObjects: result.stats.indexObjectsRead };
  }

  it('finds every row of a trace at every tier while opening fewer index objects than batches', async () => {
    // Prepare and act: 12 batches over 6 minutes, the compactor once a minute as scheduled.
    const seen: { rows: number; indexObjects: number }[] = [];
    for (let b = 0; b < BATCHES; b++) {
      await ingestBatch(b);
      if (b % 2 === 1) {
        await compactAt(T0 + ((b + 1) * MINUTE) / 2);
        seen.push(await lookup());
      }
    }
    await ingestBatch(BATCHES);
    const openHour = await lookup();
    const folded = await compactAt(HOUR_END + 3 * MINUTE);
    const afterFold = await lookup();
    const compacted = await compactAt(HOUR_END + 20 * MINUTE);
    const afterCompaction = await lookup();

    // Assess: 3 rows of TRACE per batch (2 log lines, 1 span).
    const rows = 3 * (BATCHES + 1);
    expect(seen.map((s) => s.rows)).toEqual([6, 12, 18, 24, 30, 36]);
    expect(seen.map((s) => s.indexObjects)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(openHour).toEqual({ rows, indexObjects: 7 });
    expect(folded.merged).toMatchObject([{ status: 'merged', folded: true, outputs: 1 }]);
    expect(afterFold).toEqual({ rows, indexObjects: 1 });
    expect(compacted.hours).toMatchObject([{ index: 'compacted' }]);
    expect(afterCompaction).toEqual({ rows, indexObjects: 1 });
  });
});
