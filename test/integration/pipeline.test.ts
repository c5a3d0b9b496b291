import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OutgoingRecord, pushRecords } from '../../cli/put-records.ts';
import { kinesisClient, s3Client } from '../../functions/core/aws-clients.ts';
import { memoryLogger } from '../../functions/core/logger.ts';
import { s3ObjectStore } from '../../functions/core/object-store.ts';
import { loadIngestConfig } from '../../functions/ingest/config.ts';
import { ingestBatch } from '../../functions/ingest/ingest-batch.ts';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import { queryLocal } from '../../query/local-query.ts';
import { aLogLine, anOtlpTraceRequest, aSpanId, aTraceId } from '../builders/telemetry.ts';
import { countStoredRows, waitForStoredRows } from '../support/local-store.ts';

const TRACES = 25;

/**
 * The whole pipeline on the real local parts: records go through kinesalite (real SDK PutRecords), the poller with
 * Lambda's semantics, the ingest function, s3rver, and come back through DuckDB reading the Parquet files on disk.
 */
describe('pipeline on the local stack', () => {
  let dir: string;
  let stack: LocalStack;
  const delivered: KinesisStreamEvent[] = [];
  let ingest: (event: KinesisStreamEvent) => Promise<KinesisStreamBatchResponse>;
  /** Batches whose response is "lost" once after a successful write, so the poller re-delivers them. */
  const lostResponses = new Set<string>();
  let lostResponseCount = 0;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'skein-pipeline-'));
    let ready: (fn: typeof ingest) => void = () => {};
    const handlerReady = new Promise<typeof ingest>((resolve) => {
      ready = resolve;
    });
    stack = await startLocalStack({
      dir,
      shards: 2,
      batchSize: 100,
      maximumBatchingWindowMs: 200,
      bisectBatchOnError: true,
      maximumRetryAttempts: 5,
      retryBackoffMs: 10,
      handler: async (event) => {
        const fn = await handlerReady;
        delivered.push(event);
        const response = await fn(event);
        // The first two batches: the write succeeds but Lambda never hears back, so it re-delivers the batch.
        const first = event.Records[0]?.kinesis.sequenceNumber ?? '';
        if (lostResponseCount < 2 && !lostResponses.has(first) && response.batchItemFailures.length === 0) {
          lostResponses.add(first);
          lostResponseCount++;
          return { batchItemFailures: [{ itemIdentifier: first }] };
        }
        return response;
      },
    });
    const { endpoints } = stack;
    const store = s3ObjectStore(s3Client({ endpoint: endpoints.s3 }), endpoints.bucket);
    const config = loadIngestConfig({ SKEIN_BUCKET: endpoints.bucket, SKEIN_ROW_GROUP_ROWS: '200' });
    ingest = (event) => ingestBatch(event, { store, config, clock: Date.now, logger: memoryLogger() });
    ready(ingest);
  });

  afterAll(async () => {
    await stack?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function push(records: readonly OutgoingRecord[]): Promise<void> {
    const kinesis = kinesisClient({ endpoint: stack.endpoints.kinesis });
    await pushRecords(records, {
      stream: stack.endpoints.stream,
      putRecords: (input) => kinesis.send(new PutRecordsCommand(input)),
    });
  }

  async function rowsOf(by: 'trace' | 'request', id: string) {
    const { dataDir, bucket } = stack.endpoints;
    return (await queryLocal({ dataDir, bucket, by, id })).rows;
  }

  // Per trace t: 30 + t JSON-lines records (every third holds 2 lines) and one OTLP request of 3 spans.
  const expected = new Map<string, { logs: number; spans: number }>();
  const records: OutgoingRecord[] = [];
  for (let t = 0; t < TRACES; t++) {
    const traceId = aTraceId(t);
    let logs = 0;
    for (let r = 0; r < 30 + t; r++) {
      const line = aLogLine({
        traceId,
        requestId: `req-${t}`,
        service: ['web', 'orders', 'payments'][r % 3] ?? 'web',
        msg: `step ${r}`,
      });
      const data = r % 3 === 0 ? `${line}\n${aLogLine({ traceId, msg: `detail ${r}` })}` : line;
      logs += r % 3 === 0 ? 2 : 1;
      records.push({ data: Buffer.from(data), partitionKey: traceId, origin: `trace ${t} record ${r}` });
    }
    const spans = [0, 1, 2].map((s) => ({
      traceId,
      spanId: aSpanId(t * 10 + s),
      ...(s > 0 ? { parentSpanId: aSpanId(t * 10) } : {}),
      requestId: `req-${t}`,
      error: t % 5 === 0 && s === 2,
    }));
    records.push({
      data: Buffer.from(anOtlpTraceRequest('orders', spans)),
      partitionKey: traceId,
      origin: `trace ${t} spans`,
    });
    expected.set(traceId, { logs, spans: 3 });
  }
  const expectedTotal = [...expected.values()].reduce((n, e) => n + e.logs + e.spans, 0);

  it(`makes ≥ 1,000 records over ${TRACES} trace ids queryable with exact per-id counts, despite re-deliveries`, async () => {
    // Prepare
    expect(records.length).toBeGreaterThanOrEqual(1000);

    // Act
    await push(records);
    const seen = await waitForStoredRows(stack.endpoints, expectedTotal);

    // Assess
    expect(seen).toBe(expectedTotal);
    expect(lostResponseCount).toBe(2);
    for (const [traceId, want] of expected) {
      const rows = await rowsOf('trace', traceId);
      expect({
        traceId,
        logs: rows.filter((r) => r.table === 'logs').length,
        spans: rows.filter((r) => r.table === 'spans').length,
      }).toEqual({
        traceId,
        ...want,
      });
    }
    // A request lookup returns the request's rows and the rest of its trace.
    const byRequest = await rowsOf('request', 'req-3');
    const want3 = expected.get(aTraceId(3));
    expect(byRequest.length).toBe((want3?.logs ?? 0) + (want3?.spans ?? 0));
  });

  it('leaves every count unchanged when the same batches are delivered again', async () => {
    // Act: Lambda re-delivers every batch it already handed over (at-least-once delivery).
    for (const event of [...delivered]) {
      const response = await ingest(event);
      expect(response.batchItemFailures).toEqual([]);
    }

    // Assess
    expect(await countStoredRows(stack.endpoints)).toBe(expectedTotal);
    for (const [traceId, want] of expected) {
      expect((await rowsOf('trace', traceId)).length).toBe(want.logs + want.spans);
    }
  });

  it('quarantines malformed records with their bytes and a reason, and keeps every good record queryable', async () => {
    // Prepare
    const traceId = aTraceId(999);
    const bad = [
      { data: '{"level":"INFO","msg": truncated', reason: 'invalid_json' },
      { data: '   \n  ', reason: 'empty_record' },
      { data: '\u0000\u00ff\u0010binary\u0001', reason: 'unknown_format' },
      {
        data: '{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "xyz", "spanId": "1", "startTimeUnixNano": "1", "endTimeUnixNano": "2"}]}]}]}',
        reason: 'invalid_span',
      },
    ];
    const mixed: OutgoingRecord[] = [];
    for (let i = 0; i < 20; i++) {
      mixed.push({
        data: Buffer.from(aLogLine({ traceId, msg: `good ${i}` })),
        partitionKey: traceId,
        origin: `good ${i}`,
      });
      const b = bad[i % bad.length];
      if (i < 8 && b) mixed.push({ data: Buffer.from(b.data, 'latin1'), partitionKey: traceId, origin: `bad ${i}` });
    }

    // Act
    await push(mixed);
    await waitForStoredRows(stack.endpoints, expectedTotal + 20);

    // Assess
    expect((await rowsOf('trace', traceId)).length).toBe(20);
    const store = s3ObjectStore(s3Client({ endpoint: stack.endpoints.s3 }), stack.endpoints.bucket);
    const entries = [];
    for (const key of await store.list('quarantine/')) {
      const body = await store.get(key);
      for (const line of new TextDecoder().decode(body).split('\n')) if (line) entries.push(JSON.parse(line));
    }
    // Readers deduplicate by (shard, sequence number, line) — decision D2 — re-deliveries may repeat an entry.
    const unique = new Map(entries.map((e) => [`${e.shard_id}/${e.sequence_number}/${e.line}`, e]));
    expect([...unique.values()].map((e) => e.reason).sort()).toEqual([...bad, ...bad].map((b) => b.reason).sort());
    for (const entry of unique.values()) {
      const original = bad.find((b) => b.reason === entry.reason);
      // Binary in no format Skein reads cannot be inspected for secrets: only its size is kept (D17).
      const withheld = entry.reason === 'unknown_format';
      expect(entry.data_form).toBe(withheld ? 'withheld' : 'original');
      expect(entry.original_size).toBe(Buffer.from(original?.data ?? '', 'latin1').length);
      expect(Buffer.from(entry.data, 'base64').toString('latin1')).toBe(withheld ? '' : original?.data);
      expect(entry.message).toBeTruthy();
      expect(entry.sequence_number).toMatch(/^\d+$/);
    }
  });
});
