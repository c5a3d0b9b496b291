import {
  type CompactionManifest,
  isCompactedKey,
  isRewrittenInPlace,
  manifestKey,
  type SourceRange,
} from '../../schemas/compaction.ts';
import { StoreError } from '../../schemas/errors.ts';
import { mapLimit } from '../core/map-limit.ts';
import { writeParquet } from '../shared/parquet/parquet-writer.ts';
import type { TraceIndexRow } from '../shared/trace-index.ts';
import { type CompactDeps, IO_CONCURRENCY, JSON_CONTENT_TYPE, PARQUET_CONTENT_TYPE } from './deps.ts';
import {
  compactedObjectKey,
  type DataTable,
  encodeManifest,
  type HourPartition,
  inputsHash,
  loadManifests,
  partitionPrefix,
} from './layout.ts';
import { minMaxColumnsOf, rowGroupRowsFor } from './row-groups.ts';
import { LOG_ROWS, SPAN_ROWS, type TableRows } from './table-rows.ts';

/** One hour of one data table. */
export interface HourTable extends HourPartition {
  readonly table: DataTable;
}

/** What one `compactHour` call did. */
export type CompactHourResult =
  /** Every raw object of the hour is already covered by generation `generation` (0: the hour has no objects). */
  | { readonly status: 'up-to-date'; readonly generation: number }
  | {
      readonly status: 'compacted';
      readonly generation: number;
      /** Raw objects this generation newly covers. */
      readonly newSources: number;
      readonly outputs: readonly string[];
      readonly rows: number;
      /** False when the row budget left raw objects for another generation. */
      readonly complete: boolean;
      /** Index rows of each output written by this call (the index step then need not read them back). */
      readonly indexRows: ReadonlyMap<string, readonly TraceIndexRow[]>;
    }
  /** Another compactor wrote generation `generation` first; this call's outputs stay invisible and become orphans. */
  | { readonly status: 'lost-race'; readonly generation: number };

/**
 * Compacts one hour of one data table into generation G+1 (G = the current manifest's generation, 0 when none):
 *
 * 1. lists the partition and reads the current manifest; the raw objects it does not cover are the new inputs (none:
 *    `up-to-date`, nothing is written);
 * 2. reads them in key order until `maxRowsPerRun` rows are held (a larger hour takes several generations), and
 *    G's outputs too when they fit in the same budget — otherwise G's outputs are carried into G+1 unchanged;
 * 3. drops the copies a retrying producer added (D18: each span once, a re-sent record's log lines once), sorts the
 *    rows by trace id then time and writes them as `compacted-g<G+1>-<inputsHash>-<NNNN>.parquet` objects of
 *    about `targetBytes` (estimated from the inputs' sizes), never splitting a trace between two objects;
 * 4. writes manifest G+1 with `If-None-Match: *`. That single PUT is the switch: before it readers see the raw
 *    objects, after it the outputs. Losing it (`lost-race`) leaves only invisible objects behind.
 *
 * Nothing is deleted here (see `cleanupHour`). A crash at any step leaves the visible rows unchanged, and the next run
 * redoes the work (same inputs → same keys and bytes).
 */
export async function compactHour(deps: CompactDeps, target: HourTable): Promise<CompactHourResult> {
  return target.table === 'logs' ? compactWith(LOG_ROWS, deps, target) : compactWith(SPAN_ROWS, deps, target);
}

interface Input {
  readonly key: string;
  readonly bytes: number;
  /** The stream records a raw source holds (undefined for compacted inputs and keys that name no batch). */
  readonly range: SourceRange | undefined;
}

/** What the compactor reads of a row besides its table's own columns. */
type StreamRow = {
  readonly trace_id: string | null;
  readonly shard_id: string;
  readonly sequence_number: string;
};

async function compactWith<R extends StreamRow>(
  rowsOf: TableRows<R>,
  deps: CompactDeps,
  target: HourTable,
): Promise<CompactHourResult> {
  const { store, config } = deps;
  const log = deps.logger.child({ table: target.table, dt: target.dt, hour: target.hour });
  const keys = await store.list(partitionPrefix(target.table, target));
  const { current } = await loadManifests(store, target.table, target);
  const generation = current?.generation ?? 0;
  const covered = new Set(current?.sources ?? []);
  const uncovered = keys.filter((k) => !isCompactedKey(k) && !isRewrittenInPlace(k) && !covered.has(k));
  if (uncovered.length === 0) return { status: 'up-to-date', generation };

  // New raw objects, in key order, until the row budget is reached (at least one). Reads go in parallel chunks; the
  // objects of a chunk past the budget are dropped unused, so at most one object's rows exceed the budget.
  let rows: R[] = [];
  const inputs: Input[] = [];
  let taken = 0;
  while (taken < uncovered.length && rows.length < config.maxRowsPerRun) {
    const chunk = uncovered.slice(taken, taken + IO_CONCURRENCY);
    const read = await mapLimit(chunk, IO_CONCURRENCY, (key) => readInput(rowsOf, deps, key));
    for (const r of read) {
      if (rows.length >= config.maxRowsPerRun) break;
      for (const row of r.rows) rows.push(row);
      inputs.push(r.input);
      taken++;
    }
  }
  const newSources = inputs.map((i) => i.key);
  const newRanges = inputs.flatMap((i) => (i.range === undefined ? [] : [i.range]));

  // G's outputs are merged in when everything fits one run; otherwise they are carried over as they are.
  const previousOutputs = current?.outputs ?? [];
  const merge = current !== undefined && current.rows + rows.length <= config.maxRowsPerRun;
  if (merge) {
    const read = await mapLimit(previousOutputs, IO_CONCURRENCY, (key) => readInput(rowsOf, deps, key));
    for (const r of read) {
      for (const row of r.rows) rows.push(row);
      inputs.push(r.input);
    }
  }
  const carried = merge ? [] : previousOutputs;

  // A span or record a producer sent twice is written once (D18). Copies between these rows and carried outputs
  // (an hour over the row budget) stay for the lookups' own dedup.
  const { rows: unique, dropped: copiesDropped } = rowsOf.withoutCopies(rows);
  rows = unique;

  const next = generation + 1;
  const hash = inputsHash(inputs.map((i) => i.key));
  rowsOf.sort(rows);
  const inputBytes = inputs.reduce((n, i) => n + i.bytes, 0);
  const slices = splitRows(rows, rowsPerObject(rows.length, inputBytes, config.targetBytes));
  const outputs: string[] = [];
  const indexRows = new Map<string, readonly TraceIndexRow[]>();
  // One object at a time: only one encoded object is held in memory besides the rows.
  for (const [n, [start, end]] of slices.entries()) {
    const key = compactedObjectKey(target.table, target, next, hash, n);
    const slice = rows.slice(start, end);
    const rowGroupRows =
      config.rowGroupRows === 'auto'
        ? rowGroupRowsFor(slice.length, (inputBytes * slice.length) / Math.max(1, rows.length), rowsOf.columns)
        : config.rowGroupRows;
    const body = writeParquet(rowsOf.columns, slice, { rowGroupRows, minMaxColumns: minMaxColumnsOf(rowsOf.columns) });
    await store.put(key, body, PARQUET_CONTENT_TYPE);
    outputs.push(key);
    indexRows.set(key, rowsOf.index(slice, key, target));
  }

  const manifest: CompactionManifest = {
    version: 1,
    table: target.table,
    dt: target.dt,
    hour: target.hour,
    generation: next,
    sources: [...new Set([...(current?.sources ?? []), ...newSources])].sort(),
    source_ranges: mergeRanges(current?.source_ranges ?? [], newRanges),
    outputs: [...carried, ...outputs],
    rows: rows.length + (merge ? 0 : (current?.rows ?? 0)),
    created_at: new Date(deps.clock()).toISOString(),
  };
  const etag = await store.putIf(
    manifestKey(target.table, target.dt, target.hour, next),
    encodeManifest(manifest),
    JSON_CONTENT_TYPE,
    { ifNoneMatch: '*' },
  );
  if (etag === undefined) {
    log.warn('another compactor wrote this generation first; our outputs stay invisible until cleanup', {
      generation: next,
    });
    return { status: 'lost-race', generation: next };
  }
  const complete = taken === uncovered.length;
  log.info('hour compacted', {
    generation: next,
    new_sources: newSources.length,
    merged_outputs: merge ? previousOutputs.length : 0,
    carried_outputs: carried.length,
    outputs: outputs.length,
    retried_copies_dropped: copiesDropped,
    rows: manifest.rows,
    complete,
  });
  return {
    status: 'compacted',
    generation: next,
    newSources: newSources.length,
    outputs,
    rows: manifest.rows,
    complete,
    indexRows,
  };
}

async function readInput<R extends StreamRow>(
  rowsOf: TableRows<R>,
  deps: CompactDeps,
  key: string,
): Promise<{ input: Input; rows: R[] }> {
  const body = await deps.store.get(key);
  // A listed object that is gone was deleted by a cleanup of a newer generation: this run's view is stale.
  if (body === undefined)
    throw new StoreError(`${key} was listed but is gone; the next run starts from a fresh listing`);
  const rows = rowsOf.read(body, key);
  return { input: { key, bytes: body.length, range: sourceRange(key, rows) }, rows };
}

const BATCH_STEM = /\/([^/]+)-(\d+)\.parquet$/;

/**
 * The stream records a raw batch object holds: its key names the shard and the batch's first sequence number
 * (`<shard>-<firstSeq>.parquet`, D1), and every record from there to its highest row's sequence number was in the
 * batch (a batch is a contiguous run of one shard). An object without rows still covers its first record. Keys that
 * name no batch have no range.
 */
export function sourceRange(
  key: string,
  rows: readonly { readonly shard_id: string; readonly sequence_number: string }[],
): SourceRange | undefined {
  if (isCompactedKey(key) || isRewrittenInPlace(key)) return undefined;
  const m = BATCH_STEM.exec(key);
  if (m?.[1] === undefined || m[2] === undefined) return undefined;
  const shard = m[1];
  const first = BigInt(m[2]);
  let last = first;
  for (const row of rows) {
    // Not one batch of one shard starting at the key's record (a hand-made object): claim nothing.
    if (row.shard_id !== shard) return undefined;
    const seq = BigInt(row.sequence_number);
    if (seq < first) return undefined;
    if (seq > last) last = seq;
  }
  return { key, shard_id: shard, first: m[2], last: last.toString() };
}

/** The ranges of the previous generation plus the new ones, one per source key, in key order. */
function mergeRanges(previous: readonly SourceRange[], added: readonly SourceRange[]): SourceRange[] {
  const byKey = new Map<string, SourceRange>();
  for (const r of previous) byKey.set(r.key, r);
  for (const r of added) byKey.set(r.key, r);
  return [...byKey.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/**
 * Rows per compacted object so that each is about `targetBytes`: the inputs' bytes per row times the rows, an
 * estimate (sorted rows compress better, so outputs come out somewhat smaller than the target).
 */
export function rowsPerObject(rows: number, inputBytes: number, targetBytes: number): number {
  if (rows === 0 || inputBytes <= targetBytes) return Math.max(rows, 1);
  return Math.max(1, Math.floor((rows * targetBytes) / inputBytes));
}

/**
 * `[start, end)` ranges of about `perObject` rows over rows sorted by trace id. A range is extended to the end of the
 * trace it stops in, so every trace lives in one object (rows without a trace id, sorted last, are cut anywhere).
 * No rows: no ranges.
 */
export function splitRows(
  rows: readonly { readonly trace_id: string | null }[],
  perObject: number,
): [number, number][] {
  const ranges: [number, number][] = [];
  let start = 0;
  while (start < rows.length) {
    let end = Math.min(rows.length, start + perObject);
    const last = rows[end - 1]?.trace_id ?? null;
    if (last !== null) while (end < rows.length && rows[end]?.trace_id === last) end++;
    ranges.push([start, end]);
    start = end;
  }
  return ranges;
}
