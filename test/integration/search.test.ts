import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushRecords } from '../../cli/put-records.ts';
import { queryCommand } from '../../cli/query-command.ts';
import { kinesisClient, s3Client } from '../../functions/core/aws-clients.ts';
import { memoryLogger } from '../../functions/core/logger.ts';
import { s3ObjectStore } from '../../functions/core/object-store.ts';
import { loadIngestConfig } from '../../functions/ingest/config.ts';
import { ingestBatch } from '../../functions/ingest/ingest-batch.ts';
import { type DemoRequest, generateRequest, seededRng } from '../../local/demo-workload.ts';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import { listTableFiles } from '../../query/local-query.ts';
import { searchLocal } from '../../query/search/local-search.ts';
import { parseSearch } from '../../query/search/traceql.ts';
import { listPartitions, objectKeyOf, objectPath } from '../../query/store-listing.ts';
import { captureIo } from '../builders/cli-io.ts';
import { anOtlpTraceRequest, aSpanId, aTraceId } from '../builders/telemetry.ts';
import { duckQuery } from '../support/duckdb.ts';
import { waitForStoredRows } from '../support/local-store.ts';

/** A span of the demo workload as its OTLP/JSON record carries it. */
interface PushedSpan {
  readonly traceId: string;
  readonly service: string;
  readonly name: string;
  readonly error: boolean;
  readonly durationNs: bigint;
  readonly statusCode: number | undefined;
}

const WAVES = 4;
const REQUESTS_PER_WAVE = 30;
/** An ok span of orders and an error span of payments: "orders" and "an error", but no error span of orders. */
const CONFUSABLE = aTraceId(424_242);

function spansOf(request: Pick<DemoRequest, 'records'>): PushedSpan[] {
  const out: PushedSpan[] = [];
  for (const record of request.records) {
    if (record.format !== 'otlp-json') continue;
    const json = JSON.parse(Buffer.from(record.data).toString('utf8'));
    for (const rs of json.resourceSpans)
      for (const ss of rs.scopeSpans)
        for (const s of ss.spans) {
          const status = s.attributes.find((a: { key: string }) => a.key === 'http.response.status_code');
          out.push({
            traceId: s.traceId,
            service: record.service,
            name: s.name,
            error: s.status.code === 2,
            durationNs: BigInt(s.endTimeUnixNano) - BigInt(s.startTimeUnixNano),
            statusCode: status === undefined ? undefined : Number(status.value.intValue),
          });
        }
  }
  return out;
}

function parsed(filter: string) {
  const result = parseSearch(filter);
  if (!result.ok) throw new Error(`test filter does not parse: ${result.error.message}`);
  return result.query;
}

/**
 * Search on the real local parts: the demo workload of four services goes through kinesalite, the poller and the
 * ingest function into s3rver, in waves (one batch, so one object per table, each); the first waves have no failures,
 * the later ones many. Then `skein query search` over what s3rver holds.
 */
describe('search on the local stack', () => {
  let dir: string;
  let stack: LocalStack;
  const spans: PushedSpan[] = [];
  const waveOf = new Map<string, number>();
  const now = Date.now();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'skein-search-'));
    let ingest: Parameters<typeof startLocalStack>[0]['handler'] | undefined;
    stack = await startLocalStack({
      dir,
      shards: 1,
      batchSize: 1_000,
      maximumBatchingWindowMs: 100,
      retryBackoffMs: 10,
      handler: (event) => {
        if (ingest === undefined) throw new Error('ingest not ready');
        return ingest(event);
      },
    });
    const { endpoints } = stack;
    const store = s3ObjectStore(s3Client({ endpoint: endpoints.s3 }), endpoints.bucket);
    const config = loadIngestConfig({ SKEIN_BUCKET: endpoints.bucket, SKEIN_ROW_GROUP_ROWS: '200' });
    ingest = (event) => ingestBatch(event, { store, config, clock: Date.now, logger: memoryLogger() });

    const kinesis = kinesisClient({ endpoint: endpoints.kinesis });
    const rng = seededRng(21);
    let rows = 0;
    for (let wave = 0; wave < WAVES; wave++) {
      const requests: Pick<DemoRequest, 'traceId' | 'records'>[] = Array.from({ length: REQUESTS_PER_WAVE }, (_, i) =>
        generateRequest(rng, now - 10 * 60_000 + wave * 60_000 + i * 100, wave < 2 ? 0 : 0.5),
      );
      if (wave === WAVES - 1) requests.push(confusable(BigInt(now - 60_000) * 1_000_000n));
      for (const r of requests) {
        waveOf.set(r.traceId, wave);
        spans.push(...spansOf(r));
      }
      const records = requests.flatMap((r) =>
        r.records.map((rec) => ({ data: Buffer.from(rec.data), partitionKey: rec.partitionKey, origin: r.traceId })),
      );
      await pushRecords(records, {
        stream: endpoints.stream,
        putRecords: (input) => kinesis.send(new PutRecordsCommand(input)),
      });
      // Each wave is stored before the next is pushed, so each wave has its own objects.
      const logLines = requests
        .flatMap((r) => r.records)
        .filter((rec) => rec.format === 'json-lines')
        .reduce((n, rec) => n + Buffer.from(rec.data).toString('utf8').trim().split('\n').length, 0);
      rows += logLines + requests.reduce((n, r) => n + spansOf(r).length, 0);
      expect(await waitForStoredRows(endpoints, rows)).toBe(rows);
    }
    kinesis.destroy();
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** A trace the error flag alone would answer wrongly: an ok orders span calling a failing payments span. */
  function confusable(startNs: bigint): Pick<DemoRequest, 'traceId' | 'records'> {
    const root = aSpanId(424_242);
    const record = (service: string, data: string) => ({
      service: service as DemoRequest['records'][number]['service'],
      format: 'otlp-json' as const,
      partitionKey: CONFUSABLE,
      data: new TextEncoder().encode(data),
    });
    return {
      traceId: CONFUSABLE,
      records: [
        record(
          'orders',
          anOtlpTraceRequest('orders', [{ traceId: CONFUSABLE, spanId: root, name: 'GET /orders/{id}', startNs }]),
        ),
        record(
          'payments',
          anOtlpTraceRequest('payments', [
            { traceId: CONFUSABLE, spanId: aSpanId(424_243), parentSpanId: root, name: 'charge', startNs, error: true },
          ]),
        ),
      ],
    };
  }

  const range = () => ({ since: now - 15 * 60_000, until: Date.now() });
  const tracesWhere = (test: (s: PushedSpan) => boolean) =>
    [...new Set(spans.filter(test).map((s) => s.traceId))].sort();

  it('answers { resource.service.name = "orders" && status = error } from the index alone: only error traces of orders, no data object read', async () => {
    // Prepare
    const expected = tracesWhere((s) => s.service === 'orders' && s.error);
    expect(expected.length).toBeGreaterThan(3);
    expect(expected).not.toContain(CONFUSABLE);

    // Act
    const { traces, stats } = await searchLocal({
      ...stack.endpoints,
      query: parsed('{ resource.service.name = "orders" && status = error }'),
      range: range(),
      limit: 1_000,
    });

    // Assess
    expect(traces.map((t) => t.traceId).sort()).toEqual(expected);
    for (const t of traces) {
      expect(t.services).toContain('orders');
      expect(t.errors).toBeGreaterThan(0);
      expect(t.matchedSpans).toBeNull();
    }
    expect(traces.map((t) => t.startMs)).toEqual([...traces.map((t) => t.startMs)].sort((a, b) => b - a));
    expect(stats.objectsOpened).toBe(0);
    expect(stats.dataBytesRead).toBe(0);
    expect(stats.indexObjectsRead).toBe(WAVES);
    expect(stats.readFromData).toBe(0);
  });

  it('finds a span attribute condition by reading only the objects that hold the traces the index narrows to', async () => {
    // Prepare: failures (HTTP 500) only in waves 2 and 3; the index narrows to error traces of payments.
    const expected = tracesWhere(
      (s) => s.service === 'payments' && s.error && s.statusCode !== undefined && s.statusCode >= 500,
    );
    const candidates = tracesWhere((s) => s.service === 'payments' && s.error);
    const spanFiles = await listTableFiles(stack.endpoints.dataDir, stack.endpoints.bucket, 'spans');
    const holding = await duckQuery(
      `SELECT DISTINCT filename FROM read_parquet([${spanFiles.map((f) => `'${f}'`).join(', ')}], filename = true) WHERE trace_id IN (${candidates.map((t) => `'${t}'`).join(', ')})`,
    );
    const narrowed = holding.map((r) => objectKeyOf(stack.endpoints, String(r.filename))).sort();

    // Act
    const { traces, stats } = await searchLocal({
      ...stack.endpoints,
      query: parsed(
        '{ resource.service.name = "payments" && status = error && span.http.response.status_code >= 500 }',
      ),
      range: range(),
      limit: 1_000,
    });

    // Assess
    expect(expected.length).toBeGreaterThan(0);
    expect(traces.map((t) => t.traceId).sort()).toEqual(expected);
    for (const t of traces) expect(t.matchedSpans).toBeGreaterThan(0);
    expect(stats.objectKeys).toEqual(narrowed);
    expect(narrowed.length).toBeLessThan(spanFiles.length);
    expect(candidates.every((t) => (waveOf.get(t) ?? 0) >= 2)).toBe(true);
    expect(stats.readFromData).toBe(candidates.length);
  });

  it('decides a span duration condition from the spans, exactly', async () => {
    // Prepare
    const expected = tracesWhere((s) => s.durationNs > 300_000_000n);

    // Act
    const { traces } = await searchLocal({
      ...stack.endpoints,
      query: parsed('{ duration > 300ms }'),
      range: range(),
      limit: 1_000,
    });

    // Assess
    expect(traces.map((t) => t.traceId).sort()).toEqual(expected);
  });

  it('finds the confusable trace when the filter asks for an orders span and an error span in two spansets', async () => {
    const { traces, stats } = await searchLocal({
      ...stack.endpoints,
      query: parsed('{ resource.service.name = "orders" } && { status = error }'),
      range: range(),
      limit: 1_000,
    });
    expect(traces.map((t) => t.traceId)).toContain(CONFUSABLE);
    expect(stats.objectsOpened).toBe(0);
  });

  it('finds the same traces from index objects written before the D21 columns, by reading the spans', async () => {
    // Prepare: the search with today's index, then every index object rewritten without the four D21 columns.
    const filter = parsed('{ resource.service.name = "orders" && status = error }');
    const current = await searchLocal({ ...stack.endpoints, query: filter, range: range(), limit: 1_000 });
    const indexFiles = await listIndexFiles();
    const originals = await Promise.all(indexFiles.map((f) => readFile(f)));
    try {
      for (const file of indexFiles) {
        const copy = join(dir, 'old-index._S3rver_object'); // outside the bucket
        await duckQuery(
          `COPY (SELECT * EXCLUDE (error_count, error_services, root_service, root_name) FROM read_parquet('${file}')) TO '${copy}' (FORMAT parquet)`,
        );
        await rename(copy, file);
      }

      // Act
      const old = await searchLocal({ ...stack.endpoints, query: filter, range: range(), limit: 1_000 });

      // Assess: the same traces; the index could only narrow to traces with an orders span and an error.
      expect(old.traces.map((t) => t.traceId).sort()).toEqual(current.traces.map((t) => t.traceId).sort());
      expect(old.stats.objectsOpened).toBeGreaterThan(0);
      expect(old.stats.readFromData).toBeGreaterThan(current.traces.length);
      expect(current.stats.objectsOpened).toBe(0);
    } finally {
      await Promise.all(indexFiles.map((f, i) => writeFile(f, originals[i] ?? new Uint8Array())));
    }
  });

  async function listIndexFiles(): Promise<string[]> {
    const { dataDir, bucket } = stack.endpoints;
    const partitions = await listPartitions({ dataDir, bucket }, 'trace_index');
    return partitions.flatMap((p) => p.visible.map((k) => objectPath({ dataDir, bucket }, k)));
  }

  it('prints the traces and what was read through skein query search, and points at what is outside the subset', async () => {
    // Act
    const io = captureIo();
    const code = await queryCommand(
      ['search', '{ resource.service.name = "orders" && status = error }', '--dir', dir, '--since', '15m', '--json'],
      io,
    );
    const bad = captureIo();
    const badCode = await queryCommand(['search', '{ status = error } | count() > 2', '--dir', dir], bad);

    // Assess
    expect(code).toBe(0);
    const lines = io
      .out()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    // The default --limit of 20, newest first.
    const all = tracesWhere((s) => s.service === 'orders' && s.error);
    expect(all.length).toBeGreaterThan(20);
    expect(lines.length).toBe(20);
    expect(lines.every((l) => all.includes(l.trace_id))).toBe(true);
    expect(lines.map((l) => l.start)).toEqual([...lines.map((l) => l.start)].sort().reverse());
    expect(lines[0]).toMatchObject({ services: expect.arrayContaining(['orders']), matched_spans: null });
    const stats = JSON.parse(io.err().trim().split('\n').pop() ?? '{}').stats;
    expect(stats).toMatchObject({ objectsOpened: 0, dataBytesRead: 0 });
    expect(badCode).toBe(2);
    expect(bad.err()).toContain('pipelines');
    expect(bad.err()).toContain('at column 20');
    expect(bad.err()).toContain(`\n  ${' '.repeat(19)}^`);
  });
});
