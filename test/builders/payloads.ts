import { createHash } from 'node:crypto';
import { deflateSync, gzipSync } from 'node:zlib';
import kplProto from 'aws-kinesis-agg/lib/kpl.json' with { type: 'json' };
import protobuf from 'protobufjs';
import otlpDescriptor from '../../schemas/proto/otlp.json' with { type: 'json' };

/**
 * Builders of binary producer payloads: OTLP protobuf requests (from the OTLP/JSON shape, as the Collector's
 * `awskinesis` exporter writes them, raw, gzip or zlib), KPL aggregates and CloudWatch Logs subscription envelopes.
 */

const otlp = protobuf.Root.fromJSON(otlpDescriptor);
const TracesRequest = otlp.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');
const LogsRequest = otlp.lookupType('opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest');
const AggregatedRecord = protobuf.Root.fromJSON(kplProto).lookupType('AggregatedRecord');

export type Compression = 'none' | 'gzip' | 'zlib';

export function compress(bytes: Uint8Array, compression: Compression): Uint8Array {
  if (compression === 'gzip') return gzipSync(bytes);
  if (compression === 'zlib') return deflateSync(bytes);
  return bytes;
}

/**
 * The protobuf bytes of an OTLP/JSON export request (`{"resourceSpans": …}` or `{"resourceLogs": …}`): hex ids
 * become bytes, the rest maps by protobufjs' JSON names.
 */
export function otlpJsonToProto(json: string): Uint8Array {
  const request = JSON.parse(json, (key, value: unknown) =>
    (key === 'traceId' || key === 'spanId' || key === 'parentSpanId') && typeof value === 'string'
      ? Buffer.from(value, 'hex')
      : value,
  ) as Record<string, unknown>;
  const type = 'resourceSpans' in request ? TracesRequest : LogsRequest;
  return type.encode(type.fromObject(request)).finish();
}

export interface KplUserRecord {
  readonly partitionKey: string;
  readonly data: Uint8Array | string;
}

/** A KPL aggregated record (magic, `AggregatedRecord`, MD5) of `records`; `badMd5` flips a byte of the trailer. */
export function aKplAggregate(records: readonly KplUserRecord[], options: { badMd5?: boolean } = {}): Uint8Array {
  const keys = [...new Set(records.map((r) => r.partitionKey))];
  const body = AggregatedRecord.encode(
    AggregatedRecord.fromObject({
      partition_key_table: keys,
      records: records.map((r) => ({
        partition_key_index: keys.indexOf(r.partitionKey),
        data: typeof r.data === 'string' ? Buffer.from(r.data, 'utf8') : r.data,
      })),
    }),
  ).finish();
  const md5 = createHash('md5').update(body).digest();
  if (options.badMd5) md5[0] = (md5[0] ?? 0) ^ 0xff;
  return Buffer.concat([Buffer.from([0xf3, 0x89, 0x9a, 0xc2]), body, md5]);
}

/** A gzipped CloudWatch Logs subscription `DATA_MESSAGE` of one Lambda function; `extra` overrides envelope fields. */
export function aCloudWatchEnvelope(
  messages: readonly string[],
  timeMs: number,
  extra: Record<string, unknown> = {},
): Uint8Array {
  return gzipSync(
    JSON.stringify({
      messageType: 'DATA_MESSAGE',
      owner: '123456789012',
      logGroup: '/aws/lambda/orders-api',
      logStream: '2026/11/25/[$LATEST]0123456789abcdef0123456789abcdef',
      subscriptionFilters: ['skein'],
      logEvents: messages.map((message, i) => ({ id: String(37_000_000_000 + i), timestamp: timeMs + i, message })),
      ...extra,
    }),
  );
}
