import type { LogRecord, SpanRecord } from '../../schemas/records.ts';

/** Where one Kinesis record came from: copied onto every row decoded from it. */
export interface RecordContext {
  readonly shardId: string;
  readonly sequenceNumber: string;
  /** Position inside a KPL aggregated record; 0 for a plain record. */
  readonly subSequenceNumber: number;
  /** `kpl+` when the record came out of a KPL aggregate, '' otherwise: prefixed to `source_format`. */
  readonly formatPrefix: '' | 'kpl+';
  readonly partitionKey: string;
  /** Approximate arrival time on the stream, epoch ms. */
  readonly arrivalMs: number;
  /** When ingest first saw the record, ns: the observed time of its log rows. */
  readonly observedNs: bigint;
}

/** Machine-readable reasons a record (or one line of it) is quarantined. */
export const QUARANTINE_REASONS = {
  empty_record: 'the record has no bytes, or only whitespace',
  unknown_format: 'the record is neither JSON lines nor OTLP/JSON (binary or unrecognised text)',
  invalid_json: 'a line is not valid JSON',
  not_a_json_object: 'a line is JSON but not an object',
  invalid_otlp: 'the OTLP payload does not match ExportTraceServiceRequest / ExportLogsServiceRequest',
  invalid_protobuf: 'binary content that is not a valid OTLP protobuf message',
  invalid_kpl: 'a KPL aggregated record that is truncated, malformed or fails its MD5 check',
  invalid_cloudwatch: 'a CloudWatch Logs subscription payload without a valid DATA_MESSAGE envelope',
  invalid_span: 'a span lacks a valid trace id, span id or timestamps',
  unsupported_format: 'the format is recognised but not decoded yet',
  corrupt_compression: 'the gzip/zlib stream is corrupt or truncated',
  record_too_large: 'the record is larger than the configured maximum',
  too_deep: 'the JSON (or protobuf) is nested deeper than the decoders follow (e.g. a 10,000-deep array)',
  decoder_error: 'the decoder failed unexpectedly (a bug: report it with the quarantined bytes)',
} as const;
export type QuarantineReason = keyof typeof QUARANTINE_REASONS;

/** A record, or one line of it, that could not become rows. */
export interface DecodeFailure {
  readonly reason: QuarantineReason;
  readonly message: string;
  /** 1-based line of a JSON-lines record; absent when the whole record failed. */
  readonly line?: number;
  /** The bytes that failed: the line, or the whole record. */
  readonly raw: Uint8Array;
  readonly decoder: string;
  /** The context of the unit that failed when it is not the Kinesis record itself (a KPL sub-record). */
  readonly context?: RecordContext;
}

/** Decides what is a secret before anything is written (functions/core/redact.ts builds the configured one). */
export interface Redactor {
  /** True when a field of this name holds a secret by its name (`Authorization`, `api_key`, …). Memoised. */
  isSecretKey(key: string): boolean;
  /** `text` with secret-looking values (`AKIA…` keys, bearer tokens, …) replaced; the same string when none. */
  redactText(text: string): string;
  /** A cheap test that is true for every text `redactText` could change, or that names a secret field. */
  mayHoldSecret?(text: string): boolean;
}

/** What every decoder is given besides the record. */
export interface DecodeOptions {
  readonly maxRecordBytes: number;
  readonly redactor: Redactor;
  /** Pins the format of every record (`SKEIN_FORMAT`); absent or `auto` detects per record. */
  readonly format?: InputFormat;
}

/** Formats a stream can be pinned to; `auto` detects per record. KPL aggregates are always opened. */
export const INPUT_FORMATS = ['auto', 'json-lines', 'otlp-json', 'otlp-proto', 'cloudwatch-logs'] as const;
export type InputFormat = (typeof INPUT_FORMATS)[number];

/** Rows and counters accumulated over a batch; decoders append to it (no per-record arrays on the hot path). */
export interface DecodeSink {
  readonly logs: LogRecord[];
  readonly spans: SpanRecord[];
  /** CloudWatch Logs `CONTROL_MESSAGE`s seen: dropped on purpose, counted, never quarantined. */
  controlMessages: number;
}

/** A fresh, empty sink. */
export function newSink(): DecodeSink {
  return { logs: [], spans: [], controlMessages: 0 };
}
