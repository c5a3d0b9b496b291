import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DuckDBInstance, type DuckDBValue } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryCommand } from '../../cli/query-command.ts';
import { writeEndpoints } from '../../local/endpoints.ts';
import { listTableFiles, queryLocal } from '../../query/local-query.ts';
import { formatLookupStats, type LookupStats } from '../../query/read-stats.ts';
import { type ColumnDef, TABLES, type TableName } from '../../schemas/columns.ts';
import { captureIo } from '../builders/cli-io.ts';

const TRACE_A = '4bf92f3577b34da6a3ce929d0e0e4736';
const TRACE_B = '0af7651916cd43dd8448eb211c80319c';
const TRACE_C = '11111111111111111111111111111111';
const REQUEST_UUID = '6F1C2E0A-9B7D-4C1E-8F3A-2D5B7E9C1A40';
const REQUEST_HEX = '6f1c2e0a9b7d4c1e8f3a2d5b7e9c1a40';
const BUCKET = 'skein-local';
/** 2024-05-01T07:30:00.000Z */
const T0 = Date.UTC(2024, 4, 1, 7, 30);

type Row = Record<string, DuckDBValue>;

function logRow(fields: Row & { at: number }): Row {
  const { at, ...rest } = fields;
  return {
    trace_id: TRACE_A,
    time: new Date(T0 + at).toISOString(),
    time_unix_nano: BigInt(T0 + at) * 1_000_000n,
    observed_time_unix_nano: BigInt(T0 + at) * 1_000_000n,
    span_id: null,
    request_id: null,
    severity_number: 9,
    severity_text: 'INFO',
    body: 'hello',
    service_name: 'api',
    resource_attributes: '{}',
    attributes: '{}',
    source_format: 'json-lines',
    shard_id: 'shardId-000000000000',
    sequence_number: '49650000000000000000000000000000000000000000000000000001',
    sub_sequence_number: 0,
    record_ordinal: 0,
    arrival_time: new Date(T0 + at).toISOString(),
    ingest_flags: null,
    ...rest,
  };
}

function spanRow(fields: Row & { at: number; duration: number }): Row {
  const { at, duration, ...rest } = fields;
  return {
    trace_id: TRACE_A,
    start_time: new Date(T0 + at).toISOString(),
    start_time_unix_nano: BigInt(T0 + at) * 1_000_000n,
    end_time_unix_nano: BigInt(T0 + at + duration) * 1_000_000n,
    duration_nano: BigInt(duration) * 1_000_000n,
    span_id: 'aaaaaaaaaaaaaaaa',
    request_id: null,
    parent_span_id: null,
    trace_state: null,
    name: 'GET /orders',
    kind: 'SERVER',
    status_code: 'UNSET',
    status_message: null,
    service_name: 'api',
    scope_name: null,
    resource_attributes: '{}',
    attributes: '{}',
    events: '[]',
    links: '[]',
    source_format: 'otlp-json',
    shard_id: 'shardId-000000000000',
    sequence_number: '49650000000000000000000000000000000000000000000000000002',
    sub_sequence_number: 0,
    record_ordinal: 0,
    arrival_time: new Date(T0 + at).toISOString(),
    ingest_flags: null,
    ...rest,
  };
}

/**
 * DuckDB types for the column list. Logs get TIMESTAMPTZ (Parquet TIMESTAMP isAdjustedToUTC=true, as our writer
 * declares it) and spans TIMESTAMP_MS (not adjusted), so the query is shown to read both.
 */
function sqlType(table: TableName, column: ColumnDef): string {
  switch (column.type) {
    case 'string':
      return 'VARCHAR';
    case 'int32':
      return 'INTEGER';
    case 'int64':
      return 'BIGINT';
    case 'timestamp_ms':
      return table === 'logs' ? 'TIMESTAMPTZ' : 'TIMESTAMP_MS';
    case 'boolean':
      return 'BOOLEAN';
  }
}

const quote = (s: string): string => `'${s.replaceAll("'", "''")}'`;

/**
 * Writes one s3rver object as s3rver lays it out: `<dataDir>/<bucket>/<key>._S3rver_object` plus its metadata
 * file, with the rows in a Parquet file of exactly the table's columns, sorted by trace id then time.
 */
async function writeObject(dataDir: string, key: string, table: TableName, rows: Row[]) {
  const path = join(dataDir, BUCKET, `${key}._S3rver_object`);
  await mkdir(dirname(path), { recursive: true });
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const columns: readonly ColumnDef[] = TABLES[table];
    await connection.run(`SET TimeZone = 'UTC'`);
    await connection.run(`CREATE TABLE t (${columns.map((c) => `"${c.name}" ${sqlType(table, c)}`).join(', ')})`);
    const insert = `INSERT INTO t VALUES (${columns.map((c) => `$${c.name}`).join(', ')})`;
    for (const row of rows) await connection.run(insert, row);
    const order = table === 'logs' ? 'trace_id, time' : 'trace_id, start_time';
    await connection.run(`COPY (SELECT * FROM t ORDER BY ${order}) TO ${quote(path)} (FORMAT parquet)`);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
  await writeFile(join(dataDir, BUCKET, `${key}._S3rver_metadata.json`), '{}');
}

describe('local query', () => {
  let dir: string;
  let dataDir: string;

  beforeAll(async () => {
    // Prepare: a local stack folder whose data dir has quotes, spaces and glob characters in its path.
    dir = await mkdtemp(join(tmpdir(), "skein-query-[it's] *"));
    dataDir = join(dir, 's3');
    await writeEndpoints(dir, {
      kinesis: 'http://127.0.0.1:1',
      s3: 'http://127.0.0.1:2',
      stream: 'skein-local',
      bucket: BUCKET,
      dataDir,
    });
    await writeObject(dataDir, 'tables/logs/dt=2024-05-01/hour=07/shardId-000000000000-1.parquet', 'logs', [
      logRow({ at: 1, span_id: 'aaaaaaaaaaaaaaaa', request_id: REQUEST_HEX, body: 'order received' }),
      logRow({
        at: 30,
        span_id: 'bbbbbbbbbbbbbbbb',
        service_name: 'db',
        severity_number: 17,
        severity_text: 'ERROR',
        body: 'deadlock',
      }),
      logRow({ at: 5, trace_id: TRACE_B, body: 'other trace' }),
      logRow({ at: 7, trace_id: null, request_id: 'job-42', body: 'no trace at all' }),
    ]);
    await writeObject(dataDir, 'tables/spans/dt=2024-05-01/hour=07/shardId-000000000000-2.parquet', 'spans', [
      spanRow({ at: 0, duration: 120, span_id: 'aaaaaaaaaaaaaaaa', name: 'POST /orders', status_code: 'OK' }),
      spanRow({
        at: 20,
        duration: 40,
        span_id: 'bbbbbbbbbbbbbbbb',
        parent_span_id: 'aaaaaaaaaaaaaaaa',
        name: 'INSERT orders',
        service_name: 'db',
        status_code: 'ERROR',
        status_message: 'deadlock detected',
      }),
      spanRow({ at: 3, duration: 2, trace_id: TRACE_B, span_id: 'cccccccccccccccc', name: 'GET /health' }),
    ]);
    // A straggler of trace A that arrived five hours later.
    await writeObject(dataDir, 'tables/logs/dt=2024-05-01/hour=12/shardId-000000000001-3.parquet', 'logs', [
      logRow({ at: 5 * 3_600_000, service_name: 'mailer', body: 'confirmation sent' }),
    ]);
    await writeObject(dataDir, 'tables/spans/dt=2024-05-02/hour=00/shardId-000000000001-4.parquet', 'spans', [
      spanRow({ at: 17 * 3_600_000, duration: 1, trace_id: TRACE_C, span_id: 'dddddddddddddddd' }),
    ]);
    // s3rver still writing this one (no metadata yet), and s3rver's checksum file beside a real object.
    await writeFile(
      join(dataDir, BUCKET, 'tables/spans/dt=2024-05-01/hour=07/shardId-000000000002-5.parquet._S3rver_object'),
      'PAR1 half-writ',
    );
    await writeFile(
      join(dataDir, BUCKET, 'tables/logs/dt=2024-05-01/hour=07/shardId-000000000000-1.parquet._S3rver_object.md5'),
      'abc',
    );
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('lists only complete Parquet objects, in the partitions of a time range', async () => {
    expect(await listTableFiles(dataDir, BUCKET, 'spans')).toHaveLength(2);
    const range = { since: T0 - 3_600_000, until: T0 };
    const logs = await listTableFiles(dataDir, BUCKET, 'logs', range);
    expect(logs.map((f) => f.slice(dataDir.length))).toEqual([
      `/${BUCKET}/tables/logs/dt=2024-05-01/hour=07/shardId-000000000000-1.parquet._S3rver_object`,
    ]);
  });

  it('finds every row of a trace across tables and partitions, in time order', async () => {
    // Act
    const result = await queryLocal({ dataDir, bucket: BUCKET, by: 'trace', id: TRACE_A });

    // Assess
    expect(result.filesScanned).toBe(4);
    expect(result.rows.map((r) => [r.table, r.table === 'logs' ? r.row.body : r.row.name])).toEqual([
      ['spans', 'POST /orders'],
      ['logs', 'order received'],
      ['spans', 'INSERT orders'],
      ['logs', 'deadlock'],
      ['logs', 'confirmation sent'],
    ]);
    const [first] = result.rows;
    expect(first?.table === 'spans' && first.row.start_time).toBe(T0);
    expect(first?.table === 'spans' && first.row.end_time_unix_nano).toBe(BigInt(T0 + 120) * 1_000_000n);
  });

  it('reads only the partitions near --since/--until', async () => {
    const result = await queryLocal({
      dataDir,
      bucket: BUCKET,
      by: 'trace',
      id: TRACE_A,
      since: T0,
      until: T0 + 60_000,
    });
    expect(result.filesScanned).toBe(2);
    expect(result.rows).toHaveLength(4);
  });

  it('finds a request and every row of the traces it touched', async () => {
    const result = await queryLocal({ dataDir, bucket: BUCKET, by: 'request', id: REQUEST_HEX });
    expect(result.rows).toHaveLength(5);
    expect(new Set(result.rows.map((r) => r.row.trace_id))).toEqual(new Set([TRACE_A]));
  });

  it('finds a verbatim request id whose rows carry no trace id', async () => {
    const result = await queryLocal({ dataDir, bucket: BUCKET, by: 'request', id: 'job-42' });
    expect(result.rows.map((r) => r.table === 'logs' && r.row.body)).toEqual(['no trace at all']);
  });

  it('treats an id that looks like SQL as a value', async () => {
    const result = await queryLocal({ dataDir, bucket: BUCKET, by: 'request', id: "x' OR '1'='1" });
    expect(result.rows).toEqual([]);
  });

  it('answers an empty result when nothing was ingested', async () => {
    const result = await queryLocal({ dataDir: join(dir, 'empty'), bucket: BUCKET, by: 'trace', id: TRACE_A });
    expect(result).toMatchObject({ rows: [], filesScanned: 0, stats: { objectsOpened: 0, bytesRead: 0 } });
  });

  describe('skein query', () => {
    it('prints the timeline of a trace given as a traceparent', async () => {
      // Prepare
      const io = captureIo();

      // Act
      const code = await queryCommand(['trace', `00-${TRACE_A.toUpperCase()}-aaaaaaaaaaaaaaaa-01`, '--local', dir], io);

      // Assess
      expect(code).toBe(0);
      expect(io.err()).toMatch(
        /^local \(index\): 4 objects opened, [\d.]+ KB read \(data [\d.]+ KB, index 0 B\), 3\/4 row groups, 0 index objects, \d+ ms\n$/,
      );
      expect(io.out().split('\n')).toEqual([
        `trace ${TRACE_A} · services api, db, mailer · 2 spans · 3 logs · 2 errors · 5 h 0 min · started 2024-05-01T07:30:00.000Z`,
        '07:30:00.000  api     SPAN POST /orders (120.0 ms, OK)',
        '07:30:00.001  api       LOG INFO order received',
        '07:30:00.020  db        SPAN INSERT orders (40.0 ms, ERROR: deadlock detected)',
        '07:30:00.030  db          LOG ERROR deadlock',
        '12:30:00.000  mailer  LOG INFO confirmation sent',
        '',
      ]);
    });

    it('prints one JSON object per row with --json', async () => {
      const io = captureIo();
      const code = await queryCommand(['request', REQUEST_UUID, '--local', dir, '--json'], io);
      expect(code).toBe(0);
      const rows = io
        .out()
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));
      expect(rows).toHaveLength(5);
      expect(rows[0]).toMatchObject({
        table: 'spans',
        trace_id: TRACE_A,
        start_time: '2024-05-01T07:30:00.000Z',
        duration_nano: '120000000',
      });
      expect(rows[1]).toMatchObject({ table: 'logs', request_id: REQUEST_HEX, time: '2024-05-01T07:30:00.001Z' });
    });

    it('prints the stats as JSON on stderr beside ndjson, and every object read with --stats', async () => {
      // Act
      const io = captureIo();
      const code = await queryCommand(['trace', TRACE_A, '--dir', dir, '--format', 'ndjson', '--stats'], io);

      // Assess
      expect(code).toBe(0);
      expect(io.out().trim().split('\n')).toHaveLength(5);
      const { stats } = JSON.parse(io.err());
      expect(stats).toMatchObject({
        mode: 'index',
        objectsOpened: 4,
        rowGroupsRead: 3,
        rowGroupsTotal: 4,
        indexObjectsRead: 0,
      });
      expect(stats.objectKeys).toContain('tables/logs/dt=2024-05-01/hour=12/shardId-000000000001-3.parquet');
      expect(stats.bytesRead).toBe(stats.dataBytesRead);
    });

    it('prints aligned columns with --format table', async () => {
      // Act
      const io = captureIo();
      const code = await queryCommand(
        [
          'trace',
          TRACE_A,
          '--dir',
          dir,
          '--format',
          'table',
          '--since',
          '2024-05-01T07:00:00Z',
          '--until',
          '2024-05-01T08:00:00Z',
        ],
        io,
      );

      // Assess
      expect(code).toBe(0);
      expect(io.out().split('\n')).toEqual([
        'TIME                      TABLE  SERVICE  TRACE_ID                          SPAN_ID           LEVEL  TEXT',
        `2024-05-01T07:30:00.000Z  span   api      ${TRACE_A}  aaaaaaaaaaaaaaaa  OK     POST /orders (120.0 ms)`,
        `2024-05-01T07:30:00.001Z  log    api      ${TRACE_A}  aaaaaaaaaaaaaaaa  INFO   order received`,
        `2024-05-01T07:30:00.020Z  span   db       ${TRACE_A}  bbbbbbbbbbbbbbbb  ERROR  INSERT orders (40.0 ms)`,
        `2024-05-01T07:30:00.030Z  log    db       ${TRACE_A}  bbbbbbbbbbbbbbbb  ERROR  deadlock`,
        '',
      ]);
      expect(io.err()).toMatch(/^local \(time-range\): 2 objects opened/);
    });

    it('says "no records" for an unknown id and exits 0', async () => {
      const io = captureIo();
      const code = await queryCommand(['trace', TRACE_C.replaceAll('1', '2'), '--local', dir], io);
      expect(code).toBe(0);
      expect(io.out()).toBe(`no records for trace ${TRACE_C.replaceAll('1', '2')}\n`);
    });

    it('keeps stdout empty for an unknown id with --json', async () => {
      const io = captureIo();
      expect(await queryCommand(['request', 'nobody', '--local', dir, '--json'], io)).toBe(0);
      expect(io.out()).toBe('');
      expect(io.err()).toMatch(/^no records for request nobody\n\{"stats":\{"mode":"index","objectsOpened":4,/);
    });

    it.each([
      [
        ['trace', 'not-a-trace', '--local', '.'],
        /^skein: not a trace id: expected 32 hex digits, a UUID, a traceparent or an X-Ray trace id/,
      ],
      [
        ['trace', '00000000000000000000000000000000', '--local', '.'],
        /^skein: the all-zero trace id is invalid \(W3C Trace Context: no trace has it; got '0{32}'\)$/m,
      ],
      [['trace', '00000000-0000-0000-0000-000000000000', '--local', '.'], /^skein: the all-zero trace id is invalid/],
      [
        ['trace', '00-00000000000000000000000000000000-00f067aa0ba902b7-01', '--local', '.'],
        /^skein: the all-zero trace id is invalid/,
      ],
      [
        ['trace', 'Root=1-00000000-000000000000000000000000', '--local', '.'],
        /^skein: the all-zero trace id is invalid/,
      ],
      [['trace', '0000000000000000', '--local', '.'], /^skein: the all-zero trace id is invalid/],
      [['trace', '0000000000000000000000000000000', '--local', '.'], /^skein: not a trace id: expected 32 hex digits/],
      [['request', '', '--local', '.'], /^skein: not a request id/],
      [['trace', TRACE_A, '--athena'], /^skein: --athena needs --workgroup <wg>/],
      [
        ['trace', TRACE_A, '--athena', '--workgroup', 'wg', '--local', '.'],
        /^skein: give either --local <dir> or --athena, not both/,
      ],
      [['trace', TRACE_A, '--athena', '--workgroup', 'wg', '--format', 'table'], /^skein: --format table is not/],
      [['trace', TRACE_A, '--local', '.', '--workgroup', 'wg'], /^skein: --workgroup goes with --athena/],
      [['trace', TRACE_A, '--dir', '.', '--format', 'csv'], /^skein: unknown --format 'csv'/],
      [['trace', TRACE_A, '--dir', '.', '--json', '--format', 'table'], /^skein: --json is --format ndjson/],
      [['trace', TRACE_A], /^skein: no local stack at \.skein: /],
      [
        ['trace', TRACE_A, '--local', '.', '--since', 'yesterday'],
        /^skein: --since yesterday: expected an ISO 8601 time/,
      ],
      [['trace', TRACE_A, '--local', '.', '--since', '1h', '--until', '2h'], /^skein: --since .* is after --until/],
      [['span', TRACE_A, '--local', '.'], /^skein: unknown query 'span'/],
      [['trace'], /^skein: missing the trace id/],
    ])('rejects %j with exit 2 and a one-line reason', async (args, reason) => {
      const io = captureIo();
      expect(await queryCommand(args, io)).toBe(2);
      expect(io.err()).toMatch(reason);
      expect(io.out()).toBe('');
    });

    it('colours a TTY unless NO_COLOR is set', async () => {
      const tty = captureIo({ isTTY: true });
      await queryCommand(['trace', TRACE_A, '--local', dir], tty);
      expect(tty.out()).toContain('\x1b[');
      const noColour = captureIo({ isTTY: true, env: { NO_COLOR: '1' } });
      await queryCommand(['trace', TRACE_A, '--local', dir], noColour);
      expect(noColour.out()).not.toContain('\x1b[');
    });
  });
});

describe('the lookup stats line', () => {
  const stats: LookupStats = {
    mode: 'index',
    objectsOpened: 2,
    objectKeys: [],
    bytesRead: 2048,
    dataBytesRead: 1024,
    indexBytesRead: 1024,
    rowGroupsRead: 2,
    rowGroupsTotal: 4,
    indexObjectsRead: 1,
    indexKeys: [],
    retriedCopiesDropped: 0,
    latencyMs: 12.4,
  };

  it('says how many retried copies were read but not shown, only when there were some', () => {
    expect(formatLookupStats(stats)).toBe(
      '2 objects opened, 2.0 KB read (data 1.0 KB, index 1.0 KB), 2/4 row groups, 1 index object, 12 ms',
    );
    expect(formatLookupStats({ ...stats, retriedCopiesDropped: 7 })).toBe(
      '2 objects opened, 2.0 KB read (data 1.0 KB, index 1.0 KB), 2/4 row groups, 1 index object, 7 retried copies not shown, 12 ms',
    );
  });
});
