import { createRedactor, type TextRedactor } from '../core/redact.ts';
import type { DecodeFailure, RecordContext } from './decoded.ts';
import { type PayloadForm, redactPayload } from './redact-payload.ts';

/** One line of a quarantine object: everything needed to understand and replay the failure. */
export interface QuarantineEntry {
  readonly shard_id: string;
  readonly sequence_number: string;
  /** Position inside a KPL aggregate (0 for a plain record). */
  readonly sub_sequence_number: number;
  /** True when `data` is one user record of a KPL aggregate (then `sub_sequence_number` names it). */
  readonly aggregated: boolean;
  readonly partition_key: string;
  readonly arrival_time: string;
  /** 1-based line of a JSON-lines record, or null when the whole record failed. */
  readonly line: number | null;
  readonly decoder: string;
  readonly reason: string;
  readonly message: string;
  /** The bytes that failed, redacted (see `data_form`), base64. */
  readonly data: string;
  /**
   * How `data` relates to the bytes that arrived (decision D17): `original` (no secret found: the same bytes),
   * `redacted` (the same record with secrets replaced; it decodes as the original did), `prefix` (only what could be
   * inspected was kept) or `withheld` (nothing could be inspected: nothing kept).
   */
  readonly data_form: PayloadForm;
  /** What was not kept and why, for `prefix` and `withheld`. */
  readonly data_note?: string;
  /** Size of the bytes that failed, as they arrived. */
  readonly original_size: number;
}

/**
 * The entry of one failure, its bytes and message redacted before anything is written (decision D17): the bytes by
 * `redactPayload` (text by key and value, compressed payloads inflated, protobuf and KPL walked; what cannot be
 * inspected is withheld), the message by value (a JSON parser's message quotes the input). A failure of a KPL
 * sub-record carries its own context (sub-sequence, partition key). Costs nothing on the normal path: only
 * failures get here.
 */
export function quarantineEntry(
  failure: DecodeFailure,
  recordCtx: RecordContext,
  redactor: TextRedactor = BUILT_IN_REDACTOR,
  maxRecordBytes = DEFAULT_MAX_INFLATED_BYTES,
): QuarantineEntry {
  const ctx = failure.context ?? recordCtx;
  const kept = redactPayload(failure.raw, redactor, maxRecordBytes);
  return {
    shard_id: ctx.shardId,
    sequence_number: ctx.sequenceNumber,
    sub_sequence_number: ctx.subSequenceNumber,
    aggregated: ctx.formatPrefix === 'kpl+',
    partition_key: ctx.partitionKey,
    arrival_time: new Date(ctx.arrivalMs).toISOString(),
    line: failure.line ?? null,
    decoder: failure.decoder,
    reason: failure.reason,
    message: redactMessage(failure.message, redactor),
    data: Buffer.from(kept.bytes.buffer, kept.bytes.byteOffset, kept.bytes.byteLength).toString('base64'),
    data_form: kept.form,
    ...(kept.note === undefined ? {} : { data_note: kept.note }),
    original_size: failure.raw.byteLength,
  };
}

const BUILT_IN_REDACTOR = createRedactor();
/** SKEIN_MAX_RECORD_BYTES' default: how far a compressed payload is inflated to be inspected. */
const DEFAULT_MAX_INFLATED_BYTES = 10 * 1024 * 1024;

/** V8's JSON.parse messages quote up to ~20 characters of the input around the error: `, "…" is not valid JSON`. */
const JSON_SNIPPET = /, (?:\.\.\.)?".*" ?(?:\.\.\.)? is not valid JSON/s;
/** The format detector names the first 8 bytes of what it could not read; 4 (a magic number) say as much. */
const BYTES_HEAD = /(starts with bytes [0-9a-f]{8})[0-9a-f]+/;

/** A failure message fit to keep: no quoted input, secret values redacted. */
export function redactMessage(message: string, redactor: TextRedactor): string {
  return redactor.redactText(message.replace(JSON_SNIPPET, ' is not valid JSON').replace(BYTES_HEAD, '$1…'));
}

/** Newline-delimited JSON, one entry per line. */
export function encodeQuarantine(entries: readonly QuarantineEntry[]): Uint8Array {
  let text = '';
  for (const entry of entries) text += `${JSON.stringify(entry)}\n`;
  return Buffer.from(text, 'utf8');
}
