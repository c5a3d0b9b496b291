import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { gunzipSync, gzipSync } from 'node:zlib';
import kplProto from 'aws-kinesis-agg/lib/kpl.json' with { type: 'json' };
import protobuf from 'protobufjs';
import { seededRng } from '../../local/demo-workload.ts';
import { MESSAGES, randomHex, SERVICES } from './workload.ts';

/**
 * Benchmark inputs for the KPL and CloudWatch Logs formats: realistic records, the same bytes every run (seeded).
 *
 * - {@link kplBenchRecords}: KPL aggregated records made by `aws-kinesis-agg`'s `RecordAggregator`, ~20 JSON log lines
 *   each (one line per user record, as the KPL batches a logging appender's puts), 5 partition keys per aggregate.
 * - {@link cloudWatchBenchRecords}: gzip CloudWatch Logs subscription envelopes of ~20 events each, alternating a
 *   Lambda function (runtime text lines, START/END/REPORT, Powertools JSON) and an ECS container (JSON lines).
 *
 * The floors are the least any ingest must do with the same bytes (for `IngestBenchInput.floor`).
 */

/** `RecordAggregator` is exported by aws-kinesis-agg 4.2.8 but missing from its index.d.ts. */
interface RecordAggregatorModule {
  RecordAggregator: new () => {
    addUserRecord(record: { partitionKey: string; data: Buffer }): void;
    build(): { data: Buffer } | undefined;
  };
}
const { RecordAggregator }: RecordAggregatorModule = createRequire(import.meta.url)('aws-kinesis-agg');

const AggregatedRecord = protobuf.Root.fromJSON(kplProto).lookupType('AggregatedRecord');

const BASE_MS = Date.UTC(2026, 10, 25, 21, 0);
const LINES_PER_RECORD = 20;

function uuid(rand: () => number): string {
  const h = randomHex(rand, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20)}`;
}

const pick = <T>(rand: () => number, values: readonly T[], fallback: T): T =>
  values[Math.floor(rand() * values.length)] ?? fallback;

function jsonLine(rand: () => number, timeMs: number, traceId: string, service: string): string {
  const error = rand() < 0.05;
  return JSON.stringify({
    timestamp: new Date(timeMs).toISOString(),
    level: error ? 'ERROR' : 'INFO',
    msg: pick(rand, MESSAGES, ''),
    trace_id: traceId,
    span_id: randomHex(rand, 16),
    request_id: `req-${traceId.slice(0, 12)}`,
    service,
    http_route: '/api/v1/orders/:id',
    http_status: error ? 500 : 200,
    duration_ms: Math.round(rand() * 500),
    host: `ip-10-0-${Math.floor(rand() * 256)}-7.ec2.internal`,
  });
}

/** `count` KPL aggregated records of ~20 JSON log lines each (18–22), aggregated by aws-kinesis-agg. */
export function kplBenchRecords(count: number, seed = 7): Uint8Array[] {
  const rand = seededRng(seed);
  const aggregator = new RecordAggregator();
  const records: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const lines = LINES_PER_RECORD - 2 + Math.floor(rand() * 5);
    let traceId = randomHex(rand, 32);
    for (let l = 0; l < lines; l++) {
      if (l % 5 === 0) traceId = randomHex(rand, 32);
      const service = pick(rand, SERVICES, 'orders');
      const data = Buffer.from(jsonLine(rand, BASE_MS + i * 20 + l, traceId, service), 'utf8');
      aggregator.addUserRecord({ partitionKey: `${service}-${l % 5}`, data });
    }
    const built = aggregator.build();
    if (built === undefined) throw new Error('aws-kinesis-agg built no aggregate');
    records.push(built.data);
  }
  return records;
}

function lambdaEvents(rand: () => number, timeMs: number, events: number): { timestamp: number; message: string }[] {
  const out: { timestamp: number; message: string }[] = [];
  let requestId = uuid(rand);
  let t = timeMs;
  while (out.length < events) {
    out.push({ timestamp: t, message: `START RequestId: ${requestId} Version: $LATEST\n` });
    for (let l = 0; l < 3 && out.length < events - 2; l++) {
      t += 1 + Math.floor(rand() * 20);
      const iso = new Date(t).toISOString();
      out.push(
        l === 1
          ? {
              timestamp: t,
              message: `${JSON.stringify({
                level: 'INFO',
                message: pick(rand, MESSAGES, ''),
                sampling_rate: 0,
                service: 'orders-api',
                timestamp: iso,
                xray_trace_id: `1-${randomHex(rand, 8)}-${randomHex(rand, 24)}`,
                cold_start: false,
                function_name: 'orders-api',
                function_request_id: requestId,
              })}\n`,
            }
          : { timestamp: t, message: `${iso}\t${requestId}\tINFO\t${pick(rand, MESSAGES, '')}\n` },
      );
    }
    out.push({ timestamp: t, message: `END RequestId: ${requestId}\n` });
    out.push({
      timestamp: t,
      message: `REPORT RequestId: ${requestId}\tDuration: ${(rand() * 90).toFixed(2)} ms\tBilled Duration: 91 ms\tMemory Size: 256 MB\tMax Memory Used: 80 MB\t\n`,
    });
    requestId = uuid(rand);
    t += 5;
  }
  return out;
}

function containerEvents(rand: () => number, timeMs: number, events: number) {
  const out: { timestamp: number; message: string }[] = [];
  let traceId = randomHex(rand, 32);
  for (let e = 0; e < events; e++) {
    if (e % 4 === 0) traceId = randomHex(rand, 32);
    const t = timeMs + e * 3;
    out.push({ timestamp: t + 1, message: jsonLine(rand, t, traceId, 'checkout') });
  }
  return out;
}

/** `count` gzip CloudWatch Logs DATA_MESSAGE envelopes of ~20 events each (18–22), Lambda and ECS alternating. */
export function cloudWatchBenchRecords(count: number, seed = 11): Uint8Array[] {
  const rand = seededRng(seed);
  const records: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const lambda = i % 2 === 0;
    const n = LINES_PER_RECORD - 2 + Math.floor(rand() * 5);
    const timeMs = BASE_MS + i * 50;
    const events = lambda ? lambdaEvents(rand, timeMs, n) : containerEvents(rand, timeMs, n);
    const envelope = {
      messageType: 'DATA_MESSAGE',
      owner: '123456789012',
      logGroup: lambda ? '/aws/lambda/orders-api' : '/ecs/checkout',
      logStream: lambda ? `2026/11/25/[$LATEST]${randomHex(rand, 32)}` : `ecs/checkout/${randomHex(rand, 32)}`,
      subscriptionFilters: ['skein'],
      logEvents: events.map((event, e) => ({
        id: `379151634851208374254589466372985132623051134563473${String(i * 100 + e).padStart(5, '0')}`,
        ...event,
      })),
    };
    records.push(gzipSync(JSON.stringify(envelope)));
  }
  return records;
}

/** KPL floor: verify the MD5, decode the protobuf, parse each user record's JSON line. */
export function kplFloor(data: Buffer): number {
  const body = data.subarray(4, data.length - 16);
  if (
    !createHash('md5')
      .update(body)
      .digest()
      .equals(data.subarray(data.length - 16))
  )
    return 0;
  let n = 0;
  for (const record of AggregatedRecord.decode(body).records) {
    if (JSON.parse(Buffer.from(record.data).toString('utf8'))) n++;
  }
  return n;
}

/** CloudWatch floor: gunzip, parse the envelope, parse the messages that are JSON. */
export function cloudWatchFloor(data: Buffer): number {
  const envelope: { logEvents: { message: string }[] } = JSON.parse(gunzipSync(data).toString('utf8'));
  let n = 0;
  for (const event of envelope.logEvents) {
    if (event.message.startsWith('{')) JSON.parse(event.message);
    n++;
  }
  return n;
}
