import { gunzipSync } from 'node:zlib';
import protobuf from 'protobufjs/light.js';
import otlpDescriptor from '../../schemas/proto/otlp.json' with { type: 'json' };
import { benchColdStart } from './cold-start.bench.ts';
import { benchIngestInput, type IngestBenchInput, mixedInput, parseJsonFloor } from './ingest.bench.ts';
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

/** Every producer format, each next to the floor of its own bytes. Record counts keep the whole run near a minute. */
export function formatInputs(): IngestBenchInput[] {
  return Object.values(FORMAT_INPUTS).map((build) => build());
}

export async function benchFormats(): Promise<string[]> {
  const lines: string[] = [];
  for (const input of formatInputs()) {
    lines.push(...(await benchIngestInput(input)), '');
  }
  lines.push(...(await benchColdStart()));
  return lines;
}
