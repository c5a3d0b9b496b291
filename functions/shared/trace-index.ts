import { TRACE_INDEX_COLUMNS } from '../../schemas/columns.ts';
import type { LogRecord, SpanRecord } from '../../schemas/records.ts';
import type { BatchId } from './object-keys.ts';
import { writeParquet } from './parquet/parquet-writer.ts';

/** One row of the `trace_index` table (TRACE_INDEX_COLUMNS); times are epoch milliseconds. */
export type TraceIndexRow = {
  readonly id: string;
  readonly id_kind: 'trace' | 'request';
  readonly data_table: 'logs' | 'spans';
  readonly first_time: number;
  readonly last_time: number;
  readonly services: string;
  readonly span_count: number;
  readonly log_count: number;
  readonly error: boolean;
  /** Error rows (spans with status ERROR, logs with severity ≥ ERROR); null only in objects written before D21. */
  readonly error_count: number | null;
  /** Services of the error rows, sorted, comma-joined, '' when none; null only in objects written before D21. */
  readonly error_services: string | null;
  /** Trace rows of spans: the root span's (no parent) service and name when the object holds it, else null. */
  readonly root_service: string | null;
  readonly root_name: string | null;
  /** Request rows: the trace ids of the request's rows in the object, sorted, comma-joined; null for trace rows. */
  readonly trace_ids: string | null;
  readonly data_dt: string;
  readonly data_hour: string;
  readonly object_key: string;
};

/** The data partition (`dt=…/hour=…`) a batch's objects are written to. */
export interface DataPartition {
  readonly dt: string;
  readonly hour: string;
}

/**
 * Rows per row group of an index object. An index row is ~30–50 bytes compressed, so 1,000 rows is a ~40 KB read
 * once min/max on `id` admit the group: small next to the data row group it points at, and few enough groups that
 * the footer stays a few KB.
 */
export const TRACE_INDEX_ROW_GROUP_ROWS = 1_000;

/** OpenTelemetry severity number where ERROR starts (logs data model). */
const SEVERITY_ERROR = 17;
const NANOS_PER_MS = 1_000_000n;

/** Accumulator of one (id, kind, table); mutated in place while scanning, frozen into a row at the end. */
interface Entry {
  id: string;
  first: number;
  last: number;
  services: string[];
  spans: number;
  logs: number;
  error: boolean;
  errors: number;
  /** Services of the error rows; null until the first error row with a service. */
  errorServices: string[] | null;
  /** The first root span seen (no parent span id), trace entries of spans only. */
  root: { service: string | null; name: string } | null;
  /** Request entries: the first trace id seen with the request; always null for traces. */
  trace: string | null;
  /** Request entries: every trace id seen with the request, allocated when a second one shows up. */
  traces: Set<string> | null;
}

/** `{ dt: 'YYYY-MM-DD', hour: 'HH' }` of the batch's first arrival, UTC: the same partition as `tableObjectKey`. */
export function dataPartitionOf(batch: BatchId): DataPartition {
  const iso = new Date(batch.firstArrivalMs).toISOString();
  return { dt: iso.slice(0, 10), hour: iso.slice(11, 13) };
}

/**
 * `tables/trace_index/dt=…/hour=…/<shard>-<firstSeq>.parquet`: the same partition and stem as the batch's table
 * objects (`tableObjectKey`), so a retried batch overwrites its index object too, and a reader can tell that a data
 * object is indexed by finding the index object of the same stem.
 */
export function traceIndexObjectKey(batch: BatchId): string {
  const { dt, hour } = dataPartitionOf(batch);
  return `tables/trace_index/dt=${dt}/hour=${hour}/${batch.shardId}-${batch.firstSequenceNumber}.parquet`;
}

/**
 * The index rows of one batch: one per (id, id kind, data table) over the batch's log and span rows — trace ids as
 * `'trace'`, request ids as `'request'` — with the time range, service names (sorted, unique, comma-joined), row
 * counts and error flag (a span with status ERROR or a log with severity number ≥ 17) of that id in that object;
 * error rows are counted and their services listed (`error_count`, `error_services`: search answers "an error span
 * of service X" from the index, D21); a trace row of spans names the trace's root span when the object holds it;
 * request rows also carry the trace ids of the request's rows in that object (`trace_ids`, sorted, comma-joined,
 * null when none), so a request lookup can go straight to the traces without scanning `request_id`.
 * Sorted by id, then id kind, then data table, so the index object's row groups hold narrow id ranges.
 *
 * Runs on the ingest hot path: one pass over the rows into four maps keyed by the id itself (no composite keys, no
 * per-row allocation except the first sighting of an id, or of a trace id within a request).
 */
export function buildTraceIndex(
  logs: readonly LogRecord[],
  spans: readonly SpanRecord[],
  keys: { readonly logs: string; readonly spans: string },
  dataPartition: DataPartition,
): TraceIndexRow[] {
  const logTraces = new Map<string, Entry>();
  const logRequests = new Map<string, Entry>();
  const spanTraces = new Map<string, Entry>();
  const spanRequests = new Map<string, Entry>();

  for (let i = 0; i < logs.length; i++) {
    const log = logs[i];
    if (log === undefined) continue;
    const error = log.severity_number >= SEVERITY_ERROR;
    if (log.trace_id !== null) {
      note(logTraces, log.trace_id, log.time, log.time, log.service_name, false, error, null);
    }
    if (log.request_id !== null) {
      note(logRequests, log.request_id, log.time, log.time, log.service_name, false, error, log.trace_id);
    }
  }
  for (let i = 0; i < spans.length; i++) {
    const span = spans[i];
    if (span === undefined) continue;
    const error = span.status_code === 'ERROR';
    const end = Number(span.end_time_unix_nano / NANOS_PER_MS);
    const entry = note(spanTraces, span.trace_id, span.start_time, end, span.service_name, true, error, null);
    if (entry.root === null && (span.parent_span_id === null || span.parent_span_id === '')) {
      entry.root = { service: span.service_name, name: span.name };
    }
    if (span.request_id !== null) {
      note(spanRequests, span.request_id, span.start_time, end, span.service_name, true, error, span.trace_id);
    }
  }

  const rows: TraceIndexRow[] = [];
  emit(rows, logTraces, 'trace', 'logs', keys.logs, dataPartition);
  emit(rows, logRequests, 'request', 'logs', keys.logs, dataPartition);
  emit(rows, spanTraces, 'trace', 'spans', keys.spans, dataPartition);
  emit(rows, spanRequests, 'request', 'spans', keys.spans, dataPartition);
  return rows.sort(compareIndexRows);
}

/** The Parquet bytes of a batch's index rows (written even when empty, like the table objects). */
export function encodeTraceIndex(rows: readonly TraceIndexRow[]): Uint8Array {
  return writeParquet(TRACE_INDEX_COLUMNS, rows, {
    rowGroupRows: TRACE_INDEX_ROW_GROUP_ROWS,
  });
}

function note(
  map: Map<string, Entry>,
  id: string,
  first: number,
  last: number,
  service: string | null,
  isSpan: boolean,
  error: boolean,
  traceId: string | null,
): Entry {
  let entry = map.get(id);
  if (entry === undefined) {
    entry = {
      id,
      first,
      last,
      services: [],
      spans: 0,
      logs: 0,
      error: false,
      errors: 0,
      errorServices: null,
      root: null,
      trace: null,
      traces: null,
    };
    map.set(id, entry);
  } else {
    if (first < entry.first) entry.first = first;
    if (last > entry.last) entry.last = last;
  }
  if (service !== null && !entry.services.includes(service)) entry.services.push(service);
  if (isSpan) entry.spans++;
  else entry.logs++;
  if (error) {
    entry.error = true;
    entry.errors++;
    if (service !== null) {
      if (entry.errorServices === null) entry.errorServices = [service];
      else if (!entry.errorServices.includes(service)) entry.errorServices.push(service);
    }
  }
  if (traceId !== null) {
    // Most requests belong to one trace: no Set until a second trace id shows up.
    if (entry.trace === null) entry.trace = traceId;
    else if (entry.traces !== null) entry.traces.add(traceId);
    else if (traceId !== entry.trace) entry.traces = new Set([entry.trace, traceId]);
  }
  return entry;
}

function emit(
  rows: TraceIndexRow[],
  map: Map<string, Entry>,
  kind: 'trace' | 'request',
  table: 'logs' | 'spans',
  objectKey: string,
  partition: DataPartition,
): void {
  for (const e of map.values()) {
    rows.push({
      id: e.id,
      id_kind: kind,
      data_table: table,
      first_time: e.first,
      last_time: e.last,
      services: joinNames(e.services),
      span_count: e.spans,
      log_count: e.logs,
      error: e.error,
      error_count: e.errors,
      error_services: e.errorServices === null ? '' : joinNames(e.errorServices),
      root_service: e.root?.service ?? null,
      root_name: e.root?.name ?? null,
      trace_ids: e.traces !== null ? joinSorted(e.traces) : e.trace,
      data_dt: partition.dt,
      data_hour: partition.hour,
      object_key: objectKey,
    });
  }
}

/** Service names sorted, comma-joined ('' when none). */
function joinNames(names: string[]): string {
  return names.length > 1 ? names.sort().join(',') : (names[0] ?? '');
}

/** The ids sorted (JS order = Parquet byte order for our ASCII ids), comma-joined. */
function joinSorted(ids: ReadonlySet<string>): string {
  return [...ids].sort().join(',');
}

/** Id, then kind, then table. JS string order equals Parquet's byte order for the ASCII ids we store. */
function compareIndexRows(a: TraceIndexRow, b: TraceIndexRow): number {
  if (a.id !== b.id) return a.id < b.id ? -1 : 1;
  if (a.id_kind !== b.id_kind) return a.id_kind < b.id_kind ? -1 : 1;
  if (a.data_table !== b.data_table) return a.data_table < b.data_table ? -1 : 1;
  return 0;
}
