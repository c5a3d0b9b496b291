import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compactHour } from '../../functions/compact/compact-hour.ts';
import { loadCompactConfig } from '../../functions/compact/config.ts';
import {
  FOOTER_BYTES_PER_CHUNK,
  MIN_ROW_GROUP_ROWS,
  minMaxColumnsOf,
  rowGroupRowsFor,
} from '../../functions/compact/row-groups.ts';
import { memoryObjectStore } from '../../functions/core/object-store.ts';
import { LOG_COLUMNS, SPAN_COLUMNS } from '../../schemas/columns.ts';
import { ConfigError } from '../../schemas/errors.ts';
import { aBatch, bodyOf, depsOf, manifestOf, P, putBatch, rawKey, T1 } from '../support/compact-fixtures.ts';

const MIB = 1024 * 1024;

describe('row groups of compacted objects', () => {
  it('sizes them so the footer and one row group a lookup reads are least', () => {
    // Prepare: a compacted hour of the lookup bench (35,000 log rows, ~620 KB) and a full 256 MiB object.
    const footerPerGroup = LOG_COLUMNS.length * FOOTER_BYTES_PER_CHUNK;
    const readOf = (rows: number, bytes: number, perGroup: number) => {
      const groups = Math.ceil(rows / perGroup);
      return groups * footerPerGroup + bytes / groups;
    };

    // Act
    const small = rowGroupRowsFor(35_000, 620_000, LOG_COLUMNS);
    const large = rowGroupRowsFor(1_700_000, 256 * MIB, LOG_COLUMNS);

    // Assess: ~21 groups of ~30 KB, ~443 groups of ~600 KB; and no other size reads less.
    expect(Math.ceil(35_000 / small)).toBe(21);
    expect(Math.ceil(1_700_000 / large)).toBe(443);
    for (const other of [small / 2, small * 0.8, small * 1.25, small * 2]) {
      expect(readOf(35_000, 620_000, small)).toBeLessThanOrEqual(readOf(35_000, 620_000, Math.round(other)));
    }
  });

  it('cuts objects with more columns into fewer groups, and never below the smallest row group', () => {
    expect(rowGroupRowsFor(35_000, 620_000, SPAN_COLUMNS)).toBeGreaterThan(
      rowGroupRowsFor(35_000, 620_000, LOG_COLUMNS),
    );
    expect(rowGroupRowsFor(50, 10 * MIB, LOG_COLUMNS)).toBe(MIN_ROW_GROUP_ROWS);
    expect(rowGroupRowsFor(1_000, 0, LOG_COLUMNS)).toBe(1_000);
  });

  it('keeps min/max on the lookup keys only', () => {
    expect(minMaxColumnsOf(LOG_COLUMNS)).toEqual(['trace_id', 'request_id']);
    expect(minMaxColumnsOf(SPAN_COLUMNS)).toEqual(['trace_id', 'request_id']);
  });
});

describe('SKEIN_COMPACT_ROW_GROUP_ROWS', () => {
  it("defaults to 'auto' and takes a fixed number of rows", () => {
    expect(loadCompactConfig({ SKEIN_BUCKET: 'skein-data' }).rowGroupRows).toBe('auto');
    expect(loadCompactConfig({ SKEIN_BUCKET: 'skein-data', SKEIN_COMPACT_ROW_GROUP_ROWS: 'auto' }).rowGroupRows).toBe(
      'auto',
    );
    expect(loadCompactConfig({ SKEIN_BUCKET: 'skein-data', SKEIN_COMPACT_ROW_GROUP_ROWS: '2500' }).rowGroupRows).toBe(
      2_500,
    );
  });

  it('rejects fewer than 100 rows and words other than auto', () => {
    for (const bad of ['50', 'big', '2.5']) {
      expect(() => loadCompactConfig({ SKEIN_BUCKET: 'skein-data', SKEIN_COMPACT_ROW_GROUP_ROWS: bad })).toThrow(
        ConfigError,
      );
    }
  });
});

describe('a compacted object with the default settings', () => {
  let directory: string;
  let duckdb: DuckDBConnection;
  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'skein-row-groups-'));
    duckdb = await (await DuckDBInstance.create(':memory:')).connect();
  });
  afterAll(async () => {
    duckdb.closeSync();
    await rm(directory, { recursive: true, force: true });
  });

  it('has the row groups rowGroupRowsFor gives for its rows and bytes, and min/max on trace_id and request_id only', async () => {
    // Prepare: 60 batches of 10 log rows with incompressible bodies.
    const store = memoryObjectStore();
    let inputBytes = 0;
    for (let b = 0; b < 60; b++) {
      const batch = aBatch(b, undefined, ` ${(b * 7919).toString(36).repeat(40)}`);
      await putBatch(store, batch);
      inputBytes += (await bodyOf(store, rawKey('logs', batch.name))).length;
    }

    // Act
    const result = await compactHour(depsOf(store, T1), { table: 'logs', ...P });

    // Assess
    expect(result.status).toBe('compacted');
    const [key] = (await manifestOf(store, 'logs', 1)).outputs;
    const path = join(directory, 'compacted.parquet');
    writeFileSync(path, await bodyOf(store, key ?? ''));
    const groups = (
      await duckdb.runAndReadAll(`SELECT num_rows, num_row_groups FROM parquet_file_metadata('${path}')`)
    ).getRowObjectsJS();
    const rows = Number(groups[0]?.num_rows);
    expect(Number(groups[0]?.num_row_groups)).toBe(Math.ceil(rows / rowGroupRowsFor(rows, inputBytes, LOG_COLUMNS)));
    expect(Number(groups[0]?.num_row_groups)).toBeGreaterThan(1);
    const withMinMax = (
      await duckdb.runAndReadAll(
        `SELECT DISTINCT path_in_schema FROM parquet_metadata('${path}')
         WHERE coalesce(stats_min_value, stats_min) IS NOT NULL ORDER BY 1`,
      )
    ).getRowObjectsJS();
    expect(withMinMax).toEqual([{ path_in_schema: 'request_id' }, { path_in_schema: 'trace_id' }]);
  });
});
