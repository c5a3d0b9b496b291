import type { z } from 'zod';
import { describeIssue } from '../../schemas/errors.ts';
import {
  ExportLogsServiceRequest,
  ExportTraceServiceRequest,
  isExportLogsServiceRequest,
  isExportTraceServiceRequest,
} from '../../schemas/otlp-json.ts';
import type { DecodeFailure, DecodeOptions, DecodeSink, RecordContext } from './decoded.ts';
import { mapOtlpLogs, mapOtlpTraces, OTLP_JSON_ENCODING, type OtlpMapper } from './otlp-mapping.ts';

export const OTLP_JSON = 'otlp-json';

/** One OTLP/JSON export request: its check, its schema and its mapping. */
interface JsonSignal<T> {
  readonly name: 'traces' | 'logs';
  /** Checks the parsed JSON in place: the hot path. */
  readonly accepts: (value: unknown) => value is T;
  /** Accepts exactly what `accepts` does, and says where and why a request is wrong. */
  readonly schema: z.ZodType;
  readonly map: OtlpMapper<T>;
}

const TRACES: JsonSignal<ExportTraceServiceRequest> = {
  name: 'traces',
  accepts: isExportTraceServiceRequest,
  schema: ExportTraceServiceRequest,
  map: mapOtlpTraces,
};

const LOGS: JsonSignal<ExportLogsServiceRequest> = {
  name: 'logs',
  accepts: isExportLogsServiceRequest,
  schema: ExportLogsServiceRequest,
  map: mapOtlpLogs,
};

/**
 * Decodes an OTLP/JSON `ExportTraceServiceRequest` (already parsed) into span rows. The record is atomic: when any
 * span is invalid, no row is written and the whole record is quarantined, so a replay after a fix cannot duplicate
 * the spans that were fine. `record_ordinal` is the span's position in the request.
 */
export function decodeOtlpTraces(
  data: Uint8Array,
  parsed: unknown,
  ctx: RecordContext,
  sink: DecodeSink,
  options: DecodeOptions,
): DecodeFailure[] {
  return decodeRequest(TRACES, data, parsed, ctx, sink, options);
}

/**
 * Decodes an OTLP/JSON `ExportLogsServiceRequest` (already parsed) into log rows, atomically like
 * {@link decodeOtlpTraces}. `record_ordinal` is the log record's position in the request.
 */
export function decodeOtlpLogsJson(
  data: Uint8Array,
  parsed: unknown,
  ctx: RecordContext,
  sink: DecodeSink,
  options: DecodeOptions,
): DecodeFailure[] {
  return decodeRequest(LOGS, data, parsed, ctx, sink, options);
}

function decodeRequest<T>(
  signal: JsonSignal<T>,
  data: Uint8Array,
  parsed: unknown,
  ctx: RecordContext,
  sink: DecodeSink,
  options: DecodeOptions,
): DecodeFailure[] {
  if (signal.accepts(parsed)) return signal.map(parsed, data, ctx, sink, options, OTLP_JSON_ENCODING);
  // Only a rejected request pays for zod, which says what is wrong. The two agree (a property test holds them to it);
  // should they ever not, the request is still rejected, with a message saying so.
  const explained = signal.schema.safeParse(parsed);
  return [
    {
      reason: 'invalid_otlp',
      message: `OTLP/JSON ${signal.name}: ${explained.success ? 'rejected by the request check' : describeIssue(explained.error)}`,
      raw: data,
      decoder: OTLP_JSON,
    },
  ];
}
