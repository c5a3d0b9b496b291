import type { z } from 'zod';
import { ExportLogsServiceRequest, ExportTraceServiceRequest } from '../../schemas/otlp-json.ts';
import { describeIssue } from '../core/errors.ts';
import type { DecodeFailure, DecodeOptions, DecodeSink, RecordContext } from './decoded.ts';
import { mapOtlpLogs, mapOtlpTraces, OTLP_JSON_ENCODING } from './otlp-mapping.ts';

export const OTLP_JSON = 'otlp-json';

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
  const request = ExportTraceServiceRequest.safeParse(parsed);
  if (!request.success) return [invalidOtlp('traces', request.error, data)];
  return mapOtlpTraces(request.data, data, ctx, sink, options, OTLP_JSON_ENCODING);
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
  const request = ExportLogsServiceRequest.safeParse(parsed);
  if (!request.success) return [invalidOtlp('logs', request.error, data)];
  return mapOtlpLogs(request.data, data, ctx, sink, options, OTLP_JSON_ENCODING);
}

function invalidOtlp(signal: 'traces' | 'logs', error: z.ZodError, data: Uint8Array): DecodeFailure {
  return {
    reason: 'invalid_otlp',
    message: `OTLP/JSON ${signal}: ${describeIssue(error)}`,
    raw: data,
    decoder: OTLP_JSON,
  };
}
