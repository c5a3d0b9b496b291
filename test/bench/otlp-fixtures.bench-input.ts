import { gzipSync } from 'node:zlib';
import { type Context, ROOT_CONTEXT, SpanKind, SpanStatusCode, type Tracer, trace } from '@opentelemetry/api';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  type IdGenerator,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { seededRng } from '../../local/demo-workload.ts';

/** Services of the bench workload, each with its own resource, as separate SDKs (and Collector batches) have. */
const SERVICES = ['web-gateway', 'orders', 'payments', 'inventory'] as const;
/** Spans per request: what a Collector's batch processor sends for a service at modest load (2 traces of 4). */
const TRACES_PER_REQUEST = 2;
const MS = 1_000_000;

/** Random-looking, deterministic ids: the bench sorts by trace id, so ids must spread like real ones. */
class SeededIdGenerator implements IdGenerator {
  constructor(private readonly rand: () => number) {}
  generateTraceId(): string {
    return this.hex(32);
  }
  generateSpanId(): string {
    return this.hex(16);
  }
  private hex(chars: number): string {
    let s = '';
    while (s.length < chars) {
      s += Math.floor(this.rand() * 0x1_0000_0000)
        .toString(16)
        .padStart(8, '0');
    }
    return s;
  }
}

interface ServiceSdk {
  readonly tracer: Tracer;
  readonly exporter: InMemorySpanExporter;
}

function serviceSdk(service: string, idGenerator: IdGenerator): ServiceSdk {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({
    resource: resourceFromAttributes({
      'service.name': service,
      'service.version': '2.3.1',
      'deployment.environment.name': 'production',
      'cloud.provider': 'aws',
      'cloud.region': 'eu-west-1',
      'host.name': `ip-10-0-1-${service.length}.eu-west-1.compute.internal`,
      'telemetry.sdk.language': 'nodejs',
      'telemetry.sdk.name': 'opentelemetry',
      'telemetry.sdk.version': '3.1.1',
    }),
    idGenerator,
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
  });
  return { tracer: provider.getTracer('@opentelemetry/instrumentation-http', '0.211.0'), exporter };
}

/** HrTime of epoch milliseconds plus nanoseconds. */
function hr(ms: number, extraNs = 0): [number, number] {
  const seconds = Math.floor(ms / 1000);
  return [seconds, (ms - seconds * 1000) * MS + extraNs];
}

/** One request through a service: SERVER span, a DB query, a downstream HTTP call and an INTERNAL step. */
function oneTrace(tracer: Tracer, rand: () => number, startMs: number, requestId: string): void {
  const error = rand() < 0.05;
  const server = tracer.startSpan(
    'GET /api/v1/orders/:id',
    {
      kind: SpanKind.SERVER,
      startTime: hr(startMs),
      attributes: {
        'http.request.method': 'GET',
        'url.path': `/api/v1/orders/${Math.floor(rand() * 1e6)}`,
        'url.scheme': 'https',
        'http.route': '/api/v1/orders/:id',
        'http.response.status_code': error ? 500 : 200,
        'server.address': 'api.example.com',
        'client.address': '203.0.113.42',
        'user_agent.original': 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15',
        'http.request.header.x-request-id': [requestId],
      },
    },
    ROOT_CONTEXT,
  );
  const parent: Context = trace.setSpan(ROOT_CONTEXT, server);
  const db = tracer.startSpan(
    'SELECT orders',
    {
      kind: SpanKind.CLIENT,
      startTime: hr(startMs + 1),
      attributes: {
        'db.system.name': 'postgresql',
        'db.namespace': 'orders',
        'db.operation.name': 'SELECT',
        'db.query.text': 'SELECT id, status, total FROM orders WHERE id = $1',
        'server.address': 'orders-db.cluster-abc.eu-west-1.rds.amazonaws.com',
        'server.port': 5432,
      },
    },
    parent,
  );
  db.end(hr(startMs + 4, Math.floor(rand() * 1e6)));
  const downstream = tracer.startSpan(
    'GET',
    {
      kind: SpanKind.CLIENT,
      startTime: hr(startMs + 5),
      attributes: {
        'http.request.method': 'GET',
        'url.full': 'http://inventory.internal:8080/stock/SKU-1234',
        'server.address': 'inventory.internal',
        'server.port': 8080,
        'http.response.status_code': error ? 503 : 200,
      },
    },
    parent,
  );
  if (error) downstream.setStatus({ code: SpanStatusCode.ERROR });
  downstream.end(hr(startMs + 9 + Math.floor(rand() * 20)));
  const render = tracer.startSpan(
    'serialize response',
    { kind: SpanKind.INTERNAL, startTime: hr(startMs + 30) },
    parent,
  );
  render.end(hr(startMs + 31));
  if (error) {
    server.addEvent(
      'exception',
      { 'exception.type': 'UpstreamError', 'exception.message': 'inventory returned 503' },
      hr(startMs + 31),
    );
    server.setStatus({ code: SpanStatusCode.ERROR, message: 'inventory returned 503' });
  }
  server.end(hr(startMs + 32));
}

/**
 * `count` OTLP trace export requests made with the OpenTelemetry SDK and encoded by its own OTLP serializers, as the
 * Collector's awskinesis exporter puts them on the stream: `protoGzip` is `otlp_proto` with gzip (its default
 * encoding, compressed), `json` is `otlp_json` uncompressed. Request `i` holds the same spans in both lists: one
 * resource, two traces of four spans (SERVER, DB CLIENT, HTTP CLIENT, INTERNAL; ~5 % with an error and an exception
 * event), about 2.4 KB of protobuf. Seeded: the same bytes every run.
 *
 * @example
 * const { protoGzip, json } = otlpBenchRecords(10_000);
 */
export function otlpBenchRecords(count: number, seed = 7): { protoGzip: Uint8Array[]; json: Uint8Array[] } {
  const rand = seededRng(seed);
  const idGenerator = new SeededIdGenerator(rand);
  const sdks = SERVICES.map((service) => serviceSdk(service, idGenerator));
  const baseMs = Date.UTC(2026, 10, 25, 21, 0);
  const protoGzip: Uint8Array[] = [];
  const json: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const sdk = sdks[i % sdks.length];
    if (sdk === undefined) throw new Error('no services');
    for (let t = 0; t < TRACES_PER_REQUEST; t++) {
      oneTrace(sdk.tracer, rand, baseMs + i * 7 + t * 3, uuid(rand));
    }
    // SimpleSpanProcessor exports each span as it ends (synchronously for a resource without async attributes).
    const spans: ReadableSpan[] = sdk.exporter.getFinishedSpans();
    sdk.exporter.reset();
    const proto = ProtobufTraceSerializer.serializeRequest(spans);
    const text = JsonTraceSerializer.serializeRequest(spans);
    if (proto === undefined || text === undefined) throw new Error('the OTLP serializer returned nothing');
    protoGzip.push(gzipSync(proto));
    json.push(text);
  }
  return { protoGzip, json };
}

function uuid(rand: () => number): string {
  const h = new SeededIdGenerator(rand).generateTraceId();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
