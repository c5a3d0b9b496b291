import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { tableFromIPC } from 'apache-arrow';
import fc from 'fast-check';
import * as pw from 'parquet-wasm/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ParquetWriteError,
  type ParquetWriteOptions,
  writeParquet,
} from '../../functions/shared/parquet/parquet-writer.ts';
import type { ColumnDef } from '../../schemas/columns.ts';
import {
  columnMetaData,
  DATA_PAGE,
  DICTIONARY_PAGE,
  field,
  footerOf,
  list,
  pageTypes,
} from '../support/parquet-footer.ts';

// ---- Fixtures ------------------------------------------------------------------------------------------------------

/** Every column type, nullable and not, plain and dictionary. */
const COLUMNS = [
  { name: 'trace_id', type: 'string', nullable: true, fullStatistics: true, comment: 'sorted lookup key' },
  { name: 'service', type: 'string', nullable: true, dictionary: true, comment: 'low cardinality' },
  { name: 'body', type: 'string', nullable: false, comment: 'free text' },
  { name: 'ordinal', type: 'int32', nullable: false, comment: 'row position' },
  { name: 'delta', type: 'int32', nullable: true, comment: 'signed int' },
  { name: 'nanos', type: 'int64', nullable: true, comment: 'beyond 2^53' },
  { name: 'time', type: 'timestamp_ms', nullable: false, comment: 'epoch ms' },
  { name: 'ok', type: 'boolean', nullable: true, comment: 'flag' },
] as const satisfies readonly ColumnDef[];

interface TestRow {
  trace_id: string | null;
  service: string | null;
  body: string;
  ordinal: number;
  delta: number | null;
  nanos: bigint | null;
  time: number;
  ok: boolean | null;
  [column: string]: unknown;
}

/** A valid row; override what the test is about. */
function aRow(overrides: Partial<TestRow> = {}): TestRow {
  return {
    trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
    service: 'checkout',
    body: 'order accepted',
    ordinal: 0,
    delta: -1,
    nanos: 1_767_225_600_123_456_789n,
    time: 1_767_225_600_123,
    ok: true,
    ...overrides,
  };
}

const EDGE_ROWS: TestRow[] = [
  aRow({ ordinal: 0 }),
  aRow({ ordinal: 1, trace_id: null, service: null, delta: null, nanos: null, ok: null }),
  aRow({ ordinal: 2, body: '', trace_id: '', service: '' }),
  aRow({ ordinal: 3, body: 'Grüße, 世界 — 🚀 and 👩‍👩‍👧', service: 'zürich-🚀' }),
  aRow({ ordinal: 4, delta: -2_147_483_648, nanos: -9_223_372_036_854_775_808n, time: -86_400_000, ok: false }),
  aRow({ ordinal: 5, delta: 2_147_483_647, nanos: 9_223_372_036_854_775_807n, time: 253_402_300_799_999 }),
  aRow({ ordinal: 6, nanos: 2n ** 53n + 1n, time: 0 }),
];

function hex(random: () => number, length: number): string {
  let s = '';
  for (let k = 0; k < length; k++) s += ((random() * 16) | 0).toString(16);
  return s;
}

function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
    return state / 4_294_967_296;
  };
}

/** `traces` trace ids of `rowsPerTrace` rows each, sorted by trace id like the ingest output. */
function sortedTraceRows(traces: number, rowsPerTrace: number): TestRow[] {
  const random = seeded(7);
  const ids = Array.from({ length: traces }, () => hex(random, 32)).sort();
  return ids.flatMap((traceId, t) =>
    Array.from({ length: rowsPerTrace }, (_unused, r) =>
      aRow({ trace_id: traceId, ordinal: t * rowsPerTrace + r, body: `event ${r} of ${traceId}` }),
    ),
  );
}

// ---- DuckDB and file plumbing --------------------------------------------------------------------------------------

let directory = '';
let instance: DuckDBInstance;
let duckdb: DuckDBConnection;
let fileCount = 0;

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'skein-parquet-'));
  instance = await DuckDBInstance.create(':memory:');
  duckdb = await instance.connect();
});

afterAll(async () => {
  duckdb.closeSync();
  instance.closeSync();
  await rm(directory, { recursive: true, force: true });
});

function writeFile(bytes: Uint8Array): string {
  fileCount++;
  const path = join(directory, `file-${fileCount}.parquet`);
  writeFileSync(path, bytes);
  return path;
}

async function query(sql: string): Promise<Record<string, unknown>[]> {
  const reader = await duckdb.runAndReadAll(sql);
  return reader.getRowObjectsJS();
}

/** The test columns back from DuckDB in file order, timestamps as epoch ms. */
async function readBack(path: string): Promise<Record<string, unknown>[]> {
  return query(
    `SELECT trace_id, service, body, ordinal, delta, nanos, epoch_ms(time) AS time, ok
     FROM read_parquet('${path}', file_row_number = true) ORDER BY file_row_number`,
  );
}

function expectedBack(rows: readonly TestRow[]): Record<string, unknown>[] {
  return rows.map((row) => ({
    trace_id: row.trace_id,
    service: row.service,
    body: row.body,
    ordinal: row.ordinal,
    delta: row.delta,
    nanos: row.nanos,
    time: BigInt(row.time),
    ok: row.ok,
  }));
}

async function chunkMetadata(path: string): Promise<Record<string, unknown>[]> {
  return query(`SELECT * FROM parquet_metadata('${path}') ORDER BY row_group_id, column_id`);
}

// ---- Tests ---------------------------------------------------------------------------------------------------------

describe('writeParquet', () => {
  it.each(['gzip', 'none'] as const)(
    'round-trips nulls, unicode, empty strings, extreme ints and timestamps through DuckDB (%s)',
    async (compression) => {
      // Prepare
      const options: ParquetWriteOptions = { rowGroupRows: 3, compression };

      // Act
      const path = writeFile(writeParquet(COLUMNS, EDGE_ROWS, options));

      // Assess
      expect(await readBack(path)).toEqual(expectedBack(EDGE_ROWS));
    },
  );

  it.each(['gzip', 'none'] as const)(
    'writes files the Rust implementation (parquet-wasm / arrow-rs) reads (%s)',
    (compression) => {
      // Prepare
      const bytes = writeParquet(COLUMNS, EDGE_ROWS, { rowGroupRows: 4, compression });

      // Act
      const table = tableFromIPC(pw.readParquet(bytes).intoIPCStream());

      // Assess
      expect(table.numRows).toBe(EDGE_ROWS.length);
      expect(table.schema.fields.map((f) => [f.name, String(f.type), f.nullable])).toEqual([
        ['trace_id', 'Utf8', true],
        ['service', 'Utf8', true],
        ['body', 'Utf8', false],
        ['ordinal', 'Int32', false],
        ['delta', 'Int32', true],
        ['nanos', 'Int64', true],
        ['time', 'Timestamp<MILLISECOND, UTC>', false],
        ['ok', 'Bool', true],
      ]);
      expect(table.getChild('body')?.get(3)).toBe('Grüße, 世界 — 🚀 and 👩‍👩‍👧');
      expect(table.getChild('service')?.get(3)).toBe('zürich-🚀');
      expect(table.getChild('trace_id')?.get(1)).toBeNull();
      expect(table.getChild('delta')?.get(4)).toBe(-2_147_483_648);
      expect(table.getChild('nanos')?.get(4)).toBe(-9_223_372_036_854_775_808n);
      expect(table.getChild('nanos')?.get(6)).toBe(2n ** 53n + 1n);
      expect(table.getChild('time')?.get(4)).toBe(-86_400_000);
      expect(table.getChild('ok')?.get(4)).toBe(false);
    },
  );

  it('writes only V1 DATA_PAGEs, behind a PLAIN dictionary page for dictionary columns', async () => {
    // Prepare
    const rows = sortedTraceRows(40, 25).map((row, i) => ({ ...row, service: i % 7 === 0 ? null : `svc-${i % 3}` }));

    // Act
    const bytes = writeParquet(COLUMNS, rows, { rowGroupRows: 400, compression: 'gzip' });

    // Assess
    const chunks = columnMetaData(footerOf(bytes)).flat();
    expect(chunks).toHaveLength(3 * COLUMNS.length);
    for (const meta of chunks) {
      const types = pageTypes(bytes, meta);
      const path = list(meta.get(3)).map((name) => (name instanceof Uint8Array ? Buffer.from(name).toString() : ''));
      if (path[0] === 'service') expect(types).toEqual([DICTIONARY_PAGE, DATA_PAGE]);
      else expect(types).toEqual([DATA_PAGE]);
    }
    const encodings = await query(
      `SELECT DISTINCT path_in_schema, encodings FROM parquet_metadata('${writeFile(bytes)}') ORDER BY 1`,
    );
    expect(encodings).toContainEqual({ path_in_schema: 'service', encodings: 'PLAIN, RLE, RLE_DICTIONARY' });
    expect(encodings).toContainEqual({ path_in_schema: 'body', encodings: 'PLAIN, RLE' });
  });

  it('declares the physical and logical types Athena and Spark map to string, int, bigint, timestamp, boolean', async () => {
    // Prepare
    const path = writeFile(writeParquet(COLUMNS, EDGE_ROWS, { rowGroupRows: 10 }));

    // Act
    const schema = await query(
      `SELECT name, type, repetition_type, converted_type, logical_type, duckdb_type
       FROM parquet_schema('${path}') WHERE type IS NOT NULL`,
    );

    // Assess
    const byName = new Map(schema.map((row) => [row.name, row]));
    expect(byName.get('trace_id')).toMatchObject({
      type: 'BYTE_ARRAY',
      repetition_type: 'OPTIONAL',
      converted_type: 'UTF8',
      logical_type: 'StringType()',
    });
    expect(byName.get('body')).toMatchObject({ repetition_type: 'REQUIRED', duckdb_type: 'VARCHAR' });
    expect(byName.get('ordinal')).toMatchObject({ type: 'INT32', converted_type: 'INT_32', duckdb_type: 'INTEGER' });
    expect(byName.get('nanos')).toMatchObject({ type: 'INT64', converted_type: 'INT_64', duckdb_type: 'BIGINT' });
    expect(byName.get('time')).toMatchObject({
      type: 'INT64',
      converted_type: 'TIMESTAMP_MILLIS',
      duckdb_type: 'TIMESTAMP WITH TIME ZONE',
    });
    expect(String(byName.get('time')?.logical_type)).toContain('isAdjustedToUTC=1');
    expect(String(byName.get('time')?.logical_type)).toContain('MILLIS=MilliSeconds()');
    expect(byName.get('ok')).toMatchObject({ type: 'BOOLEAN', duckdb_type: 'BOOLEAN' });
    const file = await query(`SELECT column_orders, format_version FROM parquet_file_metadata('${path}')`);
    expect(file[0]?.format_version).toBe(1n);
    expect(file[0]?.column_orders).toEqual(Array(COLUMNS.length).fill('ColumnOrder(TYPE_ORDER=TypeDefinedOrder())'));
  });

  it('keeps a 300-byte string whole in the min/max statistics', async () => {
    // Prepare
    const long = `${'f'.repeat(299)}z`;
    const rows = [aRow({ trace_id: long }), aRow({ trace_id: `0${'a'.repeat(299)}` })];

    // Act
    const bytes = writeParquet(COLUMNS, rows, { rowGroupRows: 10 });

    // Assess
    const [stats] = await query(
      `SELECT stats_min_value, stats_max_value, min_is_exact, max_is_exact, stats_null_count
       FROM parquet_metadata('${writeFile(bytes)}') WHERE path_in_schema = 'trace_id'`,
    );
    expect(stats).toEqual({
      stats_min_value: `0${'a'.repeat(299)}`,
      stats_max_value: long,
      min_is_exact: true,
      max_is_exact: true,
      stats_null_count: 0n,
    });
    // Raw Statistics: min_value/max_value (6/5) only; the signed-order legacy min/max (2/1) are not set for strings.
    const raw = columnMetaData(footerOf(bytes))[0]?.[0]?.get(12);
    const maxValue = field(raw, 5);
    expect(maxValue instanceof Uint8Array && maxValue.length).toBe(300);
    expect(field(raw, 1)).toBeUndefined();
    expect(field(raw, 2)).toBeUndefined();
  });

  it('sets legacy and new statistics for numbers, and distinct counts for dictionary columns', async () => {
    // Prepare
    const path = writeFile(writeParquet(COLUMNS, EDGE_ROWS, { rowGroupRows: 100 }));

    // Act
    const stats = await query(
      `SELECT path_in_schema AS name, stats_min, stats_max, stats_min_value, stats_max_value, stats_null_count,
              stats_distinct_count
       FROM parquet_metadata('${path}')`,
    );

    // Assess
    const byName = new Map(stats.map((row) => [row.name, row]));
    expect(byName.get('delta')).toMatchObject({
      stats_min: '-2147483648',
      stats_max: '2147483647',
      stats_min_value: '-2147483648',
      stats_max_value: '2147483647',
      stats_null_count: 1n,
    });
    expect(byName.get('nanos')).toMatchObject({
      stats_min_value: '-9223372036854775808',
      stats_max_value: '9223372036854775807',
    });
    expect(byName.get('ok')).toMatchObject({ stats_min_value: 'false', stats_max_value: 'true', stats_null_count: 1n });
    expect(byName.get('service')).toMatchObject({
      stats_min_value: '',
      stats_max_value: 'zürich-🚀',
      stats_distinct_count: 3n,
      stats_null_count: 1n,
    });
  });

  it('splits rows into row groups of rowGroupRows', async () => {
    // Prepare
    const rows = sortedTraceRows(35, 100);

    // Act
    const path = writeFile(writeParquet(COLUMNS, rows, { rowGroupRows: 1000 }));

    // Assess
    const groups = await query(
      `SELECT DISTINCT row_group_id, row_group_num_rows FROM parquet_metadata('${path}') ORDER BY row_group_id`,
    );
    expect(groups).toEqual([
      { row_group_id: 0n, row_group_num_rows: 1000n },
      { row_group_id: 1n, row_group_num_rows: 1000n },
      { row_group_id: 2n, row_group_num_rows: 1000n },
      { row_group_id: 3n, row_group_num_rows: 500n },
    ]);
  });

  it('writes min/max only on the minMaxColumns, null counts on every column, the same pages, a smaller footer', async () => {
    // Prepare
    const rows = sortedTraceRows(20, 50);
    const full = writeParquet(COLUMNS, rows, { rowGroupRows: 100 });

    // Act
    const keysOnly = writeParquet(COLUMNS, rows, { rowGroupRows: 100, minMaxColumns: ['trace_id'] });

    // Assess
    const stats = await query(
      `SELECT DISTINCT path_in_schema, stats_min_value IS NOT NULL OR stats_min IS NOT NULL AS has_min,
         stats_max_value IS NOT NULL OR stats_max IS NOT NULL AS has_max, stats_null_count IS NOT NULL AS has_nulls
       FROM parquet_metadata('${writeFile(keysOnly)}') ORDER BY path_in_schema`,
    );
    expect(stats).toEqual(
      COLUMNS.map((c) => c.name)
        .sort()
        .map((name) => ({
          path_in_schema: name,
          has_min: name === 'trace_id',
          has_max: name === 'trace_id',
          has_nulls: true,
        })),
    );
    const footerOf = (bytes: Uint8Array) => Buffer.from(bytes).readUInt32LE(bytes.length - 8);
    expect(footerOf(keysOnly)).toBeLessThan(footerOf(full));
    // Everything before the footer (the pages) is byte for byte the same.
    const pages = (bytes: Uint8Array) => Buffer.from(bytes.subarray(0, bytes.length - 8 - footerOf(bytes)));
    expect(pages(keysOnly).equals(pages(full))).toBe(true);
    expect(await readBack(writeFile(keysOnly))).toEqual(await readBack(writeFile(full)));
    const lookup = await query(
      `SELECT count(*) AS n FROM '${writeFile(keysOnly)}' WHERE trace_id = '${rows[333]?.trace_id ?? ''}'`,
    );
    expect(lookup).toEqual([{ n: 50n }]);
  });

  it('prunes row groups by trace_id min/max: a lookup never touches the other row groups', async () => {
    // Prepare: sorted trace ids, 10 row groups; then overwrite every page of every other row group with garbage.
    const rows = sortedTraceRows(50, 20);
    const bytes = writeParquet(COLUMNS, rows, { rowGroupRows: 100, compression: 'gzip' });
    const metadata = await chunkMetadata(writeFile(bytes));
    const traceStats = metadata.filter((row) => row.path_in_schema === 'trace_id');
    const target = rows[450]?.trace_id ?? '';
    const corrupted = Buffer.from(bytes);
    for (const chunk of metadata) {
      if (chunk.row_group_id === 4n) continue;
      const start = Number(chunk.dictionary_page_offset ?? chunk.data_page_offset);
      corrupted.fill(0xff, start, start + Number(chunk.total_compressed_size));
    }
    const path = writeFile(corrupted);

    // Act
    const found = await query(`SELECT ordinal FROM read_parquet('${path}') WHERE trace_id = '${target}'`);

    // Assess
    traceStats.forEach((stats, g) => {
      expect(stats.stats_min_value).toBe(rows[g * 100]?.trace_id);
      expect(stats.stats_max_value).toBe(rows[g * 100 + 99]?.trace_id);
    });
    expect(found.map((row) => row.ordinal)).toEqual(Array.from({ length: 20 }, (_unused, k) => 440 + k));
    await expect(query(`SELECT sum(length(body)) FROM read_parquet('${path}')`)).rejects.toThrow();
  });

  it('splits a column chunk into pages of about 1 MiB, compressed and not', async () => {
    // Prepare: ~3 MiB of bodies mixing long repeats (copies > 64 bytes) with incompressible hex.
    const random = seeded(11);
    const rows = Array.from({ length: 3000 }, (_unused, i) =>
      aRow({ ordinal: i, body: `${'abcdefgh'.repeat(60)}${hex(random, 500)}${'é'.repeat(i % 50)}` }),
    );

    for (const compression of ['gzip', 'none'] as const) {
      // Act
      const bytes = writeParquet(COLUMNS, rows, { rowGroupRows: 5000, compression });

      // Assess
      const bodyChunk = columnMetaData(footerOf(bytes))[0]?.[2];
      expect(bodyChunk && pageTypes(bytes, bodyChunk)).toEqual([DATA_PAGE, DATA_PAGE, DATA_PAGE]);
      expect(await readBack(writeFile(bytes))).toEqual(expectedBack(rows));
    }
  });

  it('falls back to PLAIN when a dictionary column has too many distinct values', async () => {
    // Prepare: ~1.5 MiB of distinct values in a dictionary column.
    const rows = Array.from({ length: 5000 }, (_unused, i) => aRow({ ordinal: i, service: `${i}-${'s'.repeat(300)}` }));

    // Act
    const path = writeFile(writeParquet(COLUMNS, rows, { rowGroupRows: 5000 }));

    // Assess
    const [service] = await query(
      `SELECT encodings, dictionary_page_offset FROM parquet_metadata('${path}') WHERE path_in_schema = 'service'`,
    );
    expect(service).toEqual({ encodings: 'PLAIN, RLE', dictionary_page_offset: null });
    expect(await readBack(path)).toEqual(expectedBack(rows));
  });

  it('dictionary-encodes a column with over 256 distinct values (index bit width 10)', async () => {
    // Prepare: runs of equal values (RLE runs) between scattered ones (bit-packed runs), and nulls.
    const rows = Array.from({ length: 4000 }, (_unused, i) =>
      aRow({ ordinal: i, service: i % 13 === 0 ? null : i < 1000 ? 'steady' : `svc-${(i * 7919) % 1000}` }),
    );

    // Act
    const path = writeFile(writeParquet(COLUMNS, rows, { rowGroupRows: 4000, compression: 'gzip' }));

    // Assess
    const [service] = await query(
      `SELECT encodings, stats_distinct_count FROM parquet_metadata('${path}') WHERE path_in_schema = 'service'`,
    );
    const distinct = new Set(rows.flatMap((row) => (row.service === null ? [] : [row.service]))).size;
    expect(distinct).toBeGreaterThan(512);
    expect(service).toEqual({ encodings: 'PLAIN, RLE, RLE_DICTIONARY', stats_distinct_count: BigInt(distinct) });
    expect(await readBack(path)).toEqual(expectedBack(rows));
  });

  it('writes a readable file with no rows', async () => {
    // Prepare / Act
    const bytes = writeParquet(COLUMNS, [], { rowGroupRows: 10 });

    // Assess
    expect(await readBack(writeFile(bytes))).toEqual([]);
    expect(pw.readParquet(bytes).numBatches).toBe(0);
  });

  it('records created_by and key/value metadata in the footer', async () => {
    // Prepare
    const options = { rowGroupRows: 10, createdBy: 'skein version 9.9.9', keyValueMetadata: { table: 'logs' } };

    // Act
    const path = writeFile(writeParquet(COLUMNS, EDGE_ROWS, options));

    // Assess
    const [file] = await query(`SELECT created_by FROM parquet_file_metadata('${path}')`);
    const keyValues = await query(
      `SELECT decode(key) AS key, decode(value) AS value FROM parquet_kv_metadata('${path}')`,
    );
    expect(file?.created_by).toBe('skein version 9.9.9');
    expect(keyValues).toEqual([{ key: 'table', value: 'logs' }]);
  });

  describe('rejects rows that do not fit the columns', () => {
    it.each([
      ['a null in a REQUIRED column', { body: null }, /column "body" is REQUIRED .* row 1/],
      ['a missing REQUIRED value', { time: undefined }, /column "time" is REQUIRED/],
      [
        'a number in a string column',
        { trace_id: 42 },
        /column "trace_id" \(string\) expects a string but row 1 has a number/,
      ],
      ['an int32 overflow', { ordinal: 2 ** 31 }, /column "ordinal" \(int32\) .* out of range or not an integer/],
      ['a fractional int32', { delta: 1.5 }, /column "delta" \(int32\)/],
      ['a number in an int64 column', { nanos: 5 }, /column "nanos" \(int64\) expects a bigint/],
      ['an int64 overflow', { nanos: 2n ** 63n }, /column "nanos" \(int64\)/],
      ['a Date in a timestamp column', { time: new Date(0) }, /column "time" \(timestamp_ms\) .* has a object/],
      ['a string in a dictionary column that is a number', { service: 7 }, /column "service" \(string\)/],
    ])('%s', (_label, override, message) => {
      // Prepare
      const rows = [aRow(), { ...aRow(), ...override }];

      // Act
      const act = () => writeParquet(COLUMNS, rows, { rowGroupRows: 10 });

      // Assess
      expect(act).toThrow(ParquetWriteError);
      expect(act).toThrow(message);
    });

    it('rejects a non-positive rowGroupRows and duplicate column names', () => {
      expect(() => writeParquet(COLUMNS, [], { rowGroupRows: 0 })).toThrow(/rowGroupRows must be a positive integer/);
      expect(() => writeParquet([...COLUMNS, COLUMNS[0]], [], { rowGroupRows: 1 })).toThrow(/appears twice/);
      expect(() => writeParquet(COLUMNS, [], { rowGroupRows: 1, minMaxColumns: ['trace'] })).toThrow(
        /minMaxColumns names "trace", which is not a column/,
      );
    });
  });

  it('round-trips random rows through DuckDB with exact per-row-group min/max (property)', async () => {
    const optional = <T>(arbitrary: fc.Arbitrary<T>) => fc.option(arbitrary, { nil: null, freq: 4 });
    const text = fc.string({ unit: 'grapheme', maxLength: 30 });
    const row = fc.record({
      trace_id: optional(fc.oneof(text, fc.string({ unit: 'binary-ascii', maxLength: 40 }))),
      service: optional(fc.constantFrom('', 'a', 'b', 'zürich', '🚀', '\uffff')),
      body: fc.oneof(text, fc.string({ unit: 'grapheme-ascii' })),
      ordinal: fc.integer(),
      delta: optional(fc.integer()),
      nanos: optional(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })),
      time: fc.integer({ min: -62_135_596_800_000, max: 253_402_300_799_999 }),
      ok: optional(fc.boolean()),
    });
    const byUtf8 = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

    await fc.assert(
      fc.asyncProperty(
        fc.array(row, { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 1, max: 25 }),
        fc.constantFrom('gzip', 'none'),
        async (rows, rowGroupRows, compression) => {
          // Act
          const path = writeFile(writeParquet(COLUMNS, rows, { rowGroupRows, compression }));

          // Assess
          expect(await readBack(path)).toEqual(expectedBack(rows));
          const stats = await query(
            `SELECT row_group_id, stats_min_value, stats_max_value FROM parquet_metadata('${path}')
             WHERE path_in_schema = 'body' ORDER BY row_group_id`,
          );
          stats.forEach((group, g) => {
            const bodies = rows.slice(g * rowGroupRows, (g + 1) * rowGroupRows).map((r) => r.body);
            const sorted = [...bodies].sort(byUtf8);
            expect([group.stats_min_value, group.stats_max_value]).toEqual([sorted[0], sorted.at(-1)]);
          });
        },
      ),
      { numRuns: 40 },
    );
  });
});

/** Files written by this suite stay readable from disk too (guards against returning a reused buffer). */
it('returns bytes that stay valid after the next write', async () => {
  // Prepare
  const first = writeParquet(COLUMNS, EDGE_ROWS, { rowGroupRows: 10, compression: 'none' });
  const copy = Uint8Array.from(first);

  // Act
  writeParquet(COLUMNS, sortedTraceRows(5, 5), { rowGroupRows: 10, compression: 'none' });

  // Assess
  expect(Buffer.from(first).equals(copy)).toBe(true);
  expect(readFileSync(writeFile(first)).length).toBe(first.length);
});
