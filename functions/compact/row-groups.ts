import type { ColumnDef } from '../../schemas/columns.ts';

/**
 * Footer bytes one column chunk adds per row group when only the key columns carry min/max (ColumnMetaData: type,
 * encodings, path, codec, counts, sizes, offsets, null count, encoding stats). Measured on compacted `logs` (19
 * columns) and `spans` (26 columns) objects of the lookup bench: 71–72 bytes (D24, "After compaction").
 */
export const FOOTER_BYTES_PER_CHUNK = 72;

/** Fewest rows per row group the compactor writes (the smallest `SKEIN_COMPACT_ROW_GROUP_ROWS` accepted). */
export const MIN_ROW_GROUP_ROWS = 100;

/**
 * Rows per row group of a compacted object of `rows` rows and about `objectBytes` bytes, chosen so a point lookup
 * reads as little of it as it can. Such a lookup reads the footer (≈ groups × columns × {@link FOOTER_BYTES_PER_CHUNK})
 * plus one row group (≈ objectBytes / groups); their sum is least at groups = √(objectBytes / footer bytes per group),
 * where each half is √(objectBytes × footer bytes per group). So a 1 MB hour is cut into ~20 groups (~50 KB read
 * per table), a 256 MiB object into ~400 groups of ~600 KB (~1.2 MB read).
 *
 * @example
 * ```ts
 * rowGroupRowsFor(35_000, 620_000, LOG_COLUMNS); // 1_667: 21 groups of ~30 KB
 * ```
 */
export function rowGroupRowsFor(rows: number, objectBytes: number, columns: readonly ColumnDef[]): number {
  if (rows <= MIN_ROW_GROUP_ROWS) return MIN_ROW_GROUP_ROWS;
  const footerPerGroup = Math.max(1, columns.length) * FOOTER_BYTES_PER_CHUNK;
  const groups = Math.max(1, Math.round(Math.sqrt(Math.max(0, objectBytes) / footerPerGroup)));
  return Math.max(MIN_ROW_GROUP_ROWS, Math.ceil(rows / groups));
}

/**
 * The columns whose chunks carry min/max in a compacted object: the lookup keys (`fullStatistics`). Rows are sorted
 * by trace id, so every row group of an hour spans nearly the whole hour, every service and every level: min/max on
 * other columns would prune nothing and only grow the footer every lookup reads. Null counts stay on every column.
 */
export function minMaxColumnsOf(columns: readonly ColumnDef[]): string[] {
  return columns.filter((c) => c.fullStatistics === true).map((c) => c.name);
}
