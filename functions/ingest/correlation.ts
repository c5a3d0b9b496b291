/**
 * Field names producers use for correlation ids (docs/producers.md, "Getting trace and request ids into your logs"; decision D9). Each list is in order of preference:
 * when a line carries several, the earliest name that holds a valid id wins and the others stay attributes.
 */

/**
 * Trace id fields: OpenTelemetry and most loggers (`trace_id`, `traceId`), Micrometer/Sleuth MDC (`traceId`),
 * OpenTelemetry's Java/Go log bridges (`otelTraceID`), ECS (`trace.id`), W3C `traceparent`, X-Ray (Powertools'
 * `xray_trace_id`, the `X-Amzn-Trace-Id` header `Root=1-…;…`). Datadog's decimal ids are in {@link DD_TRACE_ID_KEYS}.
 */
export const TRACE_ID_KEYS = [
  'trace_id',
  'traceId',
  'traceid',
  'otelTraceID',
  'trace.id',
  'traceparent',
  'xray_trace_id',
  'x-amzn-trace-id',
  'X-Amzn-Trace-Id',
] as const;
/** Datadog's trace id (decimal 64-bit, or 32 hex with 128-bit log injection): last, after the W3C spellings. */
export const DD_TRACE_ID_KEYS = ['dd.trace_id'] as const;

export const SPAN_ID_KEYS = ['span_id', 'spanId', 'spanid', 'otelSpanID', 'span.id'] as const;
/** Datadog's span id (decimal 64-bit). */
export const DD_SPAN_ID_KEYS = ['dd.span_id'] as const;

/**
 * Request id fields. bunyan's convention is `req_id`; `function_request_id` is Powertools' Lambda request id; Powertools' `correlation_id` (an API
 * Gateway request id or whatever the function set) is taken only when there is nothing better.
 */
export const REQUEST_ID_KEYS = [
  'request_id',
  'requestId',
  'reqId',
  'req_id',
  'x-request-id',
  'X-Request-Id',
  'X-Request-ID',
  'http.request.header.x-request-id',
  'awsRequestId',
  'aws_request_id',
  'function_request_id',
  'req.id',
  'correlation_id',
] as const;
