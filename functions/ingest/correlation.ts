/**
 * Field names producers use for correlation ids (DESIGN.md "Correlation"). Checked in this order; the first
 * one that holds a valid id wins.
 */
export const TRACE_ID_KEYS = ['trace_id', 'traceId', 'traceid', 'otelTraceID', 'dd.trace_id', 'traceparent'] as const;
export const SPAN_ID_KEYS = ['span_id', 'spanId', 'spanid', 'otelSpanID', 'dd.span_id'] as const;
export const REQUEST_ID_KEYS = [
  'request_id',
  'requestId',
  'reqId',
  'x-request-id',
  'http.request.header.x-request-id',
  'awsRequestId',
] as const;
