import type { KinesisStreamEvent } from 'aws-lambda';
import { createLogger } from '../../functions/core/logger.ts';
import { memoryObjectStore } from '../../functions/core/object-store.ts';
import { loadIngestConfig } from '../../functions/ingest/config.ts';
import { ingest } from '../../functions/ingest/ingest-batch.ts';
import { asBatches, syntheticRecords } from './workload.ts';

const RECORDS = 100_000;
const BATCH = 1_000;

/** The floor: what any ingest must do at least — base64-decode every record and JSON.parse every line of it. */
function floor(events: readonly KinesisStreamEvent[]): number {
  let parsed = 0;
  for (const event of events) {
    for (const record of event.Records) {
      const text = Buffer.from(record.kinesis.data, 'base64').toString('utf8');
      if (text.startsWith('{"resourceSpans"')) {
        JSON.parse(text);
        parsed++;
      } else for (const line of text.split('\n')) if (JSON.parse(line)) parsed++;
    }
  }
  return parsed;
}

function best(runs: number, fn: () => Promise<unknown> | unknown): Promise<number> {
  return (async () => {
    let min = Number.POSITIVE_INFINITY;
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      await fn();
      min = Math.min(min, performance.now() - t0);
    }
    return min;
  })();
}

/** Ingest domain code (decode, normalise, sort, Parquet, in-memory store) vs the floor on the same bytes. */
export async function benchIngest(): Promise<string[]> {
  const records = syntheticRecords(RECORDS);
  const events = asBatches(records, BATCH);
  const bytes = records.reduce((n, r) => n + Buffer.byteLength(r), 0);
  const config = loadIngestConfig({ SKEIN_BUCKET: 'bench' });
  const logger = createLogger({ service: 'bench', level: 'error', write: () => {} });
  let rows = 0;
  let objectBytes = 0;
  const run = async () => {
    const store = memoryObjectStore();
    rows = 0;
    for (const event of events) {
      const { summary } = await ingest(event.Records, { store, config, clock: Date.now, logger });
      rows += summary.logRows + summary.spanRows;
    }
    objectBytes = [...store.objects.values()].reduce((n, b) => n + b.length, 0);
  };
  const floorMs = await best(3, () => floor(events));
  const ingestMs = await best(3, run);
  const perSec = (n: number, ms: number) => Math.round((n / ms) * 1000).toLocaleString('en-US');
  return [
    `ingest: ${RECORDS.toLocaleString('en-US')} records (${(bytes / 1e6).toFixed(1)} MB, ${rows.toLocaleString('en-US')} rows) in batches of ${BATCH}, best of 3`,
    `  skein ingest   ${perSec(RECORDS, ingestMs).padStart(10)} records/s  ${perSec(rows, ingestMs).padStart(10)} rows/s  ${ingestMs.toFixed(0)} ms  → ${(objectBytes / 1e6).toFixed(1)} MB Parquet`,
    `  floor          ${perSec(RECORDS, floorMs).padStart(10)} records/s  (base64 decode + JSON.parse of the same bytes)  ${floorMs.toFixed(0)} ms`,
    `  ratio          ${(ingestMs / floorMs).toFixed(2)}× the floor's time (${((floorMs / ingestMs) * 100).toFixed(0)} % of floor throughput)`,
  ];
}
