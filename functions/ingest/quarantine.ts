import type { DecodeFailure, RecordContext } from './decoded.ts';

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
  /** The bytes that failed, base64. */
  readonly data: string;
}

/** The entry of one failure; a failure of a KPL sub-record carries its own context (sub-sequence, partition key). */
export function quarantineEntry(failure: DecodeFailure, recordCtx: RecordContext): QuarantineEntry {
  const ctx = failure.context ?? recordCtx;
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
    message: failure.message,
    data: Buffer.from(failure.raw.buffer, failure.raw.byteOffset, failure.raw.byteLength).toString('base64'),
  };
}

/** Newline-delimited JSON, one entry per line. */
export function encodeQuarantine(entries: readonly QuarantineEntry[]): Uint8Array {
  let text = '';
  for (const entry of entries) text += `${JSON.stringify(entry)}\n`;
  return Buffer.from(text, 'utf8');
}
