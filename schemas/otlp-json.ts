import { z } from 'zod';

/**
 * The OTLP/JSON encoding of `ExportTraceServiceRequest` and `ExportLogsServiceRequest` (opentelemetry-proto, JSON
 * mapping): ids are hex strings, 64-bit integers may be strings or numbers, enums may be integers or their names.
 * Unknown fields are allowed, as the protocol requires of receivers.
 */

/** 64-bit integers: decimal strings (exact) or JSON numbers (which lose precision beyond 2^53, hence not `.int()`). */
const Int64 = z.union([z.string().regex(/^-?\d+$/), z.number().refine(Number.isFinite)]);

export type AnyValue =
  | { stringValue?: string | undefined }
  | { boolValue?: boolean | undefined }
  | { intValue?: string | number | undefined }
  | { doubleValue?: number | string | undefined }
  | { bytesValue?: string | undefined }
  | { arrayValue?: { values?: AnyValue[] | undefined } | undefined }
  | { kvlistValue?: { values?: KeyValue[] | undefined } | undefined };
export interface KeyValue {
  key: string;
  value?: AnyValue | undefined;
}

/**
 * One object with every variant optional rather than a union of variants: a union makes zod try each branch and build
 * issues for the misses, which cost more than the rest of the decode on attribute-heavy spans.
 */
export const AnyValue: z.ZodType<AnyValue> = z.lazy(() =>
  z.looseObject({
    stringValue: z.string().optional(),
    boolValue: z.boolean().optional(),
    intValue: Int64.optional(),
    doubleValue: z.union([z.number(), z.string()]).optional(),
    bytesValue: z.string().optional(),
    arrayValue: z.looseObject({ values: z.array(AnyValue).optional() }).optional(),
    kvlistValue: z.looseObject({ values: z.array(KeyValue).optional() }).optional(),
  }),
);
export const KeyValue: z.ZodType<KeyValue> = z.lazy(() =>
  z.looseObject({ key: z.string(), value: AnyValue.optional() }),
);

const Attributes = z.array(KeyValue).optional();

export const OtlpSpan = z.looseObject({
  traceId: z.string(),
  spanId: z.string(),
  traceState: z.string().optional(),
  parentSpanId: z.string().optional(),
  name: z.string().default(''),
  kind: z.union([z.number().int(), z.string()]).optional(),
  startTimeUnixNano: Int64,
  endTimeUnixNano: Int64,
  attributes: Attributes,
  events: z
    .array(z.looseObject({ timeUnixNano: Int64.optional(), name: z.string().default(''), attributes: Attributes }))
    .optional(),
  links: z
    .array(
      z.looseObject({
        traceId: z.string(),
        spanId: z.string(),
        traceState: z.string().optional(),
        attributes: Attributes,
      }),
    )
    .optional(),
  status: z
    .looseObject({ code: z.union([z.number().int(), z.string()]).optional(), message: z.string().optional() })
    .optional(),
});
export type OtlpSpan = z.infer<typeof OtlpSpan>;

export const ExportTraceServiceRequest = z.looseObject({
  resourceSpans: z.array(
    z.looseObject({
      resource: z.looseObject({ attributes: Attributes }).optional(),
      scopeSpans: z
        .array(
          z.looseObject({
            scope: z.looseObject({ name: z.string().optional(), version: z.string().optional() }).optional(),
            spans: z.array(OtlpSpan).default([]),
          }),
        )
        .default([]),
    }),
  ),
});
export type ExportTraceServiceRequest = z.infer<typeof ExportTraceServiceRequest>;

/** Enums as integers or as their names (`SEVERITY_NUMBER_INFO`), as the JSON mapping allows both. */
const Enum = z.union([z.number().int(), z.string()]);

export const OtlpLogRecord = z.looseObject({
  timeUnixNano: Int64.optional(),
  observedTimeUnixNano: Int64.optional(),
  severityNumber: Enum.optional(),
  severityText: z.string().optional(),
  body: AnyValue.optional(),
  attributes: Attributes,
  traceId: z.string().optional(),
  spanId: z.string().optional(),
});
export type OtlpLogRecord = z.infer<typeof OtlpLogRecord>;

export const ExportLogsServiceRequest = z.looseObject({
  resourceLogs: z.array(
    z.looseObject({
      resource: z.looseObject({ attributes: Attributes }).optional(),
      scopeLogs: z
        .array(
          z.looseObject({
            scope: z.looseObject({ name: z.string().optional(), version: z.string().optional() }).optional(),
            logRecords: z.array(OtlpLogRecord).default([]),
          }),
        )
        .default([]),
    }),
  ),
});
export type ExportLogsServiceRequest = z.infer<typeof ExportLogsServiceRequest>;
