import { type DuckDBConnection, LIST, listValue, VARCHAR } from '@duckdb/node-api';
import { z } from 'zod';
import { compareUtf8 } from '../functions/shared/parquet/page-encoding.ts';

/**
 * What a lookup read, as a reader that prunes row groups by min/max statistics reads it (DuckDB locally, Athena
 * in the cloud): per object opened, its footer (the Thrift `FileMetaData` plus the 8-byte length and magic), and the
 * compressed column chunks of every row group whose min/max on the key column admit one of the ids looked up. All
 * columns of an admitted group count when a step selects every column; a step that reads a projection (the trace ids
 * of a request) counts those columns only, and one that reads `IS NULL` rows skips groups whose null count is 0.
 *
 * Method: footer sizes from DuckDB's `parquet_file_metadata()`, chunk sizes (`total_compressed_size`) and min/max
 * from `parquet_metadata()`; admission is computed here with Parquet's unsigned byte order. It is a model of the
 * bytes read, not a count of syscalls: DuckDB may read a little more (page alignment, prefetch).
 */
export interface LookupStats {
  /** `'index'` without a time range, `'time-range'` with `--since`/`--until`. */
  readonly mode: 'index' | 'time-range';
  /** Distinct data objects opened. */
  readonly objectsOpened: number;
  /** Their keys, sorted: exactly what was read. */
  readonly objectKeys: readonly string[];
  /** Data bytes plus index bytes. */
  readonly bytesRead: number;
  readonly dataBytesRead: number;
  readonly indexBytesRead: number;
  /** Data row groups whose statistics admitted an id, summed over every read (a request reads objects twice). */
  readonly rowGroupsRead: number;
  /** Row groups of the data objects read, summed the same way. */
  readonly rowGroupsTotal: number;
  /** Distinct index objects opened (per-batch and compacted). */
  readonly indexObjectsRead: number;
  readonly indexKeys: readonly string[];
  /**
   * Rows read but not shown: copies of a record a producer sent twice (decision D18, `schemas/duplicates.ts`). Their
   * bytes are in `bytesRead`: they were read.
   */
  readonly retriedCopiesDropped: number;
  /** Wall time of the whole lookup, listing included. */
  readonly latencyMs: number;
}

/** Accumulates {@link LookupStats} over the reads of one lookup. */
export class ReadTracker {
  private readonly dataKeys = new Set<string>();
  private readonly indexKeySet = new Set<string>();
  private dataBytes = 0;
  private indexBytes = 0;
  private groupsRead = 0;
  private groupsTotal = 0;

  /**
   * Adds the bytes a pruning reader reads from `files` (paths) looking for `values` in `column`. `keyOf` maps a path
   * back to its object key.
   */
  async measure(
    connection: DuckDBConnection,
    kind: 'data' | 'index',
    files: readonly string[],
    keyOf: (path: string) => string,
    column: string,
    values: readonly string[],
    options: ReadShape = {},
  ): Promise<void> {
    if (files.length === 0) return;
    const measured = await measureReads(connection, files, column, values, options);
    for (const file of measured.files) {
      const key = keyOf(file.path);
      if (kind === 'data') {
        this.dataKeys.add(key);
        this.groupsTotal += file.rowGroups;
        this.dataBytes += file.bytes;
        this.groupsRead += file.rowGroupsAdmitted;
      } else {
        this.indexKeySet.add(key);
        this.indexBytes += file.bytes;
      }
    }
  }

  /** The totals, with the lookup's latency and the retried copies the result left out. */
  finish(mode: LookupStats['mode'], latencyMs: number, retriedCopiesDropped = 0): LookupStats {
    return {
      mode,
      objectsOpened: this.dataKeys.size,
      objectKeys: [...this.dataKeys].sort(),
      bytesRead: this.dataBytes + this.indexBytes,
      dataBytesRead: this.dataBytes,
      indexBytesRead: this.indexBytes,
      rowGroupsRead: this.groupsRead,
      rowGroupsTotal: this.groupsTotal,
      indexObjectsRead: this.indexKeySet.size,
      indexKeys: [...this.indexKeySet].sort(),
      retriedCopiesDropped,
      latencyMs,
    };
  }
}

/** What else narrows a read besides min/max on the key column. */
export interface ReadShape {
  /** Only these columns are read (a projection); every column when absent. */
  readonly columns?: readonly string[];
  /** Only row groups that may hold nulls in this column are read (an `IS NULL` filter, pruned by the null count). */
  readonly nullsIn?: string;
  /** Every row group is read, whatever `values` (a search with no id to prune by). */
  readonly everyGroup?: boolean;
}

/** One file's share of a read. */
export interface FileRead {
  readonly path: string;
  /** Footer plus admitted row groups' compressed chunks. */
  readonly bytes: number;
  readonly rowGroups: number;
  readonly rowGroupsAdmitted: number;
}

const FooterRow = z.object({ file_name: z.string(), footer_size: z.bigint() });
const GroupRow = z.object({
  file_name: z.string(),
  bytes: z.bigint(),
  lo: z.string().nullable(),
  hi: z.string().nullable(),
  all_null: z.boolean().nullable(),
  has_nulls: z.boolean().nullable(),
});

/** Parquet's 8-byte tail: the 4-byte footer length and the `PAR1` magic. */
const TAIL_BYTES = 8;

/** See {@link LookupStats} for the method. */
export async function measureReads(
  connection: DuckDBConnection,
  files: readonly string[],
  column: string,
  values: readonly string[],
  shape: ReadShape = {},
): Promise<{ files: FileRead[] }> {
  const fileList = listValue([...files]);
  const footers = await connection.runAndReadAll(
    'SELECT file_name, footer_size FROM parquet_file_metadata($files)',
    { files: fileList },
    { files: LIST(VARCHAR) },
  );
  const groups = await connection.runAndReadAll(
    `SELECT file_name,
       coalesce(sum(total_compressed_size) FILTER (WHERE len($columns) = 0 OR list_contains($columns, path_in_schema)), 0)::BIGINT AS bytes,
       any_value(coalesce(stats_min_value, stats_min)) FILTER (WHERE path_in_schema = $column) AS lo,
       any_value(coalesce(stats_max_value, stats_max)) FILTER (WHERE path_in_schema = $column) AS hi,
       any_value(stats_null_count = row_group_num_rows) FILTER (WHERE path_in_schema = $column) AS all_null,
       any_value(coalesce(stats_null_count, 1) > 0) FILTER (WHERE path_in_schema = $nulls) AS has_nulls
     FROM parquet_metadata($files) GROUP BY file_name, row_group_id`,
    { files: fileList, column, columns: listValue([...(shape.columns ?? [])]), nulls: shape.nullsIn ?? '' },
    { files: LIST(VARCHAR), column: VARCHAR, columns: LIST(VARCHAR), nulls: VARCHAR },
  );
  const byFile = new Map<string, { bytes: number; rowGroups: number; rowGroupsAdmitted: number }>();
  for (const raw of footers.getRowObjectsJS()) {
    const row = FooterRow.parse(raw);
    byFile.set(row.file_name, { bytes: Number(row.footer_size) + TAIL_BYTES, rowGroups: 0, rowGroupsAdmitted: 0 });
  }
  const sorted = [...values].sort(compareUtf8);
  for (const raw of groups.getRowObjectsJS()) {
    const row = GroupRow.parse(raw);
    const file = byFile.get(row.file_name);
    if (file === undefined) continue;
    file.rowGroups++;
    const admitted = shape.everyGroup === true || (row.all_null !== true && admits(row.lo, row.hi, sorted));
    if (admitted && row.has_nulls !== false) {
      file.rowGroupsAdmitted++;
      file.bytes += Number(row.bytes);
    }
  }
  return { files: [...byFile].map(([path, f]) => ({ path, ...f })) };
}

/** Whether min/max admit one of the values (sorted); a group without statistics must be read. */
function admits(lo: string | null, hi: string | null, sorted: readonly string[]): boolean {
  if (lo === null || hi === null) return true;
  for (const v of sorted) {
    if (compareUtf8(v, lo) < 0) continue;
    return compareUtf8(v, hi) <= 0;
  }
  return false;
}

/**
 * One line for people: `3 objects opened, 412.0 KB read (data 380.2 KB, index 31.8 KB), 3/57 row groups, 5 index
 * objects, 84 ms`.
 */
export function formatLookupStats(stats: LookupStats): string {
  return [
    `${stats.objectsOpened} ${stats.objectsOpened === 1 ? 'object' : 'objects'} opened`,
    `${humanBytes(stats.bytesRead)} read (data ${humanBytes(stats.dataBytesRead)}, index ${humanBytes(stats.indexBytesRead)})`,
    `${stats.rowGroupsRead}/${stats.rowGroupsTotal} row groups`,
    `${stats.indexObjectsRead} index ${stats.indexObjectsRead === 1 ? 'object' : 'objects'}`,
    ...(stats.retriedCopiesDropped > 0
      ? [`${stats.retriedCopiesDropped} retried ${stats.retriedCopiesDropped === 1 ? 'copy' : 'copies'} not shown`]
      : []),
    `${Math.round(stats.latencyMs)} ms`,
  ].join(', ');
}

/** Bytes in B, KB, MB, GB (powers of 1024, one decimal). */
export function humanBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}
