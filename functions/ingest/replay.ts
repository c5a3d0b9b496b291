/**
 * Reading the quarantine back (`skein quarantine ls`) and re-ingesting it after a decoder fix (`skein replay`),
 * without ever writing a row twice. The design and its reasons are decision D8 in docs/decisions.md.
 *
 * - A quarantine object is never modified by replay; what was replayed is recorded next to it in a marker
 *   (`<shard>-<firstSeq>.replayed.json`), which expires with the quarantine under the same lifecycle rule.
 * - The same Kinesis record can be quarantined in two objects when Lambda bisected a failed batch (D2). Each record
 *   belongs to exactly one object: of the objects holding it, the one with the greatest first sequence number (the
 *   batch that finally processed it). Entries in the other objects are duplicates: never listed, never replayed.
 * - The rows of the entries an object owns are written under a key derived from that object only
 *   (`tables/<table>/<its partition>/replay-<shard>-<firstSeq>.parquet`) and always hold every entry of it replayed
 *   so far, so a second run overwrites the first one's object instead of adding to it.
 */

import { TABLES, type TableName } from '../../schemas/columns.ts';
import { describeError, describeIssue } from '../../schemas/errors.ts';
import { QuarantineEntryJson, type ReplayedEntryJson, ReplayMarkerJson } from '../../schemas/quarantine.ts';
import type { LogRecord, SpanRecord } from '../../schemas/records.ts';
import type { Clock } from '../core/clock.ts';
import type { ObjectStore } from '../core/object-store.ts';
import { writeParquet } from '../shared/parquet/parquet-writer.ts';
import { sortByTraceThenTime } from '../shared/sort-rows.ts';
import type { IngestConfig } from './config.ts';
import { decodeJsonLines, JSON_LINES } from './decode-json-lines.ts';
import { decodeRecord } from './decode-record.ts';
import { type DecodeFailure, type DecodeOptions, type DecodeSink, newSink, type RecordContext } from './decoded.ts';
import { finishRows } from './hygiene.ts';
import { millisToNanos } from './timestamps.ts';

export const QUARANTINE_PREFIX = 'quarantine/';
const QUARANTINE_KEY = /^quarantine\/(dt=(\d{4}-\d{2}-\d{2})\/hour=(\d{2}))\/(.+)-(\d+)\.ndjson$/;
const MARKER_SUFFIX = '.replayed.json';
const HOUR_MS = 3_600_000;
const PARQUET = 'application/vnd.apache.parquet';
const JSON_TYPE = 'application/json';

/** Where a quarantine object sits and which batch wrote it, parsed from its key. */
export interface QuarantineObjectRef {
  readonly key: string;
  /** `dt=YYYY-MM-DD/hour=HH`: the arrival hour of the batch's first record. */
  readonly partition: string;
  readonly partitionStartMs: number;
  readonly shardId: string;
  readonly firstSequenceNumber: string;
}

/** The batch a quarantine object key names, or `undefined` for any other key (markers, stray files). */
export function parseQuarantineKey(key: string): QuarantineObjectRef | undefined {
  const m = QUARANTINE_KEY.exec(key);
  if (!m?.[1] || !m[2] || !m[3] || !m[4] || !m[5]) return undefined;
  const partitionStartMs = Date.parse(`${m[2]}T${m[3]}:00:00Z`);
  if (!Number.isFinite(partitionStartMs)) return undefined;
  return { key, partition: m[1], partitionStartMs, shardId: m[4], firstSequenceNumber: m[5] };
}

/** `quarantine/dt=…/hour=…/<shard>-<firstSeq>.replayed.json`: what replay took out of one quarantine object. */
export function replayMarkerKey(ref: QuarantineObjectRef): string {
  return `${QUARANTINE_PREFIX}${ref.partition}/${ref.shardId}-${ref.firstSequenceNumber}${MARKER_SUFFIX}`;
}

/** `tables/<table>/dt=…/hour=…/replay-<shard>-<firstSeq>.parquet`: the replayed rows of one quarantine object. */
export function replayTableKey(table: TableName, ref: QuarantineObjectRef): string {
  return `tables/${table}/${ref.partition}/replay-${ref.shardId}-${ref.firstSequenceNumber}.parquet`;
}

export type EntryStatus = 'quarantined' | 'replayed';

/** One entry of the quarantine as an operator sees it. */
export interface QuarantinedEntry {
  /** The quarantine object it is read from (the one that owns its record). */
  readonly objectKey: string;
  readonly entry: QuarantineEntryJson;
  readonly subSequenceNumber: number;
  readonly arrivalMs: number;
  /** Bytes of the failed record or line, as they arrived (what is kept may be less: `entry.data_form`). */
  readonly size: number;
  readonly status: EntryStatus;
  /** When it was replayed (epoch ms), for `replayed` entries. */
  readonly replayedAtMs?: number;
}

/** A quarantine object and the entries it owns, in file order. */
export interface ScannedObject {
  readonly ref: QuarantineObjectRef;
  readonly entries: readonly QuarantinedEntry[];
  readonly hasMarker: boolean;
}

/** Everything `scanQuarantine` read. */
export interface QuarantineScan {
  readonly objects: readonly ScannedObject[];
  /** Entries left out because another object owns their record, or because they repeat an entry of the same object. */
  readonly duplicates: number;
  /** Lines or markers that could not be parsed; reported, never fatal. */
  readonly unreadable: readonly { readonly key: string; readonly line: number; readonly error: string }[];
}

export interface ScanOptions {
  /** Epoch ms: read only partitions that may hold entries that arrived from then on (widened by an hour). */
  readonly since?: number | undefined;
}

/**
 * Reads every quarantine object (of the partitions `since` allows) and its replay marker, gives each Kinesis record
 * to the one object that owns it, and marks entries replayed or not. Entry-level filters (`since`, reason) are the
 * caller's: ownership must be decided over everything read, not over what a filter kept.
 *
 * `since` narrows only by partitions whose start is at least two hours before it: a batch's partition is the arrival
 * hour of its first record, its other records arrive later. An object that owns a record always has a greater first
 * sequence number, hence a partition no earlier, than any other object holding it — so the owner is always read.
 */
export async function scanQuarantine(store: ObjectStore, options: ScanOptions = {}): Promise<QuarantineScan> {
  const keys = await store.list(QUARANTINE_PREFIX);
  const keySet = new Set(keys);
  const since = options.since;
  const refs: QuarantineObjectRef[] = [];
  for (const key of keys) {
    const ref = parseQuarantineKey(key);
    if (!ref) continue;
    if (since !== undefined && ref.partitionStartMs + HOUR_MS <= since - HOUR_MS) continue;
    refs.push(ref);
  }
  const unreadable: { key: string; line: number; error: string }[] = [];
  const read = await Promise.all(
    refs.map(async (ref) => {
      const markerKey = replayMarkerKey(ref);
      const [body, markerBody] = await Promise.all([
        store.get(ref.key),
        keySet.has(markerKey) ? store.get(markerKey) : Promise.resolve(undefined),
      ]);
      return {
        ref,
        entries: parseEntries(ref.key, body, unreadable),
        marker: parseMarker(markerKey, markerBody, unreadable),
      };
    }),
  );

  // The owner of each record: the object with the greatest first sequence number among those holding it.
  const owner = new Map<string, QuarantineObjectRef>();
  for (const { ref, entries } of read) {
    for (const entry of entries) {
      const record = recordKey(entry);
      const current = owner.get(record);
      if (!current || compareSequence(ref.firstSequenceNumber, current.firstSequenceNumber) > 0) owner.set(record, ref);
    }
  }

  let duplicates = 0;
  const objects: ScannedObject[] = [];
  for (const { ref, entries, marker } of read) {
    const replayed = new Map<string, number>();
    for (const r of marker?.replayed ?? []) replayed.set(identityOf(ref.shardId, r), Date.parse(r.replayed_at));
    const seen = new Set<string>();
    const owned: QuarantinedEntry[] = [];
    for (const entry of entries) {
      const identity = identityOf(entry.shard_id, entry);
      if (owner.get(recordKey(entry)) !== ref || seen.has(identity)) {
        duplicates++;
        continue;
      }
      seen.add(identity);
      const replayedAtMs = replayed.get(identity);
      owned.push({
        objectKey: ref.key,
        entry,
        subSequenceNumber: entry.sub_sequence_number ?? 0,
        arrivalMs: Date.parse(entry.arrival_time),
        size: entry.original_size ?? base64Size(entry.data),
        status: replayedAtMs === undefined ? 'quarantined' : 'replayed',
        ...(replayedAtMs === undefined ? {} : { replayedAtMs }),
      });
    }
    if (owned.length > 0) objects.push({ ref, entries: owned, hasMarker: marker !== undefined });
  }
  return { objects, duplicates, unreadable };
}

/** Entry-level selection shared by `quarantine ls` and `replay`. */
export interface EntryFilter {
  readonly since?: number | undefined;
  readonly reason?: string | undefined;
}

/** Whether an entry passes `since` (its arrival time) and `reason`. */
export function matchesFilter(entry: QuarantinedEntry, filter: EntryFilter): boolean {
  if (filter.since !== undefined && entry.arrivalMs < filter.since) return false;
  if (filter.reason !== undefined && entry.entry.reason !== filter.reason) return false;
  return true;
}

export interface ReplayOptions extends EntryFilter {
  /** Decode and report, write nothing. */
  readonly dryRun?: boolean;
  /**
   * The ingest settings to decode and write with (maximum record size, pinned format, redaction, row limits, row
   * group size): those of the deployed function, or a corrected one.
   */
  readonly config: IngestConfig;
  readonly clock: Clock;
  /** Called after each quarantine object that had something to replay. */
  readonly onProgress?: (done: number, total: number) => void;
}

/** An entry that was selected and still does not decode (it stays in the quarantine). */
export interface StillFailing {
  readonly objectKey: string;
  readonly entry: QuarantineEntryJson;
  /** What decoding it said this time. */
  readonly reason: string;
  readonly message: string;
}

export interface ReplayReport {
  readonly objectsScanned: number;
  /** Quarantine objects whose replayed rows were written (or would be, with `dryRun`). */
  readonly objectsReplayed: number;
  /** Entries not yet replayed that passed the filter. */
  readonly selected: number;
  /** Of those, entries that now decode and were replayed. */
  readonly replayed: number;
  readonly stillFailing: readonly StillFailing[];
  /** Quarantine objects left untouched, and why. */
  readonly skipped: readonly { readonly objectKey: string; readonly why: string }[];
  /** Rows written by this run, including the rows of earlier replays of the same objects that were rewritten. */
  readonly rows: Readonly<Record<TableName, number>>;
  /** Rows of newly replayed entries per `source_format`. */
  readonly rowsByFormat: Readonly<Record<string, number>>;
  readonly duplicates: number;
  /** Keys written (or that would be, with `dryRun`): Parquet objects, then markers. */
  readonly keys: readonly string[];
}

/**
 * Re-ingests quarantined entries that decode now (after a decoder fix or a configuration change), writing their
 * rows exactly once: see the module comment. Entries that still fail stay quarantined and are reported.
 *
 * An entry is replayed whole or not at all: a record quarantined whole that now decodes only partly (one bad line)
 * stays quarantined, so that a later fix replays all of it without duplicating the lines that worked.
 *
 * @example
 * const report = await replayQuarantine(store, { reason: 'invalid_json', config: loadIngestConfig(process.env), clock: Date.now });
 */
export async function replayQuarantine(store: ObjectStore, options: ReplayOptions): Promise<ReplayReport> {
  const scan = await scanQuarantine(store, { since: options.since });
  const work = scan.objects.filter((o) =>
    o.entries.some((e) => e.status === 'quarantined' && matchesFilter(e, options)),
  );
  const stillFailing: StillFailing[] = [];
  const skipped: { objectKey: string; why: string }[] = [];
  const keys: string[] = [];
  const rows: Record<TableName, number> = { logs: 0, spans: 0 };
  const rowsByFormat: Record<string, number> = {};
  let selected = 0;
  let replayed = 0;
  let objectsReplayed = 0;
  let done = 0;

  const { config } = options;
  const decodeOptions: DecodeOptions = {
    maxRecordBytes: config.maxRecordBytes,
    redactor: config.redactor,
    format: config.format,
  };
  for (const object of work) {
    const nowMs = options.clock();
    const previous = object.entries.filter((e) => e.status === 'replayed');
    const candidates = object.entries.filter((e) => e.status === 'quarantined' && matchesFilter(e, options));
    selected += candidates.length;

    // Rebuild the object's earlier replays first: its output must keep holding them.
    const sink = newSink();
    let regressed: string | undefined;
    for (const e of previous) {
      const failures = decodeEntry(e, millisToNanos(e.replayedAtMs ?? nowMs), sink, decodeOptions, config);
      if (failures.length > 0) {
        regressed = `entry ${describeEntry(e.entry)} was replayed before and no longer decodes (${failures[0]?.reason}): fix the decoder, then replay again`;
        break;
      }
    }
    if (regressed !== undefined) {
      skipped.push({ objectKey: object.ref.key, why: regressed });
      for (const e of candidates)
        stillFailing.push({ objectKey: object.ref.key, entry: e.entry, reason: 'skipped', message: regressed });
      options.onProgress?.(++done, work.length);
      continue;
    }

    const now: QuarantinedEntry[] = [];
    const newLogs = sink.logs.length;
    const newSpans = sink.spans.length;
    for (const e of candidates) {
      const notKept = notReplayable(e.entry);
      if (notKept !== undefined) {
        stillFailing.push({ objectKey: object.ref.key, entry: e.entry, reason: 'not_kept', message: notKept });
        continue;
      }
      const logsBefore = sink.logs.length;
      const spansBefore = sink.spans.length;
      const failures = decodeEntry(e, millisToNanos(nowMs), sink, decodeOptions, config);
      if (failures.length === 0) {
        now.push(e);
        continue;
      }
      // All or nothing per entry: drop whatever part of it did decode.
      sink.logs.length = logsBefore;
      sink.spans.length = spansBefore;
      const first = failures[0];
      stillFailing.push({
        objectKey: object.ref.key,
        entry: e.entry,
        reason: first?.reason ?? 'decoder_error',
        message: failures.length > 1 ? `${first?.message} (and ${failures.length - 1} more)` : (first?.message ?? ''),
      });
    }
    if (now.length === 0) {
      options.onProgress?.(++done, work.length);
      continue;
    }
    for (let i = newLogs; i < sink.logs.length; i++) count(rowsByFormat, sink.logs[i]?.source_format);
    for (let i = newSpans; i < sink.spans.length; i++) count(rowsByFormat, sink.spans[i]?.source_format);

    const writes = encodeObject(object.ref, sink, config.rowGroupRows);
    const marker: ReplayMarkerJson = {
      version: 1,
      quarantine_key: object.ref.key,
      shard_id: object.ref.shardId,
      replayed: [
        ...previous.map((e) => replayedEntry(e, e.replayedAtMs ?? nowMs)),
        ...now.map((e) => replayedEntry(e, nowMs)),
      ],
      objects: writes.map((w) => w.key),
    };
    const markerKey = replayMarkerKey(object.ref);
    if (!options.dryRun) {
      // Data first, marker second: if the marker is lost, the next run rewrites the same objects (never a second copy).
      await Promise.all(writes.map((w) => store.put(w.key, w.body, PARQUET)));
      await store.put(markerKey, Buffer.from(`${JSON.stringify(marker)}\n`, 'utf8'), JSON_TYPE);
    }
    for (const w of writes) {
      keys.push(w.key);
      rows[w.table] += w.rows;
    }
    keys.push(markerKey);
    replayed += now.length;
    objectsReplayed++;
    options.onProgress?.(++done, work.length);
  }

  return {
    objectsScanned: scan.objects.length,
    objectsReplayed,
    selected,
    replayed,
    stillFailing,
    skipped,
    rows,
    rowsByFormat,
    duplicates: scan.duplicates,
    keys,
  };
}

/**
 * Why an entry cannot be replayed, or `undefined` when it can: only the part of its bytes that could be inspected
 * for secrets was kept (`prefix`), or none (`withheld`) — decision D17. What is left is not the record that arrived,
 * and rows from it would be rows the producer never sent (the prefix of a corrupt gzip stream, say). Entries whose
 * secrets were replaced (`redacted`) decode as the original did and are replayed, with the secrets still replaced.
 */
function notReplayable(entry: QuarantineEntryJson): string | undefined {
  if (entry.data_form === 'prefix') {
    return `only part of the record was kept (${entry.data_note ?? 'the rest could not be inspected for secrets'}): re-send it from the producer`;
  }
  if (entry.data_form === 'withheld') {
    return `its bytes were not kept (${entry.data_note ?? 'they could not be inspected for secrets'}): re-send it from the producer`;
  }
  return undefined;
}

/**
 * Decodes one entry again with the context it had the first time, so its rows get the identity they would have had
 * (`shard_id`, `sequence_number`, `sub_sequence_number`, `record_ordinal`, `arrival_time`).
 *
 * A whole record goes through `decodeRecord`, format detection included. A line of a JSON-lines record is decoded as
 * a JSON line (the record it came from was detected as JSON lines; detecting the line alone could take it for
 * something else), preceded by `line - 1` empty lines: the decoder skips them but counts them, so the row's
 * `record_ordinal` is the original 0-based line index and a failure keeps its original line number.
 */
function decodeEntry(
  e: QuarantinedEntry,
  observedNs: bigint,
  sink: DecodeSink,
  options: DecodeOptions,
  config: IngestConfig,
): DecodeFailure[] {
  const { entry } = e;
  const raw = Buffer.from(entry.data, 'base64');
  const ctx: RecordContext = {
    shardId: entry.shard_id,
    sequenceNumber: entry.sequence_number,
    subSequenceNumber: e.subSequenceNumber,
    formatPrefix: formatPrefixOf(entry),
    partitionKey: entry.partition_key,
    arrivalMs: e.arrivalMs,
    observedNs,
  };
  const logsBefore = sink.logs.length;
  const spansBefore = sink.spans.length;
  const controlBefore = sink.controlMessages;
  try {
    let failures: DecodeFailure[];
    if (entry.line === null) {
      failures = decodeRecord(raw, ctx, sink, options);
    } else if (entry.decoder === JSON_LINES) {
      const text = '\n'.repeat(entry.line - 1) + raw.toString('utf8');
      failures = decodeJsonLines(Buffer.from(text, 'utf8'), text, ctx, sink, options);
    } else {
      const message = `line ${entry.line} of a ${entry.decoder} record: replay re-decodes lines of JSON-lines records only`;
      return [{ reason: 'unsupported_format', message, raw, decoder: 'replay' }];
    }
    finishRows(sink, logsBefore, spansBefore, ctx, config.hygiene, config.redactor);
    return failures;
  } catch (error) {
    sink.logs.length = logsBefore;
    sink.spans.length = spansBefore;
    sink.controlMessages = controlBefore;
    return [{ reason: 'decoder_error', message: describeError(error), raw, decoder: 'replay' }];
  }
}

/**
 * The `formatPrefix` the entry was decoded with. Entries written before `aggregated` existed came out of a KPL
 * aggregate when their sub-sequence number is above 0; the first user record of an aggregate (sub-sequence 0)
 * cannot be told apart and is replayed as a plain record: same row identity, `source_format` without `kpl+`.
 */
function formatPrefixOf(entry: QuarantineEntryJson): '' | 'kpl+' {
  const aggregated = entry.aggregated ?? (entry.sub_sequence_number ?? 0) > 0;
  return aggregated ? 'kpl+' : '';
}

interface Write {
  readonly table: TableName;
  readonly key: string;
  readonly body: Uint8Array;
  readonly rows: number;
}

/** One Parquet object per table that has rows, sorted the way ingest sorts them. */
function encodeObject(ref: QuarantineObjectRef, sink: DecodeSink, rowGroupRows: number): Write[] {
  const writes: Write[] = [];
  const logs = sortByTraceThenTime<LogRecord>(sink.logs, (r) => r.time_unix_nano);
  const spans = sortByTraceThenTime<SpanRecord>(sink.spans, (r) => r.start_time_unix_nano);
  const tables: [TableName, readonly (LogRecord | SpanRecord)[]][] = [
    ['logs', logs],
    ['spans', spans],
  ];
  for (const [table, rows] of tables) {
    if (rows.length === 0) continue;
    const body = writeParquet(TABLES[table], rows as readonly Readonly<Record<string, unknown>>[], { rowGroupRows });
    writes.push({ table, key: replayTableKey(table, ref), body, rows: rows.length });
  }
  return writes;
}

function replayedEntry(e: QuarantinedEntry, atMs: number): ReplayedEntryJson {
  return {
    sequence_number: e.entry.sequence_number,
    sub_sequence_number: e.subSequenceNumber,
    line: e.entry.line,
    reason: e.entry.reason,
    replayed_at: new Date(atMs).toISOString(),
  };
}

function parseEntries(
  key: string,
  body: Uint8Array | undefined,
  unreadable: { key: string; line: number; error: string }[],
): QuarantineEntryJson[] {
  if (body === undefined) return [];
  const entries: QuarantineEntryJson[] = [];
  const lines = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8').split('\n');
  for (const [i, line] of lines.entries()) {
    if (line.trim() === '') continue;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch (error) {
      unreadable.push({ key, line: i + 1, error: describeError(error) });
      continue;
    }
    const parsed = QuarantineEntryJson.safeParse(json);
    if (parsed.success) entries.push(parsed.data);
    else unreadable.push({ key, line: i + 1, error: describeIssue(parsed.error) });
  }
  return entries;
}

function parseMarker(
  key: string,
  body: Uint8Array | undefined,
  unreadable: { key: string; line: number; error: string }[],
): ReplayMarkerJson | undefined {
  if (body === undefined) return undefined;
  try {
    const parsed = ReplayMarkerJson.safeParse(JSON.parse(Buffer.from(body).toString('utf8')));
    if (parsed.success) return parsed.data;
    unreadable.push({ key, line: 1, error: describeIssue(parsed.error) });
  } catch (error) {
    unreadable.push({ key, line: 1, error: describeError(error) });
  }
  return undefined;
}

/** The Kinesis record an entry came from: the unit a batch processes, hence the unit of ownership. */
function recordKey(entry: QuarantineEntryJson): string {
  return `${entry.shard_id}\u0000${entry.sequence_number}`;
}

/** `(shard_id, sequence_number, sub_sequence_number, line)`: what makes an entry unique (D2). */
function identityOf(
  shardId: string,
  e: {
    readonly sequence_number: string;
    readonly sub_sequence_number?: number | undefined;
    readonly line: number | null;
  },
): string {
  return `${shardId}\u0000${e.sequence_number}\u0000${e.sub_sequence_number ?? 0}\u0000${e.line ?? 0}`;
}

/** Kinesis sequence numbers are decimal strings of up to 128 digits: compare them as numbers. */
export function compareSequence(a: string, b: string): number {
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function describeEntry(entry: QuarantineEntryJson): string {
  const sub = entry.sub_sequence_number ? `/${entry.sub_sequence_number}` : '';
  const line = entry.line === null ? '' : ` line ${entry.line}`;
  return `${entry.shard_id} ${entry.sequence_number}${sub}${line}`;
}

function base64Size(data: string): number {
  const padding = data.endsWith('==') ? 2 : data.endsWith('=') ? 1 : 0;
  return (data.length * 3) / 4 - padding;
}

function count(counts: Record<string, number>, key: string | undefined): void {
  if (key !== undefined) counts[key] = (counts[key] ?? 0) + 1;
}
