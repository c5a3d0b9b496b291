import type { KinesisStreamEvent } from 'aws-lambda';
import { createLogger } from '../../functions/core/logger.ts';
import { memoryObjectStore } from '../../functions/core/object-store.ts';
import { loadIngestConfig } from '../../functions/ingest/config.ts';
import { ingest, noStages, type StageTimes } from '../../functions/ingest/ingest-batch.ts';
import { aKinesisEvent } from '../builders/kinesis.ts';
import { bestOf, syntheticRecords } from './workload.ts';

const BATCH = 1_000;

/** One input of the ingest benchmark: records of one producer format, and the floor for the same bytes. */
export interface IngestBenchInput {
  readonly name: string;
  readonly records: readonly Uint8Array[];
  /** The least any ingest must do with one record's bytes: decompress and parse, nothing else. */
  readonly floor: (data: Buffer) => number;
  readonly floorLabel: string;
}

/** JSON lines: JSON.parse of every line (OTLP/JSON requests in the mixed workload: of the whole record). */
export function parseJsonFloor(data: Buffer): number {
  const text = data.toString('utf8');
  if (text.startsWith('{"resource')) return JSON.parse(text) ? 1 : 0;
  let n = 0;
  for (const line of text.split('\n')) if (JSON.parse(line)) n++;
  return n;
}

function asEvents(records: readonly Uint8Array[]): KinesisStreamEvent[] {
  const events: KinesisStreamEvent[] = [];
  for (let i = 0; i < records.length; i += BATCH) {
    events.push(
      aKinesisEvent(records.slice(i, i + BATCH), {
        firstSeq: 49650000000000000000000000000000000000000000000000000001n + BigInt(i) * 1000n,
      }),
    );
  }
  return events;
}

/** Where ingest's time went, each stage also as a multiple of the floor's time (`decode 3.1×` is 3.1 floors). */
function stageLine(stages: StageTimes | undefined, floorMs: number): string {
  if (stages === undefined) return '';
  return Object.entries(stages)
    .filter(([name, ms]) => name !== 'rollup' || ms >= 0.5)
    .map(([name, ms]) => `${name} ${ms.toFixed(0)} ms (${(ms / floorMs).toFixed(2)}×)`)
    .join(' · ');
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/**
 * Ingest domain code (decode, normalise, sort, Parquet, in-memory store — no emulator) on one input, next to the
 * floor measured in the same run on the same bytes: base64 decode (Lambda hands records over in base64) plus the
 * input's own decompress-and-parse.
 */
export async function benchIngestInput(input: IngestBenchInput, runs = 3): Promise<string[]> {
  const events = asEvents(input.records);
  const bytes = input.records.reduce((n, r) => n + r.length, 0);
  const config = loadIngestConfig({ SKEIN_BUCKET: 'bench' });
  const logger = createLogger({ service: 'bench', level: 'error', write: () => {} });
  let rows = 0;
  let quarantined = 0;
  let objectBytes = 0;
  // The fastest run's time, and its stage times summed over its batches.
  let ingestMs = Number.POSITIVE_INFINITY;
  let stages: StageTimes | undefined;
  const run = async () => {
    const store = memoryObjectStore();
    const started = performance.now();
    const sums = noStages();
    rows = 0;
    quarantined = 0;
    for (const event of events) {
      const { summary } = await ingest(event.Records, { store, config, clock: Date.now, logger });
      rows += summary.logRows + summary.spanRows;
      quarantined += summary.quarantined;
      for (const key of Object.keys(sums) as (keyof StageTimes)[]) sums[key] += summary.stagesMs[key];
    }
    const ms = performance.now() - started;
    if (ms < ingestMs) {
      ingestMs = ms;
      stages = sums;
    }
    objectBytes = [...store.objects.values()].reduce((n, b) => n + b.length, 0);
  };
  const floor = () => {
    let n = 0;
    for (const event of events) for (const r of event.Records) n += input.floor(Buffer.from(r.kinesis.data, 'base64'));
    return n;
  };
  // Alternated, one run of each at a time, so a slow spell of the machine (other processes, a GC of the set-up's
  // garbage) weighs on both; then the best of each. The first round also warms both up.
  let floorMs = Number.POSITIVE_INFINITY;
  for (let round = 0; round < runs; round++) {
    floorMs = Math.min(floorMs, await bestOf(1, floor));
    await run();
  }
  const count = input.records.length;
  return [
    `${input.name}: ${fmt(count)} records, ${(bytes / 1e6).toFixed(1)} MB → ${fmt(rows)} rows${quarantined ? ` (${quarantined} quarantined: a bug in the input)` : ''}, ${(objectBytes / 1e6).toFixed(1)} MB Parquet; batches of ${BATCH}, best of ${runs}`,
    `  skein ingest ${fmt((count / ingestMs) * 1000).padStart(9)} records/s ${fmt((rows / ingestMs) * 1000).padStart(10)} rows/s  ${ingestMs.toFixed(0).padStart(6)} ms`,
    `  floor        ${fmt((count / floorMs) * 1000).padStart(9)} records/s ${' '.repeat(17)} ${floorMs.toFixed(0).padStart(6)} ms  (${input.floorLabel})`,
    `  ratio        ${(ingestMs / floorMs).toFixed(2)}× the floor's time`,
    `  stages       ${stageLine(stages, floorMs)}`,
  ];
}

/** The mixed walking-skeleton workload: 100k records of JSON lines and OTLP/JSON traces. */
export function mixedInput(count = 100_000): IngestBenchInput {
  return {
    name: 'mixed JSON lines + OTLP/JSON',
    records: syntheticRecords(count).map((r) => Buffer.from(r)),
    floor: parseJsonFloor,
    floorLabel: 'base64 decode + JSON.parse of the same bytes',
  };
}
