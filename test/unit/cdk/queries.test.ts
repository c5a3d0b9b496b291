import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, it } from 'vitest';
import {
  LOOKUP_PARAMETER_COUNT,
  lookupExecutionParameters,
  lookupQuery,
  sqlStringLiteral,
} from '../../../lib/queries.ts';
import { type ColumnType, TABLE_NAMES, TABLES } from '../../../schemas/columns.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const OTHER_TRACE = '0af7651916cd43dd8448eb211c80319c';

const DUCKDB_TYPE: Record<ColumnType, string> = {
  string: 'VARCHAR',
  int32: 'INTEGER',
  int64: 'BIGINT',
  timestamp_ms: 'TIMESTAMP',
  boolean: 'BOOLEAN',
};

/** Tables shaped like the Glue tables (columns + dt/hour), in a DuckDB schema named like the Glue database. */
async function catalogue() {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  await connection.run('CREATE SCHEMA skein');
  for (const table of TABLE_NAMES) {
    const columns = TABLES[table].map((c) => `"${c.name}" ${DUCKDB_TYPE[c.type]}`);
    await connection.run(`CREATE TABLE skein.${table} (${[...columns, 'dt VARCHAR', 'hour VARCHAR'].join(', ')})`);
  }
  return { instance, connection };
}

function row(table: 'logs' | 'spans', values: Record<string, string | number>): string {
  const literal = (v: string | number | undefined) =>
    v === undefined ? 'NULL' : typeof v === 'number' ? String(v) : `'${v}'`;
  const names = [...TABLES[table].map((c) => c.name), 'dt', 'hour'];
  return `INSERT INTO skein.${table} VALUES (${names.map((n) => literal(values[n])).join(', ')})`;
}

const provenance = {
  source_format: 'json-lines',
  shard_id: 'shardId-000000000000',
  sequence_number: '1',
  record_ordinal: 0,
  arrival_time: '2025-11-25 10:00:02',
  resource_attributes: '{}',
  attributes: '{}',
  dt: '2025-11-25',
  hour: '10',
};

describe('lookup queries', () => {
  it('select by the id column from both tables of the skein database, one placeholder each', () => {
    const sql = lookupQuery('trace');

    expect(sql).toContain('FROM "skein"."logs"\nWHERE "trace_id" = ?');
    expect(sql).toContain('FROM "skein"."spans"\nWHERE "trace_id" = ?');
    expect(lookupQuery('request')).toContain('WHERE "request_id" = ?');
    expect(sql.split('?')).toHaveLength(LOOKUP_PARAMETER_COUNT + 1);
  });

  it('quote execution parameters as SQL string literals', () => {
    expect(sqlStringLiteral("req-'1'")).toBe("'req-''1'''");
    expect(lookupExecutionParameters(TRACE)).toEqual([`'${TRACE}'`, `'${TRACE}'`]);
  });

  it('return the logs and spans of one trace, in time order, over tables shaped like the Glue tables', async () => {
    const { instance, connection } = await catalogue();
    try {
      await connection.run(
        row('logs', {
          ...provenance,
          trace_id: TRACE,
          time: '2025-11-25 10:00:01.500',
          time_unix_nano: 1_764_064_801_500_000_000,
          observed_time_unix_nano: 1_764_064_801_600_000_000,
          severity_number: 17,
          severity_text: 'ERROR',
          body: 'payment declined',
          service_name: 'checkout',
        }),
      );
      for (const [traceId, start, name] of [
        [TRACE, 1_764_064_801_000_000_000, 'POST /checkout'],
        [OTHER_TRACE, 1_764_064_800_000_000_000, 'GET /health'],
      ] as const) {
        await connection.run(
          row('spans', {
            ...provenance,
            trace_id: traceId,
            start_time: new Date(start / 1e6).toISOString().replace('T', ' ').replace('Z', ''),
            start_time_unix_nano: start,
            end_time_unix_nano: start + 750_000_000,
            duration_nano: 750_000_000,
            span_id: '00f067aa0ba902b7',
            name,
            kind: 'SERVER',
            status_code: 'ERROR',
            service_name: 'checkout',
            events: '[]',
            links: '[]',
          }),
        );
      }

      const reader = await connection.runAndReadAll(
        lookupQuery('trace'),
        Array.from({ length: LOOKUP_PARAMETER_COUNT }, () => TRACE),
      );
      const rows = reader.getRowObjectsJson();

      expect(rows.map((r) => [r.record_type, r.message, r.level, r.duration_ms])).toEqual([
        ['span', 'POST /checkout', 'ERROR', 750],
        ['log', 'payment declined', 'ERROR', null],
      ]);
      expect(rows.every((r) => r.trace_id === TRACE && r.dt === '2025-11-25' && r.hour === '10')).toBe(true);
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  });
});
