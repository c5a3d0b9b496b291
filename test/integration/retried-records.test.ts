import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushCommand } from '../../cli/push-command.ts';
import { type OutgoingRecord, pushRecords } from '../../cli/put-records.ts';
import { loadCompactConfig } from '../../functions/compact/config.ts';
import { runCompaction } from '../../functions/compact/run-compaction.ts';
import { kinesisClient, s3Client } from '../../functions/core/aws-clients.ts';
import { memoryLogger } from '../../functions/core/logger.ts';
import { s3ObjectStore } from '../../functions/core/object-store.ts';
import { loadIngestConfig } from '../../functions/ingest/config.ts';
import { ingestBatch } from '../../functions/ingest/ingest-batch.ts';
import { writeEndpoints } from '../../local/endpoints.ts';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import { listTableFiles, queryLocal } from '../../query/local-query.ts';
import { searchLocal } from '../../query/search/local-search.ts';
import { parseSearch } from '../../query/search/traceql.ts';
import { captureIo } from '../builders/cli-io.ts';
import { aLogLine, anOtlpTraceRequest, aSpanId, aTraceId } from '../builders/telemetry.ts';
import { duckQuery } from '../support/duckdb.ts';
import { countStoredRows, waitForStoredRows } from '../support/local-store.ts';

const HOUR = 3_600_000;

/**
 * Retries on the real local parts (kinesalite, the poller, the ingest function, s3rver, DuckDB): a producer that
 * re-sends records, and a `skein push` that stops part way and is resumed with the command it printed.
 */
describe('retried records on the local stack', () => {
  let dir: string;
  let stack: LocalStack;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'skein-retries-'));
    let deps: Omit<Parameters<typeof ingestBatch>[1], 'clock' | 'logger'> | undefined;
    stack = await startLocalStack({
      dir,
      shards: 2,
      batchSize: 500,
      maximumBatchingWindowMs: 100,
      handler: async (event) => {
        if (deps === undefined) throw new Error('ingest not ready');
        return ingestBatch(event, { ...deps, clock: Date.now, logger: memoryLogger() });
      },
    });
    deps = {
      store: s3ObjectStore(s3Client({ endpoint: stack.endpoints.s3 }), stack.endpoints.bucket),
      config: loadIngestConfig({ SKEIN_BUCKET: stack.endpoints.bucket }),
    };
  });

  afterAll(async () => {
    await stack?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('shows each span once and a re-sent record’s log lines once, before and after compaction', async () => {
    // Prepare: one trace as records — an OTLP request of 3 spans, a record of 2 lines of which one is logged twice
    // in it (legitimate), and a line — then the same bytes again as new Kinesis records, as a retrying producer
    // sends them (the line under another partition key, so on the other shard).
    const traceId = aTraceId(4242);
    const at = Date.now() - 60_000;
    const spans = [0, 1, 2].map((s) => ({
      traceId,
      spanId: aSpanId(4242 * 10 + s),
      ...(s > 0 ? { parentSpanId: aSpanId(4242 * 10) } : {}),
      startNs: BigInt(at + s) * 1_000_000n,
    }));
    const twice = aLogLine({ traceId, msg: 'cache miss', timeMs: at + 5 });
    const records: OutgoingRecord[] = [
      { data: Buffer.from(anOtlpTraceRequest('orders', spans)), partitionKey: traceId, origin: 'spans' },
      {
        data: Buffer.from(`${twice}\n${twice}\n${aLogLine({ traceId, msg: 'order read', timeMs: at + 6 })}`),
        partitionKey: traceId,
        origin: 'lines',
      },
      { data: Buffer.from(aLogLine({ traceId, msg: 'done', timeMs: at + 7 })), partitionKey: 'a', origin: 'line' },
    ];
    const retried = records.map((r, i) => (i === 2 ? { ...r, partitionKey: 'b' } : r));
    const kinesis = kinesisClient({ endpoint: stack.endpoints.kinesis });
    const put = (input: ConstructorParameters<typeof PutRecordsCommand>[0]) =>
      kinesis.send(new PutRecordsCommand(input));
    const before = await countStoredRows(stack.endpoints);
    const { dataDir, bucket } = stack.endpoints;
    const lookup = () => queryLocal({ dataDir, bucket, by: 'trace', id: traceId });
    // Search: a span condition (read from the spans) and a service one (the index alone decides it)
    const search = async (filter: string) => {
      const parsed = parseSearch(filter);
      if (!parsed.ok) throw new Error(`test filter does not parse: ${parsed.error.message}`);
      const range = { since: at - HOUR, until: Date.now() + HOUR };
      const { traces } = await searchLocal({ dataDir, bucket, query: parsed.query, range, limit: 10 });
      return traces.filter((t) => t.traceId === traceId).map((t) => ({ spans: t.spans, matched: t.matchedSpans }));
    };
    const shown = (rows: Awaited<ReturnType<typeof lookup>>['rows']) =>
      rows.map((r) => (r.table === 'spans' ? `span ${r.row.span_id}` : `log ${r.row.body}`)).sort();
    const expected = [
      ...spans.map((s) => `span ${s.spanId}`),
      'log cache miss',
      'log cache miss',
      'log done',
      'log order read',
    ].sort();

    // Act: both sends, then a lookup; then compaction of the hour (its clock two hours ahead), then the lookup again
    await pushRecords(records, { stream: stack.endpoints.stream, putRecords: put });
    await pushRecords(retried, { stream: stack.endpoints.stream, putRecords: put });
    const stored = await waitForStoredRows(stack.endpoints, before + 14);
    const first = await lookup();
    const searchedFromSpans = await search('{ duration >= 0ms }');
    // Both sends arrive within a second; were they in two arrival hours, compaction (per hour) could not merge them.
    const hours = await duckQuery(
      `SELECT count(DISTINCT hour)::INT AS n FROM read_parquet([${(await listTableFiles(dataDir, bucket, 'spans'))
        .map((f) => `'${f}'`)
        .join(', ')}], hive_partitioning = true) WHERE trace_id = '${traceId}'`,
    );
    const oneHour = hours[0]?.n === 1;
    const { bucket: _b, logLevel: _l, ...compactConfig } = loadCompactConfig({ SKEIN_BUCKET: bucket });
    const summary = await runCompaction({
      store: s3ObjectStore(s3Client({ endpoint: stack.endpoints.s3 }), bucket),
      clock: () => Date.now() + 2 * HOUR,
      logger: memoryLogger(),
      config: compactConfig,
    });
    const second = await lookup();
    const searchedAfter = [await search('{ duration >= 0ms }'), await search('{ resource.service.name = "orders" }')];
    const compactedSpans = await duckQuery(
      `SELECT count(*)::INT AS n FROM read_parquet([${(await listTableFiles(dataDir, bucket, 'spans'))
        .map((f) => `'${f}'`)
        .join(', ')}]) WHERE trace_id = '${traceId}'`,
    );
    kinesis.destroy();

    // Assess: 14 rows stored (7 per send); each lookup shows 7, saying 7 copies were read but not shown
    expect(stored - before).toBe(14);
    expect(shown(first.rows)).toEqual(expected);
    expect(first.stats.retriedCopiesDropped).toBe(7);
    expect(summary.failed).toBe(0);
    expect(summary.hours.length).toBeGreaterThan(0);
    expect(shown(second.rows)).toEqual(expected);
    // After compaction the hour holds each span once: nothing left for the lookup to drop
    expect(second.stats.retriedCopiesDropped).toBe(oneHour ? 0 : 7);
    expect(compactedSpans).toEqual([{ n: oneHour ? 3 : 6 }]);
    // Search counts each span once when it reads them, before compaction too; after it, the index does as well
    expect(searchedFromSpans).toEqual([{ spans: 3, matched: 3 }]);
    expect(searchedAfter[0]).toEqual([{ spans: 3, matched: 3 }]);
    if (oneHour) expect(searchedAfter[1]).toEqual([{ spans: 3, matched: null }]);
  });

  it('resumes a push that stopped part way with the command it printed, ending with every line exactly once', async () => {
    // Prepare: a Kinesis endpoint that answers two requests, then drops every connection until it is repaired
    const lines = Array.from({ length: 1_300 }, (_, i) =>
      aLogLine({ msg: `push line ${i + 1}`, timeMs: Date.now() - 30_000 + i, service: 'pusher' }),
    );
    const file = join(dir, 'app.ndjson');
    await writeFile(file, `${lines.join('\n')}\n`);
    const proxy = await faultyProxy(stack.endpoints.kinesis, 2);
    const pushDir = await mkdtemp(join(tmpdir(), 'skein-push-'));
    await writeEndpoints(pushDir, { ...stack.endpoints, kinesis: proxy.url });
    const before = await countStoredRows(stack.endpoints);

    try {
      // Act: push, read the command it printed, repair the endpoint, run the command
      const first = captureIo();
      const code = await pushCommand(['--local', pushDir, '--lines', file], first);
      const command = /^ {2}skein push (.*)$/m.exec(first.err())?.[1] ?? '';
      proxy.repair();
      const second = captureIo();
      const resumed = await pushCommand(command.split(' '), second);
      const stored = await waitForStoredRows(stack.endpoints, before + 1_300);
      const files = await listTableFiles(stack.endpoints.dataDir, stack.endpoints.bucket, 'logs');
      const counts = await duckQuery(
        `SELECT count(*)::INT AS rows, count(DISTINCT body)::INT AS bodies, max(n)::INT AS most FROM (
           SELECT body, count(*) AS n FROM read_parquet([${files.map((f) => `'${f}'`).join(', ')}])
           WHERE service_name = 'pusher' GROUP BY body)`,
      );

      // Assess
      expect(code).toBe(1);
      expect(first.err()).toContain('Kinesis accepted 1000 records of 1300 (records 1-1000).');
      expect(first.err()).toContain('The last request, 300 records, got no answer');
      expect(command).toBe(`--local ${pushDir} --lines ${file} --skip 1-1000`);
      expect(resumed).toBe(0);
      expect(second.err()).toMatch(/^pushed 300 records in 1 request \(0 retried, 1000 skipped\)/);
      expect(stored - before).toBe(1_300);
      expect(counts).toEqual([{ rows: 1_300, bodies: 1_300, most: 1 }]);
    } finally {
      await proxy.close();
      await rm(pushDir, { recursive: true, force: true });
    }
  });
});

/**
 * An HTTP proxy to `target` that forwards the first `healthy` requests, then destroys the connection of every
 * request (nothing forwarded: the client gets no answer) until `repair()`.
 */
async function faultyProxy(
  target: string,
  healthy: number,
): Promise<{ url: string; repair: () => void; close: () => Promise<void> }> {
  let answersLeft = healthy;
  const upstream = new URL(target);
  const server: Server = createServer((req, res) => {
    if (answersLeft <= 0) {
      req.socket.destroy();
      return;
    }
    answersLeft--;
    const forward = request(
      { host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    repair: () => {
      answersLeft = Number.POSITIVE_INFINITY;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
