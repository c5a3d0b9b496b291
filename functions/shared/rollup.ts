import { describeError, describeIssue, SkeinError } from '../../schemas/errors.ts';
import { type Exemplar, MAX_EXEMPLARS } from '../../schemas/exemplars.ts';
import { type Aggregate, type MeasureSpec, RollupObject, type ShardMark } from '../../schemas/measures.ts';
import type { LogRecord, SpanRecord } from '../../schemas/records.ts';
import {
  compileField,
  compileGroupKey,
  compileLabel,
  compileSelector,
  type FieldExtractor,
  RowCursor,
  type RowPredicate,
} from '../core/row-labels.ts';
import { newSketch, SKETCH_DEFAULT_ALPHA, type Sketch, sketchAdd, sketchToData } from '../core/sketch.ts';
import { compareExemplars, type ExemplarOrder, offerExemplar } from './exemplar-select.ts';
import type { BatchId } from './object-keys.ts';
import { assignedMinute, DEFAULT_ALLOWED_LATENESS_MS } from './watermark.ts';

/**
 * How many arrival partitions past its last event minute a reader looks at. Rows are assigned to minutes by
 * `assignedMinute` (functions/shared/watermark.ts, decision D15): at most `ceil(L / 1 min)` minutes before their
 * batch's arrival partition, L ≤ 5 min. Objects written before D15 clamped a row's event minute into
 * [arrivalMinute − 5, arrivalMinute]; reading 5 partitions ahead keeps both kinds counted exactly once.
 */
export const ROLLUP_LATENESS_MINUTES = 5;

const MINUTE_MS = 60_000;
/** Content type of rollup objects. */
export const ROLLUP_CONTENT_TYPE = 'application/json';

export interface RollupOptions {
  /** Relative accuracy of quantile sketches (default 0.01). */
  readonly alpha?: number;
  /** Allowed lateness L (ms) rows are assigned to minutes with (default `DEFAULT_ALLOWED_LATENESS_MS`). */
  readonly latenessMs?: number;
  /** The batch's shard and how far it got there (its watermark, D15): recorded in the object. */
  readonly shard?: { readonly shardId: string; readonly mark: ShardMark };
}

/** `YYYY-MM-DDTHH:MM` (UTC) of an epoch minute. */
export function minuteLabel(epochMinute: number): string {
  return new Date(epochMinute * MINUTE_MS).toISOString().slice(0, 16);
}

/** `rollups/minute=YYYY-MM-DDTHH:MM/`: the arrival partition of an epoch minute. */
export function rollupPartitionPrefix(epochMinute: number): string {
  return `rollups/minute=${minuteLabel(epochMinute)}/`;
}

/**
 * `rollups/minute=YYYY-MM-DDTHH:MM/<shard>-<firstSeq>.json`, partitioned by the arrival minute of the batch's first
 * record. Derived from the batch alone, so a retried (or bisected) batch overwrites its earlier attempt.
 */
export function rollupObjectKey(batch: BatchId): string {
  const minute = Math.floor(batch.firstArrivalMs / MINUTE_MS);
  return `${rollupPartitionPrefix(minute)}${batch.shardId}-${batch.firstSequenceNumber}.json`;
}

/** A measure that could not be compiled (an invalid regex, an unknown label): it is left out of every rollup. */
export interface InvalidMeasure {
  readonly id: string;
  readonly message: string;
}

interface CompiledMeasure {
  /** Position in the minute accumulator arrays. */
  readonly slot: number;
  readonly id: string;
  readonly predicate: RowPredicate;
  /** Index into the table's distinct group-key functions (measures with the same `by` share one per row). */
  readonly keySlot: number;
  /** Undefined for count measures. */
  readonly field: FieldExtractor | undefined;
  readonly sketch: boolean;
  /** Which rows its `exemplars` keep (D22): the latest for counts, the largest values otherwise. */
  readonly order: ExemplarOrder;
  /** Stats measures also keep the smallest values (`exemplars_low`), for `min(...)` rules. */
  readonly low: boolean;
}

/** The measures of one table, and the distinct group-key functions they use. */
export interface TableMeasures {
  readonly measures: readonly CompiledMeasure[];
  /** Per key slot: the group key of a row, or for single-label `by` lists the raw label value (see `rawKey`). */
  readonly groupKeys: readonly ((row: RowCursor) => string)[];
}

/** Measures compiled for the hot loop: per table, in measure order. */
export interface CompiledMeasures {
  readonly ids: readonly string[];
  /**
   * By measure slot: `by` has exactly one label, so its accumulators are keyed by the raw label value (no
   * JSON.stringify per row) and the group key `["value"]` is built once per group on output.
   */
  readonly rawKeys: readonly boolean[];
  readonly logs: TableMeasures;
  readonly spans: TableMeasures;
  readonly invalid: readonly InvalidMeasure[];
}

const compiledCache = new WeakMap<readonly MeasureSpec[], CompiledMeasures>();

/**
 * Compiles measures once per array identity (ingest loads them once and calls `computeRollup` per batch). Measures
 * that do not compile are reported in `invalid` and left out, so one bad rule cannot stop ingest.
 */
export function compileMeasures(measures: readonly MeasureSpec[]): CompiledMeasures {
  const cached = compiledCache.get(measures);
  if (cached) return cached;
  const ids: string[] = [];
  const rawKeys: boolean[] = [];
  const tables = { logs: newTableBuilder(), spans: newTableBuilder() };
  const invalid: InvalidMeasure[] = [];
  const seen = new Set<string>();
  for (const spec of measures) {
    if (seen.has(spec.id)) continue;
    try {
      const table = spec.selector.table;
      if (spec.kind !== 'count' && spec.field === undefined) {
        throw new SkeinError('measure_invalid', `a ${spec.kind} measure needs a field`);
      }
      const builder = tables[table];
      const byKey = JSON.stringify(spec.by);
      const predicate = compileSelector(spec.selector);
      const field = spec.kind === 'count' || spec.field === undefined ? undefined : compileField(spec.field, table);
      let keySlot = builder.keySlots.get(byKey);
      if (keySlot === undefined) {
        keySlot = builder.groupKeys.length;
        const only = spec.by.length === 1 ? spec.by[0] : undefined;
        builder.groupKeys.push(only === undefined ? compileGroupKey(spec.by, table) : compileLabel(only, table));
        builder.keySlots.set(byKey, keySlot);
      }
      const rawKey = spec.by.length === 1;
      builder.measures.push({
        slot: ids.length,
        id: spec.id,
        predicate,
        keySlot,
        field,
        sketch: spec.kind === 'sketch',
        order: spec.kind === 'count' ? 'latest' : 'largest',
        low: spec.kind === 'stats',
      });
      seen.add(spec.id);
      ids.push(spec.id);
      rawKeys.push(rawKey);
    } catch (error) {
      invalid.push({ id: spec.id, message: describeError(error) });
    }
  }
  const logs: TableMeasures = { measures: tables.logs.measures, groupKeys: tables.logs.groupKeys };
  const spans: TableMeasures = { measures: tables.spans.measures, groupKeys: tables.spans.groupKeys };
  const result: CompiledMeasures = { ids, rawKeys, logs, spans, invalid };
  compiledCache.set(measures, result);
  return result;
}

interface TableBuilder {
  readonly measures: CompiledMeasure[];
  readonly groupKeys: ((row: RowCursor) => string)[];
  /** JSON of a `by` list → its index in `groupKeys`. */
  readonly keySlots: Map<string, number>;
}

function newTableBuilder(): TableBuilder {
  return { measures: [], groupKeys: [], keySlots: new Map() };
}

/** One measure × minute × group accumulator (mutable, hot path). */
class Accumulator {
  n = 0;
  sum = 0;
  min = Number.POSITIVE_INFINITY;
  max = Number.NEGATIVE_INFINITY;
  sketch: Sketch | undefined = undefined;
  /** Best first (functions/shared/exemplar-select.ts). */
  exemplars: Exemplar[] = [];
  low: Exemplar[] | undefined = undefined;
}

/** Per event minute: per measure slot, group key → accumulator. */
type MinuteSlots = Map<string, Accumulator>[];

/**
 * Computes one batch's rollup: for every minute, measure and group key, the aggregate of the batch's rows (count; or
 * count/sum/min/max of the field over matching rows that have it; plus a quantile sketch). Each row counts in the
 * minute `assignedMinute(eventTime, batchArrivalMs, latenessMs)` gives (`batchArrivalMs` is the arrival time of the
 * batch's first record, the same instant `rollupObjectKey` partitions by), and the object records the lateness and the
 * batch's shard watermark. With no measures it still returns an (empty) object: ingest writes one every batch so a
 * bisected retry overwrites a larger earlier attempt, and the shard's watermark moves on.
 *
 * @example encodeRollup(computeRollup(logs, spans, measures, batch.firstArrivalMs))
 */
export function computeRollup(
  logs: readonly LogRecord[],
  spans: readonly SpanRecord[],
  measures: readonly MeasureSpec[],
  batchArrivalMs: number,
  options: RollupOptions = {},
): RollupObject {
  const compiled = compileMeasures(measures);
  const alpha = options.alpha ?? SKETCH_DEFAULT_ALPHA;
  const latenessMs = options.latenessMs ?? DEFAULT_ALLOWED_LATENESS_MS;
  const minutes = new Map<number, MinuteSlots>();
  const slotCount = compiled.ids.length;
  const cursor = new RowCursor();

  // The minute of consecutive rows is often the same: remember the last one instead of a map lookup per row.
  let lastMinute = Number.NaN;
  let lastSlots: MinuteSlots | undefined;
  const slotsOf = (minute: number): MinuteSlots => {
    if (minute === lastMinute && lastSlots) return lastSlots;
    let slots = minutes.get(minute);
    if (!slots) {
      slots = new Array<Map<string, Accumulator>>(slotCount);
      for (let i = 0; i < slotCount; i++) slots[i] = new Map();
      minutes.set(minute, slots);
    }
    lastMinute = minute;
    lastSlots = slots;
    return slots;
  };

  const logKeys = new Array<string | undefined>(compiled.logs.groupKeys.length);
  if (compiled.logs.measures.length > 0) {
    for (let r = 0; r < logs.length; r++) {
      const row = logs[r];
      if (!row) continue;
      cursor.setLog(row);
      logKeys.fill(undefined);
      accumulate(compiled.logs, cursor, logKeys, slotsOf(assignedMinute(row.time, batchArrivalMs, latenessMs)), alpha);
    }
  }
  const spanKeys = new Array<string | undefined>(compiled.spans.groupKeys.length);
  if (compiled.spans.measures.length > 0) {
    for (let r = 0; r < spans.length; r++) {
      const row = spans[r];
      if (!row) continue;
      cursor.setSpan(row);
      spanKeys.fill(undefined);
      accumulate(
        compiled.spans,
        cursor,
        spanKeys,
        slotsOf(assignedMinute(row.start_time, batchArrivalMs, latenessMs)),
        alpha,
      );
    }
  }
  const rollup = toRollupObject(compiled, minutes);
  rollup.lateness_ms = latenessMs;
  if (options.shard) rollup.shards = { [options.shard.shardId]: options.shard.mark };
  return rollup;
}

/** Adds one row to every measure of its table that it matches; `keys` caches this row's group keys by key slot. */
function accumulate(
  table: TableMeasures,
  cursor: RowCursor,
  keys: (string | undefined)[],
  slots: MinuteSlots,
  alpha: number,
): void {
  const measures = table.measures;
  for (let i = 0; i < measures.length; i++) {
    const m = measures[i];
    if (!m?.predicate(cursor)) continue;
    let value = 0;
    if (m.field) {
      const v = m.field(cursor);
      if (v === undefined) continue;
      value = v;
    }
    const groups = slots[m.slot];
    if (!groups) continue;
    let key = keys[m.keySlot];
    if (key === undefined) {
      key = table.groupKeys[m.keySlot]?.(cursor) ?? '[]';
      keys[m.keySlot] = key;
    }
    let acc = groups.get(key);
    if (!acc) {
      acc = new Accumulator();
      if (m.sketch) acc.sketch = newSketch(alpha);
      groups.set(key, acc);
    }
    acc.n++;
    if (m.field) {
      acc.sum += value;
      if (value < acc.min) acc.min = value;
      if (value > acc.max) acc.max = value;
      if (acc.sketch) sketchAdd(acc.sketch, value);
    }
    offerRow(acc.exemplars, m.order, cursor, m.field ? value : 1);
    if (m.low) {
      if (acc.low === undefined) acc.low = [];
      offerRow(acc.low, 'smallest', cursor, value);
    }
  }
}

/**
 * Offers the cursor's row as an exemplar. Most rows of a busy group cannot beat the worst of a full set: that is
 * decided on time or value alone, before any object is built.
 */
function offerRow(set: Exemplar[], order: ExemplarOrder, cursor: RowCursor, value: number): void {
  const row = cursor.span ?? cursor.log;
  if (row === undefined || (row.trace_id === null && row.request_id === null)) return;
  const time = cursor.span ? cursor.span.start_time : (cursor.log?.time ?? 0);
  const worst = set.length >= MAX_EXEMPLARS ? set[set.length - 1] : undefined;
  if (worst !== undefined) {
    if (order === 'latest' ? time < worst.time_ms : order === 'largest' ? value < worst.value : value > worst.value)
      return;
  }
  const e: Exemplar = { trace_id: row.trace_id, request_id: row.request_id, time_ms: time, value };
  if (row.service_name !== null) e.service = row.service_name;
  if (worst !== undefined && compareExemplars(order, e, worst) >= 0) return;
  offerExemplar(set, order, e);
}

function toRollupObject(compiled: CompiledMeasures, minutes: ReadonlyMap<number, MinuteSlots>): RollupObject {
  const ids = compiled.ids;
  const out: RollupObject['minutes'] = {};
  const sortedMinutes = [...minutes.keys()].sort((a, b) => a - b);
  for (const minute of sortedMinutes) {
    const slots = minutes.get(minute);
    if (!slots) continue;
    const byMeasure: Record<string, Record<string, Aggregate>> = {};
    let any = false;
    for (let s = 0; s < slots.length; s++) {
      const groups = slots[s];
      const id = ids[s];
      if (!groups || groups.size === 0 || id === undefined) continue;
      const byGroup: Record<string, Aggregate> = {};
      if (compiled.rawKeys[s])
        for (const [value, acc] of groups) byGroup[`[${JSON.stringify(value)}]`] = toAggregate(acc);
      else for (const [key, acc] of groups) byGroup[key] = toAggregate(acc);
      byMeasure[id] = byGroup;
      any = true;
    }
    if (any) out[String(minute)] = byMeasure;
  }
  return { version: 1, measures: [...ids], minutes: out };
}

function toAggregate(acc: Accumulator): Aggregate {
  // A count measure never touches min (it stays +Infinity): that is how its aggregate stays `{ n }`.
  const out: Aggregate =
    acc.min === Number.POSITIVE_INFINITY
      ? { n: acc.n }
      : acc.sketch
        ? { n: acc.n, sum: acc.sum, min: acc.min, max: acc.max, sketch: sketchToData(acc.sketch) }
        : { n: acc.n, sum: acc.sum, min: acc.min, max: acc.max };
  if (acc.exemplars.length > 0) out.exemplars = acc.exemplars;
  if (acc.low !== undefined && acc.low.length > 0) out.exemplars_low = acc.low;
  return out;
}

/** A rollup object as stored: compact JSON, UTF-8. */
export function encodeRollup(rollup: RollupObject): Uint8Array {
  return Buffer.from(JSON.stringify(rollup), 'utf8');
}

/** Parses a stored rollup object; throws a `SkeinError` (`rollup_invalid`) naming the problem when it is not one. */
export function decodeRollup(bytes: Uint8Array, key: string): RollupObject {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch (error) {
    throw new SkeinError('rollup_invalid', `rollup object ${key} is not JSON: ${describeError(error)}`);
  }
  const parsed = RollupObject.safeParse(json);
  if (!parsed.success) {
    throw new SkeinError('rollup_invalid', `rollup object ${key} is invalid: ${describeIssue(parsed.error)}`);
  }
  return parsed.data;
}
