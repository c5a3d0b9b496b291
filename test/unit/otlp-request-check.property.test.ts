import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ExportLogsServiceRequest,
  ExportTraceServiceRequest,
  isExportLogsServiceRequest,
  isExportTraceServiceRequest,
} from '../../schemas/otlp-json.ts';

/**
 * The OTLP/JSON decoder checks a request with hand-written guards and asks zod only why a rejected one is wrong:
 * the two must accept exactly the same requests, or a request would be mapped that zod rejects (or the reverse).
 */

/** Values of the wrong type for any field. */
const junk = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  fc.string({ maxLength: 4 }),
  fc.constant([]),
  fc.constant({}),
  fc.constant([1]),
);

/** Mostly a value `valid` makes, sometimes junk. */
const field = <T>(valid: fc.Arbitrary<T>) => fc.oneof({ arbitrary: valid, weight: 30 }, { arbitrary: junk, weight: 1 });
/** An object whose fields may each be absent (but the `present` ones), valid or junk. */
const object = (fields: Record<string, fc.Arbitrary<unknown>>, present: readonly string[] = []) => {
  const shaped: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [key, gen] of Object.entries(fields)) shaped[key] = field(gen);
  return fc.record(shaped, { requiredKeys: [...present] });
};
/** Arrays that are now and then not arrays, or hold junk. */
const list = <T>(item: fc.Arbitrary<T>) => fc.array(field(item), { maxLength: 3 });

const int64 = fc.oneof(
  fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }).map(String),
  fc.integer(),
  fc.double(),
  fc.constantFrom('12a', '', '-', '1.5', ' 1', '+1', Number.POSITIVE_INFINITY, Number.NaN),
);
const enumValue = fc.oneof(
  fc.integer({ min: -3, max: 30 }),
  fc.string({ maxLength: 12 }),
  fc.constantFrom(1.5, 2 ** 60),
);
const text = fc.string({ maxLength: 6 });

const { anyValue } = fc.letrec((tie) => ({
  anyValue: object({
    stringValue: text,
    boolValue: fc.boolean(),
    intValue: int64,
    doubleValue: fc.oneof(fc.double(), text),
    bytesValue: text,
    arrayValue: object({ values: fc.array(tie('anyValue'), { maxLength: 2 }) }),
    kvlistValue: object({ values: fc.array(tie('keyValue'), { maxLength: 2 }) }),
  }),
  keyValue: object({ key: text, value: tie('anyValue') }),
}));
const attributes = list(object({ key: text, value: anyValue }));
const scope = object({ name: text, version: text });
const resource = object({ attributes });

/** Spans whose `present` fields are there: every required field for the one-span property, none for whole requests. */
const spanWith = (present: readonly string[]) =>
  object(
    {
      traceId: text,
      spanId: text,
      traceState: text,
      parentSpanId: text,
      name: text,
      kind: enumValue,
      startTimeUnixNano: int64,
      endTimeUnixNano: int64,
      attributes,
      events: list(object({ timeUnixNano: int64, name: text, attributes })),
      links: list(
        object(
          { traceId: text, spanId: text, traceState: text, attributes },
          present.length > 0 ? ['traceId', 'spanId'] : [],
        ),
      ),
      status: object({ code: enumValue, message: text }),
    },
    present,
  );
const span = spanWith([]);
const completeSpan = spanWith(['traceId', 'spanId', 'startTimeUnixNano', 'endTimeUnixNano']);
const logRecord = object({
  timeUnixNano: int64,
  observedTimeUnixNano: int64,
  severityNumber: enumValue,
  severityText: text,
  body: anyValue,
  attributes,
  traceId: text,
  spanId: text,
});

const traces = object({
  resourceSpans: list(object({ resource, scopeSpans: list(object({ scope, spans: list(span) })) })),
});
const logs = object({
  resourceLogs: list(object({ resource, scopeLogs: list(object({ scope, logRecords: list(logRecord) })) })),
});

const fixture = (path: string): unknown =>
  JSON.parse(readFileSync(new URL(`../fixtures/${path}`, import.meta.url), 'utf8'));

describe('the OTLP/JSON request check', () => {
  it.each([
    { signal: 'trace', requests: traces, schema: ExportTraceServiceRequest, check: isExportTraceServiceRequest },
    { signal: 'log', requests: logs, schema: ExportLogsServiceRequest, check: isExportLogsServiceRequest },
  ])('accepts exactly the $signal requests the zod schema accepts', ({ requests, schema, check }) => {
    let accepted = 0;
    fc.assert(
      fc.property(requests, (request) => {
        const expected = schema.safeParse(request).success;
        expect(check(request)).toBe(expected);
        if (expected) accepted++;
      }),
      { numRuns: 1000 },
    );
    // Both answers occur often: the property is not decided by one side alone.
    expect(accepted).toBeGreaterThan(30);
    expect(accepted).toBeLessThan(970);
  });

  // A whole random request is rarely valid deep down; one item in a minimal request reaches every field's check.
  it('accepts exactly the spans the zod schema accepts', () => {
    fc.assert(
      fc.property(completeSpan, (item) => {
        const request = { resourceSpans: [{ scopeSpans: [{ spans: [item] }] }] };
        expect(isExportTraceServiceRequest(request)).toBe(ExportTraceServiceRequest.safeParse(request).success);
      }),
      { numRuns: 3000 },
    );
  });

  it('accepts exactly the log records and bodies the zod schema accepts', () => {
    fc.assert(
      fc.property(logRecord, anyValue, (item, body) => {
        const request = { resourceLogs: [{ scopeLogs: [{ logRecords: [item, { body }] }] }] };
        expect(isExportLogsServiceRequest(request)).toBe(ExportLogsServiceRequest.safeParse(request).success);
      }),
      { numRuns: 3000 },
    );
  });

  it('agrees on what is not a request at all', () => {
    for (const value of [
      null,
      1,
      'x',
      [],
      {},
      { resourceSpans: null },
      { resourceLogs: {} },
      [{ resourceSpans: [] }],
    ]) {
      expect(isExportTraceServiceRequest(value)).toBe(ExportTraceServiceRequest.safeParse(value).success);
      expect(isExportLogsServiceRequest(value)).toBe(ExportLogsServiceRequest.safeParse(value).success);
    }
  });

  it('accepts the real exporters’ requests', () => {
    expect(isExportTraceServiceRequest(fixture('otlp/traces.json'))).toBe(true);
    expect(isExportLogsServiceRequest(fixture('otlp/logs.json'))).toBe(true);
  });
});
