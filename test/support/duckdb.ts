import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';

/** Rows of a DuckDB query, as plain objects (BIGINT as bigint, TIMESTAMP as DuckDB values). */
export async function duckQuery(sql: string): Promise<Record<string, unknown>[]> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const reader = await connection.runAndReadAll(sql);
    return reader.getRowObjectsJS() as Record<string, unknown>[];
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** Writes Parquet objects to a temp folder and runs `sql(paths)` over them with DuckDB, the way Athena reads them. */
export async function readParquetObjects(
  objects: readonly Uint8Array[],
  sql: (fileList: string) => string,
): Promise<Record<string, unknown>[]> {
  const dir = await mkdtemp(join(tmpdir(), 'skein-pq-'));
  try {
    const paths: string[] = [];
    for (const [i, body] of objects.entries()) {
      const path = join(dir, `${i}.parquet`);
      await writeFile(path, body);
      paths.push(path);
    }
    return await duckQuery(sql(`[${paths.map((p) => `'${p}'`).join(', ')}]`));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
