import { randomBytes, randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { aggregate } from 'aws-kinesis-agg';
import protobuf from 'protobufjs/light.js';
import { normaliseRequestId } from '../../functions/core/ids.ts';
import otlpDescriptor from '../../schemas/proto/otlp.json' with { type: 'json' };
import type { OutgoingRecord } from '../put-records.ts';

/** The producer families a smoke run sends one record of each. */
export const PROBE_FAMILIES = ['json-lines', 'otlp-json', 'otlp-proto-gzip', 'kpl'] as const;
export type ProbeFamily = (typeof PROBE_FAMILIES)[number];

/** The attribute every probe row carries, so queries can leave probes out. */
export const SMOKE_ATTRIBUTE = 'skein.smoke';
/** Which family a probe row came from. */
export const PROBE_ATTRIBUTE = 'skein.smoke.probe';
export const PROBE_SERVICE = 'skein-smoke';

/** How to leave probe rows out of an Athena query (the attributes column is a JSON object). */
export const EXCLUDE_PROBES_SQL = `json_extract_scalar(attributes, '$["${SMOKE_ATTRIBUTE}"]') IS NULL`;

export interface ProbeSet {
  /** One fresh trace id shared by the probes, so one lookup finds them all. */
  readonly traceId: string;
  /** One fresh request id (as sent) and its normalised form (as stored and looked up). */
  readonly requestId: string;
  readonly normalisedRequestId: string;
  /** Event time of the probes, epoch milliseconds. */
  readonly timeMs: number;
  readonly spanIds: Readonly<Record<ProbeFamily, string>>;
  readonly records: readonly (OutgoingRecord & { readonly family: ProbeFamily })[];
}

const root = protobuf.Root.fromJSON(otlpDescriptor);
const TracesRequest = root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

/**
 * One record per producer family, each with a fresh span id and the run's fresh trace and request ids, marked
 * `skein.smoke=true`: a JSON log line, an OTLP/JSON log record, a gzipped OTLP protobuf span and a KPL aggregate
 * holding a JSON log line. Three of them become log rows, the OTLP span a span row.
 */
export async function buildProbes(nowMs: number): Promise<ProbeSet> {
  const traceId = hex(16);
  const requestId = randomUUID();
  const normalisedRequestId = normaliseRequestId(requestId) ?? requestId;
  const spanIds = {
    'json-lines': hex(8),
    'otlp-json': hex(8),
    'otlp-proto-gzip': hex(8),
    kpl: hex(8),
  } as const satisfies Record<ProbeFamily, string>;
  const nanos = BigInt(nowMs) * 1_000_000n;

  const jsonLine = (family: ProbeFamily) =>
    JSON.stringify({
      ts: new Date(nowMs).toISOString(),
      level: 'info',
      msg: `skein smoke probe (${family})`,
      service: PROBE_SERVICE,
      trace_id: traceId,
      span_id: spanIds[family],
      request_id: requestId,
      [SMOKE_ATTRIBUTE]: 'true',
      [PROBE_ATTRIBUTE]: family,
    });

  const marks = (family: ProbeFamily) => [
    { key: SMOKE_ATTRIBUTE, value: { stringValue: 'true' } },
    { key: PROBE_ATTRIBUTE, value: { stringValue: family } },
    { key: 'request_id', value: { stringValue: requestId } },
  ];
  const resource = { attributes: [{ key: 'service.name', value: { stringValue: PROBE_SERVICE } }] };

  const otlpJson = JSON.stringify({
    resourceLogs: [
      {
        resource,
        scopeLogs: [
          {
            scope: { name: PROBE_SERVICE },
            logRecords: [
              {
                timeUnixNano: String(nanos),
                observedTimeUnixNano: String(nanos),
                severityNumber: 9,
                severityText: 'INFO',
                body: { stringValue: 'skein smoke probe (otlp-json)' },
                traceId,
                spanId: spanIds['otlp-json'],
                attributes: marks('otlp-json'),
              },
            ],
          },
        ],
      },
    ],
  });

  const otlpProto = gzipSync(
    TracesRequest.encode(
      TracesRequest.fromObject({
        resourceSpans: [
          {
            resource,
            scopeSpans: [
              {
                scope: { name: PROBE_SERVICE },
                spans: [
                  {
                    traceId: Buffer.from(traceId, 'hex'),
                    spanId: Buffer.from(spanIds['otlp-proto-gzip'], 'hex'),
                    name: 'skein smoke probe (otlp-proto-gzip)',
                    kind: 1,
                    startTimeUnixNano: String(nanos),
                    endTimeUnixNano: String(nanos + 1_000_000n),
                    attributes: marks('otlp-proto-gzip'),
                    status: { code: 1 },
                  },
                ],
              },
            ],
          },
        ],
      }),
    ).finish(),
  );

  const kpl = await kplAggregate(traceId, Buffer.from(jsonLine('kpl'), 'utf8'));

  const record = (family: ProbeFamily, data: Uint8Array) => ({
    family,
    data,
    partitionKey: traceId,
    origin: `probe ${family}`,
  });
  return {
    traceId,
    requestId,
    normalisedRequestId,
    timeMs: nowMs,
    spanIds,
    records: [
      record('json-lines', Buffer.from(jsonLine('json-lines'), 'utf8')),
      record('otlp-json', Buffer.from(otlpJson, 'utf8')),
      record('otlp-proto-gzip', otlpProto),
      record('kpl', kpl),
    ],
  };
}

/** One KPL aggregated record holding `data`, made by the aggregator of `aws-kinesis-agg` (what the KPL writes). */
function kplAggregate(partitionKey: string, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const encoded: Buffer[] = [];
    aggregate(
      [{ partitionKey, data }],
      (record, done) => {
        encoded.push(record.data);
        done();
      },
      () => {
        const [only, ...more] = encoded;
        if (only === undefined || more.length > 0) reject(new Error(`expected 1 KPL aggregate, got ${encoded.length}`));
        else resolve(only);
      },
      (error) => reject(error),
    );
  });
}

/** The family a row claims in its attributes (`skein.smoke.probe`), if it is a probe row. */
export function probeFamilyOf(attributesJson: string): ProbeFamily | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(attributesJson);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const value: unknown = Reflect.get(parsed, PROBE_ATTRIBUTE);
  return PROBE_FAMILIES.find((f) => f === value);
}
