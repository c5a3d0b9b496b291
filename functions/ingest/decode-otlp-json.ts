import type { z } from 'zod';
import { describeIssue } from '../../schemas/errors.ts';
import {
  ExportLogsServiceRequest,
  ExportLogsServiceRequestDetailed,
  ExportTraceServiceRequest,
  ExportTraceServiceRequestDetailed,
} from '../../schemas/otlp-json.ts';
import type { DecodeFailure, DecodeOptions, DecodeSink, RecordContext } from './decoded.ts';
import { mapOtlpLogs, mapOtlpTraces, OTLP_JSON_ENCODING, type OtlpMapper } from './otlp-mapping.ts';

export const OTLP_JSON = 'otlp-json';

/** One OTLP/JSON export request: its schemas and its mapping. */
interface JsonSignal<T> {
  readonly name: 'traces' | 'logs';
  readonly schema: z.ZodType<T>;
  /** Accepts what `schema` accepts, with zod throughout: it says which attribute is wrong where `schema` cannot. */
  readonly detailed: z.ZodType;
  readonly map: OtlpMapper<T>;
}

const TRACES: JsonSignal<ExportTraceServiceRequest> = {
  name: 'traces',
  schema: ExportTraceServiceRequest,
  detailed: ExportTraceServiceRequestDetailed,
  map: mapOtlpTraces,
};

const LOGS: JsonSignal<ExportLogsServiceRequest> = {
  name: 'logs',
  schema: ExportLogsServiceRequest,
  detailed: ExportLogsServiceRequestDetailed,
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
  const request = signal.schema.safeParse(parsed);
  if (request.success) return signal.map(request.data, data, ctx, sink, options, OTLP_JSON_ENCODING);
  // Only a rejected request pays for the detailed parse; should it disagree, the fast schema's issue still stands.
  const explained = signal.detailed.safeParse(parsed);
  const error = explained.success ? request.error : explained.error;
  return [
    {
      reason: 'invalid_otlp',
      message: `OTLP/JSON ${signal.name}: ${describeIssue(error)}`,
      raw: data,
      decoder: OTLP_JSON,
    },
  ];
}
