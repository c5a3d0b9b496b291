import type { LogRecord } from '../../schemas/records.ts';
import {
  normaliseRequestId,
  normaliseSpanId,
  normaliseTraceId,
  spanIdFromDecimal,
  traceIdFromDecimal,
} from '../core/ids.ts';
import { REDACTED } from '../core/redact.ts';
import { DD_SPAN_ID_KEYS, DD_TRACE_ID_KEYS, REQUEST_ID_KEYS, SPAN_ID_KEYS, TRACE_ID_KEYS } from './correlation.ts';
import type { DecodeFailure, DecodeOptions, DecodeSink, RecordContext, Redactor } from './decoded.ts';
import { isStackOverflow, tooDeepMessage } from './nesting.ts';
import { severityNumber, severityText } from './severity.ts';
import { nanosToMillis, toEventNanos } from './timestamps.ts';

export const JSON_LINES = 'json-lines';

/**
 * What a known field of a log line means. Unknown fields become attributes.
 *
 * Dialects read (field names as the libraries write them):
 * - plain: `ts`/`time`/`timestamp`, `level`/`severity`, `msg`/`message`, ids, `service`.
 * - Rust `tracing-subscriber` JSON: `timestamp`, `level`, `fields` {`message`, …} flattened into the row, `target`,
 *   `span` {name, …} and `spans` [root … leaf] kept as attributes and searched for ids.
 * - logstash-logback-encoder: `@timestamp`, `level`, `level_value`, `message`, `logger_name`, `thread_name`,
 *   `stack_trace`, MDC (`traceId`, `spanId`, `trace_id`, …) at the top level.
 * - pino: numeric `level`, `time` in ms, `msg`, `name`, `hostname`, `pid`, `reqId` or `req.id` (pino-http).
 * - bunyan: `v`, numeric `level`, ISO `time`, `msg`, `name` (the service), `hostname`, `pid`.
 * - AWS Lambda Powertools: `level`, `message`, `timestamp`, `service`, `xray_trace_id`, `function_request_id`,
 *   `correlation_id`, `cold_start`, `function_name`, ….
 * - Datadog: `dd.trace_id`/`dd.span_id` (decimal 64-bit) flat, or `dd` {trace_id, span_id, service} (dd-trace-js).
 */
enum Kind {
  Time,
  Level,
  Body,
  TraceId,
  SpanId,
  RequestId,
  Service,
  DdTraceId,
  DdSpanId,
  /** tracing-subscriber's event fields: flattened into the row. */
  Fields,
  /** Kept as an attribute; searched for ids when the line has none of its own. */
  SpanObject,
  SpanList,
  PinoReq,
  DdObject,
  /** pino/bunyan logger name: the service when the line looks like pino or bunyan. */
  Name,
}

/** The row values a field can fill. Several kinds fill one slot (`dd.trace_id` and `traceId` both fill Trace). */
const Slot = { Time: 0, Level: 1, Body: 2, Trace: 3, Span: 4, Request: 5, Service: 6 } as const;
const SLOTS = 7;
/** Rank of an empty slot: any candidate beats it. */
const NO_RANK = 0x7fff_ffff;
/** Added to the rank of a field nested in tracing's `fields`: the line's own top-level fields win. */
const NESTED_RANK = 1000;

interface Field {
  readonly kind: Kind;
  /** -1 for containers, which fill no slot themselves. */
  readonly slot: number;
  /** Lower wins when a line has several fields for one slot. */
  readonly rank: number;
}

const FIELDS = new Map<string, Field>();
function define(kind: Kind, slot: number, keys: readonly string[], firstRank = 0): void {
  keys.forEach((key, i) => {
    FIELDS.set(key, { kind, slot, rank: firstRank + i });
  });
}
define(Kind.Time, Slot.Time, ['timestamp', '@timestamp', 'time', 'ts']);
define(Kind.Level, Slot.Level, ['level', 'severity', 'severity_text', 'levelname', 'log.level', 'level_value']);
define(Kind.Body, Slot.Body, ['msg', 'message', 'body']);
define(Kind.TraceId, Slot.Trace, TRACE_ID_KEYS);
define(Kind.DdTraceId, Slot.Trace, DD_TRACE_ID_KEYS, TRACE_ID_KEYS.length);
define(Kind.SpanId, Slot.Span, SPAN_ID_KEYS);
define(Kind.DdSpanId, Slot.Span, DD_SPAN_ID_KEYS, SPAN_ID_KEYS.length);
define(Kind.RequestId, Slot.Request, REQUEST_ID_KEYS);
define(Kind.Service, Slot.Service, ['service.name', 'service_name', 'service', 'dd.service']);
define(Kind.Fields, -1, ['fields']);
define(Kind.SpanObject, -1, ['span']);
define(Kind.SpanList, -1, ['spans']);
define(Kind.PinoReq, -1, ['req']);
define(Kind.DdObject, -1, ['dd']);
define(Kind.Name, -1, ['name']);

/**
 * Decodes newline-delimited JSON log lines (one or more per record) into log rows appended to `sink.logs`.
 * Each line stands alone: a bad line is returned as a failure carrying its own bytes and line number, and the good
 * lines of the same record still become rows. `record_ordinal` is the 0-based line index, so a line keeps its
 * identity when it is replayed from the quarantine.
 */
export function decodeJsonLines(
  data: Uint8Array,
  text: string,
  ctx: RecordContext,
  sink: DecodeSink,
  options: DecodeOptions,
): DecodeFailure[] {
  const failures: DecodeFailure[] = [];
  let start = 0;
  let lineIndex = 0;
  let rows = 0;
  const length = text.length;
  while (start <= length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = length;
    const line = text.slice(start, end).trim();
    if (line.length > 0) {
      const failure = decodeLine(line, lineIndex, ctx, sink, options.redactor);
      if (failure) failures.push(failure);
      else rows++;
    }
    start = end + 1;
    lineIndex++;
  }
  if (rows === 0 && failures.length === 0) {
    failures.push({
      reason: 'empty_record',
      message: 'the record holds only blank lines',
      raw: data,
      decoder: JSON_LINES,
    });
  }
  return failures;
}

function decodeLine(
  line: string,
  lineIndex: number,
  ctx: RecordContext,
  sink: DecodeSink,
  redactor: Redactor,
): DecodeFailure | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch (error) {
    return lineFailure('invalid_json', `line ${lineIndex + 1}: ${(error as SyntaxError).message}`, line, lineIndex);
  }
  if (!isPlainObject(parsed)) {
    return lineFailure('not_a_json_object', `line ${lineIndex + 1}: expected a JSON object`, line, lineIndex);
  }
  let row: LogRecord;
  try {
    row = toLogRow(parsed, lineIndex, ctx, redactor);
  } catch (error) {
    if (!isStackOverflow(error)) throw error;
    return lineFailure('too_deep', `line ${lineIndex + 1}: ${tooDeepMessage('the line', line)}`, line, lineIndex);
  }
  sink.logs.push(row);
  return undefined;
}

function lineFailure(
  reason: 'invalid_json' | 'not_a_json_object' | 'too_deep',
  message: string,
  line: string,
  lineIndex: number,
): DecodeFailure {
  return { reason, message, line: lineIndex + 1, raw: Buffer.from(line, 'utf8'), decoder: JSON_LINES };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * The state of one line being read. One instance is reused for every line (toLogRow never re-enters itself), so a
 * line costs no allocation beyond its row and its attributes object.
 */
const EMPTY: Record<string, unknown> = {};
const NO_REDACTION: Redactor = { isSecretKey: () => false, redactText: (text) => text };

class LineState {
  readonly ranks = new Int32Array(SLOTS);
  /** Key and raw value of each slot's current winner: put back as an attribute when a better field displaces it. */
  readonly keys: (string | undefined)[] = new Array<string | undefined>(SLOTS);
  readonly raws: unknown[] = new Array<unknown>(SLOTS);
  top: Record<string, unknown> = EMPTY;
  redactor: Redactor = NO_REDACTION;
  attributes: Record<string, unknown> | undefined;
  redacted = false;
  timeNs: bigint | undefined;
  level: unknown;
  body: string | null = null;
  traceId: string | undefined;
  spanId: string | undefined;
  requestId: string | undefined;
  service: string | null = null;
  name: unknown;
  span: Record<string, unknown> | undefined;
  spans: unknown[] | undefined;
  req: Record<string, unknown> | undefined;
  dd: Record<string, unknown> | undefined;

  reset(top: Record<string, unknown>, redactor: Redactor): void {
    this.ranks.fill(NO_RANK);
    this.keys.fill(undefined);
    this.raws.fill(undefined);
    this.top = top;
    this.redactor = redactor;
    this.attributes = undefined;
    this.redacted = false;
    this.timeNs = undefined;
    this.level = undefined;
    this.body = null;
    this.traceId = undefined;
    this.spanId = undefined;
    this.requestId = undefined;
    this.service = null;
    this.name = undefined;
    this.span = undefined;
    this.spans = undefined;
    this.req = undefined;
    this.dd = undefined;
  }

  /** Drops the references to the line's values, so the shared state does not keep them alive. */
  release(): void {
    this.raws.fill(undefined);
    this.top = EMPTY;
    this.attributes = undefined;
    this.level = undefined;
    this.name = undefined;
    this.span = undefined;
    this.spans = undefined;
    this.req = undefined;
    this.dd = undefined;
  }

  /** Makes (key, value) the slot's value when it ranks better than the current one, which becomes an attribute. */
  take(slot: number, rank: number, key: string, value: unknown): boolean {
    if (rank >= (this.ranks[slot] ?? NO_RANK)) return false;
    const displaced = this.keys[slot];
    if (displaced !== undefined) this.attribute(displaced, this.raws[slot]);
    this.ranks[slot] = rank;
    this.keys[slot] = key;
    this.raws[slot] = value;
    return true;
  }

  /** Keeps a field as an attribute; secret-named fields are redacted by name. */
  attribute(key: string, value: unknown): void {
    if (this.attributes === undefined) this.attributes = {};
    let kept = value;
    if (this.redactor.isSecretKey(key)) {
      kept = REDACTED;
      this.redacted = true;
    }
    if (key === '__proto__') Object.defineProperty(this.attributes, key, { value: kept, enumerable: true });
    else this.attributes[key] = kept;
  }

  /** Reads one field. `nested` fields come from tracing's `fields` and rank after the line's own. */
  visit(key: string, value: unknown, nested: boolean): void {
    // A nested field keeps its name unless the line has a top-level field of that name.
    const name = nested && Object.hasOwn(this.top, key) ? `fields.${key}` : key;
    const field = FIELDS.get(key);
    if (field === undefined) {
      this.attribute(name, value);
      return;
    }
    const rank = nested ? field.rank + NESTED_RANK : field.rank;
    const slot = field.slot;
    switch (field.kind) {
      case Kind.Time: {
        const ns = toEventNanos(value);
        if (ns !== undefined && this.take(slot, rank, name, value)) this.timeNs = ns;
        else this.attribute(name, value);
        return;
      }
      case Kind.Level:
        if ((typeof value === 'string' || typeof value === 'number') && this.take(slot, rank, name, value)) {
          this.level = value;
        } else this.attribute(name, value);
        return;
      case Kind.Body:
        if (value !== null && value !== undefined && this.take(slot, rank, name, value)) {
          this.body = typeof value === 'string' ? value : JSON.stringify(value);
        } else this.attribute(name, value);
        return;
      case Kind.TraceId:
      case Kind.DdTraceId: {
        const id =
          field.kind === Kind.TraceId ? normalisedId(value, normaliseTraceId) : ddId(value, traceIdFromDecimal);
        if (id !== undefined && this.take(slot, rank, name, value)) this.traceId = id;
        else this.attribute(name, value);
        return;
      }
      case Kind.SpanId:
      case Kind.DdSpanId: {
        const id = field.kind === Kind.SpanId ? normalisedId(value, normaliseSpanId) : ddId(value, spanIdFromDecimal);
        if (id !== undefined && this.take(slot, rank, name, value)) this.spanId = id;
        else this.attribute(name, value);
        return;
      }
      case Kind.RequestId: {
        const id = normalisedId(value, normaliseRequestId);
        if (id !== undefined && this.take(slot, rank, name, value)) this.requestId = id;
        else this.attribute(name, value);
        return;
      }
      case Kind.Service:
        if (typeof value === 'string' && value.length > 0 && this.take(slot, rank, name, value)) this.service = value;
        else this.attribute(name, value);
        return;
      case Kind.Fields:
        if (!nested && isPlainObject(value)) {
          for (const inner in value) this.visit(inner, value[inner], true);
        } else this.attribute(name, value);
        return;
      case Kind.SpanObject:
        if (!nested && isPlainObject(value)) this.span = value;
        this.attribute(name, value);
        return;
      case Kind.SpanList:
        if (!nested && Array.isArray(value)) this.spans = value;
        this.attribute(name, value);
        return;
      case Kind.PinoReq:
        if (!nested && isPlainObject(value)) this.req = value;
        this.attribute(name, value);
        return;
      case Kind.DdObject:
        if (!nested && isPlainObject(value)) this.dd = value;
        this.attribute(name, value);
        return;
      case Kind.Name:
        if (!nested && typeof value === 'string' && value.length > 0) this.name = value;
        else this.attribute(name, value);
        return;
    }
  }

  /** Ids the line did not carry itself, from the containers that hold them in some dialects. */
  fillFromContainers(): void {
    if (this.traceId === undefined || this.spanId === undefined || this.requestId === undefined) {
      if (this.dd !== undefined) {
        this.traceId ??= ddId(this.dd.trace_id, traceIdFromDecimal);
        this.spanId ??= ddId(this.dd.span_id, spanIdFromDecimal);
      }
      if (this.requestId === undefined && this.req !== undefined) {
        const text = idText(this.req.id);
        if (text !== undefined) this.requestId = normaliseRequestId(text);
      }
      // tracing: the current span first, then the span list from leaf to root.
      if (this.span !== undefined) this.idsFromSpan(this.span);
      if (this.spans !== undefined) {
        for (let i = this.spans.length - 1; i >= 0; i--) {
          const span = this.spans[i];
          if (isPlainObject(span)) this.idsFromSpan(span);
        }
      }
    }
    if (this.service === null && this.dd !== undefined && typeof this.dd.service === 'string' && this.dd.service) {
      this.service = this.dd.service;
    }
    if (this.name !== undefined) {
      // pino and bunyan write `name` for the logger, which names the service; elsewhere `name` is any field.
      const top = this.top;
      const pinoOrBunyan = typeof top.hostname === 'string' || typeof top.pid === 'number' || top.v === 0;
      if (this.service === null && pinoOrBunyan && typeof this.name === 'string') this.service = this.name;
      else this.attribute('name', this.name);
    }
  }

  private idsFromSpan(span: Record<string, unknown>): void {
    if (this.traceId === undefined) this.traceId = firstId(span, TRACE_ID_KEYS, normaliseTraceId);
    if (this.spanId === undefined) this.spanId = firstId(span, SPAN_ID_KEYS, normaliseSpanId);
    if (this.requestId === undefined) this.requestId = firstId(span, REQUEST_ID_KEYS, normaliseRequestId);
  }
}

const line = new LineState();

/** An id field as text: strings as they are, integers in decimal, the first element of a header list. */
function idText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return Number.isSafeInteger(value) ? String(value) : undefined;
  if (Array.isArray(value) && typeof value[0] === 'string') return value[0];
  return undefined;
}

/** An id field's value normalised, or `undefined` when it is not a usable id. */
function normalisedId(value: unknown, normalise: (raw: string) => string | undefined): string | undefined {
  const text = idText(value);
  return text === undefined ? undefined : normalise(text);
}

function ddId(value: unknown, read: (raw: string | number) => string | undefined): string | undefined {
  return typeof value === 'string' || typeof value === 'number' ? read(value) : undefined;
}

function firstId(
  fields: Record<string, unknown>,
  keys: readonly string[],
  normalise: (raw: string) => string | undefined,
): string | undefined {
  for (const key of keys) {
    const text = idText(fields[key]);
    if (text !== undefined) {
      const id = normalise(text);
      if (id !== undefined) return id;
    }
  }
  return undefined;
}

/**
 * `{"service.name":…}` of each service seen, so a line costs a lookup instead of a `JSON.stringify` (lines of
 * consecutive records name different services, so one remembered entry missed most of the time). Bounded: a stream
 * naming more services than this stringifies the rest every time.
 */
const resourceTexts = new Map<string, string>();
const RESOURCE_TEXTS_LIMIT = 1_000;
function resourceJson(service: string | null): string {
  if (service === null) return '{}';
  let text = resourceTexts.get(service);
  if (text === undefined) {
    text = JSON.stringify({ 'service.name': service });
    if (resourceTexts.size < RESOURCE_TEXTS_LIMIT) resourceTexts.set(service, text);
  }
  return text;
}

/**
 * One parsed log line to a row. Exported for the other decoders whose payloads carry JSON log lines.
 *
 * Known fields fill the row (see {@link Kind} for the dialects); when a line has several fields for one column,
 * the preferred name wins (`correlation.ts` lists the order) and the others stay attributes. Everything else is kept
 * in `attributes`, secret-named fields redacted by name (`ingest_flags` then says `redacted`). A line without a
 * usable time gets the record's arrival time.
 */
export function toLogRow(
  fields: Record<string, unknown>,
  ordinal: number,
  ctx: RecordContext,
  redactor: Redactor,
): LogRecord {
  const state = line;
  state.reset(fields, redactor);
  for (const key in fields) state.visit(key, fields[key], false);
  state.fillFromContainers();

  const time = state.timeNs ?? BigInt(ctx.arrivalMs) * 1_000_000n;
  const level = state.level;
  const row: LogRecord = {
    trace_id: state.traceId ?? null,
    time: state.timeNs === undefined ? ctx.arrivalMs : nanosToMillis(time),
    time_unix_nano: time,
    observed_time_unix_nano: ctx.observedNs,
    span_id: state.spanId ?? null,
    request_id: state.requestId ?? null,
    severity_number: severityNumber(level),
    severity_text: severityText(level),
    body: state.body,
    service_name: state.service,
    resource_attributes: resourceJson(state.service),
    attributes: state.attributes === undefined ? '{}' : JSON.stringify(state.attributes),
    source_format: ctx.formatPrefix + JSON_LINES,
    shard_id: ctx.shardId,
    sequence_number: ctx.sequenceNumber,
    sub_sequence_number: ctx.subSequenceNumber,
    record_ordinal: ordinal,
    arrival_time: ctx.arrivalMs,
    ingest_flags: state.redacted ? 'redacted' : null,
  };
  state.release();
  return row;
}
