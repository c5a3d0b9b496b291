import { gunzipSync, inflateSync } from 'node:zlib';
import { decodeCloudWatch, isCloudWatchEnvelope } from './decode-cloudwatch.ts';
import { decodeJsonLines } from './decode-json-lines.ts';
import { decodeKpl, isKplAggregate } from './decode-kpl.ts';
import { decodeOtlpLogsJson, decodeOtlpTraces } from './decode-otlp-json.ts';
import { decodeOtlpProto, looksLikeOtlpProto } from './decode-otlp-proto.ts';
import type { DecodeFailure, DecodeOptions, DecodeSink, QuarantineReason, RecordContext } from './decoded.ts';
import { decodeUtf8, flagRows } from './hygiene.ts';
import { isStackOverflow, tooDeepMessage } from './nesting.ts';

const DETECT = 'detect';
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
/** `{"resourceSpans"`, `{ "resourceLogs"`…: an OTLP/JSON export request has exactly one field, so it comes first. */
const OTLP_JSON_HEAD = /^\{\s*"resource(Spans|Logs|Metrics)"\s*:/;
/** CloudWatch Logs subscription payloads start with their `messageType`. */
const CLOUDWATCH_HEAD = /^\{\s*"messageType"\s*:/;
const HEAD_CHARS = 48;

/**
 * Detects the format of one Kinesis record and decodes it into rows appended to `sink`. Returns what could not be
 * decoded (empty when every byte became a row or a control message). Never throws for bad input; an unexpected
 * exception is a bug and is turned into a `decoder_error` failure by the caller.
 *
 * Detection, in order (unless `options.format` pins one):
 * 1. KPL magic `F3 89 9A C2`: de-aggregated, each user record detected again (sub-sequence number kept).
 * 2. gzip (`1f 8b`) or zlib (`78 xx`): inflated (bounded by the record size limit), then detected again.
 * 3. Bytes framed as a protobuf request (field 1 repeated, lengths adding up to the end): OTLP protobuf (traces or
 *    logs). Checked before text, since the framing's first bytes can read as a newline and `{`.
 * 4. Text starting with `{"resourceSpans"` / `{"resourceLogs"`: OTLP/JSON; `{"messageType"` with `logEvents`:
 *    a CloudWatch Logs subscription payload; any other `{` or `[`: JSON lines.
 * 5. Anything else: quarantined as `unknown_format`.
 */
export function decodeRecord(
  data: Uint8Array,
  ctx: RecordContext,
  sink: DecodeSink,
  options: DecodeOptions,
): DecodeFailure[] {
  if (data.length > options.maxRecordBytes) {
    return [fail('record_too_large', `${data.length} bytes > ${options.maxRecordBytes}`, data)];
  }
  if (isKplAggregate(data)) {
    return decodeKpl(data, ctx, (inner, innerCtx) => decodeRecord(inner, innerCtx, sink, options));
  }
  let payload = data;
  if (isGzip(data) || isZlib(data)) {
    try {
      payload = isGzip(data)
        ? gunzipSync(data, { maxOutputLength: options.maxRecordBytes })
        : inflateSync(data, { maxOutputLength: options.maxRecordBytes });
    } catch (error) {
      return [fail('corrupt_compression', `cannot inflate: ${(error as Error).message}`, data)];
    }
  }
  const format = options.format ?? 'auto';
  // Protobuf before text: a request starts with tag 0x0a, a newline to a text reader, and its first length byte may
  // be `{` or `[` (a 123- or 91-byte ResourceSpans). looksLikeOtlpProto checks the whole framing, which text fails.
  if (format === 'otlp-proto' || (format === 'auto' && looksLikeOtlpProto(payload))) {
    return withinStack(data, undefined, sink, () => decodeOtlpProto(payload, data, ctx, sink, options));
  }
  const first = firstNonSpace(payload);
  if (first === -1) return [fail('empty_record', 'the record has no content', data)];
  const byte = payload[first];
  const textual = byte === OPEN_BRACE || byte === OPEN_BRACKET;
  if (!textual) {
    return [fail('unknown_format', `starts with bytes ${hexPrefix(payload, first)}: no known format`, data)];
  }
  const { text, invalid } = decodeUtf8(payload);
  const logsBefore = sink.logs.length;
  const spansBefore = sink.spans.length;
  const failures = withinStack(data, text, sink, () => decodeText(data, text, first, ctx, sink, options));
  if (invalid) {
    flagRows(sink.logs, logsBefore, 'invalid_utf8');
    flagRows(sink.spans, spansBefore, 'invalid_utf8');
  }
  return failures;
}

function decodeText(
  data: Uint8Array,
  text: string,
  first: number,
  ctx: RecordContext,
  sink: DecodeSink,
  options: DecodeOptions,
): DecodeFailure[] {
  const format = options.format ?? 'auto';
  const head = text.slice(first, first + HEAD_CHARS);
  const otlp = format === 'otlp-json' || (format === 'auto' && OTLP_JSON_HEAD.test(head));
  const cloudwatch = format === 'cloudwatch-logs' || (format === 'auto' && CLOUDWATCH_HEAD.test(head));
  if (otlp || cloudwatch) {
    const whole = parseWhole(text);
    if (whole === undefined) {
      if (format !== 'auto') return [fail('invalid_json', `not one JSON document (${format} expected)`, data)];
    } else if (otlp && typeof whole === 'object' && whole !== null) {
      if ('resourceSpans' in whole) return decodeOtlpTraces(data, whole, ctx, sink, options);
      if ('resourceLogs' in whole) return decodeOtlpLogsJson(data, whole, ctx, sink, options);
      if ('resourceMetrics' in whole) return [fail('unsupported_format', 'OTLP metrics are not stored by Skein', data)];
      if (format === 'otlp-json') return [fail('invalid_otlp', 'no resourceSpans or resourceLogs', data)];
    } else if (cloudwatch && (format === 'cloudwatch-logs' || isCloudWatchEnvelope(whole))) {
      return decodeCloudWatch(data, whole, ctx, sink, options);
    }
  }
  return decodeJsonLines(data, text, ctx, sink, options);
}

/**
 * Runs a decoder; when the record is nested deeper than the stack allows, drops the rows it appended and quarantines
 * the record as `too_deep` (JSON lines catch it per line first, so this is the whole-record formats' case).
 */
function withinStack(
  data: Uint8Array,
  text: string | undefined,
  sink: DecodeSink,
  decode: () => DecodeFailure[],
): DecodeFailure[] {
  const logsBefore = sink.logs.length;
  const spansBefore = sink.spans.length;
  try {
    return decode();
  } catch (error) {
    if (!isStackOverflow(error)) throw error;
    sink.logs.length = logsBefore;
    sink.spans.length = spansBefore;
    return [fail('too_deep', tooDeepMessage('the record', text), data)];
  }
}

function parseWhole(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function fail(reason: QuarantineReason, message: string, raw: Uint8Array, decoder = DETECT): DecodeFailure {
  return { reason, message, raw, decoder };
}

function isGzip(b: Uint8Array): boolean {
  return b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;
}

/** zlib header: CMF 0x78 (deflate, 32 KiB window) and (CMF*256 + FLG) divisible by 31 (RFC 1950). */
function isZlib(b: Uint8Array): boolean {
  const cmf = b[0];
  const flg = b[1];
  return cmf === 0x78 && flg !== undefined && (cmf * 256 + flg) % 31 === 0;
}

function firstNonSpace(b: Uint8Array): number {
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return i;
  }
  return -1;
}

function hexPrefix(b: Uint8Array, from: number): string {
  return Buffer.from(b.subarray(from, from + 8)).toString('hex');
}
