import type { KinesisStreamBatchResponse, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { TABLES, type TableName } from '../../schemas/columns.ts';
import { describeError } from '../../schemas/errors.ts';
import type { MeasureSpec } from '../../schemas/measures.ts';
import type { LogRecord, SpanRecord } from '../../schemas/records.ts';
import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/logger.ts';
import { emitIngestMetrics, type MetricWriter } from '../core/metrics.ts';
import type { ObjectStore } from '../core/object-store.ts';
import { type BatchId, quarantineObjectKey, tableObjectKey } from '../shared/object-keys.ts';
import { writeParquet } from '../shared/parquet/parquet-writer.ts';
import { computeRollup, encodeRollup, ROLLUP_CONTENT_TYPE, rollupObjectKey } from '../shared/rollup.ts';
import { sortByTraceThenTime } from '../shared/sort-rows.ts';
import { buildTraceIndex, dataPartitionOf, encodeTraceIndex, traceIndexObjectKey } from '../shared/trace-index.ts';
import type { IngestConfig } from './config.ts';
import { coveredRanges, uncoveredRecords } from './covered-records.ts';
import { decodeRecord } from './decode-record.ts';
import { type DecodeFailure, type DecodeOptions, type DecodeSink, newSink, type RecordContext } from './decoded.ts';
import { finishRows } from './hygiene.ts';
import { encodeQuarantine, type QuarantineEntry, quarantineEntry } from './quarantine.ts';
import { millisToNanos } from './timestamps.ts';

export interface IngestDeps {
  readonly store: ObjectStore;
  readonly config: IngestConfig;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Where the batch's CloudWatch EMF metric lines go (stdout in Lambda); none when absent. */
  readonly metrics?: MetricWriter;
  /**
   * The measures the loaded alert rules need (`compileRules(...).measures`). When given, every batch also writes its
   * per-minute rollup object (even an empty one, so a bisected retry overwrites the larger earlier attempt); when
   * absent (no rules configured) no rollups are written.
   */
  readonly measures?: readonly MeasureSpec[];
}

/** What one batch became; logged once per batch and returned to tests. */
export interface BatchSummary {
  readonly shardId: string;
  readonly firstSequenceNumber: string;
  readonly records: number;
  readonly logRows: number;
  readonly spanRows: number;
  /** Records with at least one row. */
  readonly recordsWithRows: number;
  /** Records that produced no row and were quarantined whole. */
  readonly recordsQuarantined: number;
  /** Records (or lines of records) quarantined. */
  readonly quarantined: number;
  /** CloudWatch Logs control messages dropped (counted, not quarantined). */
  readonly controlMessages: number;
  /** Rows written per `source_format`. */
  readonly rowsByFormat: Readonly<Record<string, number>>;
  /** Quarantine entries per reason code. */
  readonly quarantinedByReason: Readonly<Record<string, number>>;
  readonly objectKeys: readonly string[];
  /** Where the batch's time went, ms (wall clock): logged with the batch and summed by the benchmark. */
  readonly stagesMs: StageTimes;
}

/**
 * The stages of a batch, in order: decode (with hygiene), sort, the trace index (built and encoded), the table
 * objects' Parquet, the rollup (only with rules) and the store's writes.
 */
export interface StageTimes {
  decode: number;
  sort: number;
  index: number;
  parquet: number;
  rollup: number;
  store: number;
}

/** Every stage at 0 ms: a batch's times before they are measured, and the start of a sum over batches. */
export function noStages(): StageTimes {
  return { decode: 0, sort: 0, index: 0, parquet: 0, rollup: 0, store: 0 };
}

const PARQUET = 'application/vnd.apache.parquet';
const NDJSON = 'application/x-ndjson';

/**
 * Ingests one Kinesis batch: decodes every record, sorts rows by trace id then time, and writes one Parquet object
 * per table plus, when some input could not be decoded, one quarantine object — all under keys derived from the
 * batch alone, so a retry overwrites instead of duplicating.
 *
 * Every table object is written on every batch, even with zero rows: a retry that Lambda bisected to fewer records
 * must overwrite the earlier, larger attempt's object, or rows would exist twice once the rest is re-delivered.
 *
 * Bad input never fails the batch (it is quarantined with its bytes and a reason). A failed write does: the whole
 * batch is reported in `batchItemFailures` from its first record, and Lambda retries it onto the same keys.
 */
export async function ingestBatch(event: KinesisStreamEvent, deps: IngestDeps): Promise<KinesisStreamBatchResponse> {
  const { response } = await ingest(event.Records, deps);
  return response;
}

/**
 * The domain work of `ingestBatch`, returning its summary too (for tests and the benchmark): drop what compaction
 * already holds, decode, encode the objects, write them, report.
 */
export async function ingest(
  delivered: readonly KinesisStreamRecord[],
  deps: IngestDeps,
): Promise<{ response: KinesisStreamBatchResponse; summary: BatchSummary }> {
  const started = deps.clock();
  const deliveredFirst = delivered[0];
  if (!deliveredFirst) return { response: { batchItemFailures: [] }, summary: emptySummary() };
  const records = await recordsNotYetCompacted(delivered, deliveredFirst, deps, started);
  if (records === 'retry') {
    return {
      response: { batchItemFailures: [{ itemIdentifier: deliveredFirst.kinesis.sequenceNumber }] },
      summary: emptySummary(),
    };
  }
  const first = records[0];
  if (!first) return { response: { batchItemFailures: [] }, summary: emptySummary() };
  const batch: BatchId = {
    shardId: shardIdOf(first),
    firstSequenceNumber: first.kinesis.sequenceNumber,
    firstArrivalMs: arrivalMsOf(first),
  };
  const log = deps.logger.child({ shard_id: batch.shardId, first_sequence_number: batch.firstSequenceNumber });

  const stages = noStages();
  let mark = performance.now();
  const decoded = decodeRecords(records, batch, deps, log, millisToNanos(started));
  stages.decode = performance.now() - mark;
  const { logs, spans, writes } = encodeObjects(records, batch, decoded, deps, stages);
  mark = performance.now();
  const results = await Promise.allSettled(writes.map((w) => deps.store.put(w.key, w.body, w.type)));
  stages.store = performance.now() - mark;
  const summary = summarise(batch, records, decoded, logs, spans, writes, stages);
  const failed = results.flatMap((r) => (r.status === 'rejected' ? [describeError(r.reason)] : []));
  if (failed.length > 0) {
    log.error('writing the batch failed; Lambda will retry it from its first record', {
      failed_writes: failed.length,
      error: failed[0],
    });
    return { response: { batchItemFailures: [{ itemIdentifier: batch.firstSequenceNumber }] }, summary };
  }
  report(summary, deps, log, started);
  return { response: { batchItemFailures: [] }, summary };
}

/**
 * A batch whose hour may already be compacted (a Lambda retry or re-delivery arriving late) first drops the records a
 * compacted source already holds (D19): the rows of a bisected half or a re-keyed retry would otherwise be written
 * under a new key, visible next to the compacted copy. The batch's keys then derive from its first record left.
 * `'retry'` when the manifests cannot be read: without them nobody can tell what is compacted.
 */
async function recordsNotYetCompacted(
  delivered: readonly KinesisStreamRecord[],
  deliveredFirst: KinesisStreamRecord,
  deps: IngestDeps,
  started: number,
): Promise<readonly KinesisStreamRecord[] | 'retry'> {
  try {
    const covered = await coveredRanges(deps.store, shardIdOf(deliveredFirst), delivered, started);
    if (covered.ranges.length === 0) return delivered;
    const records = uncoveredRecords(delivered, covered.ranges);
    if (records.length < delivered.length) {
      deps.logger.info('records already in a compacted hour dropped', {
        shard_id: shardIdOf(deliveredFirst),
        first_sequence_number: deliveredFirst.kinesis.sequenceNumber,
        dropped: delivered.length - records.length,
        kept: records.length,
      });
    }
    return records;
  } catch (error) {
    deps.logger.error('reading the compaction manifests failed; Lambda will retry the batch', {
      shard_id: shardIdOf(deliveredFirst),
      first_sequence_number: deliveredFirst.kinesis.sequenceNumber,
      error: describeError(error),
    });
    return 'retry';
  }
}

/** What decoding a batch's records produced: rows, quarantine entries, and how each record was accounted for. */
interface DecodedBatch {
  readonly sink: DecodeSink;
  readonly quarantine: QuarantineEntry[];
  readonly outcomes: { withRows: number; quarantined: number; dropped: number };
}

/**
 * Decodes every record into the batch's rows (hygiene applied), quarantining what cannot be decoded. Every record is
 * accounted for exactly once: with rows (some of its lines may be quarantined too), quarantined whole, or dropped as
 * a control message.
 */
function decodeRecords(
  records: readonly KinesisStreamRecord[],
  batch: BatchId,
  deps: IngestDeps,
  log: Logger,
  observedNs: bigint,
): DecodedBatch {
  const sink = newSink();
  const quarantine: QuarantineEntry[] = [];
  const { redactor, maxRecordBytes } = deps.config;
  const options: DecodeOptions = { maxRecordBytes, redactor, format: deps.config.format };
  const outcomes = { withRows: 0, quarantined: 0, dropped: 0 };
  for (const record of records) {
    const ctx: RecordContext = {
      shardId: batch.shardId,
      sequenceNumber: record.kinesis.sequenceNumber,
      subSequenceNumber: 0,
      formatPrefix: '',
      partitionKey: record.kinesis.partitionKey,
      arrivalMs: arrivalMsOf(record),
      observedNs,
    };
    const data = Buffer.from(record.kinesis.data, 'base64');
    const logsBefore = sink.logs.length;
    const spansBefore = sink.spans.length;
    const controlBefore = sink.controlMessages;
    let failures: DecodeFailure[];
    try {
      failures = decodeRecord(data, ctx, sink, options);
    } catch (error) {
      // A decoder bug must not block the shard: drop this record's partial rows and quarantine it whole.
      sink.logs.length = logsBefore;
      sink.spans.length = spansBefore;
      sink.controlMessages = controlBefore;
      failures = [{ reason: 'decoder_error', message: describeError(error), raw: data, decoder: 'detect' }];
      log.error('decoder failed unexpectedly; record quarantined', {
        sequence_number: ctx.sequenceNumber,
        error: describeError(error),
      });
    }
    finishRows(sink, logsBefore, spansBefore, ctx, deps.config.hygiene, redactor);
    const rows = sink.logs.length - logsBefore + sink.spans.length - spansBefore;
    for (const failure of failures) quarantine.push(quarantineEntry(failure, ctx, redactor, maxRecordBytes));
    if (rows > 0) outcomes.withRows++;
    else if (failures.length > 0) outcomes.quarantined++;
    else if (sink.controlMessages > controlBefore) outcomes.dropped++;
    else {
      log.error('record produced neither rows, a quarantine entry nor a control message: this is a bug', {
        sequence_number: ctx.sequenceNumber,
      });
      quarantine.push(
        quarantineEntry(
          { reason: 'decoder_error', message: 'no rows and no failure', raw: data, decoder: 'detect' },
          ctx,
          redactor,
          maxRecordBytes,
        ),
      );
      outcomes.quarantined++;
    }
  }
  // The branches above make the accounting hold; the check guards future edits.
  if (outcomes.withRows + outcomes.quarantined + outcomes.dropped !== records.length) {
    log.error('record count mismatch: this is a bug', { records: records.length, ...outcomes });
  }
  return { sink, quarantine, outcomes };
}

interface ObjectWrite {
  readonly key: string;
  readonly body: Uint8Array;
  readonly type: string;
}

/**
 * Sorts the rows and encodes the batch's objects. A batch costs a fixed number of PUTs: one per table, one index
 * object, one rollup object (when rules are loaded) and one quarantine object (when something could not be decoded)
 * — never one per id or per bucket.
 */
function encodeObjects(
  records: readonly KinesisStreamRecord[],
  batch: BatchId,
  decoded: DecodedBatch,
  deps: IngestDeps,
  stages: StageTimes,
): { logs: LogRecord[]; spans: SpanRecord[]; writes: ObjectWrite[] } {
  let mark = performance.now();
  const lap = () => {
    const now = performance.now();
    const ms = now - mark;
    mark = now;
    return ms;
  };
  const logs = sortByTraceThenTime<LogRecord>(decoded.sink.logs, (r) => r.time_unix_nano);
  const spans = sortByTraceThenTime<SpanRecord>(decoded.sink.spans, (r) => r.start_time_unix_nano);
  stages.sort = lap();
  const dataKeys = { logs: tableObjectKey('logs', batch), spans: tableObjectKey('spans', batch) };
  const index = {
    key: traceIndexObjectKey(batch),
    body: encodeTraceIndex(buildTraceIndex(logs, spans, dataKeys, dataPartitionOf(batch))),
    type: PARQUET,
  };
  stages.index = lap();
  const writes: ObjectWrite[] = [
    { key: dataKeys.logs, body: encodeTable('logs', logs, deps.config), type: PARQUET },
    { key: dataKeys.spans, body: encodeTable('spans', spans, deps.config), type: PARQUET },
    index,
  ];
  stages.parquet = lap();
  if (deps.measures) writes.push(rollupWrite(records, batch, logs, spans, deps.measures, deps.config));
  stages.rollup = lap();
  if (decoded.quarantine.length > 0) {
    writes.push({ key: quarantineObjectKey(batch), body: encodeQuarantine(decoded.quarantine), type: NDJSON });
  }
  return { logs, spans, writes };
}

/** The batch's per-minute rollup, carrying the shard's watermark and the batch's record range. */
function rollupWrite(
  records: readonly KinesisStreamRecord[],
  batch: BatchId,
  logs: readonly LogRecord[],
  spans: readonly SpanRecord[],
  measures: readonly MeasureSpec[],
  config: IngestConfig,
): ObjectWrite {
  // The batch's watermark travels in its rollup: valid exactly when the rollup (its rows counted) is durable (D15).
  let newest = batch.firstArrivalMs;
  for (const r of records) newest = Math.max(newest, arrivalMsOf(r));
  const last = records[records.length - 1];
  const lastSequenceNumber = last?.kinesis.sequenceNumber ?? batch.firstSequenceNumber;
  const key = rollupObjectKey(batch);
  const rollup = computeRollup(logs, spans, measures, batch.firstArrivalMs, {
    latenessMs: config.latenessMs,
    shard: { shardId: batch.shardId, mark: { arrival_ms: newest, sequence_number: lastSequenceNumber } },
  });
  // The records this batch held: a compacted minute that merged them lets readers skip a late bisected retry (D19).
  rollup.batch_range = { key, shard_id: batch.shardId, first: batch.firstSequenceNumber, last: lastSequenceNumber };
  return { key, body: encodeRollup(rollup), type: ROLLUP_CONTENT_TYPE };
}

function summarise(
  batch: BatchId,
  records: readonly KinesisStreamRecord[],
  decoded: DecodedBatch,
  logs: readonly LogRecord[],
  spans: readonly SpanRecord[],
  writes: readonly ObjectWrite[],
  stagesMs: StageTimes,
): BatchSummary {
  return {
    shardId: batch.shardId,
    firstSequenceNumber: batch.firstSequenceNumber,
    records: records.length,
    logRows: logs.length,
    spanRows: spans.length,
    recordsWithRows: decoded.outcomes.withRows,
    recordsQuarantined: decoded.outcomes.quarantined,
    quarantined: decoded.quarantine.length,
    controlMessages: decoded.sink.controlMessages,
    rowsByFormat: countBy(logs, spans),
    quarantinedByReason: countReasons(decoded.quarantine),
    objectKeys: writes.map((w) => w.key),
    stagesMs,
  };
}

/** One line of EMF metrics per dimension set (when a writer is given) and one JSON log line for the batch. */
function report(summary: BatchSummary, deps: IngestDeps, log: Logger, started: number): void {
  if (deps.metrics) {
    emitIngestMetrics(
      {
        records: summary.records,
        rowsByFormat: summary.rowsByFormat,
        quarantinedByReason: summary.quarantinedByReason,
        controlMessages: summary.controlMessages,
        durationMs: deps.clock() - started,
        shardId: summary.shardId,
      },
      deps.metrics,
      deps.clock,
    );
  }
  log.info('batch ingested', {
    records: summary.records,
    log_rows: summary.logRows,
    span_rows: summary.spanRows,
    quarantined: summary.quarantined,
    duration_ms: deps.clock() - started,
    stages_ms: roundedStages(summary.stagesMs),
  });
}

function encodeTable(table: TableName, rows: readonly (LogRecord | SpanRecord)[], config: IngestConfig): Uint8Array {
  return writeParquet(TABLES[table], rows as readonly Readonly<Record<string, unknown>>[], {
    rowGroupRows: config.rowGroupRows,
  });
}

/** `approximateArrivalTimestamp` (epoch seconds, fractional) in epoch ms. */
function arrivalMsOf(record: KinesisStreamRecord): number {
  return Math.round(record.kinesis.approximateArrivalTimestamp * 1000);
}

/** `eventID` is `<shardId>:<sequenceNumber>` in Kinesis events delivered by Lambda. */
function shardIdOf(record: KinesisStreamRecord): string {
  const colon = record.eventID.indexOf(':');
  return colon > 0 ? record.eventID.slice(0, colon) : 'shardId-unknown';
}

function countBy(logs: readonly LogRecord[], spans: readonly SpanRecord[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const row of logs) counts[row.source_format] = (counts[row.source_format] ?? 0) + 1;
  for (const row of spans) counts[row.source_format] = (counts[row.source_format] ?? 0) + 1;
  return counts;
}

function countReasons(entries: readonly QuarantineEntry[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const entry of entries) counts[entry.reason] = (counts[entry.reason] ?? 0) + 1;
  return counts;
}

function emptySummary(): BatchSummary {
  return {
    shardId: '',
    firstSequenceNumber: '',
    records: 0,
    logRows: 0,
    spanRows: 0,
    recordsWithRows: 0,
    recordsQuarantined: 0,
    quarantined: 0,
    controlMessages: 0,
    rowsByFormat: {},
    quarantinedByReason: {},
    objectKeys: [],
    stagesMs: noStages(),
  };
}

/** Stage times to the tenth of a millisecond, for the batch's log line. */
function roundedStages(stages: StageTimes): StageTimes {
  const out = noStages();
  for (const key of Object.keys(out) as (keyof StageTimes)[]) out[key] = Math.round(stages[key] * 10) / 10;
  return out;
}
