import { describe, expect, it } from 'vitest';
import { memoryLogger } from '../../functions/core/logger.ts';
import { memoryObjectStore, type ObjectStore } from '../../functions/core/object-store.ts';
import { loadIngestConfig } from '../../functions/ingest/config.ts';
import { ingestBatch } from '../../functions/ingest/ingest-batch.ts';
import { decodeRollup } from '../../functions/shared/rollup.ts';
import type { MeasureSpec } from '../../schemas/measures.ts';
import { aKinesisEvent } from '../builders/kinesis.ts';
import { aLogLine, anOtlpTraceRequest, aSpanId, aTraceId } from '../builders/telemetry.ts';
import { readParquetObjects } from '../support/duckdb.ts';

const config = loadIngestConfig({ SKEIN_BUCKET: 'skein-test', SKEIN_ROW_GROUP_ROWS: '100' });
const clock = () => Date.UTC(2026, 10, 25, 21, 31);

function deps(store: ObjectStore = memoryObjectStore()) {
  return { store, config, clock, logger: memoryLogger() };
}

function objectsUnder(store: ReturnType<typeof memoryObjectStore>, prefix: string): Uint8Array[] {
  return [...store.objects.entries()].filter(([k]) => k.startsWith(prefix)).map(([, v]) => v);
}

/** Ten records: JSON lines of 3 traces (in reverse order) and one OTLP request. */
function mixedPayloads(): string[] {
  const payloads: string[] = [];
  for (let i = 9; i >= 1; i--) {
    payloads.push(
      aLogLine({
        traceId: aTraceId(i % 3),
        requestId: `req-${i % 3}`,
        msg: `line ${i}`,
        timeMs: Date.UTC(2026, 10, 25, 21, 29, i),
      }),
    );
  }
  payloads.push(
    anOtlpTraceRequest('orders', [
      { traceId: aTraceId(0), spanId: aSpanId(0) },
      { traceId: aTraceId(1), spanId: aSpanId(1) },
    ]),
  );
  return payloads;
}

describe('ingestBatch', () => {
  it('writes one Parquet object per table and one index object under keys derived from the batch, rows sorted by trace then time', async () => {
    // Prepare
    const store = memoryObjectStore();
    const event = aKinesisEvent(mixedPayloads(), { shardId: 'shardId-000000000003' });

    // Act
    const response = await ingestBatch(event, deps(store));

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    const first = event.Records[0]?.kinesis.sequenceNumber;
    expect([...store.objects.keys()].sort()).toEqual([
      `tables/logs/dt=2026-11-25/hour=21/shardId-000000000003-${first}.parquet`,
      `tables/spans/dt=2026-11-25/hour=21/shardId-000000000003-${first}.parquet`,
      `tables/trace_index/dt=2026-11-25/hour=21/shardId-000000000003-${first}.parquet`,
    ]);
    const logs = await readParquetObjects(
      objectsUnder(store, 'tables/logs/'),
      (f) => `SELECT trace_id, body FROM read_parquet(${f})`,
    );
    expect(logs.map((r) => r.trace_id)).toEqual([...logs.map((r) => r.trace_id)].sort());
    expect(logs.filter((r) => r.trace_id === aTraceId(0)).map((r) => r.body)).toEqual(['line 3', 'line 6', 'line 9']);
    const spans = await readParquetObjects(
      objectsUnder(store, 'tables/spans/'),
      (f) => `SELECT count(*)::INT AS n FROM read_parquet(${f})`,
    );
    expect(spans).toEqual([{ n: 2 }]);
  });

  it('writes one rollup object per batch with the counts of the loaded measures, and none without rules', async () => {
    // Prepare
    const measure: MeasureSpec = {
      id: '00000000000000aa',
      selector: { table: 'logs', matchers: [] },
      by: [],
      kind: 'count',
    };
    const event = aKinesisEvent(mixedPayloads());
    const withRules = memoryObjectStore();
    const withoutRules = memoryObjectStore();

    // Act
    await ingestBatch(event, { ...deps(withRules), measures: [measure] });
    await ingestBatch(event, deps(withoutRules));

    // Assess
    const rollupKeys = [...withRules.objects.keys()].filter((k) => k.startsWith('rollups/'));
    const arrivalMinute = new Date((event.Records[0]?.kinesis.approximateArrivalTimestamp ?? 0) * 1000)
      .toISOString()
      .slice(0, 16);
    expect(rollupKeys).toEqual([
      `rollups/minute=${arrivalMinute}/shardId-000000000000-${event.Records[0]?.kinesis.sequenceNumber}.json`,
    ]);
    const rollup = decodeRollup(withRules.objects.get(rollupKeys[0] ?? '') ?? new Uint8Array(), 'rollup');
    const counted = Object.values(rollup.minutes).reduce((n, m) => n + (m[measure.id]?.['[]']?.n ?? 0), 0);
    expect(counted).toBe(9);
    expect([...withoutRules.objects.keys()].some((k) => k.startsWith('rollups/'))).toBe(false);
    // The batch's watermark (D15): its shard's newest arrival and last record, and the lateness rows were assigned with
    const last = event.Records[event.Records.length - 1];
    const newest = Math.max(...event.Records.map((r) => Math.round(r.kinesis.approximateArrivalTimestamp * 1000)));
    expect(rollup.shards).toEqual({
      'shardId-000000000000': { arrival_ms: newest, sequence_number: last?.kinesis.sequenceNumber },
    });
    expect(rollup.lateness_ms).toBe(30_000);
  });

  it('quarantines malformed records with their bytes and a reason, and keeps every good row', async () => {
    // Prepare
    const store = memoryObjectStore();
    const bad = ['{"msg": nope', '', '\u0000\u0001binary'];
    const event = aKinesisEvent([aLogLine({ traceId: aTraceId(7) }), ...bad, aLogLine({ traceId: aTraceId(7) })]);

    // Act
    const response = await ingestBatch(event, deps(store));

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    const [quarantineKey] = [...store.objects.keys()].filter((k) => k.startsWith('quarantine/'));
    expect(quarantineKey).toMatch(/^quarantine\/dt=2026-11-25\/hour=21\/shardId-000000000000-\d+\.ndjson$/);
    const entries = new TextDecoder()
      .decode(store.objects.get(quarantineKey ?? ''))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    // Binary in no format Skein reads cannot be inspected for secrets: only its size is kept (D17).
    expect(
      entries.map((e) => [e.reason, Buffer.from(e.data, 'base64').toString(), e.data_form, e.original_size]),
    ).toEqual([
      ['invalid_json', '{"msg": nope', 'original', 12],
      ['empty_record', '', 'original', 0],
      ['unknown_format', '', 'withheld', 8],
    ]);
    expect(entries.map((e) => e.sequence_number)).toEqual(
      event.Records.slice(1, 4).map((r) => r.kinesis.sequenceNumber),
    );
    const logs = await readParquetObjects(
      objectsUnder(store, 'tables/logs/'),
      (f) => `SELECT count(*)::INT AS n FROM read_parquet(${f})`,
    );
    expect(logs).toEqual([{ n: 2 }]);
  });

  it('reports the whole batch from its first record when a write fails, and the retry overwrites the same keys', async () => {
    // Prepare
    const store = memoryObjectStore();
    let failSpans = true;
    const flaky: ObjectStore = {
      ...store,
      put: async (key, body, type) => {
        if (failSpans && key.startsWith('tables/spans/')) throw new Error('SlowDown');
        return store.put(key, body, type);
      },
    };
    const event = aKinesisEvent(mixedPayloads());

    // Act
    const failed = await ingestBatch(event, deps(flaky));
    failSpans = false;
    const retried = await ingestBatch(event, deps(flaky));

    // Assess
    expect(failed.batchItemFailures).toEqual([{ itemIdentifier: event.Records[0]?.kinesis.sequenceNumber }]);
    expect(retried.batchItemFailures).toEqual([]);
    expect(store.objects.size).toBe(3);
    const rows = await readParquetObjects(
      [...objectsUnder(store, 'tables/logs/'), ...objectsUnder(store, 'tables/spans/')],
      (f) => `SELECT count(*)::INT AS n FROM read_parquet(${f}, union_by_name = true)`,
    );
    expect(rows).toEqual([{ n: 9 + 2 }]);
  });

  it('leaves every row exactly once when Lambda bisects a failed batch and re-delivers it in halves', async () => {
    // Prepare: the first attempt writes the logs object, then the spans write fails.
    const store = memoryObjectStore();
    let attempt = 0;
    const flaky: ObjectStore = {
      ...store,
      put: async (key, body, type) => {
        if (attempt === 0 && key.startsWith('tables/spans/')) throw new Error('InternalError');
        return store.put(key, body, type);
      },
    };
    const payloads = mixedPayloads().reverse(); // the OTLP record first, so both halves differ in content
    const whole = aKinesisEvent(payloads);
    const firstHalf = { Records: whole.Records.slice(0, 5) };
    const secondHalf = { Records: whole.Records.slice(5) };

    // Act
    await ingestBatch(whole, deps(flaky));
    attempt = 1;
    await ingestBatch(firstHalf, deps(flaky));
    await ingestBatch(secondHalf, deps(flaky));

    // Assess
    const rows = await readParquetObjects(
      objectsUnder(store, 'tables/logs/'),
      (f) =>
        `SELECT sequence_number, record_ordinal, count(*)::INT AS n FROM read_parquet(${f}) GROUP BY ALL HAVING n > 1`,
    );
    expect(rows).toEqual([]);
    const total = await readParquetObjects(
      objectsUnder(store, 'tables/logs/'),
      (f) => `SELECT count(*)::INT AS n FROM read_parquet(${f})`,
    );
    expect(total).toEqual([{ n: 9 }]);
  });

  it('writes readable empty tables when a batch has no rows for them', async () => {
    const store = memoryObjectStore();
    await ingestBatch(aKinesisEvent([aLogLine()]), deps(store));
    const spans = await readParquetObjects(
      objectsUnder(store, 'tables/spans/'),
      (f) => `SELECT count(*)::INT AS n FROM read_parquet(${f})`,
    );
    expect(spans).toEqual([{ n: 0 }]);
  });

  it('logs one JSON line per batch with its counts and no record content', async () => {
    const d = deps();
    await ingestBatch(aKinesisEvent([aLogLine({ msg: 'secret-ish body' }), 'garbage']), d);
    const summary = JSON.parse(d.logger.lines.at(-1) ?? '{}');
    expect(summary).toMatchObject({ level: 'info', msg: 'batch ingested', records: 2, log_rows: 1, quarantined: 1 });
    expect(d.logger.lines.join('\n')).not.toContain('secret-ish body');
  });

  it('says where the batch time went, stage by stage', async () => {
    const d = deps();
    await ingestBatch(aKinesisEvent([aLogLine(), 'garbage']), d);
    const { stages_ms: stages } = JSON.parse(d.logger.lines.at(-1) ?? '{}');
    expect(Object.keys(stages)).toEqual(['decode', 'sort', 'index', 'parquet', 'rollup', 'store']);
    for (const ms of Object.values(stages)) expect(ms).toBeGreaterThanOrEqual(0);
    // Every batch decodes and writes Parquet; those stages take measurable time on any machine.
    expect(stages.decode + stages.parquet).toBeGreaterThan(0);
  });
});

describe('ingestBatch metrics', () => {
  it('emits one EMF document with the batch totals and one per format and per quarantine reason', async () => {
    // Prepare
    const lines: string[] = [];
    const event = aKinesisEvent([
      aLogLine(),
      anOtlpTraceRequest('orders', [{ traceId: aTraceId(1), spanId: aSpanId(1) }]),
      'not json',
    ]);

    // Act
    await ingestBatch(event, { ...deps(), metrics: (line) => lines.push(line) });

    // Assess
    const documents = lines.map((l) => JSON.parse(l));
    const totals = documents.find((d) => d._aws.CloudWatchMetrics[0].Dimensions[0].length === 0);
    expect(totals).toMatchObject({ RecordsIn: 3, Rows: 2, Quarantined: 1, ControlMessagesDropped: 0 });
    expect(documents.filter((d) => d.Format).map((d) => [d.Format, d.Rows])).toEqual([
      ['json-lines', 1],
      ['otlp-json', 1],
    ]);
    expect(documents.filter((d) => d.Reason).map((d) => [d.Reason, d.Quarantined])).toEqual([['unknown_format', 1]]);
  });
});
