import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import protobuf from 'protobufjs/light.js';
import { INGEST_NODE_OPTIONS } from '../../functions/ingest/node-options.ts';
import otlpDescriptor from '../../schemas/proto/otlp.json' with { type: 'json' };
import { benchColdStart } from './cold-start.bench.ts';
import { type IngestBenchInput, mixedInput, parseJsonFloor } from './ingest.bench.ts';
import { cloudWatchBenchRecords, cloudWatchFloor, kplBenchRecords, kplFloor } from './kpl-cloudwatch.bench-input.ts';
import { otlpBenchRecords } from './otlp-fixtures.bench-input.ts';
import { syntheticRecords } from './workload.ts';

const TracesRequest = protobuf.Root.fromJSON(otlpDescriptor).lookupType(
  'opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest',
);

/** OTLP protobuf floor: gunzip and protobuf decode (to message objects), as any OTLP receiver must. */
function otlpProtoFloor(data: Buffer): number {
  return TracesRequest.decode(gunzipSync(data)) ? 1 : 0;
}

/** Every producer format by short name (for `ingest-profile.ts`), built only when asked for. */
export const FORMAT_INPUTS: Readonly<Record<string, () => IngestBenchInput>> = {
  mixed: () => mixedInput(),
  'json-lines': () => ({
    name: 'JSON lines (plain, pino, severity dialects)',
    records: syntheticRecords(100_000)
      .filter((r) => !r.startsWith('{"resource'))
      .map((r) => Buffer.from(r)),
    floor: parseJsonFloor,
    floorLabel: 'base64 decode + JSON.parse of every line',
  }),
  'otlp-proto': () => ({
    name: 'OTLP protobuf, gzip (Collector awskinesis otlp_proto; 8 spans a request)',
    records: otlpBenchRecords(10_000).protoGzip,
    floor: otlpProtoFloor,
    floorLabel: 'base64 decode + gunzip + protobuf decode',
  }),
  'otlp-json': () => ({
    name: 'OTLP/JSON (otlp_json; 8 spans a request)',
    records: otlpBenchRecords(10_000).json,
    floor: parseJsonFloor,
    floorLabel: 'base64 decode + JSON.parse',
  }),
  kpl: () => ({
    name: 'KPL aggregates (~20 JSON lines each)',
    records: kplBenchRecords(10_000),
    floor: kplFloor,
    floorLabel: 'base64 decode + de-aggregate + JSON.parse of each user record',
  }),
  cloudwatch: () => ({
    name: 'CloudWatch Logs subscription (~20 events an envelope)',
    records: cloudWatchBenchRecords(10_000),
    floor: cloudWatchFloor,
    floorLabel: 'base64 decode + gunzip + JSON.parse of the envelope and of JSON messages',
  }),
};

/**
 * Every producer format, each next to the floor of its own bytes, in a Node process started with the ingest
 * function's `NODE_OPTIONS` (functions/ingest/node-options.ts): the figures are those of the function as deployed,
 * its floors measured in the same process. Then the cold start of the function's bundle.
 */
export async function benchFormats(): Promise<string[]> {
  const script = fileURLToPath(new URL('./ingest-profile.ts', import.meta.url));
  const flags = INGEST_NODE_OPTIONS.split(' ');
  const child = spawnSync(process.execPath, [...flags, '--import', 'tsx', script], {
    encoding: 'utf8',
    maxBuffer: 16 * 1024 * 1024,
  });
  if (child.status !== 0) throw new Error(`the ingest benchmark failed (${child.status}): ${child.stderr}`);
  const lines = [`(node ${flags.join(' ')}, as the ingest function runs)`, ...child.stdout.trimEnd().split('\n'), ''];
  lines.push(...(await benchColdStart()));
  return lines;
}
