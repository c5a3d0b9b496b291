/**
 * Lookup by id over ≥ 1M rows in 24 hourly partitions: how little of the data a lookup reads, with and without a time
 * range, before any compaction, after the index merge (D24) and after compaction, next to a full scan of the same
 * window — at two batch rates: 4 batches of 5,000 records an hour, and the same rows as 10× more, smaller batches.
 *
 * The data goes through the real ingest path (`ingest()`) into a folder
 * laid out as s3rver lays out a bucket, and the lookups run through the local query layer (DuckDB), exactly what
 * `skein query … --dir` does. Bytes read are modelled from the Parquet footers (see `LookupStats` in
 * query/read-stats.ts): footers plus the compressed chunks of the row groups whose min/max admit the id.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CompactionRunSummary } from '../../functions/compact/run-compaction.ts';
import { createLogger } from '../../functions/core/logger.ts';
import { loadIngestConfig } from '../../functions/ingest/config.ts';
import { seededRng } from '../../local/demo-workload.ts';
import { type LocalQueryResult, queryLocal } from '../../query/local-query.ts';
import { humanBytes } from '../../query/read-stats.ts';
import { searchLocal } from '../../query/search/local-search.ts';
import { parseSearch } from '../../query/search/traceql.ts';
import { type LocalStore, listPartitions, objectPath } from '../../query/store-listing.ts';
import type { TimeRange } from '../../query/time-range.ts';
import { aKinesisEvent } from '../builders/kinesis.ts';
import { aLogLine, anOtlpTraceRequest } from '../builders/telemetry.ts';
import { ingestWithIndex } from '../support/ingest-with-index.ts';
import { s3rverFolderStore } from '../support/s3rver-folder-store.ts';
import { randomHex } from './workload.ts';

const BUCKET = 'skein-bench';
const HOUR = 3_600_000;
/**
 * Hours of data (24, ~1.08 M rows, by default). `SKEIN_BENCH_LOOKUP_HOURS` lowers it on a shared machine; the
 * lookups need hours 12 and 13, so fewer than 14 hours skip them and run the search lines only.
 */
const HOURS = benchHours(process.env.SKEIN_BENCH_LOOKUP_HOURS);
/** Batches per hour and records per batch of the base rate (1.08 M rows in 24 hours). */
const BASE_RATE = { batchesPerHour: 4, recordsPerBatch: 5_000 } as const;
/** Rows the base rate writes: 24 hours × 4 batches × 5,000 records × 18 rows / 8 records. */
const BASE_ROWS = 1_080_000;
/** Records per trace: one OTLP request of 4 spans, then 7 JSON-lines records of 2 lines each (18 rows a trace). */
const RECORDS_PER_TRACE = 8;
const SPANS_PER_TRACE = 4;
const BASE = Date.UTC(2026, 0, 10, 0, 0);
const NS = 1_000_000n;
const SERVICES = ['web-gateway', 'orders', 'payments', 'inventory', 'notifications'];
/** The request the bench looks up: carried by one trace in hour 12 and one in hour 13 (a retried checkout). */
const TARGET_REQUEST = '6f1c2e0a-9b7d-4c1e-8f3a-2d5b7e9c1a40';
const TARGET_REQUEST_ID = TARGET_REQUEST.replaceAll('-', '');
/** How the rows are cut into batches: `factor` × the base rate's batches, each 1/`factor` as large (× `scale`). */
export interface BatchRate {
  readonly batchesPerHour: number;
  readonly recordsPerBatch: number;
}

/** The rate `factor` times the base batch rate, for `rows` rows in 24 hours (1.08 M by default). */
export function batchRate(factor: number, rows = BASE_ROWS): BatchRate {
  const records = Math.round((BASE_RATE.recordsPerBatch * rows) / BASE_ROWS / factor / RECORDS_PER_TRACE);
  return {
    batchesPerHour: BASE_RATE.batchesPerHour * factor,
    recordsPerBatch: Math.max(1, records) * RECORDS_PER_TRACE,
  };
}

/** Position in its batch of the first record of the target trace (a multiple of RECORDS_PER_TRACE, mid-batch). */
function targetRecord(rate: BatchRate): number {
  return Math.floor(rate.recordsPerBatch / 2 / RECORDS_PER_TRACE) * RECORDS_PER_TRACE;
}

function benchHours(raw: string | undefined): number {
  const n = raw === undefined ? 24 : Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 24) throw new Error('SKEIN_BENCH_LOOKUP_HOURS: a whole number from 1 to 24');
  return n;
}

interface Dataset {
  readonly folder: LocalStore;
  readonly rows: number;
  readonly traceId: string;
  /** Event time of the target trace, epoch ms. */
  readonly traceTimeMs: number;
  readonly ingestMs: number;
}

function uuid(rand: () => number): string {
  const h = randomHex(rand, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * The records of one batch: traces of 8 records; 30 % of traces carry a request id (half UUIDs, which ingest
 * normalises to hex, half verbatim `req-…` ids); 5 % of log lines are errors.
 */
function batchRecords(
  rand: () => number,
  arrivalMs: number,
  rate: BatchRate,
  target: { request?: string },
): { records: string[]; traceIds: string[] } {
  const records: string[] = [];
  const traceIds: string[] = [];
  let traceId = '';
  let requestId: string | undefined;
  let root = '';
  for (let i = 0; i < rate.recordsPerBatch; i++) {
    const at = arrivalMs - 5_000 + Math.floor(i / 2);
    const service = SERVICES[i % SERVICES.length] ?? 'orders';
    if (i % RECORDS_PER_TRACE === 0) {
      traceId = randomHex(rand, 32);
      traceIds.push(traceId);
      const r = rand();
      requestId = r < 0.15 ? uuid(rand) : r < 0.3 ? `req-${randomHex(rand, 12)}` : undefined;
      if (i === targetRecord(rate) && target.request) requestId = target.request;
      root = randomHex(rand, 16);
      const spans = Array.from({ length: SPANS_PER_TRACE }, (_, s) => ({
        traceId,
        spanId: s === 0 ? root : randomHex(rand, 16),
        ...(s === 0 ? {} : { parentSpanId: root }),
        name: s === 0 ? 'POST /api/v1/checkout' : `SELECT orders ${s}`,
        startNs: BigInt(at + s) * NS,
        durationNs: BigInt(5 + s) * NS,
        error: rand() < 0.02,
        ...(s === 0 && requestId ? { requestId } : {}),
      }));
      records.push(anOtlpTraceRequest(service, spans));
      continue;
    }
    const lines: string[] = [];
    for (let l = 0; l < 2; l++)
      lines.push(
        aLogLine({
          traceId,
          spanId: root,
          ...(requestId ? { requestId } : {}),
          service,
          level: rand() < 0.05 ? 'ERROR' : 'INFO',
          msg: `handled step ${i % RECORDS_PER_TRACE}.${l} of the checkout`,
          timeMs: at,
          extra: {
            http_route: '/api/v1/checkout',
            duration_ms: Math.floor(rand() * 500),
            host: `ip-10-0-${i % 256}-7`,
          },
        }),
      );
    records.push(lines.join('\n'));
  }
  return { records, traceIds };
}

/** Ingests 24 hours of batches at `rate` through `ingest()` into an s3rver-shaped folder. */
export async function generateDataset(dataDir: string, rate: BatchRate = batchRate(1)): Promise<Dataset> {
  const folder = { dataDir, bucket: BUCKET };
  const store = s3rverFolderStore(dataDir, BUCKET);
  const config = loadIngestConfig({ SKEIN_BUCKET: BUCKET });
  const logger = createLogger({ service: 'bench', level: 'error', write: () => {} });
  const rand = seededRng(7);
  let rows = 0;
  let traceId = '';
  let traceTimeMs = 0;
  const started = performance.now();
  const factor = rate.batchesPerHour / BASE_RATE.batchesPerHour;
  const target = targetRecord(rate);
  for (let h = 0; h < HOURS; h++) {
    for (let b = 0; b < rate.batchesPerHour; b++) {
      const arrivalMs = BASE + h * HOUR + b * (HOUR / rate.batchesPerHour) + 60_000;
      const isTarget = (h === 12 && b === factor) || (h === 13 && b === 2 * factor);
      const { records, traceIds } = batchRecords(rand, arrivalMs, rate, isTarget ? { request: TARGET_REQUEST } : {});
      if (h === 12 && b === factor) {
        traceId = traceIds[target / RECORDS_PER_TRACE] ?? '';
        traceTimeMs = arrivalMs - 5_000 + target / 2;
      }
      const shard = `shardId-00000000000${b % 2}`;
      const firstSeq = 49_650_000_000_000_000_000n + BigInt(h * rate.batchesPerHour + b) * 100_000n;
      const event = aKinesisEvent(records, { shardId: shard, firstSeq, arrivalMs });
      const summary = await ingestWithIndex(event.Records, { store, config, clock: () => arrivalMs, logger });
      rows += summary.logRows + summary.spanRows;
    }
  }
  return { folder, rows, traceId, traceTimeMs, ingestMs: performance.now() - started };
}

/**
 * Runs the compactor (`runCompaction`, functions/compact/run-compaction.ts) over every closed hour of the dataset,
 * with the deployed defaults for the layout of its objects (row groups sized per object, min/max on the lookup keys
 * only: functions/compact/row-groups.ts). Superseded raw objects stay (grace period), so the lookups after it also
 * show that the visibility rule hides them.
 */
export async function compactDataset(folder: LocalStore): Promise<string> {
  const summary = await runCompactor(folder, {});
  const rows = summary.result.hours.reduce((n, h) => n + h.rows, 0);
  return `compaction (row groups: the compactor's default, sized per object): ${summary.result.hours.length} hours, ${rows.toLocaleString('en-US')} rows, ${summary.result.failed} failed, ${summary.seconds} s`;
}

/**
 * The index merge alone (D24): the compactor run with a settle time longer than the dataset, so no hour is due for
 * compaction and every hour's per-batch index objects are merged — closed hours into one object each, as the
 * minute-by-minute runs leave them once an hour has closed.
 */
export async function mergeDatasetIndex(folder: LocalStore): Promise<string> {
  const summary = await runCompactor(folder, { SKEIN_COMPACT_SETTLE_SECONDS: String(7 * 86_400) });
  let hours = 0;
  let inputs = 0;
  let bucketWrites = 0;
  for (const m of summary.result.merged) {
    if (m.status !== 'merged') continue;
    hours++;
    inputs += m.inputs;
    bucketWrites += m.folded ? m.outputs : 0;
  }
  return `index merge: ${hours} closed hours, ${inputs} per-batch index objects folded into the day's bucket objects (${bucketWrites} bucket writes), ${summary.result.failed} failed, ${summary.seconds} s`;
}

async function runCompactor(
  folder: LocalStore,
  env: Record<string, string>,
): Promise<{ result: CompactionRunSummary; seconds: string }> {
  const { runCompaction } = await import('../../functions/compact/run-compaction.ts');
  const { loadCompactConfig } = await import('../../functions/compact/config.ts');
  const {
    bucket: _bucket,
    logLevel: _level,
    ...config
  } = loadCompactConfig({
    SKEIN_BUCKET: BUCKET,
    SKEIN_COMPACT_MAX_HOURS: '100',
    SKEIN_COMPACT_TIME_BUDGET_SECONDS: '3600',
    ...env,
  });
  const logger = createLogger({ service: 'bench', level: 'error', write: () => {} });
  const store = s3rverFolderStore(folder.dataDir, folder.bucket);
  const started = performance.now();
  const result = await runCompaction({ store, logger, config, clock: () => BASE + (HOURS + 2) * HOUR });
  return { result, seconds: ((performance.now() - started) / 1000).toFixed(1) };
}

/** Bytes of every visible data object in the window: what a full scan reads. */
async function windowBytes(folder: LocalStore, range: TimeRange): Promise<{ bytes: number; objects: number }> {
  let bytes = 0;
  let objects = 0;
  for (const table of ['logs', 'spans'] as const) {
    for (const p of await listPartitions(folder, table, range)) {
      for (const key of p.visible) {
        bytes += (await stat(objectPath(folder, key))).size;
        objects++;
      }
    }
  }
  return { bytes, objects };
}

interface LookupCase {
  readonly name: string;
  readonly by: 'trace' | 'request';
  readonly id: string;
  readonly range: TimeRange;
}

/** Lookups by trace id and by request id, without and with a time range (± 1 minute around the trace). */
function lookupCases(data: Dataset): LookupCase[] {
  const range = { since: data.traceTimeMs - 60_000, until: data.traceTimeMs + 60_000 };
  return [
    { name: 'trace, no time range ', by: 'trace', id: data.traceId, range: {} },
    { name: 'trace, ±1 min        ', by: 'trace', id: data.traceId, range },
    { name: 'request, no range    ', by: 'request', id: TARGET_REQUEST_ID, range: {} },
    { name: 'request, ±1 min      ', by: 'request', id: TARGET_REQUEST_ID, range },
  ];
}

async function runCases(label: string, data: Dataset, searchAll: boolean): Promise<string[]> {
  const lines: string[] = [];
  const fullWindow = await windowBytes(data.folder, {});
  lines.push(
    `  ${label}: full scan of the 24 h window = ${fullWindow.objects} objects, ${humanBytes(fullWindow.bytes)}`,
  );
  for (const c of HOURS >= 14 ? lookupCases(data) : []) {
    const window = c.range.since === undefined ? fullWindow : await windowBytes(data.folder, c.range);
    let result: LocalQueryResult | undefined;
    let best = Number.POSITIVE_INFINITY;
    // Best of 2: the first run also pays DuckDB's start and a cold page cache; the second is the warm figure.
    for (let i = 0; i < 2; i++) {
      result = await queryLocal({ ...data.folder, by: c.by, id: c.id, since: c.range.since, until: c.range.until });
      best = Math.min(best, result.stats.latencyMs);
    }
    if (result === undefined) continue;
    const s = result.stats;
    const pctFull = ((100 * s.bytesRead) / fullWindow.bytes).toFixed(3);
    const pctWindow = ((100 * s.bytesRead) / window.bytes).toFixed(2);
    lines.push(
      `    ${c.name} ${String(result.rows.length).padStart(4)} rows  ${humanBytes(s.bytesRead).padStart(9)} read (${pctFull} % of 24 h, ${pctWindow} % of its ${humanBytes(window.bytes)} window)  ${String(s.objectsOpened).padStart(3)} objects  ${s.rowGroupsRead}/${s.rowGroupsTotal} row groups  ${String(s.indexObjectsRead).padStart(3)} index objects (${humanBytes(s.indexBytesRead)})  ${best.toFixed(0).padStart(5)} ms`,
    );
  }
  lines.push(...(await searchCases(data, fullWindow.bytes, searchAll)));
  return lines;
}

/**
 * Searches over the whole window, next to the full scan: one the index answers alone (no data object read), and
 * attribute searches that read spans — narrowed by the index to the traces it cannot rule out, newest first until
 * the limit is certain (20), or all of them (limit 10,000; `searchAll`, at the base rate only: at 10× the rate it
 * reads every one of 960 objects and takes half a minute a stage, and the two lines above already show the tiers).
 */
async function searchCases(data: Dataset, fullBytes: number, searchAll: boolean): Promise<string[]> {
  const range = { since: BASE, until: BASE + HOURS * HOUR };
  const cases = [
    { name: 'search, index only   ', filter: '{ resource.service.name = "orders" && status = error }', limit: 20 },
    { name: 'search, attr, 20     ', filter: '{ span.http.response.status_code >= 500 }', limit: 20 },
    {
      name: 'search, attr, all    ',
      filter: '{ resource.service.name = "orders" && span.http.response.status_code >= 500 }',
      limit: 10_000,
    },
  ];
  const lines: string[] = [];
  for (const c of searchAll ? cases : cases.slice(0, 2)) {
    const parsed = parseSearch(c.filter);
    if (!parsed.ok) throw new Error(`bench filter ${c.filter}: ${parsed.error.message}`);
    const { traces, stats: s } = await searchLocal({ ...data.folder, query: parsed.query, range, limit: c.limit });
    const pct = ((100 * s.bytesRead) / fullBytes).toFixed(2);
    lines.push(
      `    ${c.name} ${String(traces.length).padStart(4)} traces  ${humanBytes(s.bytesRead).padStart(9)} read (${pct} % of the full scan; data ${humanBytes(s.dataBytesRead)}, index ${humanBytes(s.indexBytesRead)})  ${String(s.objectsOpened).padStart(3)} objects  ${s.rowGroupsRead}/${s.rowGroupsTotal} row groups  ${String(s.indexObjectsRead).padStart(3)} index objects  ${s.candidates} candidates, ${s.readFromData} read  ${s.latencyMs.toFixed(0).padStart(5)} ms  ${c.filter}`,
    );
  }
  return lines;
}

/** Options of `npm run bench -- lookup [--rows N]`. */
export interface LookupBenchOptions {
  /** Rows of the 24-hour window (1.08 M by default). */
  readonly rows?: number;
}

/** `npm run bench lookup`: the base batch rate, then the same rows as 10× more, smaller batches. */
export async function benchLookup(options: LookupBenchOptions = {}): Promise<string[]> {
  const lines: string[] = [];
  for (const factor of [1, 10]) lines.push(...(await benchLookupAt(batchRate(factor, options.rows), factor)));
  return lines;
}

async function benchLookupAt(rate: BatchRate, factor: number): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'skein-bench-lookup-'));
  try {
    const data = await generateDataset(dir, rate);
    const lines = [
      `lookup${factor === 1 ? '' : `, ${factor}× the batch rate`}: ${data.rows.toLocaleString('en-US')} rows over ${HOURS} hourly partitions (${HOURS * rate.batchesPerHour} batches of ${rate.recordsPerBatch.toLocaleString('en-US')} records) ingested in ${(data.ingestMs / 1000).toFixed(1)} s; trace ${data.traceId}, request ${TARGET_REQUEST_ID}`,
      '  bytes read = footers + compressed chunks of the row groups whose min/max admit the id (parquet_metadata)',
    ];
    const phases = [`ingest ${(data.ingestMs / 1000).toFixed(0)} s`];
    const timed = async <T>(name: string, step: () => Promise<T>): Promise<T> => {
      const started = performance.now();
      const result = await step();
      phases.push(`${name} ${((performance.now() - started) / 1000).toFixed(0)} s`);
      return result;
    };
    lines.push(...(await timed('lookups', () => runCases('before any compaction', data, factor === 1))));
    lines.push(`  ${await timed('index merge', () => mergeDatasetIndex(data.folder))}`);
    lines.push(...(await timed('lookups', () => runCases('after the index merge', data, factor === 1))));
    lines.push(`  ${await timed('compaction', () => compactDataset(data.folder))}`);
    lines.push(...(await timed('lookups', () => runCases('after compaction', data, factor === 1))));
    lines.push(`  phases: ${phases.join(', ')}`);
    return lines;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
