/**
 * The last step of every row before it is written: size limits, absurd clocks, secret values, and the
 * `ingest_flags` that say what was changed. Pure functions; each returns the row it was given, untouched and without
 * allocating, when nothing needs changing — the common case on the ingest hot path.
 */
import type { LogRecord, SpanRecord } from '../../schemas/records.ts';
import { redactJsonText } from '../core/redact-json.ts';
import type { DecodeSink, RecordContext, Redactor } from './decoded.ts';

/** Limits a row must respect (functions/ingest/config.ts reads them from the environment). */
export interface HygieneLimits {
  /** Largest `body` kept, in UTF-8 bytes; a longer one is cut and marked. */
  readonly maxBodyBytes: number;
  /** Largest `attributes` (and span `events`) JSON text, in UTF-8 bytes; a larger one is replaced by a marker object. */
  readonly maxAttributesBytes: number;
  /** An event time further before the record's arrival than this is clamped to the arrival time. */
  readonly maxClockSkewPastMs: number;
  /** An event time further after the record's arrival than this is clamped to the arrival time. */
  readonly maxClockSkewFutureMs: number;
}

/** The defaults of SKEIN_MAX_BODY_BYTES, SKEIN_MAX_ATTRIBUTES_BYTES and the clock-skew settings. */
export const DEFAULT_HYGIENE_LIMITS: HygieneLimits = {
  maxBodyBytes: 64 * 1024,
  maxAttributesBytes: 64 * 1024,
  maxClockSkewPastMs: 168 * 3_600_000,
  maxClockSkewFutureMs: 60 * 60_000,
};

/** What ingest may change in a row, in the order `ingest_flags` lists them. */
export const INGEST_FLAGS = ['truncated', 'invalid_utf8', 'time_clamped', 'redacted'] as const;
export type IngestFlag = (typeof INGEST_FLAGS)[number];

const TRUNCATED = 1;
const INVALID_UTF8 = 2;
const TIME_CLAMPED = 4;
const REDACTED_FLAG = 8;
const FLAG_BITS: Record<IngestFlag, number> = {
  truncated: TRUNCATED,
  invalid_utf8: INVALID_UTF8,
  time_clamped: TIME_CLAMPED,
  redacted: REDACTED_FLAG,
};

/** `ingest_flags` text of every combination of flags, indexed by bit mask: built once, never concatenated per row. */
const FLAG_TEXT: (string | null)[] = [];
const FLAG_MASK = new Map<string, number>();
for (let mask = 0; mask < 1 << INGEST_FLAGS.length; mask++) {
  const text = INGEST_FLAGS.filter((flag) => (mask & FLAG_BITS[flag]) !== 0).join(',');
  FLAG_TEXT.push(text === '' ? null : text);
  FLAG_MASK.set(text, mask);
}

/** Epoch ms of 2000-01-01T00:00:00Z: no telemetry Skein ingests is older; an earlier time is an unset clock. */
export const EARLIEST_PLAUSIBLE_MS = Date.UTC(2000, 0, 1);
/** Attribute that keeps the producer's time of a clamped row (a string: nanoseconds overflow JSON numbers). */
export const ORIGINAL_TIME_ATTRIBUTE = 'skein.original_time_unix_nano';

/** Bit mask of an `ingest_flags` value (unknown names are dropped: only INGEST_FLAGS are ever written). */
function flagMask(flags: string | null): number {
  if (flags === null) return 0;
  const known = FLAG_MASK.get(flags);
  if (known !== undefined) return known;
  let mask = 0;
  for (const name of flags.split(',')) mask |= FLAG_MASK.get(name.trim()) ?? 0;
  return mask;
}

/**
 * `flags` with `flag` added, in the stable INGEST_FLAGS order.
 * @example withFlag('redacted', 'truncated') // 'truncated,redacted'
 */
export function withFlag(flags: string | null, flag: IngestFlag): string {
  return FLAG_TEXT[flagMask(flags) | FLAG_BITS[flag]] ?? flag;
}

function mergeFlags(flags: string | null, mask: number): string | null {
  return FLAG_TEXT[flagMask(flags) | mask] ?? null;
}

/**
 * Adds `flag` to `ingest_flags` of `rows[from]` and every row after it, in place: for the rows a decoder appended to
 * a sink from a record that, say, was not valid UTF-8.
 * @example
 * const first = sink.logs.length;
 * decodeRecord(data, ctx, sink, options);
 * if (invalid) flagRows(sink.logs, first, 'invalid_utf8');
 */
export function flagRows(rows: readonly { ingest_flags: string | null }[], from: number, flag: IngestFlag): void {
  for (let i = from; i < rows.length; i++) {
    const row = rows[i];
    if (row !== undefined) row.ingest_flags = withFlag(row.ingest_flags, flag);
  }
}

const FATAL_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const REPLACEMENT_CHARACTER = '\uFFFD';

/**
 * Bytes to text as Node decodes them (invalid sequences become U+FFFD), and whether they were invalid UTF-8. Only a
 * text that holds U+FFFD is checked again, strictly, so valid input costs one decode.
 */
export function decodeUtf8(bytes: Uint8Array): { text: string; invalid: boolean } {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  if (!text.includes(REPLACEMENT_CHARACTER)) return { text, invalid: false };
  try {
    FATAL_UTF8.decode(bytes);
    return { text, invalid: false }; // a U+FFFD the producer really wrote
  } catch {
    return { text, invalid: true };
  }
}

/**
 * A log row made fit to write: secret values in `body`, `attributes` and `resource_attributes` redacted (`redacted`); a time before
 * 2000-01-01 or beyond the allowed clock skew around the record's arrival replaced by the arrival time, the original
 * kept in the `skein.original_time_unix_nano` attribute (`time_clamped`); `body` and `attributes` over their limits
 * cut at a UTF-8 boundary with a visible marker, attributes still a JSON object (`truncated`). Flags are merged
 * into `ingest_flags`.
 *
 * Returns `row` itself when nothing changed, a new row otherwise (`row` is never modified).
 */
export function finishLogRow(row: LogRecord, ctx: RecordContext, limits: HygieneLimits, redactor: Redactor): LogRecord {
  const flags = finishFields(
    row.body,
    limits.maxBodyBytes,
    row.attributes,
    null,
    row.time,
    row.time_unix_nano,
    ctx,
    limits,
    redactor,
  );
  const resource = redactResource(row.resource_attributes, redactor);
  if (flags === 0) {
    if (resource === row.resource_attributes) return row;
    return { ...row, resource_attributes: resource, ingest_flags: withFlag(row.ingest_flags, 'redacted') };
  }
  return {
    ...row,
    time: finished.timeMs,
    time_unix_nano: finished.timeNs,
    body: finished.text,
    attributes: finished.attributes,
    resource_attributes: resource,
    ingest_flags: mergeFlags(row.ingest_flags, resource === row.resource_attributes ? flags : flags | REDACTED_FLAG),
  };
}

/**
 * A span row made fit to write, as {@link finishLogRow} does for logs: `status_message`, `attributes`, `events`,
 * `name`, `links` and `resource_attributes` redacted; an absurd start time moved to the arrival time with the duration kept (the original start in
 * `skein.original_time_unix_nano`); `attributes` and `events` over the limit replaced by markers (`events` stays a
 * JSON array: one `skein.truncated` event). Returns `row` itself when nothing changed.
 */
export function finishSpanRow(
  row: SpanRecord,
  ctx: RecordContext,
  limits: HygieneLimits,
  redactor: Redactor,
): SpanRecord {
  const flags = finishFields(
    row.status_message,
    Number.POSITIVE_INFINITY, // a status message is redacted, never cut
    row.attributes,
    row.events,
    row.start_time,
    row.start_time_unix_nano,
    ctx,
    limits,
    redactor,
  );
  // The name, links and resource attributes of a span are not cut, only redacted (a URL with a token in the name).
  const name = redactor.redactText(row.name);
  const links = row.links.length > 2 ? redactJson(row.links, redactor) : row.links;
  const resource = redactResource(row.resource_attributes, redactor);
  const others = name === row.name && links === row.links && resource === row.resource_attributes ? 0 : REDACTED_FLAG;
  if ((flags | others) === 0) return row;
  if (flags === 0) {
    return {
      ...row,
      name,
      links,
      resource_attributes: resource,
      ingest_flags: withFlag(row.ingest_flags, 'redacted'),
    };
  }
  return {
    ...row,
    name,
    links,
    resource_attributes: resource,
    start_time: finished.timeMs,
    start_time_unix_nano: finished.timeNs,
    end_time_unix_nano: (flags & TIME_CLAMPED) === 0 ? row.end_time_unix_nano : finished.timeNs + row.duration_nano,
    status_message: finished.text,
    attributes: finished.attributes,
    events: finished.events ?? row.events,
    ingest_flags: mergeFlags(row.ingest_flags, flags | others),
  };
}

/**
 * The resource attributes of a row, redacted. Every row of a record (often of a batch) shares one resource text, so
 * the last one seen is remembered: one scan per distinct resource, not per row.
 */
function redactResource(resource: string, redactor: Redactor): string {
  if (resource.length <= 2) return resource;
  if (resource === lastResource.text && redactor === lastResource.redactor) return lastResource.redacted;
  const redacted = redactJson(resource, redactor);
  lastResource.text = resource;
  lastResource.redactor = redactor;
  lastResource.redacted = redacted;
  return redacted;
}

const lastResource: { text: string; redactor: Redactor | undefined; redacted: string } = {
  text: '',
  redactor: undefined,
  redacted: '',
};

/**
 * The fields {@link finishFields} changed, for the caller to copy into its new row before the next call. One object
 * for every row (rows are finished one at a time, synchronously), so that finishing allocates nothing of its own.
 */
const finished = {
  text: null as string | null,
  attributes: '',
  events: null as string | null,
  timeMs: 0,
  timeNs: 0n,
};

/**
 * What log and span rows both go through, each field redacted before it is clamped and cut: the free text (`body`,
 * `status_message`) redacted and cut to `maxTextBytes`; `attributes` and `events` (a span's; `null` for a log)
 * redacted; an absurd time moved to the arrival time, the original kept in `attributes`; `attributes` and `events`
 * then cut to the attributes limit.
 *
 * Returns the flags of what changed: 0 when nothing did (the common case, which writes nothing), otherwise every
 * field's value to write is in {@link finished}.
 */
function finishFields(
  text: string | null,
  maxTextBytes: number,
  attributes: string,
  events: string | null,
  timeMs: number,
  timeNs: bigint,
  ctx: RecordContext,
  limits: HygieneLimits,
  redactor: Redactor,
): number {
  let flags = 0;
  if (text !== null) {
    const redacted = redactor.redactText(text);
    if (redacted !== text) {
      text = redacted;
      flags |= REDACTED_FLAG;
    }
    if (text.length * 3 > maxTextBytes) {
      const cut = truncateText(text, maxTextBytes);
      if (cut !== undefined) {
        text = cut;
        flags |= TRUNCATED;
      }
    }
  }
  if (attributes.length > 2) {
    const redacted = redactJson(attributes, redactor);
    if (redacted !== attributes) {
      attributes = redacted;
      flags |= REDACTED_FLAG;
    }
  }
  if (events !== null && events.length > 2) {
    const redacted = redactJson(events, redactor);
    if (redacted !== events) {
      events = redacted;
      flags |= REDACTED_FLAG;
    }
  }
  let originalNs: bigint | undefined;
  if (isAbsurdTime(timeMs, ctx.arrivalMs, limits)) {
    originalNs = timeNs;
    timeMs = ctx.arrivalMs;
    timeNs = BigInt(ctx.arrivalMs) * NS_PER_MS;
    attributes = withMember(attributes, ORIGINAL_TIME_ATTRIBUTE, String(originalNs));
    flags |= TIME_CLAMPED;
  }
  if (attributes.length * 3 > limits.maxAttributesBytes) {
    const cut = truncateObject(attributes, limits.maxAttributesBytes, originalNs);
    if (cut !== undefined) {
      attributes = cut;
      flags |= TRUNCATED;
    }
  }
  if (events !== null && events.length * 3 > limits.maxAttributesBytes) {
    const cut = truncateObject(events, limits.maxAttributesBytes - TRUNCATED_EVENT_OVERHEAD, undefined);
    if (cut !== undefined) {
      events = `[{"time_unix_nano":null,"name":"skein.truncated","attributes":${cut}}]`;
      flags |= TRUNCATED;
    }
  }
  if (flags !== 0) {
    finished.text = text;
    finished.attributes = attributes;
    finished.events = events;
    finished.timeMs = timeMs;
    finished.timeNs = timeNs;
  }
  return flags;
}

const NS_PER_MS = 1_000_000n;
const TRUNCATED_EVENT_OVERHEAD = '[{"time_unix_nano":null,"name":"skein.truncated","attributes":}]'.length;

/** Compared in milliseconds (numbers): no bigint arithmetic for the rows that are fine. */
function isAbsurdTime(timeMs: number, arrivalMs: number, limits: HygieneLimits): boolean {
  return (
    timeMs < EARLIEST_PLAUSIBLE_MS ||
    timeMs < arrivalMs - limits.maxClockSkewPastMs ||
    timeMs > arrivalMs + limits.maxClockSkewFutureMs
  );
}

/**
 * A JSON text with secret values redacted, still valid JSON. The text-level redaction keeps JSON valid except in
 * contrived cases; when its result does not parse, the values are redacted one by one instead.
 */
function redactJson(json: string, redactor: Redactor): string {
  // The cheap gate first (most rows hold nothing secret-looking); then by key and value, so a secret-named field
  // whose value is an array or an object is redacted whole (`{"password":["…"]}`).
  if (redactor.mayHoldSecret !== undefined && !redactor.mayHoldSecret(json)) return json;
  const redacted = redactJsonText(json, redactor);
  if (redacted === json) return json;
  try {
    JSON.parse(redacted);
    return redacted;
  } catch {
    return JSON.stringify(redactValue(JSON.parse(json), redactor));
  }
}

function redactValue(value: unknown, redactor: Redactor): unknown {
  if (typeof value === 'string') return redactor.redactText(value);
  if (Array.isArray(value)) return value.map((v) => redactValue(v, redactor));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) {
      // A secret name (as redactText reads names in text) redacts whatever its value is.
      const named = redactor.redactText(`${JSON.stringify(key)}:0`) !== `${JSON.stringify(key)}:0`;
      const kept = named || redactor.isSecretKey(key) ? '[REDACTED]' : redactValue(inner, redactor);
      if (key === '__proto__') Object.defineProperty(out, key, { value: kept, enumerable: true });
      else out[key] = kept;
    }
    return out;
  }
  return value;
}

/** `object` (a JSON object text) with one more string member. */
function withMember(object: string, key: string, value: string): string {
  const member = `${JSON.stringify(key)}:${JSON.stringify(value)}`;
  return object.length <= 2 ? `{${member}}` : `${object.slice(0, -1)},${member}}`;
}

const ELLIPSIS = '…';

/** UTF-8 length of `text` when it is over `maxBytes`, `undefined` when it fits (computed only when it may not). */
function bytesOver(text: string, maxBytes: number): number | undefined {
  if (text.length * 3 <= maxBytes) return undefined;
  const bytes = Buffer.byteLength(text, 'utf8');
  return bytes > maxBytes ? bytes : undefined;
}

/**
 * `text` cut to at most `maxBytes` UTF-8 bytes, the cut marked `…[truncated N bytes]` (N: UTF-8 bytes dropped);
 * `undefined` when it fits. Never splits a character.
 */
export function truncateText(text: string, maxBytes: number): string | undefined {
  const total = bytesOver(text, maxBytes);
  if (total === undefined) return undefined;
  // Reserve room for the marker with as many digits as the whole text has bytes: the dropped count has no more.
  const reserve = Buffer.byteLength(marker(total), 'utf8');
  const kept = utf8Prefix(text, Math.max(0, maxBytes - reserve));
  return text.slice(0, kept.chars) + marker(total - kept.bytes);
}

function marker(droppedBytes: number): string {
  return `${ELLIPSIS}[truncated ${droppedBytes} bytes]`;
}

/**
 * A JSON object text over `maxBytes` replaced by `{"skein.truncated":"<prefix>…","skein.original_bytes":n}` (plus
 * the original time of a clamped row), at most `maxBytes` long; `undefined` when it fits.
 */
function truncateObject(json: string, maxBytes: number, originalNs: bigint | undefined): string | undefined {
  const total = bytesOver(json, maxBytes);
  if (total === undefined) return undefined;
  const time = originalNs === undefined ? '' : `,${JSON.stringify(ORIGINAL_TIME_ATTRIBUTE)}:"${originalNs}"`;
  const shell = `{"skein.truncated":"${ELLIPSIS}","skein.original_bytes":${total}${time}}`;
  // JSON-escaping the prefix at most doubles it: the text is JSON already, so it has no raw control characters and
  // only `"` and `\` grow (to two bytes each).
  const budget = Math.max(0, Math.floor((maxBytes - Buffer.byteLength(shell, 'utf8')) / 2));
  const prefix = json.slice(0, utf8Prefix(json, budget).chars);
  return `{"skein.truncated":${JSON.stringify(prefix + ELLIPSIS)},"skein.original_bytes":${total}${time}}`;
}

/** The longest prefix of `s` of at most `maxBytes` UTF-8 bytes that does not split a character. */
function utf8Prefix(s: string, maxBytes: number): { chars: number; bytes: number } {
  let bytes = 0;
  let i = 0;
  const n = s.length;
  while (i < n) {
    const c = s.charCodeAt(i);
    let units = 1;
    let size: number;
    if (c < 0x80) size = 1;
    else if (c < 0x800) size = 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        size = 4;
        units = 2;
      } else size = 3; // a lone surrogate: written as U+FFFD, 3 bytes
    } else size = 3;
    if (bytes + size > maxBytes) break;
    bytes += size;
    i += units;
  }
  return { chars: i, bytes };
}

/**
 * Applies {@link finishLogRow} / {@link finishSpanRow} to the rows one record added to `sink` (from the given
 * indexes on): what ingest and replay both do to every row before it is written.
 */
export function finishRows(
  sink: DecodeSink,
  logsFrom: number,
  spansFrom: number,
  ctx: RecordContext,
  limits: HygieneLimits,
  redactor: Redactor,
): void {
  const { logs, spans } = sink;
  for (let i = logsFrom; i < logs.length; i++) {
    const row = logs[i];
    if (row) logs[i] = finishLogRow(row, ctx, limits, redactor);
  }
  for (let i = spansFrom; i < spans.length; i++) {
    const row = spans[i];
    if (row) spans[i] = finishSpanRow(row, ctx, limits, redactor);
  }
}
