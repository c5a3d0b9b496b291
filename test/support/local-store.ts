import type { Endpoints } from '../../local/endpoints.ts';
import { listTableFiles } from '../../query/local-query.ts';
import { TABLE_NAMES } from '../../schemas/columns.ts';
import { duckQuery } from './duckdb.ts';

/** Rows of every table in the local store, read with DuckDB from s3rver's files as Athena would read the objects. */
export async function countStoredRows(endpoints: Endpoints): Promise<number> {
  let total = 0;
  for (const table of TABLE_NAMES) {
    const files = await listTableFiles(endpoints.dataDir, endpoints.bucket, table);
    if (files.length === 0) continue;
    const [row] = await duckQuery(
      `SELECT count(*)::INT AS n FROM read_parquet([${files.map((f) => `'${f}'`).join(', ')}])`,
    );
    total += Number(row?.n ?? 0);
  }
  return total;
}

/** Polls until the store holds at least `expected` rows (or the timeout passes); the count last seen. */
export async function waitForStoredRows(endpoints: Endpoints, expected: number, timeoutMs = 90_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let seen = await countStoredRows(endpoints);
  while (seen < expected && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    seen = await countStoredRows(endpoints);
  }
  return seen;
}
