import type { PriceList } from './cost-prices.ts';

/** What the user tells `skein cost` about their traffic. */
export interface CostInput {
  /** Records per second on the stream (average). */
  readonly ratePerSecond: number;
  /** Bytes per record as the producer writes it (uncompressed JSON line or OTLP record). */
  readonly recordBytes: number;
  /** Days data stays queryable (S3 lifecycle / log group retention). */
  readonly retentionDays: number;
  /** Lookups of one trace or request per day (Athena for Skein and Firehose, Logs Insights for CloudWatch). */
  readonly lookupsPerDay: number;
  /** Share of the records that are spans (the rest are log lines). */
  readonly spanShare: number;
  /** Spans per trace (X-Ray bills per trace). */
  readonly spansPerTrace: number;
  /** Records per Lambda batch (`skein:batchSize`). */
  readonly batchSize: number;
  /** Batching window, seconds (`skein:batchWindowSeconds`). */
  readonly batchWindowSeconds: number;
  /** Stream retention, days (`skein:streamRetentionDays`). */
  readonly streamRetentionDays: number;
}

/** The worked example of docs/cost.md: what `skein cost` assumes for anything not given, and `skein smoke`'s traffic. */
export const DEFAULT_COST_INPUT: CostInput = {
  ratePerSecond: 1000,
  recordBytes: 440,
  retentionDays: 30,
  lookupsPerDay: 100,
  spanShare: 0.5,
  spansPerTrace: 10,
  batchSize: 1000,
  batchWindowSeconds: 5,
  streamRetentionDays: 7,
};

/**
 * What the model assumes beyond the user's input. The CPU figures come from `npm run bench` on a 2-core x86 machine
 * (one core of it ≈ one Lambda vCPU); the byte ratios from the benchmark workloads. Each is a named constant so the
 * docs (docs/cost.md) and the printed table can say where a number came from.
 */
export const ASSUMPTIONS = {
  secondsPerMonth: 730 * 3600,
  /** The shards an on-demand stream starts with (4 MB/s write capacity); the event source invokes per shard. */
  onDemandMinShards: 4,
  /** Capacity planned for peaks: shards for twice the average rate (on-demand scales the same way). */
  peakFactor: 2,
  /** KPL aggregated record size (`AggregationMaxSize` 50 KiB), so each aggregate is 2 PUT payload units. */
  kplAggregateBytes: 50 * 1024,
  /**
   * CPU per record of `ingest()` (decode, hygiene, sort, Parquet, index, rollup): the mixed-format ingest bench
   * (21 µs, run with the function's NODE_OPTIONS) plus the alert rollup (+23–31 % in the rollup bench); D28.
   */
  ingestCpuMicrosPerRecord: 27,
  /** Wall time per batch spent waiting on its 4 parallel S3 PUTs. */
  ingestIoSecondsPerBatch: 0.08,
  ingestMemoryGb: 1,
  /** Lambda gives a function one vCPU at 1,769 MB, proportionally less below. */
  lambdaMbPerVcpu: 1769,
  /** Compressed Parquet bytes per input byte (≈150 bytes per ~440-byte record in the lookup bench's workload). */
  parquetBytesPerInputByte: 0.34,
  /** Index and rollup objects, as a share of the data objects' bytes. */
  indexShareOfData: 0.05,
  /** CPU per row to read, merge and rewrite an hour in the compactor (about half of ingest's). */
  compactCpuMicrosPerRow: 20,
  compactMemoryGb: 3008 / 1024,
  /** Per closed hour the compactor rewrites up to 256 bucket-day index objects and a few data objects and manifests;
   * it runs every minute (D24) and each run lists ~20 pages (docs/cost.md). */
  compactIndexObjectsPerHour: 256,
  compactPutsPerHour: 265,
  compactRunsPerHour: 60,
  compactListsPerRun: 20,
  /** The index merge (D24), per run: one merged index object and one manifest written. Every per-batch index object
   * is read once by the merge; each closed hour's merged objects once more by the fold into the day buckets. */
  mergePutsPerRun: 2,
  /** Evaluator: one run a minute, ~0.5 s at 1 GB; notifier ~0.2 s at 0.5 GB (their benches' figures). */
  evaluatorSecondsPerRun: 0.5,
  evaluatorMemoryGb: 1,
  notifierSecondsPerRun: 0.2,
  notifierMemoryGb: 0.5,
  /** S3 requests of the scheduled functions per minute (docs/cost.md): evaluator GETs and LISTs, notifier LISTs. */
  evaluatorGetsPerMinutePerBatchRate: 60,
  evaluatorListsPerMinute: 60,
  notifierListsPerMinute: 4,
  /** Index bytes per per-batch index object (before the merge) and per day once compacted (one row group). */
  rawIndexObjectBytes: 10 * 1024,
  compactedIndexBytesPerDay: 1024 * 1024,
  /** What a lookup reads of one merged index object of the open hour (footer and the row group admitting the id). */
  mergedIndexBytesRead: 16 * 1024,
  /** Per-batch index objects a lookup still opens: those of the last minute or two, not merged yet (D24). */
  unmergedIndexSeconds: 120,
  /** Rows in a row group: what a lookup of a compacted hour reads per table. */
  rowGroupRows: 10_000,
  /** Share of lookups that hit the last, not yet compacted hour (read whole) rather than older, sorted data. */
  recentLookupShare: 0.2,
  /** Athena bills at least 10 MB per query; a Skein lookup runs 3 (index, logs, spans). */
  athenaMinBytesPerQuery: 10 * 1000 * 1000,
  skeinQueriesPerLookup: 3,
  /** CloudWatch Logs bills archived storage on the compressed size. */
  cloudwatchCompressedRatio: 0.15,
  /** Without an id index, a lookup with a one-day time range scans that day (Logs Insights; Firehose's Parquet is
   * not sorted by trace id, so min/max statistics cannot skip row groups). */
  unindexedLookupDays: 1,
  /** Firehose buffers up to 128 MiB or 300 s per partition; hourly partitions for logs and spans. */
  firehoseBufferBytes: 128 * 1024 * 1024,
  firehoseBufferSeconds: 300,
  firehosePartitions: 2,
} as const;

export interface CostLine {
  readonly system: CostSystem;
  readonly part: string;
  readonly monthlyUsd: number;
  /** The quantities behind the figure, in words. */
  readonly detail: string;
}

export const COST_SYSTEMS = ['skein', 'skein-provisioned', 'cloudwatch', 'firehose'] as const;
export type CostSystem = (typeof COST_SYSTEMS)[number];

export const SYSTEM_TITLES: Readonly<Record<CostSystem, string>> = {
  skein: 'Skein (Kinesis on-demand)',
  'skein-provisioned': 'Skein (Kinesis provisioned, KPL aggregation)',
  cloudwatch: 'CloudWatch Logs + X-Ray',
  firehose: 'Firehose → Parquet in S3 + Athena',
};

export interface CostEstimate {
  readonly lines: readonly CostLine[];
  readonly totals: Readonly<Record<CostSystem, number>>;
  /** GiB the producers write per month. */
  readonly gbPerMonth: number;
}

const GIB = 1024 ** 3;
const KIB = 1024;
const MIB = 1024 * 1024;
const TB = 1024 ** 4;

/**
 * The monthly cost of a traffic profile on AWS, by part, for Skein and for what users would run instead. Pure
 * arithmetic over {@link ASSUMPTIONS} and a price list; docs/cost.md gives each formula in words.
 * @example estimateCost({ ...DEFAULT_COST_INPUT, ratePerSecond: 1000, recordBytes: 440 }, US_EAST_1).totals.skein
 */
export function estimateCost(input: CostInput, prices: PriceList): CostEstimate {
  const a = ASSUMPTIONS;
  const lines: CostLine[] = [];
  const add = (system: CostSystem, part: string, monthlyUsd: number, detail: string) =>
    lines.push({ system, part, monthlyUsd, detail });

  const recordsPerMonth = input.ratePerSecond * a.secondsPerMonth;
  const bytesPerSecond = input.ratePerSecond * input.recordBytes;
  const gbPerMonth = (recordsPerMonth * input.recordBytes) / GIB;
  const gbPerDay = gbPerMonth / (730 / 24);
  const storedDays = input.retentionDays;

  // --- Kinesis, on-demand: each record rounded up to 1 KiB, written once and read once (the event source).
  const billedGb = (recordsPerMonth * Math.ceil(input.recordBytes / KIB) * KIB) / GIB;
  const extraRetentionDays = Math.max(0, input.streamRetentionDays - 1);
  const kinesisOnDemand =
    730 * prices.kinesisOnDemandStreamHour +
    billedGb * (prices.kinesisOnDemandIngestGb + prices.kinesisOnDemandRetrievalGb) +
    gbPerDay * extraRetentionDays * prices.kinesisOnDemandExtendedRetentionGbMonth;
  const onDemandShards = Math.max(
    a.onDemandMinShards,
    Math.ceil((a.peakFactor * bytesPerSecond) / MIB),
    Math.ceil((a.peakFactor * input.ratePerSecond) / 1000),
  );
  add(
    'skein',
    'Kinesis on-demand',
    kinesisOnDemand,
    `${fmt(billedGb)} GiB billed in, the same out (1 KiB rounding per record), ${input.streamRetentionDays} d retention`,
  );

  // --- Kinesis, provisioned, producers aggregating with the KPL: shards for the peak, payload units per 25 KiB.
  const aggregatesPerSecond = bytesPerSecond / a.kplAggregateBytes;
  const provisionedShards = Math.max(
    1,
    Math.ceil((a.peakFactor * bytesPerSecond) / MIB),
    Math.ceil((a.peakFactor * aggregatesPerSecond) / 1000),
  );
  const payloadUnits = aggregatesPerSecond * Math.ceil(a.kplAggregateBytes / (25 * KIB)) * a.secondsPerMonth;
  const kinesisProvisioned =
    provisionedShards *
      730 *
      (prices.kinesisShardHour + (extraRetentionDays > 0 ? prices.kinesisExtendedRetentionShardHour : 0)) +
    (payloadUnits / 1e6) * prices.kinesisPutPayloadUnitMillion;
  add(
    'skein-provisioned',
    'Kinesis provisioned + KPL',
    kinesisProvisioned,
    `${provisionedShards} shard(s), ${fmt(payloadUnits / 1e6)} M payload units`,
  );

  // --- Ingest Lambda: a batch closes when full or when the window ends on each shard.
  const skeinParts = (shards: number, system: CostSystem) => {
    const batchesPerSecond = Math.max(
      input.ratePerSecond / input.batchSize,
      input.batchWindowSeconds > 0 ? Math.min(shards / input.batchWindowSeconds, input.ratePerSecond) : 0,
    );
    const vcpu = Math.min(1, (a.ingestMemoryGb * 1024) / a.lambdaMbPerVcpu);
    const ingestSecondsPerSecond =
      (input.ratePerSecond * a.ingestCpuMicrosPerRecord) / 1e6 / vcpu + batchesPerSecond * a.ingestIoSecondsPerBatch;
    const invocations = batchesPerSecond * a.secondsPerMonth;
    const ingestLambda =
      ingestSecondsPerSecond * a.secondsPerMonth * a.ingestMemoryGb * prices.lambdaArmGbSecond +
      (invocations / 1e6) * prices.lambdaRequestMillion;
    add(
      system,
      'Lambda: ingest',
      ingestLambda,
      `${fmt(invocations / 1e6)} M invocations, ${fmt(ingestSecondsPerSecond * a.secondsPerMonth * a.ingestMemoryGb)} GB-s`,
    );
    const ingestPuts = 4 * invocations;
    add(
      system,
      'S3 requests: ingest',
      (ingestPuts / 1000) * prices.s3PutPer1000,
      `${fmt(ingestPuts / 1e6)} M PUTs (2 tables + index + rollup per batch)`,
    );
    return batchesPerSecond;
  };
  const batchesOnDemand = skeinParts(onDemandShards, 'skein');
  const batchesProvisioned = skeinParts(provisionedShards, 'skein-provisioned');

  // --- Storage, compaction, evaluator, notifier and lookups do not depend on the stream's mode.
  const parquetBytesPerRecord = input.recordBytes * a.parquetBytesPerInputByte;
  const storedGb = gbPerDay * storedDays * a.parquetBytesPerInputByte * (1 + a.indexShareOfData);
  const shared = (system: CostSystem, batchesPerSecond: number) => {
    add(
      system,
      'S3 storage',
      storedGb * prices.s3StandardGbMonth,
      `${fmt(storedGb)} GiB of Parquet + index (${fmt(parquetBytesPerRecord)} B/record, ${storedDays} d)`,
    );
    const compactVcpu = Math.min(2, (a.compactMemoryGb * 1024) / a.lambdaMbPerVcpu);
    const compactGbSeconds = ((recordsPerMonth * a.compactCpuMicrosPerRow) / 1e6 / compactVcpu) * a.compactMemoryGb;
    const compactRuns = a.compactRunsPerHour * 730;
    // Each batch's two data objects are read by compaction and its index object by the merge; the merged objects of
    // a closed hour are read again by the fold; the day buckets are rewritten.
    const compactGets = (3 * 3600 * batchesPerSecond + a.compactRunsPerHour + a.compactIndexObjectsPerHour) * 730;
    const compactPuts =
      (a.compactPutsPerHour + a.mergePutsPerRun * a.compactRunsPerHour) * 730 + a.compactListsPerRun * compactRuns;
    add(
      system,
      'Compaction (Lambda + S3)',
      compactGbSeconds * prices.lambdaArmGbSecond +
        (compactGets / 1000) * prices.s3GetPer1000 +
        (compactPuts / 1000) * prices.s3PutPer1000 +
        (compactRuns / 1e6) * prices.lambdaRequestMillion,
      `${fmt(compactGbSeconds)} GB-s, ${fmt(compactGets / 1e6)} M GETs, ${fmt(compactPuts / 1e6)} M PUT/LISTs`,
    );
    const runs = 730 * 60;
    const evaluatorGets = runs * (a.evaluatorGetsPerMinutePerBatchRate * batchesPerSecond + 60);
    const evaluatorLists = runs * a.evaluatorListsPerMinute;
    add(
      system,
      'Evaluator (Lambda + S3)',
      runs * a.evaluatorSecondsPerRun * a.evaluatorMemoryGb * prices.lambdaArmGbSecond +
        (runs / 1e6) * prices.lambdaRequestMillion +
        (evaluatorGets / 1000) * prices.s3GetPer1000 +
        (evaluatorLists / 1000) * prices.s3PutPer1000,
      `${fmt(runs)} runs, ${fmt(evaluatorGets / 1e6)} M GETs, ${fmt(evaluatorLists / 1e6)} M LISTs`,
    );
    const notifierLists = runs * a.notifierListsPerMinute;
    add(
      system,
      'Notifier (Lambda + S3)',
      runs * a.notifierSecondsPerRun * a.notifierMemoryGb * prices.lambdaArmGbSecond +
        (runs / 1e6) * prices.lambdaRequestMillion +
        (notifierLists / 1000) * prices.s3PutPer1000,
      `${fmt(runs)} runs, ${fmt(notifierLists / 1e6)} M LISTs`,
    );
    const lookup = skeinLookupBytes(input, batchesPerSecond);
    const lookupsPerMonth = input.lookupsPerDay * (730 / 24);
    add(
      system,
      'Athena lookups',
      ((lookup * lookupsPerMonth) / TB) * prices.athenaTb,
      `${fmt(lookupsPerMonth)} lookups × ${fmt(lookup / 1e6)} MB billed on average`,
    );
  };
  shared('skein', batchesOnDemand);
  shared('skein-provisioned', batchesProvisioned);

  // --- CloudWatch Logs for the log lines, X-Ray for the spans.
  const logGb = gbPerMonth * (1 - input.spanShare);
  add(
    'cloudwatch',
    'CloudWatch Logs ingestion',
    logGb * prices.cloudwatchLogsIngestGb,
    `${fmt(logGb)} GiB of log lines`,
  );
  const cwStoredGb = (logGb / (730 / 24)) * storedDays * a.cloudwatchCompressedRatio;
  add(
    'cloudwatch',
    'CloudWatch Logs storage',
    cwStoredGb * prices.cloudwatchLogsStorageGbMonth,
    `${fmt(cwStoredGb)} GiB compressed (${storedDays} d)`,
  );
  const lookupsPerMonth = input.lookupsPerDay * (730 / 24);
  const insightsGb = lookupsPerMonth * (logGb / (730 / 24)) * a.unindexedLookupDays;
  add(
    'cloudwatch',
    'Logs Insights lookups',
    insightsGb * prices.cloudwatchInsightsGb,
    `${fmt(lookupsPerMonth)} lookups × ${fmt(insightsGb / Math.max(1, lookupsPerMonth))} GiB scanned (1 day)`,
  );
  const tracesPerMonth = (recordsPerMonth * input.spanShare) / input.spansPerTrace;
  add(
    'cloudwatch',
    'X-Ray traces',
    (tracesPerMonth / 1e6) * prices.xrayTracesRecordedMillion +
      (lookupsPerMonth / 1e6) * prices.xrayTracesRetrievedMillion,
    `${fmt(tracesPerMonth / 1e6)} M traces recorded (30 d retention, fixed)`,
  );

  // --- Firehose reading the same stream, converting to Parquet with dynamic partitioning, queried by Athena.
  add('firehose', 'Kinesis on-demand', kinesisOnDemand, 'the same stream as Skein');
  const firehosePerGb =
    prices.firehoseIngestGb + prices.firehoseFormatConversionGb + prices.firehoseDynamicPartitioningGb;
  const objects =
    Math.max(
      (gbPerMonth * GIB) / a.firehoseBufferBytes,
      (a.firehosePartitions * a.secondsPerMonth) / a.firehoseBufferSeconds,
    ) || 0;
  add(
    'firehose',
    'Firehose (ingest, Parquet, partitioning)',
    gbPerMonth * firehosePerGb + (objects / 1000) * (prices.firehoseObjectsPer1000 + prices.s3PutPer1000),
    `${fmt(gbPerMonth)} GiB, ${fmt(objects / 1000)} k objects`,
  );
  const firehoseStoredGb = gbPerDay * storedDays * a.parquetBytesPerInputByte;
  add(
    'firehose',
    'S3 storage',
    firehoseStoredGb * prices.s3StandardGbMonth,
    `${fmt(firehoseStoredGb)} GiB of Parquet (${storedDays} d)`,
  );
  const unindexedBytes = Math.max(
    a.athenaMinBytesPerQuery,
    gbPerDay * a.unindexedLookupDays * a.parquetBytesPerInputByte * GIB,
  );
  add(
    'firehose',
    'Athena lookups',
    ((unindexedBytes * lookupsPerMonth) / TB) * prices.athenaTb,
    `${fmt(lookupsPerMonth)} lookups × ${fmt(unindexedBytes / GIB)} GiB scanned (1 day, unsorted)`,
  );

  const totals = Object.fromEntries(
    COST_SYSTEMS.map((s) => [s, lines.filter((l) => l.system === s).reduce((sum, l) => sum + l.monthlyUsd, 0)]),
  ) as Record<CostSystem, number>;
  return { lines, totals, gbPerMonth };
}

/**
 * Bytes Athena bills for one Skein lookup by id with no time range, averaged over old and recent ids: the index
 * step reads one compacted object per retained day plus the last ~2 hours of per-batch index objects; the data step
 * reads one row group per table for a compacted hour, or the whole hour for the hour not yet compacted. Each of the
 * three queries is billed at least 10 MB.
 */
/**
 * Index bytes one lookup reads with the tiered index (D24): one row group of each retained day's bucket object, of
 * each merged object of the open hour (one a minute), and the per-batch objects of the last minutes, read whole.
 */
function indexBytesPerLookup(input: CostInput, batchesPerSecond: number): number {
  const a = ASSUMPTIONS;
  return (
    input.retentionDays * a.compactedIndexBytesPerDay +
    a.compactRunsPerHour * a.mergedIndexBytesRead +
    a.unmergedIndexSeconds * batchesPerSecond * a.rawIndexObjectBytes
  );
}

export function skeinLookupBytes(input: CostInput, batchesPerSecond: number): number {
  const a = ASSUMPTIONS;
  const z = input.recordBytes * a.parquetBytesPerInputByte;
  const index = indexBytesPerLookup(input, batchesPerSecond);
  const oldData = a.rowGroupRows * z;
  const recentData = input.ratePerSecond * 3600 * z;
  const perTable = (1 - a.recentLookupShare) * oldData + a.recentLookupShare * recentData;
  const min = a.athenaMinBytesPerQuery;
  return Math.max(min, index) + 2 * Math.max(min, perTable);
}

function fmt(n: number): string {
  if (n >= 100) return Math.round(n).toLocaleString('en-US');
  if (n >= 1) return n.toFixed(1);
  return n.toPrecision(2);
}

/**
 * Bytes Athena scans, at most, for one lookup of an id written in the last hour (what `skein smoke` looks up): the
 * index step of {@link skeinLookupBytes}, and per table the whole hour not yet compacted (docs/cost.md, "Athena per
 * lookup"). Each of the three queries counts at least the 10 MB Athena bills, as the model does. Batches per second
 * as on an on-demand stream's shards.
 */
export function recentLookupBytes(input: CostInput): number {
  const a = ASSUMPTIONS;
  const batchesPerSecond = Math.max(
    input.ratePerSecond / input.batchSize,
    input.batchWindowSeconds > 0 ? Math.min(a.onDemandMinShards / input.batchWindowSeconds, input.ratePerSecond) : 0,
  );
  const index = indexBytesPerLookup(input, batchesPerSecond);
  const hour = input.ratePerSecond * 3600 * input.recordBytes * a.parquetBytesPerInputByte;
  const min = a.athenaMinBytesPerQuery;
  return Math.max(min, index) + 2 * Math.max(min, hour);
}
