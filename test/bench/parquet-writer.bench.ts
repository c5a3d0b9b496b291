/**
 * Benchmark: Skein's Parquet writer against parquet-wasm (parquet-rs) and against the floor, `JSON.stringify` of the
 * same rows. 100k realistic log rows (LOG_COLUMNS): trace ids shared by ~20 rows and sorted, a handful of services,
 * bodies of 80–200 characters, attribute JSON of ~150 characters.
 *
 * Run alone with `npx tsx test/bench/parquet-writer.bench.ts`.
 */
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import {
  type Data,
  Field,
  Int32,
  Int64,
  makeData,
  RecordBatch,
  Schema,
  Struct,
  Table,
  TimestampMillisecond,
  tableToIPC,
  Utf8,
} from 'apache-arrow';
import * as pw from 'parquet-wasm/node';
import { writeParquet } from '../../functions/shared/parquet/parquet-writer.ts';
import { seededRng } from '../../local/demo-workload.ts';
import { type ColumnDef, LOG_COLUMNS } from '../../schemas/columns.ts';

const ROWS = 100_000;
const ROW_GROUP_ROWS = 50_000;
const TIMED_RUNS = 3;

type Row = Record<string, string | number | bigint | null>;

const WORDS = [
  'request',
  'completed',
  'user',
  'order',
  'payment',
  'failed',
  'retrying',
  'cache',
  'miss',
  'upstream',
  'timeout',
  'latency',
  'handler',
  'queue',
  'accepted',
  'validation',
  'error',
  'inventory',
  'reserved',
  'session',
  'token',
  'refreshed',
  'db',
  'query',
];
const SERVICES = ['checkout', 'payments', 'inventory', 'frontend', 'auth', 'shipping'];
const SEVERITIES = [
  ['DEBUG', 5],
  ['INFO', 9],
  ['INFO', 9],
  ['INFO', 9],
  ['WARN', 13],
  ['ERROR', 17],
] as const;

/**
 * Builds `count` log rows shaped like ingest output for LOG_COLUMNS, sorted by trace id as the ingest sorts them.
 * Exported so other benchmarks can share the same workload.
 */
export function buildLogRows(count: number, seed = 42): Row[] {
  const random = seededRng(seed);
  const hex = (length: number): string => {
    let s = '';
    for (let k = 0; k < length; k++) s += ((random() * 16) | 0).toString(16);
    return s;
  };
  const pick = <T>(items: readonly T[]): T => {
    const item = items[(random() * items.length) | 0];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  };
  const resourceOf = SERVICES.map((service) =>
    JSON.stringify({
      'service.name': service,
      'service.version': '2.14.3',
      'deployment.environment': 'production',
      'cloud.region': 'eu-west-1',
      'faas.name': `${service}-handler`,
    }),
  );
  const rows: Row[] = [];
  const start = 1_767_225_600_000;
  let traceId = hex(32);
  let requestId: string | null = hex(32);
  let service = 0;
  for (let i = 0; i < count; i++) {
    if (i % 20 === 0) {
      traceId = hex(32);
      requestId = random() < 0.7 ? hex(32) : null;
      service = (random() * SERVICES.length) | 0;
    }
    const timeMs = start + i * 3 + ((random() * 3) | 0);
    const nanos = `${timeMs}${String((random() * 1_000_000) | 0).padStart(6, '0')}`;
    const [severityText, severityNumber] = pick(SEVERITIES);
    let body = '';
    const bodyLength = 80 + ((random() * 120) | 0);
    while (body.length < bodyLength) body += `${pick(WORDS)} ${random() < 0.3 ? (random() * 10_000) | 0 : ''} `;
    const record = {
      trace_id: traceId,
      time: timeMs,
      time_unix_nano: nanos,
      observed_time_unix_nano: nanos,
      span_id: random() < 0.9 ? hex(16) : null,
      request_id: requestId,
      severity_number: severityNumber,
      severity_text: severityText,
      body: body.slice(0, bodyLength),
      service_name: SERVICES[service] ?? null,
      resource_attributes: resourceOf[service] ?? '{}',
      attributes: JSON.stringify({
        'http.method': pick(['GET', 'POST', 'PUT']),
        'http.route': `/api/v1/${pick(WORDS)}/{id}`,
        'http.status_code': pick([200, 200, 201, 404, 500]),
        'user.id': hex(12),
        duration_ms: (random() * 900) | 0,
      }),
      source_format: pick(['json-lines', 'json-lines', 'otlp-json']),
      shard_id: `shardId-00000000000${(random() * 4) | 0}`,
      sequence_number: `4964${hex(8)}${String(i).padStart(12, '0')}${hex(8)}`,
      sub_sequence_number: 0,
      record_ordinal: i % 50,
      arrival_time: timeMs + 400,
      ingest_flags: null,
    };
    // Through JSON like the decoders' output: flat strings (not concatenation ropes), int64 as bigint.
    const row: Row = JSON.parse(JSON.stringify(record));
    row.time_unix_nano = BigInt(nanos);
    row.observed_time_unix_nano = BigInt(nanos) + 250_000_000n;
    rows.push(row);
  }
  rows.sort((a, b) => (String(a.trace_id) < String(b.trace_id) ? -1 : String(a.trace_id) > String(b.trace_id) ? 1 : 0));
  return rows;
}

interface Timing<T> {
  /** Median wall-clock milliseconds. */
  readonly wallMs: number;
  /** Median process CPU milliseconds (user + system): steadier than wall time on a shared machine. */
  readonly cpuMs: number;
  readonly result: T;
}

/** Medians of `runs` calls after one warm-up call. */
function timeIt<T>(runs: number, act: () => T): Timing<T> {
  let result = act();
  const walls: number[] = [];
  const cpus: number[] = [];
  for (let k = 0; k < runs; k++) {
    const cpuBefore = process.cpuUsage();
    const begin = performance.now();
    result = act();
    walls.push(performance.now() - begin);
    const cpu = process.cpuUsage(cpuBefore);
    cpus.push((cpu.user + cpu.system) / 1000);
  }
  const median = (values: number[]): number => values.sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
  return { wallMs: median(walls), cpuMs: median(cpus), result };
}

// ---- parquet-wasm, fed an Arrow table built column by column from typed arrays (the fast way) -------------------

function validity(rows: readonly Row[], name: string): { bitmap: Uint8Array; nulls: number } {
  const bitmap = new Uint8Array((rows.length + 7) >> 3);
  let nulls = 0;
  for (let i = 0; i < rows.length; i++) {
    const value = rows[i]?.[name];
    if (value === null || value === undefined) nulls++;
    else bitmap[i >> 3] = (bitmap[i >> 3] ?? 0) | (1 << (i & 7));
  }
  return { bitmap, nulls };
}

function arrowData(column: ColumnDef, rows: readonly Row[]): Data {
  const { bitmap, nulls } = validity(rows, column.name);
  const length = rows.length;
  const name = column.name;
  switch (column.type) {
    case 'string': {
      const offsets = new Int32Array(length + 1);
      let bytes = Buffer.allocUnsafe(length * 64);
      let pos = 0;
      for (let i = 0; i < length; i++) {
        const value = rows[i]?.[name];
        if (typeof value === 'string') {
          if (pos + value.length * 3 > bytes.length) {
            const grown = Buffer.allocUnsafe(bytes.length * 2 + value.length * 3);
            bytes.copy(grown, 0, 0, pos);
            bytes = grown;
          }
          pos += bytes.write(value, pos, 'utf8');
        }
        offsets[i + 1] = pos;
      }
      return makeData({
        type: new Utf8(),
        length,
        nullCount: nulls,
        nullBitmap: bitmap,
        valueOffsets: offsets,
        data: bytes.subarray(0, pos),
      });
    }
    case 'int32': {
      const data = new Int32Array(length);
      for (let i = 0; i < length; i++) {
        const value = rows[i]?.[name];
        if (typeof value === 'number') data[i] = value;
      }
      return makeData({ type: new Int32(), length, nullCount: nulls, nullBitmap: bitmap, data });
    }
    case 'int64': {
      const data = new BigInt64Array(length);
      for (let i = 0; i < length; i++) {
        const value = rows[i]?.[name];
        if (typeof value === 'bigint') data[i] = value;
      }
      return makeData({ type: new Int64(), length, nullCount: nulls, nullBitmap: bitmap, data });
    }
    case 'timestamp_ms': {
      const data = new BigInt64Array(length);
      for (let i = 0; i < length; i++) {
        const value = rows[i]?.[name];
        if (typeof value === 'number') data[i] = BigInt(value);
      }
      return makeData({ type: new TimestampMillisecond('UTC'), length, nullCount: nulls, nullBitmap: bitmap, data });
    }
    case 'boolean':
      throw new Error('no boolean column in LOG_COLUMNS');
  }
}

function arrowTable(columns: readonly ColumnDef[], rows: readonly Row[]): Table {
  const children = columns.map((column) => arrowData(column, rows));
  const fields = columns.map((column, k) => new Field(column.name, children[k]?.type ?? new Utf8(), column.nullable));
  const schema = new Schema(fields);
  const struct = makeData({ type: new Struct(fields), length: rows.length, nullCount: 0, children });
  return new Table([new RecordBatch(schema, struct)]);
}

function parquetWasm(columns: readonly ColumnDef[], rows: readonly Row[], compression: pw.Compression): Uint8Array {
  const ipc = tableToIPC(arrowTable(columns, rows), 'stream');
  let builder = new pw.WriterPropertiesBuilder()
    .setWriterVersion(pw.WriterVersion.V1)
    .setCompression(compression)
    .setMaxRowGroupSize(ROW_GROUP_ROWS)
    .setStatisticsEnabled(pw.EnabledStatistics.Chunk)
    .setDictionaryEnabled(false);
  for (const column of columns) {
    if (column.dictionary === true) builder = builder.setColumnDictionaryEnabled(column.name, true);
  }
  return pw.writeParquet(pw.Table.fromIPCStream(ipc), builder.build());
}

function line(label: string, timing: Timing<unknown>, bytes: number): string {
  const rowsPerSecond = Math.round(ROWS / (timing.wallMs / 1000)).toLocaleString('en-US');
  return (
    `${label.padEnd(32)} ${timing.wallMs.toFixed(0).padStart(6)} ms wall ${timing.cpuMs.toFixed(0).padStart(6)} ms cpu ` +
    `${rowsPerSecond.padStart(9)} rows/s ${bytes.toLocaleString('en-US').padStart(12)} bytes`
  );
}

/**
 * Runs the benchmark and returns printable lines (one per writer and codec). By default parquet-wasm writes gzip only,
 * Skein's codec; `compare` adds its other codecs and the Arrow step alone (the evidence of D4, ~20 s more).
 */
export async function benchParquetWriter(options: { readonly compare?: boolean } = {}): Promise<string[]> {
  const rows = buildLogRows(ROWS);
  const lines = [`parquet writer: ${ROWS.toLocaleString('en-US')} log rows, row groups of ${ROW_GROUP_ROWS}`];
  for (const compression of ['gzip', 'none'] as const) {
    const timing = timeIt(TIMED_RUNS, () =>
      writeParquet(LOG_COLUMNS, rows, { rowGroupRows: ROW_GROUP_ROWS, compression }),
    );
    lines.push(line(`skein writeParquet ${compression}`, timing, timing.result.length));
  }
  const codecs = [
    ['gzip', pw.Compression.GZIP],
    ...(options.compare
      ? ([
          ['snappy', pw.Compression.SNAPPY],
          ['none', pw.Compression.UNCOMPRESSED],
          ['zstd', pw.Compression.ZSTD],
        ] as const)
      : []),
  ] as const;
  for (const [label, codec] of codecs) {
    const timing = timeIt(TIMED_RUNS, () => parquetWasm(LOG_COLUMNS, rows, codec));
    lines.push(line(`parquet-wasm 0.8 V1 ${label}`, timing, timing.result.length));
  }
  if (options.compare) {
    const arrowOnly = timeIt(TIMED_RUNS, () => tableToIPC(arrowTable(LOG_COLUMNS, rows), 'stream'));
    lines.push(line('  of which Arrow table + IPC', arrowOnly, arrowOnly.result.length));
  } else lines.push('  (parquet-wasm with its other codecs: npm run bench -- parquet --compare)');
  const json = timeIt(TIMED_RUNS, () =>
    JSON.stringify(rows, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value)),
  );
  lines.push(line('floor: JSON.stringify', json, Buffer.byteLength(json.result, 'utf8')));
  return lines;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const printable of await benchParquetWriter({ compare: process.argv.includes('--compare') })) {
    console.log(printable);
  }
}
