import { describe, expect, it } from 'vitest';
import { memoryLogger } from '../../functions/core/logger.ts';
import { memoryObjectStore, type ObjectStore } from '../../functions/core/object-store.ts';
import { loadIngestConfig } from '../../functions/ingest/config.ts';
import type { DecodeFailure, RecordContext } from '../../functions/ingest/decoded.ts';
import { ingest } from '../../functions/ingest/ingest-batch.ts';
import { encodeQuarantine, type QuarantineEntry, quarantineEntry } from '../../functions/ingest/quarantine.ts';
import { type ReplayOptions, replayQuarantine, scanQuarantine } from '../../functions/ingest/replay.ts';
import { type BatchId, quarantineObjectKey } from '../../functions/shared/object-keys.ts';
import { aRecordContext } from '../builders/decode.ts';
import { aKinesisEvent, T0 } from '../builders/kinesis.ts';
import { aLogLine, anOtlpTraceRequest, aSpanId, aTraceId } from '../builders/telemetry.ts';
import { readParquetObjects } from '../support/duckdb.ts';

const SHARD = 'shardId-000000000001';
const FIRST = 49650000000000000000000000000000000000000000000000000001n;
const seq = (i: number) => String(FIRST + BigInt(i));
const PARTITION = 'dt=2026-11-25/hour=21';
const replayNow = Date.UTC(2026, 10, 26, 9, 0);

/** Ingest's configuration with a small maximum record size: the "bug" a replay with the default one "fixes". */
const strict = loadIngestConfig({ SKEIN_BUCKET: 'skein-test', SKEIN_MAX_RECORD_BYTES: '1024' });
const fixed = loadIngestConfig({ SKEIN_BUCKET: 'skein-test', SKEIN_ROW_GROUP_ROWS: '100' });

function options(overrides: Partial<ReplayOptions> = {}): ReplayOptions {
  return { config: fixed, clock: () => replayNow, ...overrides };
}

function ctxAt(i: number): RecordContext {
  return aRecordContext({ shardId: SHARD, sequenceNumber: seq(i), partitionKey: `pk-${i}`, arrivalMs: T0 + i });
}

function failure(o: Partial<Omit<DecodeFailure, 'raw'>> & { raw: string }): DecodeFailure {
  return {
    reason: o.reason ?? 'invalid_json',
    message: o.message ?? 'as ingest saw it',
    raw: Buffer.from(o.raw),
    decoder: o.decoder ?? 'json-lines',
    ...(o.line === undefined ? {} : { line: o.line }),
  };
}

/** Writes a quarantine object as ingest would for a batch starting at record `first`. */
async function putQuarantine(store: ObjectStore, first: number, entries: readonly QuarantineEntry[]): Promise<string> {
  const batch: BatchId = { shardId: SHARD, firstSequenceNumber: seq(first), firstArrivalMs: T0 + first };
  const key = quarantineObjectKey(batch);
  await store.put(key, encodeQuarantine(entries), 'application/x-ndjson');
  return key;
}

/** A JSON-lines record longer than 1 KiB: quarantined as `record_too_large` by the strict configuration. */
function bigRecord(traceId: string, lines: number): string {
  const pad = 'x'.repeat(400);
  return Array.from({ length: lines }, (_, i) => aLogLine({ traceId, msg: `big line ${i} ${pad}` })).join('\n');
}

/** The store's Parquet objects under `tables/`, queried together. */
async function tableRows(store: ReturnType<typeof memoryObjectStore>, table: 'logs' | 'spans', columns: string) {
  const objects = [...store.objects.entries()].filter(([k]) => k.startsWith(`tables/${table}/`)).map(([, v]) => v);
  if (objects.length === 0) return [];
  return readParquetObjects(
    objects,
    (f) => `SELECT ${columns} FROM read_parquet(${f}) ORDER BY sequence_number, record_ordinal`,
  );
}

async function rowCount(store: ReturnType<typeof memoryObjectStore>, table: 'logs' | 'spans'): Promise<number> {
  return (await tableRows(store, table, 'sequence_number, record_ordinal')).length;
}

/** One object with a line that decodes now, a line that still does not, and a whole OTLP record that decodes now. */
async function aQuarantineWithAFix(store: ObjectStore): Promise<string> {
  return putQuarantine(store, 0, [
    quarantineEntry(
      failure({ line: 3, raw: aLogLine({ traceId: aTraceId(1), msg: 'fixed line' }), message: 'line 3: was rejected' }),
      ctxAt(2),
    ),
    quarantineEntry(failure({ line: 4, raw: '{"still": broken' }), ctxAt(2)),
    quarantineEntry(
      failure({
        reason: 'unsupported_format',
        decoder: 'detect',
        raw: anOtlpTraceRequest('orders', [{ traceId: aTraceId(2), spanId: aSpanId(2) }]),
      }),
      ctxAt(3),
    ),
  ]);
}

describe('replayQuarantine', () => {
  it('writes the rows of entries that decode now once, with the identity they would have had', async () => {
    // Prepare
    const store = memoryObjectStore();
    const key = await aQuarantineWithAFix(store);

    // Act
    const report = await replayQuarantine(store, options());

    // Assess
    const stem = `${SHARD}-${seq(0)}`;
    expect(report.keys).toEqual([
      `tables/logs/${PARTITION}/replay-${stem}.parquet`,
      `tables/spans/${PARTITION}/replay-${stem}.parquet`,
      `quarantine/${PARTITION}/${stem}.replayed.json`,
    ]);
    expect(report).toMatchObject({ selected: 3, replayed: 2, objectsReplayed: 1, rows: { logs: 1, spans: 1 } });
    expect(report.rowsByFormat).toEqual({ 'json-lines': 1, 'otlp-json': 1 });
    expect(report.stillFailing).toEqual([expect.objectContaining({ objectKey: key, reason: 'invalid_json' })]);
    expect(report.stillFailing[0]?.message).toMatch(/^line 4:/);
    const logs = await tableRows(
      store,
      'logs',
      'shard_id, sequence_number, record_ordinal, epoch_ms(arrival_time)::DOUBLE AS arrival_ms, body',
    );
    expect(logs).toEqual([
      // record_ordinal 2: the third line of its record, as it would have been had it decoded the first time.
      {
        shard_id: SHARD,
        sequence_number: seq(2),
        record_ordinal: 2,
        arrival_ms: T0 + 2,
        body: 'fixed line',
      },
    ]);
    const spans = await tableRows(store, 'spans', 'trace_id, sequence_number, record_ordinal');
    expect(spans).toEqual([{ trace_id: aTraceId(2), sequence_number: seq(3), record_ordinal: 0 }]);
  });

  it('is idempotent: a second run writes nothing and every row exists once', async () => {
    // Prepare
    const store = memoryObjectStore();
    await aQuarantineWithAFix(store);
    await replayQuarantine(store, options());
    const afterFirst = new Map(store.objects);

    // Act
    const second = await replayQuarantine(store, options({ clock: () => replayNow + 60_000 }));

    // Assess
    expect(second).toMatchObject({ selected: 1, replayed: 0, objectsReplayed: 0, keys: [] });
    expect(store.objects).toEqual(afterFirst);
    expect(await tableRows(store, 'logs', 'body')).toEqual([{ body: 'fixed line' }]);
    expect(await rowCount(store, 'spans')).toBe(1);
  });

  it('keeps entries that still fail quarantined, and marks the replayed ones', async () => {
    // Prepare
    const store = memoryObjectStore();
    await aQuarantineWithAFix(store);

    // Act
    await replayQuarantine(store, options());
    const scan = await scanQuarantine(store);

    // Assess
    const entries = scan.objects.flatMap((o) => o.entries);
    expect(entries.map((e) => [e.entry.sequence_number, e.entry.line, e.status])).toEqual([
      [seq(2), 3, 'replayed'],
      [seq(2), 4, 'quarantined'],
      [seq(3), null, 'replayed'],
    ]);
    expect(entries[0]?.replayedAtMs).toBe(replayNow);
  });

  it('rewrites an object replayed before with its earlier rows when more of it decodes later', async () => {
    // Prepare: replay only the OTLP entry first, then the rest.
    const store = memoryObjectStore();
    await aQuarantineWithAFix(store);
    const first = await replayQuarantine(store, options({ reason: 'unsupported_format' }));
    const spansKey = first.keys[0] ?? '';
    const spansBefore = store.objects.get(spansKey);

    // Act
    const second = await replayQuarantine(store, options({ clock: () => replayNow + 60_000 }));

    // Assess
    expect(first).toMatchObject({ replayed: 1, rows: { logs: 0, spans: 1 } });
    expect(second).toMatchObject({ replayed: 1, rows: { logs: 1, spans: 1 }, rowsByFormat: { 'json-lines': 1 } });
    // The earlier replay keeps its observed time, so its object is rewritten byte for byte.
    expect(store.objects.get(spansKey)).toEqual(spansBefore);
    expect(await tableRows(store, 'logs', 'body')).toEqual([{ body: 'fixed line' }]);
    expect(await rowCount(store, 'spans')).toBe(1);
  });

  it('writes nothing with dryRun', async () => {
    // Prepare
    const store = memoryObjectStore();
    await aQuarantineWithAFix(store);
    const before = new Map(store.objects);

    // Act
    const report = await replayQuarantine(store, options({ dryRun: true }));

    // Assess
    expect(report).toMatchObject({ replayed: 2, rows: { logs: 1, spans: 1 } });
    expect(report.keys).toHaveLength(3);
    expect(store.objects).toEqual(before);
  });

  it('replays a record quarantined by ingest after a configuration fix, its lines keeping their ordinals', async () => {
    // Prepare: ingest quarantines a 3-line record as record_too_large.
    const store = memoryObjectStore();
    const event = aKinesisEvent([aLogLine({ traceId: aTraceId(0) }), bigRecord(aTraceId(1), 3)], { shardId: SHARD });
    const { summary } = await ingest(event.Records, ingestDeps(store));
    expect(summary.quarantinedByReason).toEqual({ record_too_large: 1 });

    // Act
    const report = await replayQuarantine(store, options());

    // Assess
    expect(report).toMatchObject({ replayed: 1, rows: { logs: 3, spans: 0 } });
    const replayed = await readParquetObjects(
      [store.objects.get(report.keys[0] ?? '') ?? new Uint8Array()],
      (f) => `SELECT sequence_number, record_ordinal, trace_id FROM read_parquet(${f}) ORDER BY record_ordinal`,
    );
    expect(replayed).toEqual(
      [0, 1, 2].map((i) => ({ sequence_number: seq(1), record_ordinal: i, trace_id: aTraceId(1) })),
    );
  });

  it('replays a user record of a KPL aggregate under its sub-sequence number and kpl+ format', async () => {
    // Prepare: the third user record of an aggregate, quarantined whole.
    const store = memoryObjectStore();
    const inner = aRecordContext({ ...ctxAt(4), subSequenceNumber: 2, formatPrefix: 'kpl+', partitionKey: 'inner-pk' });
    const raw = bigRecord(aTraceId(4), 1);
    await putQuarantine(store, 4, [
      quarantineEntry({ ...failure({ reason: 'record_too_large', decoder: 'detect', raw }), context: inner }, ctxAt(4)),
    ]);

    // Act
    const report = await replayQuarantine(store, options());

    // Assess
    const rows = await tableRows(store, 'logs', 'source_format, sequence_number, sub_sequence_number, record_ordinal');
    expect(report.replayed).toBe(1);
    expect(rows).toEqual([
      { source_format: 'kpl+json-lines', sequence_number: seq(4), sub_sequence_number: 2, record_ordinal: 0 },
    ]);
  });

  it('writes a record once when a bisected retry quarantined it under two batches', async () => {
    // Prepare: the first attempt of [r0..r3] quarantines r2 and fails to write its tables; Lambda bisects, [r0, r1]
    // has nothing to quarantine (the first attempt's quarantine object stays) and [r2, r3] quarantines r2 again.
    const store = flakyStore();
    const event = aKinesisEvent([aLogLine(), aLogLine(), bigRecord(aTraceId(5), 2), aLogLine()], {
      shardId: SHARD,
      firstSeq: FIRST,
    });
    store.failTables = true;
    const attempt = await ingest(event.Records, ingestDeps(store));
    expect(attempt.response.batchItemFailures).toHaveLength(1);
    store.failTables = false;
    await ingest(event.Records.slice(0, 2), ingestDeps(store));
    await ingest(event.Records.slice(2), ingestDeps(store));
    expect([...store.objects.keys()].filter((k) => k.startsWith('quarantine/'))).toEqual([
      `quarantine/${PARTITION}/${SHARD}-${seq(0)}.ndjson`,
      `quarantine/${PARTITION}/${SHARD}-${seq(2)}.ndjson`,
    ]);

    // Act
    const scan = await scanQuarantine(store);
    const report = await replayQuarantine(store, options());
    const again = await replayQuarantine(store, options());

    // Assess
    expect(scan.duplicates).toBe(1);
    expect(scan.objects.map((o) => o.ref.key)).toEqual([`quarantine/${PARTITION}/${SHARD}-${seq(2)}.ndjson`]);
    expect(report).toMatchObject({ replayed: 1, duplicates: 1, rows: { logs: 2, spans: 0 } });
    expect(again).toMatchObject({ replayed: 0, keys: [] });
    const rows = await tableRows(store, 'logs', 'sequence_number, record_ordinal');
    expect(rows.filter((r) => r.sequence_number === seq(2))).toEqual([
      { sequence_number: seq(2), record_ordinal: 0 },
      { sequence_number: seq(2), record_ordinal: 1 },
    ]);
  });

  it('leaves an object untouched when an entry replayed before no longer decodes', async () => {
    // Prepare: replay a too-large record with the fixed configuration, then go back to the strict one.
    const store = memoryObjectStore();
    await putQuarantine(store, 0, [
      quarantineEntry(
        failure({ reason: 'record_too_large', decoder: 'detect', raw: bigRecord(aTraceId(1), 3) }),
        ctxAt(0),
      ),
      quarantineEntry(failure({ line: 2, raw: aLogLine({ msg: 'second' }) }), ctxAt(1)),
    ]);
    await replayQuarantine(store, options({ reason: 'record_too_large' }));
    const before = new Map(store.objects);

    // Act
    const report = await replayQuarantine(store, options({ config: strict }));

    // Assess
    expect(report).toMatchObject({ replayed: 0, objectsReplayed: 0, keys: [] });
    expect(report.skipped).toEqual([
      expect.objectContaining({
        why: expect.stringMatching(/replayed before and no longer decodes \(record_too_large\)/),
      }),
    ]);
    expect(store.objects).toEqual(before);
  });

  it('selects by arrival time and reason', async () => {
    // Prepare
    const store = memoryObjectStore();
    await aQuarantineWithAFix(store);

    // Act
    const late = await replayQuarantine(store, options({ since: T0 + 3, dryRun: true }));
    const none = await replayQuarantine(store, options({ reason: 'empty_record', dryRun: true }));

    // Assess
    expect(late).toMatchObject({ selected: 1, replayed: 1, rows: { logs: 0, spans: 1 } });
    expect(none).toMatchObject({ selected: 0, replayed: 0, objectsReplayed: 0 });
  });
});

function ingestDeps(store: ObjectStore) {
  return { store, config: strict, clock: () => T0 + 60_000, logger: memoryLogger() };
}

/** A memory store whose writes under `tables/` fail while `failTables` is set. */
function flakyStore() {
  const inner = memoryObjectStore();
  const store = {
    ...inner,
    objects: inner.objects,
    failTables: false,
    async put(key: string, body: Uint8Array, type: string) {
      if (store.failTables && key.startsWith('tables/')) throw new Error('injected write failure');
      await inner.put(key, body, type);
    },
  };
  return store;
}
