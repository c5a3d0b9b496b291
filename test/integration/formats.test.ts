import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OutgoingRecord, pushRecords } from '../../cli/put-records.ts';
import { kinesisClient, s3Client } from '../../functions/core/aws-clients.ts';
import { memoryLogger } from '../../functions/core/logger.ts';
import { type ObjectStore, s3ObjectStore } from '../../functions/core/object-store.ts';
import { loadIngestConfig } from '../../functions/ingest/config.ts';
import { ingest } from '../../functions/ingest/ingest-batch.ts';
import { replayQuarantine, scanQuarantine } from '../../functions/ingest/replay.ts';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import { queryLocal } from '../../query/local-query.ts';
import { aLogLine, aTraceId } from '../builders/telemetry.ts';
import { countStoredRows, waitForStoredRows } from '../support/local-store.ts';

const fixture = (path: string) => readFileSync(new URL(`../fixtures/${path}`, import.meta.url));
/** The trace of the OpenTelemetry JS SDK fixtures (test/fixtures/generate-otlp.ts). */
const SDK_TRACE = '5b8efff798038103d269b633813fc60c';
/** The trace and request of the KPL and CloudWatch fixtures (test/fixtures/generate-kpl-cloudwatch.ts). */
const AWS_TRACE = '6745e1c04d2b8f3a9c1e5d7b0a2f4c6e';
const AWS_REQUEST = '8f5c2b1e4b0a4c6e9b7e2f1d3c4b5a69';

/**
 * Every producer format and bad records on one stream, through kinesalite, the poller, ingest and s3rver; then a
 * replay of the quarantine after a fix. Ingest first runs with a 2.5 KiB record limit, so the 2.9 KB OTLP/JSON request
 * is quarantined as `record_too_large`; the "fix" is the default limit, with which `skein replay` ingests it.
 */
describe('every format on one stream, then replay', () => {
  let dir: string;
  let stack: LocalStack;
  let store: ObjectStore;
  const controlMessages: number[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'skein-formats-'));
    const tight = loadIngestConfig({ SKEIN_BUCKET: 'skein-local', SKEIN_MAX_RECORD_BYTES: '2560' });
    let ready: (s: ObjectStore) => void = () => {};
    const storeReady = new Promise<ObjectStore>((resolve) => {
      ready = resolve;
    });
    stack = await startLocalStack({
      dir,
      shards: 2,
      batchSize: 50,
      maximumBatchingWindowMs: 200,
      handler: async (event) => {
        const s = await storeReady;
        const { response, summary } = await ingest(event.Records, {
          store: s,
          config: tight,
          clock: Date.now,
          logger: memoryLogger(),
        });
        controlMessages.push(summary.controlMessages);
        return response;
      },
    });
    store = s3ObjectStore(s3Client({ endpoint: stack.endpoints.s3 }), stack.endpoints.bucket);
    ready(store);
  });

  afterAll(async () => {
    await stack?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function quarantined() {
    const scan = await scanQuarantine(store);
    return scan.objects.flatMap((o) => o.entries).filter((e) => e.status === 'quarantined');
  }

  async function lookup(by: 'trace' | 'request', id: string) {
    return queryLocal({ dataDir: stack.endpoints.dataDir, bucket: stack.endpoints.bucket, by, id });
  }

  async function counts(by: 'trace' | 'request', id: string) {
    const { rows } = await lookup(by, id);
    const own = by === 'trace' ? rows : rows.filter((r) => r.row.request_id === id);
    return {
      logs: own.filter((r) => r.table === 'logs').length,
      spans: own.filter((r) => r.table === 'spans').length,
    };
  }

  // 12 builder traces of JSON lines (plain and pino dialects) beside the fixtures of every other format.
  const lineTraces = Array.from({ length: 12 }, (_, t) => aTraceId(500 + t));
  const good: { name: string; data: Buffer }[] = [
    { name: 'OTLP protobuf traces, gzip (SDK)', data: fixture('otlp/traces.pb.gz') },
    { name: 'OTLP protobuf logs (SDK)', data: fixture('otlp/logs.pb') },
    { name: 'OTLP/JSON traces (SDK), 2.9 KB', data: fixture('otlp/traces.json') },
    { name: 'OTLP/JSON logs (SDK)', data: fixture('otlp/logs.json') },
    { name: 'KPL aggregate of JSON lines', data: fixture('kpl/json-lines.bin') },
    { name: 'KPL aggregate of OTLP/JSON and a line', data: fixture('kpl/otlp-traces.bin') },
    { name: 'CloudWatch Logs from Lambda', data: fixture('cloudwatch/lambda-data-message.json.gz') },
    { name: 'CloudWatch Logs from ECS', data: fixture('cloudwatch/ecs-data-message.json.gz') },
    { name: 'CloudWatch control message', data: fixture('cloudwatch/control-message.json.gz') },
  ];
  for (const [t, traceId] of lineTraces.entries()) {
    for (let r = 0; r < 10; r++) {
      const line =
        r % 2 === 0
          ? aLogLine({ traceId, msg: `step ${r}` })
          : JSON.stringify({
              level: 30,
              time: Date.UTC(2026, 10, 25, 21, 0, r),
              msg: `pino ${r}`,
              traceId,
              reqId: `req-${t}`,
            });
      good.push({ name: `trace ${t} line ${r}`, data: Buffer.from(line) });
    }
  }
  const bad = [
    { reason: 'invalid_json', data: Buffer.from('{"level":"INFO","msg": truncated') },
    { reason: 'unknown_format', data: Buffer.from([0x00, 0xff, 0x10, 0x62, 0x69, 0x6e]) },
    { reason: 'invalid_kpl', data: fixture('kpl/bad-md5.bin') },
    { reason: 'corrupt_compression', data: fixture('otlp/traces.pb.gz').subarray(0, 40) },
  ];
  // Rows per id before the fix: the SDK trace misses the 3 spans of the quarantined OTLP/JSON request.
  const before = new Map<string, { logs: number; spans: number }>([
    [SDK_TRACE, { logs: 4, spans: 3 }],
    [AWS_TRACE, { logs: 9, spans: 2 }],
    ...lineTraces.map((id) => [id, { logs: 10, spans: 0 }] as const),
  ]);
  const beforeTotal = 3 + 3 + 3 /* SDK: spans, logs ×2 */ + 5 + 3 /* KPL */ + 7 + 4 /* CloudWatch */ + 120;

  it('turns every format into exact per-id rows and quarantines each bad record with its reason', async () => {
    // Prepare
    const records: OutgoingRecord[] = [...good, ...bad.map((b, i) => ({ name: `bad ${i}`, data: b.data }))].map(
      (r, i) => ({ data: r.data, partitionKey: `pk-${i % 7}`, origin: r.name }),
    );
    const kinesis = kinesisClient({ endpoint: stack.endpoints.kinesis });

    // Act
    await pushRecords(records, {
      stream: stack.endpoints.stream,
      putRecords: (input) => kinesis.send(new PutRecordsCommand(input)),
    });
    const seen = await waitForStoredRows(stack.endpoints, beforeTotal);

    // Assess
    expect(seen).toBe(beforeTotal);
    for (const [id, want] of before) expect({ id, ...(await counts('trace', id)) }).toEqual({ id, ...want });
    expect(await counts('request', AWS_REQUEST)).toEqual({ logs: 8, spans: 1 });
    const reasons = (await quarantined()).map((e) => e.entry.reason);
    expect(reasons.sort()).toEqual([...bad.map((b) => b.reason), 'record_too_large'].sort());
    expect(controlMessages.reduce((a, b) => a + b, 0)).toBe(1);
  });

  it('replays the quarantine after the fix without duplicating anything, however often it runs', async () => {
    // Act
    const fixed = loadIngestConfig({ SKEIN_BUCKET: stack.endpoints.bucket });
    const first = await replayQuarantine(store, { config: fixed, clock: Date.now });
    const second = await replayQuarantine(store, { config: fixed, clock: Date.now });

    // Assess
    expect(first.replayed).toBe(1);
    expect(first.stillFailing.map((f) => f.entry.reason).sort()).toEqual(bad.map((b) => b.reason).sort());
    expect(second.replayed).toBe(0);
    expect(await countStoredRows(stack.endpoints)).toBe(beforeTotal + 3);
    // The replayed OTLP/JSON request holds the same 3 spans (same trace and span ids) as the protobuf fixture: they
    // are stored (3 rows more), and a lookup shows each span once, counting the 3 copies it did not show (D18).
    expect(await counts('trace', SDK_TRACE)).toEqual({ logs: 4, spans: 3 });
    expect((await lookup('trace', SDK_TRACE)).stats.retriedCopiesDropped).toBe(3);
    for (const id of lineTraces) expect(await counts('trace', id)).toEqual({ logs: 10, spans: 0 });
    const left = await quarantined();
    expect(left.map((e) => e.entry.reason).sort()).toEqual(bad.map((b) => b.reason).sort());
  });
});
