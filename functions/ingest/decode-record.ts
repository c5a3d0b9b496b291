import { gunzipSync, inflateSync } from 'node:zlib';
import { decodeJsonLines } from './decode-json-lines.ts';
import { decodeOtlpTraces, OTLP_JSON } from './decode-otlp-json.ts';
import type { DecodeFailure, DecodeOptions, DecodeSink, QuarantineReason, RecordContext } from './decoded.ts';

const DETECT = 'detect';
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const KPL_MAGIC = [0xf3, 0x89, 0x9a, 0xc2] as const;

/**
 * Detects the format of one Kinesis record and decodes it into rows appended to `sink`. Returns what could not be
 * decoded (empty when every byte became a row). Never throws for bad input; an unexpected exception is a bug and is
 * turned into a `decoder_error` failure by the caller.
 *
 * Detection, in order: gzip (1f 8b) or zlib (78 xx) is inflated and detected again; the KPL magic is recognised but
 * not decoded yet; text starting with `{` is OTLP/JSON traces when it parses as one object with `resourceSpans`,
 * JSON lines otherwise.
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
  const first = firstNonSpace(payload);
  if (first === -1) return [fail('empty_record', 'the record has no content', data)];
  if (startsWith(payload, KPL_MAGIC)) {
    return [fail('unsupported_format', 'KPL aggregated records are not decoded yet', data)];
  }
  const byte = payload[first];
  if (byte !== OPEN_BRACE && byte !== OPEN_BRACKET) {
    return [
      fail('unknown_format', `starts with bytes ${hexPrefix(payload, first)}: not JSON lines nor OTLP/JSON`, data),
    ];
  }
  const text = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8');
  if (byte === OPEN_BRACE && text.includes('"resourceSpans"')) {
    const whole = parseWhole(text);
    if (whole !== undefined && typeof whole === 'object' && whole !== null && 'resourceSpans' in whole) {
      return decodeOtlpTraces(data, whole, ctx, sink, options);
    }
  }
  if (byte === OPEN_BRACE && (text.includes('"resourceLogs"') || text.includes('"resourceMetrics"'))) {
    const whole = parseWhole(text);
    if (
      whole !== undefined &&
      typeof whole === 'object' &&
      whole !== null &&
      ('resourceLogs' in whole || 'resourceMetrics' in whole)
    ) {
      return [fail('unsupported_format', 'OTLP/JSON logs and metrics are not decoded yet', data, OTLP_JSON)];
    }
  }
  return decodeJsonLines(data, text, ctx, sink, options);
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

function startsWith(b: Uint8Array, magic: readonly number[]): boolean {
  if (b.length < magic.length) return false;
  for (let i = 0; i < magic.length; i++) if (b[i] !== magic[i]) return false;
  return true;
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
