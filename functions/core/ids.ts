/**
 * Correlation ids, normalised so that one request has one spelling everywhere: trace ids and hex/UUID request ids
 * become lowercase 32 hex. Pure functions on the ingest hot path: regexes only, no allocation when already normal.
 */

const HEX32 = /^[0-9a-f]{32}$/;
const HEX32_ANY_CASE = /^[0-9a-fA-F]{32}$/;
const HEX16_ANY_CASE = /^[0-9a-fA-F]{16}$/;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
/** W3C traceparent: version-traceid-parentid-flags. */
const TRACEPARENT = /^[0-9a-fA-F]{2}-([0-9a-fA-F]{32})-[0-9a-fA-F]{16}-[0-9a-fA-F]{2}$/;
/** X-Ray trace id, bare (`1-5759e988-bd862e3fe1be46a994272793`) or in a header (`Root=1-…;Parent=…;Sampled=1`). */
const XRAY = /(?:^|Root=)1-([0-9a-fA-F]{8})-([0-9a-fA-F]{24})(?:$|;)/;
const ZERO32 = '00000000000000000000000000000000';
const ZERO16 = '0000000000000000';
/** Printable, no control characters: what we keep verbatim as a request id. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
const PRINTABLE = /^[^\u0000-\u001f\u007f]{1,256}$/;

/**
 * A trace id as lowercase 32 hex, from 32 hex in any case, a UUID, a W3C `traceparent`, an X-Ray trace id, or a
 * 64-bit (16 hex, Jaeger/Zipkin) id left-padded with zeros. `undefined` when it is none of these or all zeros.
 * @example normaliseTraceId('00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01') // '4bf92f3577b34da6a3ce929d0e0e4736'
 */
export function normaliseTraceId(raw: string): string | undefined {
  const id = traceIdSpelling(raw);
  return id === undefined || id === ZERO32 ? undefined : id;
}

/**
 * True when `raw` is a well-formed spelling of the all-zero trace id (32 zeros, the zero UUID, a traceparent or
 * X-Ray id carrying it, 16 zeros), which W3C Trace Context declares invalid: lets a caller say so instead of
 * "not a trace id".
 */
export function isZeroTraceId(raw: string): boolean {
  return traceIdSpelling(raw) === ZERO32;
}

/** The lowercase 32 hex of any accepted spelling of a trace id, all zeros included. */
function traceIdSpelling(raw: string): string | undefined {
  if (HEX32.test(raw)) return raw;
  const s = raw.trim();
  if (HEX32_ANY_CASE.test(s)) return s.toLowerCase();
  if (UUID.test(s)) return s.replaceAll('-', '').toLowerCase();
  if (HEX16_ANY_CASE.test(s)) return (ZERO16 + s).toLowerCase();
  const tp = TRACEPARENT.exec(s);
  if (tp?.[1]) return tp[1].toLowerCase();
  const xray = XRAY.exec(s);
  if (xray?.[1] && xray[2]) return (xray[1] + xray[2]).toLowerCase();
  return undefined;
}

/** A span id as lowercase 16 hex; `undefined` when it is not 16 hex or all zeros. */
export function normaliseSpanId(raw: string): string | undefined {
  const s = raw.length === 16 ? raw : raw.trim();
  if (!HEX16_ANY_CASE.test(s)) return undefined;
  const id = s.toLowerCase();
  return id === ZERO16 ? undefined : id;
}

/**
 * A request id: hex-32 and UUIDs become lowercase 32 hex (so `X-Request-Id: 0F0E…` and a Lambda `awsRequestId`
 * match however they were spelled); any other printable id of 1–256 characters is kept verbatim, trimmed.
 */
export function normaliseRequestId(raw: string): string | undefined {
  if (HEX32.test(raw)) return raw;
  const s = raw.trim();
  if (HEX32_ANY_CASE.test(s)) return s.toLowerCase();
  if (UUID.test(s)) return s.replaceAll('-', '').toLowerCase();
  return PRINTABLE.test(s) ? s : undefined;
}

/** Decimal unsigned 64-bit integer, as Datadog writes ids (`dd.trace_id`, `dd.span_id`): at most 20 digits. */
const DECIMAL_U64 = /^\d{1,20}$/;
const MAX_U64 = 0xffff_ffff_ffff_ffffn;

/**
 * The 16 lowercase hex digits of a decimal unsigned 64-bit id, or `undefined` when it is not one (or zero). Numbers
 * are taken only when they are safe integers: a JSON number past 2^53 has already lost digits, and a wrong id is
 * worse than none.
 */
function decimalU64ToHex16(raw: string | number | bigint): string | undefined {
  let n: bigint;
  if (typeof raw === 'bigint') n = raw;
  else if (typeof raw === 'number') {
    if (!Number.isSafeInteger(raw)) return undefined;
    n = BigInt(raw);
  } else {
    const s = DECIMAL_U64.test(raw) ? raw : raw.trim();
    if (!DECIMAL_U64.test(s)) return undefined;
    n = BigInt(s);
  }
  if (n <= 0n || n > MAX_U64) return undefined;
  return n.toString(16).padStart(16, '0');
}

/**
 * A trace id from Datadog's decimal 64-bit form (`dd.trace_id`), as lowercase 32 hex left-padded with zeros — the
 * id dd-trace's OpenTelemetry interop gives the same trace. A 32-hex (128-bit) id, which dd-trace logs when
 * 128-bit log injection is on, is read with {@link normaliseTraceId}. `undefined` when it is neither.
 * @example traceIdFromDecimal('5208512171318403364') // '000000000000000048485a3953bb6124'
 */
export function traceIdFromDecimal(raw: string | number | bigint): string | undefined {
  const hex = decimalU64ToHex16(raw);
  if (hex !== undefined) return ZERO16 + hex;
  return typeof raw === 'string' && raw.length >= 32 ? normaliseTraceId(raw) : undefined;
}

/**
 * A span id from Datadog's decimal 64-bit form (`dd.span_id`) as lowercase 16 hex; `undefined` when it is not a
 * decimal unsigned 64-bit integer or is zero.
 * @example spanIdFromDecimal('5208512171318403364') // '48485a3953bb6124'
 */
export function spanIdFromDecimal(raw: string | number | bigint): string | undefined {
  return decimalU64ToHex16(raw);
}
