import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  BASE_TABLES,
  lookupHitsSql,
  lookupRowsSql,
  namedLookupQuery,
  sqlStringLiteral,
  viewColumns,
  viewSql,
} from '../../../query/named-queries.ts';
import { type ColumnType, TABLES, TRACE_INDEX_COLUMNS } from '../../../schemas/columns.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const OTHER_TRACE = '0af7651916cd43dd8448eb211c80319c';
const NOW = Date.parse('2025-11-25T10:30:00Z');

const DUCKDB_TYPE: Record<ColumnType, string> = {
  string: 'VARCHAR',
  int32: 'INTEGER',
  int64: 'BIGINT',
  timestamp_ms: 'TIMESTAMP',
  boolean: 'BOOLEAN',
};

/**
 * A DuckDB catalogue shaped like the Glue one: base tables with their partition columns and Athena's `"$path"`,
 * the manifests table, and the views created from the very SQL the stack stores. `regexp_like` and `to_utf8` are
 * Trino names; the macros map them onto DuckDB.
 */
async function catalogue(): Promise<{ instance: DuckDBInstance; connection: DuckDBConnection }> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  await connection.run('CREATE SCHEMA skein');
  await connection.run('CREATE MACRO regexp_like(s, p) AS regexp_matches(s, p)');
  await connection.run('CREATE MACRO to_utf8(s) AS s');
  for (const table of ['logs', 'spans'] as const) {
    const columns = TABLES[table].map((c) => `"${c.name}" ${DUCKDB_TYPE[c.type]}`);
    await connection.run(
      `CREATE TABLE skein.${BASE_TABLES[table]} (${[...columns, 'dt VARCHAR', 'hour VARCHAR', '"$path" VARCHAR'].join(', ')})`,
    );
  }
  const index = TRACE_INDEX_COLUMNS.map((c) => `"${c.name}" ${DUCKDB_TYPE[c.type]}`);
  await connection.run(
    `CREATE TABLE skein.${BASE_TABLES.trace_index} (${[...index, 'dt VARCHAR', 'hour VARCHAR', '"$path" VARCHAR'].join(', ')})`,
  );
  await connection.run(
    `CREATE TABLE skein.${BASE_TABLES.traceIndexCompacted} (${[...index, 'bucket VARCHAR', 'dt VARCHAR', '"$path" VARCHAR'].join(', ')})`,
  );
  await connection.run(
    `CREATE TABLE skein.${BASE_TABLES.manifests} (version INTEGER, generation BIGINT, sources VARCHAR[], outputs VARCHAR[], "rows" BIGINT, created_at VARCHAR, "table" VARCHAR, dt VARCHAR, hour VARCHAR)`,
  );
  for (const view of ['logs', 'spans', 'trace_index'] as const) {
    await connection.run(`CREATE VIEW skein.${view} AS ${viewSql(view)}`);
  }
  return { instance, connection };
}

const literal = (v: string | number | boolean | undefined) =>
  v === undefined ? 'NULL' : typeof v === 'string' ? sqlStringLiteral(v) : String(v);

function insert(table: string, names: readonly string[], values: Record<string, string | number | boolean>): string {
  return `INSERT INTO skein.${table} (${names.map((n) => `"${n}"`).join(', ')}) VALUES (${names.map((n) => literal(values[n])).join(', ')})`;
}

const BASE_ROW = {
  source_format: 'json-lines',
  shard_id: 'shardId-000000000000',
  sequence_number: '1',
  sub_sequence_number: 0,
  record_ordinal: 0,
  arrival_time: '2025-11-25 10:00:02',
  resource_attributes: '{}',
  attributes: '{}',
};

function logRow(key: string, body: string, extra: Record<string, string | number> = {}): string {
  const [, dt = '', hour = ''] = /dt=([^/]+)\/hour=([^/]+)\//.exec(key) ?? [];
  return insert(BASE_TABLES.logs, [...TABLES.logs.map((c) => c.name), 'dt', 'hour', '$path'], {
    ...BASE_ROW,
    trace_id: TRACE,
    time: '2025-11-25 10:00:01.500',
    time_unix_nano: 1_764_064_801_500_000_000,
    observed_time_unix_nano: 1_764_064_801_600_000_000,
    severity_number: 9,
    severity_text: 'INFO',
    body,
    service_name: 'checkout',
    ...extra,
    dt,
    hour,
    $path: `s3://skein-data-example/${key}`,
  });
}

function spanRow(key: string, spanId: string, extra: Record<string, string | number> = {}): string {
  const [, dt = '', hour = ''] = /dt=([^/]+)\/hour=([^/]+)\//.exec(key) ?? [];
  return insert(BASE_TABLES.spans, [...TABLES.spans.map((c) => c.name), 'dt', 'hour', '$path'], {
    ...BASE_ROW,
    source_format: 'otlp-json',
    trace_id: TRACE,
    span_id: spanId,
    start_time: '2025-11-25 10:00:01.500',
    start_time_unix_nano: 1_764_064_801_500_000_000,
    end_time_unix_nano: 1_764_064_801_600_000_000,
    duration_nano: 100_000_000,
    name: 'GET /cart',
    kind: 'SERVER',
    status_code: 'UNSET',
    service_name: 'checkout',
    events: '[]',
    links: '[]',
    ...extra,
    dt,
    hour,
    $path: `s3://skein-data-example/${key}`,
  });
}

function manifest(table: string, dt: string, hour: string, generation: number, sources: string[], outputs: string[]) {
  const list = (keys: string[]) => `[${keys.map(sqlStringLiteral).join(', ')}]::VARCHAR[]`;
  return `INSERT INTO skein.${BASE_TABLES.manifests} VALUES (1, ${generation}, ${list(sources)}, ${list(outputs)}, 0, '2025-11-25T11:00:00Z', '${table}', '${dt}', '${hour}')`;
}

const PARTITION = 'tables/logs/dt=2025-11-25/hour=10/';

describe('views over compacted and uncompacted objects', () => {
  let instance: DuckDBInstance;
  let connection: DuckDBConnection;
  const bodies = async (sql = 'SELECT body FROM skein.logs ORDER BY body') =>
    (await connection.runAndReadAll(sql)).getRowObjectsJson().map((r) => r.body);

  beforeEach(async () => {
    ({ instance, connection } = await catalogue());
  });
  afterEach(() => {
    connection.closeSync();
    instance.closeSync();
  });

  it('show every raw object of an hour no manifest covers', async () => {
    // Prepare
    await connection.run(logRow(`${PARTITION}shard-1.parquet`, 'a'));
    await connection.run(logRow(`${PARTITION}shard-2.parquet`, 'b'));
    // A compacted object without a manifest is a compactor that has not committed yet: invisible.
    await connection.run(logRow(`${PARTITION}compacted-g1-aaaaaaaaaaaa-0000.parquet`, 'a+b'));

    // Act
    const visible = await bodies();

    // Assess
    expect(visible).toEqual(['a', 'b']);
  });

  it('show the outputs of the highest generation instead of the raw objects it covers, and late raw objects', async () => {
    // Prepare
    const raw = [`${PARTITION}shard-1.parquet`, `${PARTITION}shard-2.parquet`, `${PARTITION}shard-3.parquet`];
    for (const [i, key] of raw.entries()) await connection.run(logRow(key, `raw-${i + 1}`));
    const gen1 = `${PARTITION}compacted-g1-aaaaaaaaaaaa-0000.parquet`;
    const gen2 = `${PARTITION}compacted-g2-bbbbbbbbbbbb-0000.parquet`;
    await connection.run(logRow(gen1, 'gen1-of-1'));
    await connection.run(logRow(gen2, 'gen2-of-1'));
    await connection.run(logRow(gen2, 'gen2-of-2'));
    await connection.run(manifest('logs', '2025-11-25', '10', 1, [raw[0] ?? ''], [gen1]));
    await connection.run(manifest('logs', '2025-11-25', '10', 2, raw.slice(0, 2), [gen2]));
    // The manifest of another table and of another hour do not apply.
    await connection.run(manifest('spans', '2025-11-25', '10', 3, raw, []));
    await connection.run(manifest('logs', '2025-11-25', '11', 9, raw, []));

    // Act
    const visible = await bodies();

    // Assess
    expect(visible).toEqual(['gen2-of-1', 'gen2-of-2', 'raw-3']);
  });

  it('let predicates on dt and hour through to the rows', async () => {
    await connection.run(logRow(`${PARTITION}shard-1.parquet`, 'in'));
    await connection.run(logRow('tables/logs/dt=2025-11-25/hour=11/shard-1.parquet', 'out'));

    expect(await bodies(`SELECT body FROM skein.logs WHERE dt = '2025-11-25' AND hour = '10'`)).toEqual(['in']);
  });

  it('show a span a producer sent twice once per arrival hour (the copy first on the stream), and logs as stored', async () => {
    // Prepare: a span and its retried copy in one hour (two batch objects), another copy an hour later
    const hour10 = 'tables/spans/dt=2025-11-25/hour=10/';
    await connection.run(spanRow(`${hour10}shard-1.parquet`, '00f067aa0ba902b7', { sequence_number: '20' }));
    await connection.run(spanRow(`${hour10}shard-2.parquet`, '00f067aa0ba902b7', { sequence_number: '9' }));
    await connection.run(
      spanRow(`${hour10}shard-2.parquet`, '00f067aa0ba902b8', { sequence_number: '9', record_ordinal: 1 }),
    );
    await connection.run(
      spanRow('tables/spans/dt=2025-11-25/hour=11/shard-1.parquet', '00f067aa0ba902b7', { sequence_number: '30' }),
    );
    await connection.run(logRow(`${PARTITION}shard-1.parquet`, 'same line', { sequence_number: '1' }));
    await connection.run(logRow(`${PARTITION}shard-2.parquet`, 'same line', { sequence_number: '2' }));

    // Act
    const spans = (
      await connection.runAndReadAll('SELECT span_id, sequence_number, hour FROM skein.spans ORDER BY hour, span_id')
    ).getRowObjectsJson();
    const inHour10 = (
      await connection.runAndReadAll(`SELECT count(*) AS n FROM skein.spans WHERE dt = '2025-11-25' AND hour = '10'`)
    ).getRowObjectsJson();

    // Assess
    expect(spans).toEqual([
      { span_id: '00f067aa0ba902b7', sequence_number: '9', hour: '10' },
      { span_id: '00f067aa0ba902b8', sequence_number: '9', hour: '10' },
      { span_id: '00f067aa0ba902b7', sequence_number: '30', hour: '11' },
    ]);
    expect(inHour10).toEqual([{ n: '2' }]);
    expect(await bodies()).toEqual(['same line', 'same line']);
    expect(viewColumns('spans').map((c) => c.name)).toEqual([...TABLES.spans.map((c) => c.name), 'dt', 'hour']);
  });

  it('present a compacted index row once the manifest of its own hour lists its bucket object', async () => {
    // Prepare
    const names = [...TRACE_INDEX_COLUMNS.map((c) => c.name)];
    const indexRow = (hour: string, source: string) => ({
      id: TRACE,
      id_kind: 'trace',
      data_table: 'logs',
      first_time: `2025-11-25 ${hour}:00:01`,
      last_time: `2025-11-25 ${hour}:00:02`,
      services: 'checkout',
      span_count: 0,
      log_count: 1,
      error: false,
      data_dt: '2025-11-25',
      data_hour: hour,
      object_key: source,
    });
    const rawIndex = 'tables/trace_index/dt=2025-11-25/hour=10/shard-1.parquet';
    const lateIndex = 'tables/trace_index/dt=2025-11-25/hour=10/shard-9.parquet';
    const uncommittedIndex = 'tables/trace_index/dt=2025-11-25/hour=11/shard-1.parquet';
    const bucketObject = 'tables/trace_index/bucket=4b/dt=2025-11-25/index.parquet';
    for (const [key, hour, source] of [
      [rawIndex, '10', 'raw 10 (covered)'],
      [lateIndex, '10', 'raw 10 (late)'],
      [uncommittedIndex, '11', 'raw 11'],
    ] as const) {
      await connection.run(
        insert(BASE_TABLES.trace_index, [...names, 'dt', 'hour', '$path'], {
          ...indexRow(hour, source),
          dt: '2025-11-25',
          hour,
          $path: `s3://b/${key}`,
        }),
      );
    }
    // The bucket object already holds hour 11 too: merged, but its manifest is not written yet.
    for (const [hour, source] of [
      ['10', 'bucket 10'],
      ['11', 'bucket 11 (not committed)'],
    ] as const) {
      await connection.run(
        insert(BASE_TABLES.traceIndexCompacted, [...names, 'bucket', 'dt', '$path'], {
          ...indexRow(hour, source),
          bucket: '4b',
          dt: '2025-11-25',
          $path: `s3://b/${bucketObject}`,
        }),
      );
    }
    await connection.run(manifest('trace_index', '2025-11-25', '10', 1, [rawIndex], [bucketObject]));

    // Act
    const rows = (
      await connection.runAndReadAll('SELECT object_key, bucket FROM skein.trace_index ORDER BY object_key')
    ).getRowObjectsJson();

    // Assess
    expect(rows).toEqual([
      { object_key: 'bucket 10', bucket: '4b' },
      { object_key: 'raw 10 (late)', bucket: '4b' },
      { object_key: 'raw 11', bucket: '4b' },
    ]);
    expect(viewColumns('trace_index').map((c) => c.name)).toEqual([...names, 'bucket', 'dt']);
  });

  it('present the merged index objects of an hour not compacted yet instead of the per-batch objects they merge (D24)', async () => {
    // Prepare: hour 12 has per-batch objects a and b merged into m (generation 1), c arrived since, an orphan of a
    // crashed merge (generation 2, no manifest), and bucket rows of a compaction whose index manifest is not written.
    const names = [...TRACE_INDEX_COLUMNS.map((c) => c.name)];
    const prefix = 'tables/trace_index/dt=2025-11-25/hour=12/';
    const row = (source: string) => ({
      id: TRACE,
      id_kind: 'trace',
      data_table: 'logs',
      first_time: '2025-11-25 12:00:01',
      last_time: '2025-11-25 12:00:02',
      services: 'checkout',
      span_count: 0,
      log_count: 1,
      error: false,
      data_dt: '2025-11-25',
      data_hour: '12',
      object_key: source,
    });
    const files = [
      ['shard-a.parquet', 'a'],
      ['shard-b.parquet', 'b'],
      ['shard-c.parquet', 'c (since the merge)'],
      ['compacted-g1-0123456789ab-0000.parquet', 'a and b (merged)'],
      ['compacted-g2-ba9876543210-0000.parquet', 'orphan'],
    ] as const;
    for (const [name, source] of files) {
      await connection.run(
        insert(BASE_TABLES.trace_index, [...names, 'dt', 'hour', '$path'], {
          ...row(source),
          dt: '2025-11-25',
          hour: '12',
          $path: `s3://b/${prefix}${name}`,
        }),
      );
    }
    await connection.run(
      insert(BASE_TABLES.traceIndexCompacted, [...names, 'bucket', 'dt', '$path'], {
        ...row('bucket 12 (not committed)'),
        bucket: '4b',
        dt: '2025-11-25',
        $path: 's3://b/tables/trace_index/bucket=4b/dt=2025-11-25/index.parquet',
      }),
    );
    await connection.run(
      manifest(
        'trace_index',
        '2025-11-25',
        '12',
        1,
        [`${prefix}shard-a.parquet`, `${prefix}shard-b.parquet`],
        [`${prefix}compacted-g1-0123456789ab-0000.parquet`],
      ),
    );

    // Act
    const rows = (
      await connection.runAndReadAll('SELECT object_key FROM skein.trace_index ORDER BY object_key')
    ).getRowObjectsJson();

    // Assess
    expect(rows).toEqual([{ object_key: 'a and b (merged)' }, { object_key: 'c (since the merge)' }]);
  });
});

describe('the two-step lookup of the CLI', () => {
  it('finds the hit partitions in the compacted bucket and the recent index, then the rows there', async () => {
    const { instance, connection } = await catalogue();
    try {
      // Prepare: an old hour compacted into bucket 4b, a recent hour still raw, and the index rows naming both.
      const names = TRACE_INDEX_COLUMNS.map((c) => c.name);
      const hit = (dt: string, hour: string, table: string) => ({
        id: TRACE,
        id_kind: 'trace',
        data_table: table,
        first_time: `${dt} ${hour}:00:00`,
        last_time: `${dt} ${hour}:00:01`,
        services: 'checkout',
        span_count: 1,
        log_count: 1,
        error: false,
        data_dt: dt,
        data_hour: hour,
        object_key: `tables/${table}/dt=${dt}/hour=${hour}/x.parquet`,
      });
      await connection.run(
        insert(BASE_TABLES.traceIndexCompacted, [...names, 'bucket', 'dt', '$path'], {
          ...hit('2025-11-01', '08', 'logs'),
          bucket: '4b',
          dt: '2025-11-01',
          $path: 's3://b/tables/trace_index/bucket=4b/dt=2025-11-01/index.parquet',
        }),
      );
      await connection.run(
        insert(BASE_TABLES.trace_index, [...names, 'dt', 'hour', '$path'], {
          ...hit('2025-11-25', '10', 'logs'),
          dt: '2025-11-25',
          hour: '10',
          $path: 's3://b/tables/trace_index/dt=2025-11-25/hour=10/s.parquet',
        }),
      );
      // An index row older than the recent window is not read raw (it is in its compacted bucket by then).
      await connection.run(
        insert(BASE_TABLES.trace_index, [...names, 'dt', 'hour', '$path'], {
          ...hit('2025-11-20', '10', 'spans'),
          dt: '2025-11-20',
          hour: '10',
          $path: 's3://b/tables/trace_index/dt=2025-11-20/hour=10/s.parquet',
        }),
      );
      await connection.run(logRow('tables/logs/dt=2025-11-01/hour=08/x.parquet', 'old'));
      await connection.run(logRow('tables/logs/dt=2025-11-25/hour=10/x.parquet', 'recent'));
      await connection.run(
        logRow('tables/logs/dt=2025-11-25/hour=10/y.parquet', 'other trace', { trace_id: OTHER_TRACE }),
      );
      await connection.run(logRow('tables/logs/dt=2025-11-24/hour=10/x.parquet', 'not a hit partition'));

      // Act
      const hits = (await connection.runAndReadAll(lookupHitsSql('trace', TRACE, {}, NOW))).getRowObjectsJson();
      const partitions = hits.map((h) => ({
        table: 'logs' as const,
        dt: String(h.data_dt),
        hour: String(h.data_hour),
      }));
      const rows = (
        await connection.runAndReadAll(lookupRowsSql('trace', 'logs', TRACE, partitions))
      ).getRowObjectsJson();

      // Assess
      expect(hits.map((h) => `${h.data_table} ${h.data_dt} ${h.data_hour}`).sort()).toEqual([
        'logs 2025-11-01 08',
        'logs 2025-11-25 10',
      ]);
      expect(rows.map((r) => r.body).sort()).toEqual(['old', 'recent']);
      expect(Object.keys(rows[0] ?? {})).toEqual([...TABLES.logs.map((c) => c.name), 'dt', 'hour']);
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  });

  it('returns no rows for a table without hit partitions', () => {
    expect(lookupRowsSql('trace', 'spans', TRACE, [{ table: 'logs', dt: '2025-11-25', hour: '10' }])).toContain(
      'WHERE false AND',
    );
  });
});

describe('named queries', () => {
  it.each([
    ['trace', false, ['id', 'id', 'id', 'id', 'id']],
    ['trace', true, ['id', 'id', 'from_date', 'to_date', 'from_date', 'to_date', 'id', 'id', 'id']],
  ] as const)('list the %s lookup parameters (ranged: %s) in placeholder order', (kind, ranged, expected) => {
    const query = namedLookupQuery(kind, ranged);

    expect(query.parameters).toEqual(expected);
    expect(query.sql.split('?')).toHaveLength(query.parameters.length + 1);
  });

  it('return each span and each re-sent log line once, across the hit partitions', async () => {
    const { instance, connection } = await catalogue();
    try {
      // Prepare: a record (one span, one log line) and its retried copy, which arrived in the next hour
      const names = TRACE_INDEX_COLUMNS.map((c) => c.name);
      for (const [table, hour] of [
        ['logs', '10'],
        ['logs', '11'],
        ['spans', '10'],
        ['spans', '11'],
      ] as const) {
        await connection.run(
          insert(BASE_TABLES.trace_index, [...names, 'dt', 'hour', '$path'], {
            id: TRACE,
            id_kind: 'trace',
            data_table: table,
            first_time: '2025-11-25 10:00:01',
            last_time: '2025-11-25 10:00:01',
            services: 'checkout',
            span_count: table === 'spans' ? 1 : 0,
            log_count: table === 'logs' ? 1 : 0,
            error: false,
            data_dt: '2025-11-25',
            data_hour: hour,
            object_key: `tables/${table}/dt=2025-11-25/hour=${hour}/x.parquet`,
            dt: '2025-11-25',
            hour,
            $path: `s3://b/tables/trace_index/dt=2025-11-25/hour=${hour}/x.parquet`,
          }),
        );
      }
      for (const [hour, sequence] of [
        ['10', '100'],
        ['11', '205'],
      ] as const) {
        await connection.run(
          logRow(`tables/logs/dt=2025-11-25/hour=${hour}/x.parquet`, 'paid', { sequence_number: sequence }),
        );
        await connection.run(
          spanRow(`tables/spans/dt=2025-11-25/hour=${hour}/x.parquet`, '00f067aa0ba902b7', {
            sequence_number: sequence,
            record_ordinal: 1,
          }),
        );
      }
      // A line logged twice in one record is two lines.
      await connection.run(
        logRow('tables/logs/dt=2025-11-25/hour=10/x.parquet', 'paid', { sequence_number: '100', record_ordinal: 2 }),
      );
      const query = namedLookupQuery('trace', true);
      const value = { id: sqlStringLiteral(TRACE), from_date: `'2025-11-25'`, to_date: `'2025-11-25'` } as const;
      let i = 0;
      const bound = query.sql.replaceAll('?', () => value[query.parameters[i++] ?? 'id']);

      // Act
      const rows = (await connection.runAndReadAll(bound)).getRowObjectsJson();

      // Assess
      expect(rows.map((r) => `${r.record_type} ${r.message} ${r.hour}`)).toEqual([
        'log paid 10',
        'log paid 10',
        'span GET /cart 10',
      ]);
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  });

  it('bind from_date and to_date to the dt bounds of both index tables', () => {
    // Prepare
    const query = namedLookupQuery('request', true);
    const value = { id: `'r1'`, from_date: `'2025-11-01'`, to_date: `'2025-11-02'` } as const;
    let i = 0;

    // Act
    const bound = query.sql.replaceAll('?', () => value[query.parameters[i++] ?? 'id']);

    // Assess
    expect(bound.match(/"dt" >= '2025-11-01' AND "dt" <= '2025-11-02'/g)).toHaveLength(2);
    expect(bound).toContain(`"id" = 'r1' AND "id_kind" = 'request'`);
    expect(bound).not.toContain('?');
    expect(query.description).toContain('Parameters, in order: request id ×4, from date, to date');
  });
});
