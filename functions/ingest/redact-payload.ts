import { createHash } from 'node:crypto';
import { constants, deflateSync, gunzipSync, gzipSync, inflateSync } from 'node:zlib';
import type { TextRedactor } from '../core/redact.ts';
import { isSecretFieldName, redactJsonText, trimCutToken } from '../core/redact-json.ts';
import { isKplAggregate } from './decode-kpl.ts';
import { decodeUtf8 } from './hygiene.ts';

/**
 * The bytes of a record that could not be decoded, made safe to keep in the quarantine (decision D17). Nothing kept
 * may hold a secret in a form anyone could read back, compressed included; what cannot be inspected is not kept.
 *
 * What each kind of bytes becomes:
 * - **text** (JSON, JSON lines, JSON cut short, plain text): {@link redactJsonText} — by key where it parses, by value
 *   everywhere;
 * - **gzip / zlib**: inflated (up to the record size limit) and what it holds redacted; re-compressed the same way
 *   when the stream was whole, so the record decodes as before. A stream cut short keeps what it inflates to (and one
 *   that inflates past the limit, its first `maxBytes`), redacted and uncompressed. A damaged stream (bad block,
 *   checksum mismatch) is withheld: deflate notices damage late, and the garbled text before may hold secrets whose
 *   field names were garbled away;
 * - **KPL aggregates**: the `AggregatedRecord` walked as protobuf (each user record's data redacted as bytes of its
 *   own, recursively), the MD5 trailer recomputed when it matched;
 * - **protobuf** (OTLP): rebuilt field by field, each length-delimited field redacted as text, as a nested message,
 *   or as compressed bytes; a `KeyValue` whose key is a secret name gets `AnyValue{string_value: "[REDACTED]"}`.
 *   Lengths are re-encoded, so the message still decodes. A message cut short keeps its fields up to the cut;
 * - **anything else** (binary in no format Skein reads, zstd/xz/bzip2/lz4/zip/7z, random bytes) cannot be
 *   inspected — it may be compressed or encrypted — and is withheld: nothing of it is kept but its size.
 *
 * `form` says how `bytes` relate to what arrived: `original` (nothing to redact: the same bytes), `redacted` (the same
 * record with secrets replaced: it decodes as the original did), `prefix` (only part of it kept: `note` says what was
 * dropped; it does not decode as the original did) or `withheld` (nothing kept). Only `original` and `redacted`
 * entries can be replayed.
 */
export function redactPayload(data: Uint8Array, redactor: TextRedactor, maxBytes: number): RedactedPayload {
  const walk: Walk = { redactor, maxBytes, notes: [], drops: 0 };
  const out = redactUnit(data, walk, 0, true);
  if (walk.drops > 0) {
    const note = walk.notes.join('; ');
    return out.length === 0 ? { bytes: out, form: 'withheld', note } : { bytes: out, form: 'prefix', note };
  }
  return { bytes: out, form: out === data ? 'original' : 'redacted' };
}

export const PAYLOAD_FORMS = ['original', 'redacted', 'prefix', 'withheld'] as const;
export type PayloadForm = (typeof PAYLOAD_FORMS)[number];

export interface RedactedPayload {
  readonly bytes: Uint8Array;
  readonly form: PayloadForm;
  /** What was not kept, and why (forms `prefix` and `withheld`). */
  readonly note?: string;
}

interface Walk {
  readonly redactor: TextRedactor;
  readonly maxBytes: number;
  readonly notes: string[];
  /** How many times something was dropped (a record is complete while this is 0). */
  drops: number;
}

/** Nesting followed through containers (gzip in KPL in …) and protobuf messages; deeper is not inspected. */
const MAX_DEPTH = 32;
/** An opaque field inside a parsed message up to this size is kept (ids, hashes); a larger one is withheld. */
const MAX_OPAQUE_FIELD_BYTES = 64;
const EMPTY = new Uint8Array(0);

function drop(walk: Walk, note: string): Uint8Array {
  walk.drops++;
  if (walk.notes.length < 8 && !walk.notes.includes(note)) walk.notes.push(note);
  return EMPTY;
}

/**
 * One unit of bytes: returns it unchanged (the same array) when nothing needs redacting, a new array otherwise.
 * `top`: the record itself (or what its compression holds), where a protobuf message cut short keeps its prefix and
 * opaque bytes are withheld whatever their size.
 */
function redactUnit(bytes: Uint8Array, walk: Walk, depth: number, top: boolean, cutAtEnd = false): Uint8Array {
  if (bytes.length === 0) return bytes;
  if (depth > MAX_DEPTH) return drop(walk, `nested deeper than ${MAX_DEPTH} levels: withheld`);
  // Text can start like a zlib header (`x ` is 78 20); a real deflate stream is never valid text.
  const compression = compressionOf(bytes);
  if (compression !== undefined && !isTextLike(bytes)) return redactCompressed(bytes, compression, walk, depth, top);
  const opaque = opaqueFormatOf(bytes);
  if (opaque !== undefined) return drop(walk, `${bytes.length} bytes of ${opaque}: not inspectable, withheld`);
  if (isKplAggregate(bytes)) return redactKpl(bytes, walk, depth);
  const text = isTextLike(bytes);
  const message = parseMessage(bytes, false);
  if (message !== undefined && message.fields.length > 0) {
    // Printable bytes can be both: `AnyValue{string_value}` is `0a <length> <text>`, and a length of 32–126 is a
    // printable character. Read as a message unless that leaves something secret-looking in the bytes (then it was
    // text that parsed by chance, and its secret was cut across "fields").
    const drops = walk.drops;
    const notes = walk.notes.length;
    const rebuilt = rebuildMessage(bytes, message, walk, depth);
    if (!text || !holdsSecret(rebuilt, walk.redactor)) return rebuilt;
    walk.drops = drops;
    walk.notes.length = notes;
  }
  if (text) return redactText(bytes, walk, cutAtEnd);
  // JSON with invalid UTF-8 in it: what ingest reads as text (the invalid bytes as U+FFFD). A protobuf message can
  // start `0a 7b` too, but has control bytes (tags, lengths) where text has none.
  if (top && startsLikeJson(bytes) && !hasControlBytes(bytes)) return redactText(bytes, walk, cutAtEnd);
  if (top) {
    const prefix = parseMessage(bytes, true);
    if (prefix !== undefined && prefix.fields.length > 0) {
      const kept = rebuildMessage(bytes, prefix, walk, depth);
      drop(
        walk,
        prefix.truncated
          ? 'protobuf cut short: kept its fields up to the cut'
          : `protobuf damaged after ${prefix.end} of ${bytes.length} bytes: kept the fields before`,
      );
      return kept;
    }
    return drop(walk, `${bytes.length} bytes in no format Skein reads (may be compressed or encrypted): withheld`);
  }
  if (bytes.length <= MAX_OPAQUE_FIELD_BYTES) return redactLatin1(bytes, walk);
  return drop(walk, `an opaque field of ${bytes.length} bytes: withheld`);
}

/** Text through {@link redactJsonText}; text cut short loses the word it was cut in (half a secret, maybe). */
function redactText(bytes: Uint8Array, walk: Walk, cutAtEnd: boolean): Uint8Array {
  const { text } = decodeUtf8(bytes);
  const redacted = redactJsonText(cutAtEnd ? trimCutToken(text) : text, walk.redactor);
  return redacted === text ? bytes : Buffer.from(redacted, 'utf8');
}

/** True when the value patterns find something in `bytes` read as Latin-1 (one character a byte). */
function holdsSecret(bytes: Uint8Array, redactor: TextRedactor): boolean {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  return redactor.redactText(text) !== text;
}

/** Short binary (an id inside a message): the value patterns over its bytes as Latin-1, one character a byte. */
function redactLatin1(bytes: Uint8Array, walk: Walk): Uint8Array {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  const redacted = walk.redactor.redactText(text);
  return redacted === text ? bytes : Buffer.from(redacted, 'latin1');
}

type Compression = 'gzip' | 'zlib';

function compressionOf(b: Uint8Array): Compression | undefined {
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
  const cmf = b[0];
  const flg = b[1];
  if (cmf === 0x78 && flg !== undefined && (cmf * 256 + flg) % 31 === 0) return 'zlib';
  return undefined;
}

/** Magic numbers of compressed or archive formats Skein does not decode: their content cannot be inspected. */
const OPAQUE_MAGIC: readonly (readonly [string, readonly number[]])[] = [
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['bzip2', [0x42, 0x5a, 0x68]],
  ['lz4', [0x04, 0x22, 0x4d, 0x18]],
  ['zip', [0x50, 0x4b, 0x03, 0x04]],
  ['7z', [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c]],
  ['snappy framing', [0xff, 0x06, 0x00, 0x00, 0x73, 0x4e, 0x61, 0x50, 0x70, 0x59]],
];

function opaqueFormatOf(b: Uint8Array): string | undefined {
  for (const [name, magic] of OPAQUE_MAGIC) {
    if (b.length >= magic.length && magic.every((byte, i) => b[i] === byte)) {
      // `BZh` followed by a block size digit: text starting "BZh" is not bzip2.
      if (name === 'bzip2' && !(b[3] !== undefined && b[3] >= 0x31 && b[3] <= 0x39 && !isTextLike(b))) continue;
      return name;
    }
  }
  return undefined;
}

/**
 * Text: valid UTF-8 without control characters but tab, line feed, carriage return and form feed. (A protobuf
 * message starting `0a 7b` is not text although its first non-space byte is `{`.)
 */
function isTextLike(b: Uint8Array): boolean {
  return !hasControlBytes(b) && !decodeUtf8(b).invalid;
}

function hasControlBytes(b: Uint8Array): boolean {
  for (const c of b) {
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d && c !== 0x0c) || c === 0x7f) return true;
  }
  return false;
}

/** First non-space byte `{` or `[`: what ingest's detector reads as JSON. */
function startsLikeJson(b: Uint8Array): boolean {
  let i = 0;
  while (i < b.length && (b[i] === 0x20 || b[i] === 0x0a || b[i] === 0x0d || b[i] === 0x09)) i++;
  return b[i] === 0x7b || b[i] === 0x5b;
}

function inflate(bytes: Uint8Array, compression: Compression, maxBytes: number, flush: number): Buffer {
  const options = { maxOutputLength: maxBytes, finishFlush: flush };
  return compression === 'gzip' ? gunzipSync(bytes, options) : inflateSync(bytes, options);
}

/**
 * What a gzip/zlib stream inflates to: all of it (`whole`); the prefix of a stream cut short (`truncated`: inflated
 * with a sync flush, it ends where the bytes end); the first `maxBytes` of one that inflates to more (`too_large`,
 * found by bisection: a prefix under the limit stays under it when shortened); or nothing when the stream is
 * `damaged` (a bad block, or a checksum that does not match): deflate notices damage late, so what it inflated before
 * may already be garbled text, with secrets whose names were garbled away.
 */
function inflateAll(
  bytes: Uint8Array,
  compression: Compression,
  maxBytes: number,
): { out: Uint8Array; state: 'whole' | 'truncated' | 'too_large' | 'damaged'; usedBytes: number } {
  try {
    return { out: inflate(bytes, compression, maxBytes, constants.Z_FINISH), state: 'whole', usedBytes: bytes.length };
  } catch {
    // Cut short, too large or damaged: see which.
  }
  try {
    const out = inflate(bytes, compression, maxBytes, constants.Z_SYNC_FLUSH);
    return { out, state: 'truncated', usedBytes: bytes.length };
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'ERR_BUFFER_TOO_LARGE') {
      return { out: EMPTY, state: 'damaged', usedBytes: 0 };
    }
  }
  let out: Uint8Array = EMPTY;
  let good = 0;
  let low = 1;
  let high = bytes.length;
  while (low <= high) {
    const mid = Math.floor((low + high) / 2);
    try {
      out = inflate(bytes.subarray(0, mid), compression, maxBytes, constants.Z_SYNC_FLUSH);
      good = mid;
      low = mid + 1;
    } catch {
      high = mid - 1;
    }
  }
  return { out: good === 0 ? EMPTY : out, state: 'too_large', usedBytes: good };
}

function redactCompressed(
  bytes: Uint8Array,
  compression: Compression,
  walk: Walk,
  depth: number,
  top: boolean,
): Uint8Array {
  const { out, state, usedBytes } = inflateAll(bytes, compression, walk.maxBytes);
  if (state === 'damaged') {
    return drop(walk, `${compression} stream damaged (what it inflates to is not what was sent): withheld`);
  }
  const before = walk.drops;
  const inner = redactUnit(out, walk, depth + 1, top, state !== 'whole');
  if (state === 'whole' && walk.drops === before) {
    if (inner === out) return bytes;
    return compression === 'gzip' ? gzipSync(inner) : deflateSync(inner);
  }
  if (state === 'truncated') {
    drop(walk, `${compression} stream cut short: kept what it inflates to (${out.length} bytes), uncompressed`);
  } else if (state === 'too_large') {
    drop(
      walk,
      `${compression} stream inflates to more than ${walk.maxBytes} bytes: kept what its first ${usedBytes} bytes ` +
        'inflate to, uncompressed',
    );
  }
  // Part of it is gone: keep what is left readable, uncompressed.
  return inner;
}

const MAGIC_BYTES = 4;
const MD5_BYTES = 16;

function redactKpl(bytes: Uint8Array, walk: Walk, depth: number): Uint8Array {
  if (bytes.length < MAGIC_BYTES + MD5_BYTES) {
    return drop(walk, `a KPL aggregate of ${bytes.length} bytes, too short for its MD5: withheld`);
  }
  const bodyEnd = bytes.length - MD5_BYTES;
  const body = bytes.subarray(MAGIC_BYTES, bodyEnd);
  const trailer = bytes.subarray(bodyEnd);
  const md5Matched = createHash('md5').update(body).digest().equals(trailer);
  const before = walk.drops;
  const strict = parseMessage(body, false);
  const message = strict ?? parseMessage(body, true);
  if (message === undefined || message.fields.length === 0) {
    return drop(walk, `a KPL aggregate whose ${body.length} bytes are not protobuf: withheld`);
  }
  if (strict === undefined) {
    drop(walk, 'KPL AggregatedRecord cut short or damaged: kept its fields up to there');
  }
  const newBody = rebuildMessage(body, message, walk, depth, 'aggregate');
  const whole = walk.drops === before;
  if (newBody === body && whole) return bytes;
  // A matching MD5 is recomputed, so the aggregate decodes as before; one that did not match stays wrong.
  const newTrailer = md5Matched && whole ? createHash('md5').update(newBody).digest() : new Uint8Array(16);
  return Buffer.concat([bytes.subarray(0, MAGIC_BYTES), newBody, newTrailer]);
}

/** One protobuf field: where its tag starts, its wire type and where its value is. */
interface Field {
  readonly start: number;
  readonly number: number;
  readonly wire: number;
  readonly valueStart: number;
  readonly valueEnd: number;
}

interface Message {
  readonly fields: readonly Field[];
  /** Where parsing stopped (the end of the bytes when it did not stop early). */
  readonly end: number;
  /** The last length-delimited field claims more bytes than there are; its value is what there is. */
  readonly truncated: boolean;
}

const MAX_VARINT_BYTES = 10;
const MAX_FIELD_NUMBER = 536_870_911;

/** `[value, next]` of the varint at `at`, or undefined when it is not one. */
function varint(b: Uint8Array, at: number): [number, number] | undefined {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < MAX_VARINT_BYTES; i++) {
    const byte = b[at + i];
    if (byte === undefined) return undefined;
    value += (byte & 0x7f) * scale;
    scale *= 128;
    if ((byte & 0x80) === 0) return [value, at + i + 1];
  }
  return undefined;
}

/**
 * The fields of `b` as a protobuf message. Strict: every byte must belong to a well-formed field, else `undefined`.
 * Tolerant: stops at the first malformed field, and a last length-delimited field longer than what is left keeps
 * what is left (a message cut short).
 */
function parseMessage(b: Uint8Array, tolerant: boolean): Message | undefined {
  const fields: Field[] = [];
  let at = 0;
  while (at < b.length) {
    const tag = varint(b, at);
    const number = tag === undefined ? 0 : Math.floor(tag[0] / 8);
    const wire = tag === undefined ? -1 : tag[0] % 8;
    if (tag === undefined || number < 1 || number > MAX_FIELD_NUMBER) break;
    const valueStart = tag[1];
    let valueEnd: number;
    if (wire === 0) {
      const v = varint(b, valueStart);
      if (v === undefined) break;
      valueEnd = v[1];
    } else if (wire === 1 || wire === 5) {
      valueEnd = valueStart + (wire === 1 ? 8 : 4);
      if (valueEnd > b.length) break;
    } else if (wire === 2) {
      const length = varint(b, valueStart);
      if (length === undefined) break;
      valueEnd = length[1] + length[0];
      if (valueEnd > b.length) {
        if (!tolerant) return undefined;
        fields.push({ start: at, number, wire, valueStart: length[1], valueEnd: b.length });
        return { fields, end: b.length, truncated: true };
      }
      fields.push({ start: at, number, wire, valueStart: length[1], valueEnd });
      at = valueEnd;
      continue;
    } else break;
    fields.push({ start: at, number, wire, valueStart, valueEnd });
    at = valueEnd;
  }
  if (at < b.length && !tolerant) return undefined;
  return { fields, end: at, truncated: false };
}

/** `AnyValue{string_value: "[REDACTED]"}`: what the value of a secret-named `KeyValue` becomes. */
const REDACTED_ANY_VALUE = Buffer.concat([Buffer.from([0x0a, 10]), Buffer.from('[REDACTED]', 'latin1')]);

/**
 * The message with each length-delimited field redacted (as text, a nested message, compressed bytes or short
 * opaque bytes), lengths re-encoded; the same bytes when nothing changed. Fields after `message.end` are not kept.
 */
function rebuildMessage(
  b: Uint8Array,
  message: Message,
  walk: Walk,
  depth: number,
  kpl?: 'aggregate' | 'record',
): Uint8Array {
  const secretKeyValue = kpl === undefined && isSecretKeyValue(b, message, walk.redactor);
  const parts: Uint8Array[] = [];
  let changed = message.end !== b.length;
  let copiedTo = 0;
  const last = message.fields.at(-1);
  for (const field of message.fields) {
    if (field.wire !== 2) continue;
    const value = b.subarray(field.valueStart, field.valueEnd);
    // The field a message was cut in is read like a message cut short itself: its fields up to the cut.
    const cut = message.truncated && field === last;
    let redacted: Uint8Array;
    if (secretKeyValue && field.number === 2) redacted = REDACTED_ANY_VALUE;
    else if (kpl !== undefined && field.number === KPL_RECORDS_OR_DATA)
      redacted = redactKplPart(value, walk, depth, kpl);
    else redacted = redactUnit(value, walk, depth + 1, cut, cut);
    if (redacted === value && !isCut(b, field)) continue;
    changed = true;
    parts.push(b.subarray(copiedTo, field.start), encodeVarint(field.number * 8 + 2), encodeVarint(redacted.length));
    parts.push(redacted);
    copiedTo = field.valueEnd;
  }
  if (!changed) return b;
  parts.push(b.subarray(copiedTo, message.end));
  return Buffer.concat(parts);
}

/** `AggregatedRecord.records` (3) holds `Record`s; `Record.data` (3) holds a user record (aws-kinesis-agg kpl.json). */
const KPL_RECORDS_OR_DATA = 3;

/**
 * A KPL `Record` (inside an aggregate) or its `data`: the data of a user record is a whole Kinesis record to ingest
 * (detected again), so it is redacted as one: opaque bytes are withheld, a cut protobuf keeps its prefix.
 */
function redactKplPart(value: Uint8Array, walk: Walk, depth: number, kpl: 'aggregate' | 'record'): Uint8Array {
  if (kpl === 'record') return redactUnit(value, walk, depth + 1, true);
  const record = parseMessage(value, false);
  if (record === undefined) return redactUnit(value, walk, depth + 1, false);
  return rebuildMessage(value, record, walk, depth + 1, 'record');
}

/** A field whose declared length is longer than its value (the last field of a message cut short). */
function isCut(b: Uint8Array, field: Field): boolean {
  const length = varint(b, varint(b, field.start)?.[1] ?? field.start);
  return length !== undefined && length[1] + length[0] !== field.valueEnd;
}

/** A `KeyValue`-shaped message: field 1 a string naming a secret, field 2 length-delimited (its value). */
function isSecretKeyValue(b: Uint8Array, message: Message, redactor: TextRedactor): boolean {
  let key: string | undefined;
  let hasValue = false;
  for (const field of message.fields) {
    if (field.number === 1 && field.wire === 2 && field.valueEnd - field.valueStart <= 256) {
      key = Buffer.from(b.buffer, b.byteOffset + field.valueStart, field.valueEnd - field.valueStart).toString('utf8');
    } else if (field.number === 2 && field.wire === 2) hasValue = true;
  }
  return key !== undefined && hasValue && isSecretFieldName(key, redactor);
}

function encodeVarint(value: number): Uint8Array {
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return Uint8Array.from(out);
}
