import type { KinesisStreamEvent } from 'aws-lambda';
import { createLogger } from '../../functions/core/logger.ts';
import { memoryObjectStore } from '../../functions/core/object-store.ts';
import { loadIngestConfig } from '../../functions/ingest/config.ts';
import { decodeRecord } from '../../functions/ingest/decode-record.ts';
import { newSink } from '../../functions/ingest/decoded.ts';
import { finishRows } from '../../functions/ingest/hygiene.ts';
import { ingest } from '../../functions/ingest/ingest-batch.ts';
import { computeRollup, encodeRollup } from '../../functions/shared/rollup.ts';
import type { MeasureSpec, Selector } from '../../schemas/measures.ts';
import type { LogRecord, SpanRecord } from '../../schemas/records.ts';
import { aKinesisEvent } from '../builders/kinesis.ts';
import { bestOf, syntheticRecords } from './workload.ts';

const BATCH = 1_000;
const BATCHES = 20;

type Spec = Omit<MeasureSpec, 'id'>;
const logs = (...matchers: Selector['matchers']): Selector => ({ table: 'logs', matchers });
const spans = (...matchers: Selector['matchers']): Selector => ({ table: 'spans', matchers });

/**
 * ~20 measures as realistic rules compile them: error ratio and p99 latency by service, counts by severity, a body
 * regex, numeric log fields (stats and a sketch), attribute-grouped counts.
 */
const SPECS: Spec[] = [
  { selector: spans(), by: ['service'], kind: 'count' },
  { selector: spans({ label: 'status', op: '=', value: 'error' }), by: ['service'], kind: 'count' },
  { selector: spans({ label: 'kind', op: '=', value: 'server' }), by: ['service'], kind: 'sketch', field: 'duration' },
  { selector: spans(), by: ['name', 'service'], kind: 'sketch', field: 'duration' },
  { selector: spans(), by: ['kind', 'service'], kind: 'count' },
  {
    selector: spans({ label: 'name', op: '=~', value: 'SELECT .*' }),
    by: ['service'],
    kind: 'stats',
    field: 'duration',
  },
  { selector: spans(), by: ['resource.cloud.region'], kind: 'count' },
  {
    selector: spans({ label: 'attr.http.response.status_code', op: '>=', value: '500' }),
    by: ['service'],
    kind: 'count',
  },
  { selector: logs(), by: ['severity'], kind: 'count' },
  { selector: logs(), by: ['service', 'severity'], kind: 'count' },
  { selector: logs({ label: 'severity', op: '>=', value: 'error' }), by: ['service'], kind: 'count' },
  { selector: logs({ label: 'body', op: '=~', value: '.*timeout.*' }), by: ['service'], kind: 'count' },
  { selector: logs({ label: 'body', op: '=~', value: '.*S3 upload failed.*' }), by: [], kind: 'count' },
  { selector: logs(), by: ['service'], kind: 'stats', field: 'attr.duration_ms' },
  { selector: logs(), by: ['service'], kind: 'sketch', field: 'attr.duration_ms' },
  { selector: logs({ label: 'attr.http_status', op: '=~', value: '5..' }), by: ['service'], kind: 'count' },
  { selector: logs({ label: 'attr.http_status', op: '=~', value: '5..' }), by: ['attr.http_route'], kind: 'count' },
  { selector: logs(), by: ['attr.customer_tier'], kind: 'count' },
  {
    selector: logs({ label: 'service', op: '=', value: 'payments' }, { label: 'severity', op: '>=', value: 'warn' }),
    by: [],
    kind: 'count',
  },
  { selector: logs({ label: 'body', op: '=~', value: 'heartbeat.*' }), by: ['attr.role'], kind: 'count' },
];
export const ROLLUP_BENCH_MEASURES: readonly MeasureSpec[] = SPECS.map((spec, i) => ({
  id: i.toString(16).padStart(16, '0'),
  ...spec,
}));

export interface DecodedBatch {
  readonly event: KinesisStreamEvent;
  readonly arrivalMs: number;
  readonly logs: LogRecord[];
  readonly spans: SpanRecord[];
}

/** The bench workload in Lambda batches, each decoded once the way ingest does (rows are the rollup's input). */
export function decodedRollupBatches(config: ReturnType<typeof loadIngestConfig>): DecodedBatch[] {
  const records = syntheticRecords(BATCH * BATCHES);
  const baseMs = Date.UTC(2026, 10, 25, 21, 0);
  const out: DecodedBatch[] = [];
  for (let b = 0; b < BATCHES; b++) {
    // The workload's records are 3 ms apart: the batch arrives 2 s after its last record's event time.
    const arrivalMs = baseMs + (b + 1) * BATCH * 3 + 2000;
    const event = aKinesisEvent(records.slice(b * BATCH, (b + 1) * BATCH), {
      firstSeq: 49650000000000000000000000000000000000000000000000000001n + BigInt(b) * 1000n,
      arrivalMs,
    });
    const sink = newSink();
    for (const record of event.Records) {
      const ctx = {
        shardId: 'shardId-000000000000',
        sequenceNumber: record.kinesis.sequenceNumber,
        subSequenceNumber: 0,
        formatPrefix: '' as const,
        partitionKey: record.kinesis.partitionKey,
        arrivalMs,
        observedNs: BigInt(arrivalMs) * 1_000_000n,
      };
      const logsBefore = sink.logs.length;
      const spansBefore = sink.spans.length;
      decodeRecord(Buffer.from(record.kinesis.data, 'base64'), ctx, sink, config);
      finishRows(sink, logsBefore, spansBefore, ctx, config.hygiene, config.redactor);
    }
    out.push({ event, arrivalMs, logs: sink.logs, spans: sink.spans });
  }
  return out;
}

/**
 * Rollup overhead per ingest batch: `computeRollup` + `encodeRollup` over a decoded batch with ~20 realistic
 * measures, as a fraction of the full `ingest()` of the same batch (decode, sort, Parquet, in-memory store), both
 * measured in this run; next to the floor of these measures: one JSON.parse of each attribute column they read (every
 * row's attributes, spans' resource attributes for `resource.cloud.region`).
 */
export async function benchRollup(runs = 5): Promise<string[]> {
  const config = loadIngestConfig({ SKEIN_BUCKET: 'bench' });
  const logger = createLogger({ service: 'bench', level: 'error', write: () => {} });
  const batches = decodedRollupBatches(config);
  const rows = batches.reduce((n, b) => n + b.logs.length + b.spans.length, 0);

  let rollupBytes = 0;
  let groups = 0;
  const rollups = () => {
    rollupBytes = 0;
    groups = 0;
    for (const b of batches) {
      const rollup = computeRollup(b.logs, b.spans, ROLLUP_BENCH_MEASURES, b.arrivalMs);
      rollupBytes += encodeRollup(rollup).byteLength;
      for (const byMeasure of Object.values(rollup.minutes)) {
        for (const byGroup of Object.values(byMeasure)) groups += Object.keys(byGroup).length;
      }
    }
  };
  const ingestAll = async () => {
    const store = memoryObjectStore();
    for (const b of batches) await ingest(b.event.Records, { store, config, clock: Date.now, logger });
  };
  let parsed = 0;
  const floor = () => {
    parsed = 0;
    for (const b of batches) {
      for (const row of b.logs) if (JSON.parse(row.attributes)) parsed++;
      for (const row of b.spans) if (JSON.parse(row.attributes) && JSON.parse(row.resource_attributes)) parsed++;
    }
  };

  // Warm up (JIT, measure compilation) before timing.
  rollups();
  floor();
  const rollupMs = await bestOf(runs, rollups);
  const floorMs = await bestOf(runs, floor);
  const ingestMs = await bestOf(Math.min(runs, 3), ingestAll);
  const per = (ms: number) => `${(ms / BATCHES).toFixed(2).padStart(7)} ms/batch`;
  return [
    `rollup: ${BATCHES} batches of ${BATCH} records → ${Math.round(rows / BATCHES)} rows/batch (logs + spans), ${ROLLUP_BENCH_MEASURES.length} measures, ${Math.round(groups / BATCHES)} (minute, measure, group) aggregates/batch, ${(rollupBytes / BATCHES / 1024).toFixed(1)} KB JSON/batch; best of ${runs}`,
    `  computeRollup + encodeRollup ${per(rollupMs)}  ${((rollupMs / ingestMs) * 100).toFixed(1)} % of ingest`,
    `  ingest() of the same batches ${per(ingestMs)}  (decode, sort, Parquet, memory store)`,
    `  floor                        ${per(floorMs)}  (JSON.parse of what the measures read: every row's attributes, spans' resource attributes; ${Math.round(parsed / BATCHES)} rows/batch)`,
    `  ratio                        ${(rollupMs / floorMs).toFixed(2)}× the floor's time`,
  ];
}
