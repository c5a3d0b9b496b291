/**
 * Sorts rows in place by trace id (rows without one last) then by time, so that Parquet row groups hold
 * narrow trace id ranges and their min/max statistics prune lookups. Ids are compared as JS strings: for the
 * lowercase hex ids we store this equals the unsigned byte order Parquet statistics use.
 */
export function sortByTraceThenTime<T extends { readonly trace_id: string | null }>(
  rows: T[],
  time: (row: T) => bigint,
): T[] {
  return rows.sort((a, b) => {
    const ta = a.trace_id;
    const tb = b.trace_id;
    if (ta !== tb) {
      if (ta === null) return 1;
      if (tb === null) return -1;
      return ta < tb ? -1 : 1;
    }
    const da = time(a);
    const db = time(b);
    return da < db ? -1 : da > db ? 1 : 0;
  });
}
