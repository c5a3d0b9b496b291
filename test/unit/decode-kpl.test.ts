import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { deaggregateSync, type UserRecord } from 'aws-kinesis-agg';
import kplProto from 'aws-kinesis-agg/lib/kpl.json' with { type: 'json' };
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { createRedactor } from '../../functions/core/redact.ts';
import { decodeKpl, isKplAggregate } from '../../functions/ingest/decode-kpl.ts';
import { decodeRecord } from '../../functions/ingest/decode-record.ts';
import { type DecodeFailure, newSink, type RecordContext } from '../../functions/ingest/decoded.ts';
import { quarantineEntry } from '../../functions/ingest/quarantine.ts';
import { LogRecord, SpanRecord } from '../../schemas/records.ts';
import { aRecordContext } from '../builders/decode.ts';

// Fixtures made by aws-kinesis-agg's aggregator: test/fixtures/generate-kpl-cloudwatch.ts.
const fixture = (name: string): Buffer => readFileSync(new URL(`../fixtures/kpl/${name}`, import.meta.url));

const ctx = aRecordContext({
  shardId: 'shardId-000000000003',
  sequenceNumber: '49650000000000000000000000000000000000000000000000000042',
  partitionKey: 'orders-7f3a',
});
const options = { maxRecordBytes: 1024 * 1024, redactor: createRedactor() };
const TRACE_ID = '6745e1c04d2b8f3a9c1e5d7b0a2f4c6e';
const T = Date.UTC(2026, 10, 25, 21, 29, 0);
const AggregatedRecord = protobuf.Root.fromJSON(kplProto).lookupType('AggregatedRecord');

/** Decodes with the format detector as the inner decoder, as ingest does, recording the inner contexts. */
function decode(data: Uint8Array, context: RecordContext = ctx) {
  const sink = newSink();
  const inner: RecordContext[] = [];
  const failures = decodeKpl(data, context, (bytes, innerCtx) => {
    inner.push(innerCtx);
    return decodeRecord(bytes, innerCtx, sink, options);
  });
  return { logs: sink.logs, spans: sink.spans, failures, inner };
}

/** An aggregate in the KPL wire format around a hand-made `AggregatedRecord`, with a correct MD5. */
function anAggregate(message: Record<string, unknown>): Buffer {
  const body = AggregatedRecord.encode(AggregatedRecord.fromObject(message)).finish();
  return withMd5(body);
}

function withMd5(body: Uint8Array): Buffer {
  const md5 = createHash('md5').update(body).digest();
  return Buffer.concat([Buffer.from([0xf3, 0x89, 0x9a, 0xc2]), body, md5]);
}

function libraryUserRecords(data: Buffer): UserRecord[] {
  let records: UserRecord[] = [];
  deaggregateSync(
    {
      kinesisSchemaVersion: '1.0',
      partitionKey: ctx.partitionKey,
      sequenceNumber: ctx.sequenceNumber,
      data: data.toString('base64'),
      approximateArrivalTimestamp: ctx.arrivalMs / 1000,
    },
    true,
    (error, userRecords) => {
      if (error) throw error;
      records = userRecords ?? [];
    },
  );
  return records;
}

describe('isKplAggregate', () => {
  it('recognises the KPL magic F3 89 9A C2 and nothing else', () => {
    expect(isKplAggregate(fixture('json-lines.bin'))).toBe(true);
    expect(isKplAggregate(fixture('bad-md5.bin'))).toBe(true);
    expect(isKplAggregate(Buffer.from([0xf3, 0x89, 0x9a]))).toBe(false);
    expect(isKplAggregate(Buffer.from('{"msg":"hello"}'))).toBe(false);
    expect(isKplAggregate(new Uint8Array(0))).toBe(false);
  });
});

describe('decodeKpl', () => {
  it('decodes every user record of an aggregate of JSON log lines, keeping sub-sequence numbers', () => {
    // Prepare
    const data = fixture('json-lines.bin');

    // Act
    const { logs, failures } = decode(data);

    // Assess
    expect(failures).toEqual([]);
    expect(logs.map((r) => LogRecord.parse(r))).toHaveLength(5);
    expect(logs[0]).toEqual({
      trace_id: TRACE_ID,
      time: T + 1,
      time_unix_nano: BigInt(T + 1) * 1_000_000n,
      observed_time_unix_nano: ctx.observedNs,
      span_id: '00f067aa0ba902b7',
      request_id: '8f5c2b1e4b0a4c6e9b7e2f1d3c4b5a69',
      severity_number: 9,
      severity_text: 'INFO',
      body: 'order 42 loaded',
      service_name: 'orders',
      resource_attributes: '{"service.name":"orders"}',
      attributes: '{"order_id":42}',
      source_format: 'kpl+json-lines',
      shard_id: 'shardId-000000000003',
      sequence_number: '49650000000000000000000000000000000000000000000000000042',
      sub_sequence_number: 0,
      record_ordinal: 0,
      arrival_time: ctx.arrivalMs,
      ingest_flags: null,
    } satisfies LogRecord);
    expect(logs.map((r) => [r.sub_sequence_number, r.record_ordinal, r.service_name, r.body])).toEqual([
      [0, 0, 'orders', 'order 42 loaded'],
      [1, 0, 'payments', 'card declined, retrying'],
      [2, 0, 'orders', 'stock reserved'],
      [2, 1, 'orders', 'cache refreshed'],
      [3, 0, 'inventory', 'sku ABC-1 below reorder point'],
    ]);
    expect(new Set(logs.map((r) => r.source_format))).toEqual(new Set(['kpl+json-lines']));
  });

  it("gives each user record its own partition key and sub-sequence number, as aws-kinesis-agg's deaggregator does", () => {
    // Prepare
    const data = fixture('json-lines.bin');
    const expected = libraryUserRecords(data);

    // Act
    const { inner } = decode(data);

    // Assess
    expect(inner.map((c) => [c.subSequenceNumber, c.partitionKey])).toEqual([
      [0, 'orders-7f3a'],
      [1, 'payments-19c2'],
      [2, 'orders-7f3a'],
      [3, 'inventory-0b11'],
    ]);
    expect(inner.map((c) => [c.subSequenceNumber, c.partitionKey])).toEqual(
      expected.map((r) => [r.subSequenceNumber, r.partitionKey]),
    );
    for (const c of inner) {
      expect(c).toMatchObject({
        shardId: ctx.shardId,
        sequenceNumber: ctx.sequenceNumber,
        arrivalMs: ctx.arrivalMs,
        observedNs: ctx.observedNs,
        formatPrefix: 'kpl+',
      });
    }
  });

  it('decodes an OTLP/JSON traces request and a log line aggregated together', () => {
    const { logs, spans, failures, inner } = decode(fixture('otlp-traces.bin'));

    expect(failures).toEqual([]);
    expect(inner.map((c) => c.partitionKey)).toEqual(['checkout-a1', 'checkout-a1']);
    expect(spans.map((s) => SpanRecord.parse(s))).toHaveLength(2);
    expect(spans.map((s) => [s.sub_sequence_number, s.record_ordinal, s.span_id, s.name, s.source_format])).toEqual([
      [0, 0, '1a2b3c4d5e6f7081', 'POST /checkout', 'kpl+otlp-json'],
      [0, 1, '2b3c4d5e6f708192', 'GET /orders/:id', 'kpl+otlp-json'],
    ]);
    expect(spans.every((s) => s.trace_id === TRACE_ID && s.service_name === 'checkout')).toBe(true);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatchObject({
      sub_sequence_number: 1,
      record_ordinal: 0,
      trace_id: TRACE_ID,
      body: 'order lookup failed',
      source_format: 'kpl+json-lines',
    });
  });

  it('quarantines an aggregate whose MD5 does not match, whole and with its original bytes, writing nothing', () => {
    // Prepare
    const data = fixture('bad-md5.bin');
    let innerCalls = 0;
    const sink = newSink();

    // Act
    const failures = decodeKpl(data, ctx, (bytes, innerCtx) => {
      innerCalls++;
      return decodeRecord(bytes, innerCtx, sink, options);
    });

    // Assess
    expect(failures).toEqual([
      {
        reason: 'invalid_kpl',
        message: 'the MD5 trailer does not match the aggregated bytes: the record is truncated or corrupt',
        raw: data,
        decoder: 'kpl',
      },
    ]);
    expect(innerCalls).toBe(0);
    expect(sink.logs).toEqual([]);
    expect(sink.spans).toEqual([]);
    expect(() => libraryUserRecords(data)).toThrowError(/checksum/);
  });

  it('returns the failures of bad user records with their own context, and still decodes the good ones', () => {
    // Prepare
    const data = fixture('bad-inner.bin');

    // Act
    const { logs, failures } = decode(data);

    // Assess
    expect(logs.map((r) => [r.sub_sequence_number, r.body])).toEqual([[0, 'good record before a bad one']]);
    expect(failures.map((f) => [f.reason, f.decoder, f.context?.subSequenceNumber, f.context?.partitionKey])).toEqual([
      ['unknown_format', 'detect', 1, 'binary-00'],
      ['invalid_kpl', 'kpl', 2, 'nested-1'],
    ]);
    expect([...(failures[0]?.raw ?? [])]).toEqual([0x00, 0x01, 0x02, 0xff, 0xfe]);
    expect(isKplAggregate(failures[1]?.raw ?? new Uint8Array(0))).toBe(true);
  });

  it('lets the quarantine entry of a bad user record name its sub-sequence number and partition key', () => {
    const { failures } = decode(fixture('bad-inner.bin'));
    const failure = failures[0];
    if (!failure) throw new Error('expected a failure');

    const entry = quarantineEntry(failure, ctx);

    expect(entry).toMatchObject({
      shard_id: ctx.shardId,
      sequence_number: ctx.sequenceNumber,
      sub_sequence_number: 1,
      partition_key: 'binary-00',
      reason: 'unknown_format',
      // Binary in no format Skein reads cannot be inspected for secrets: only its size is kept (D17).
      data: '',
      data_form: 'withheld',
      original_size: 5,
    });
  });

  it('quarantines every truncation of a valid aggregate whole, without writing a row', () => {
    const data = fixture('json-lines.bin');
    for (let length = 0; length < data.length; length++) {
      const { logs, failures } = decode(data.subarray(0, length));

      expect(logs, `truncated to ${length}`).toEqual([]);
      expect(
        failures.map((f) => [f.reason, f.context]),
        `truncated to ${length}`,
      ).toEqual([['invalid_kpl', undefined]]);
    }
  });

  it('refuses an aggregate inside an aggregate: the KPL never nests', () => {
    const { failures } = decode(fixture('json-lines.bin'), { ...ctx, formatPrefix: 'kpl+' });

    expect(failures.map((f) => f.reason)).toEqual(['invalid_kpl']);
    expect(failures[0]?.message).toMatch(/never nests/);
  });

  it('quarantines an aggregate with a valid MD5 around bytes that are not an AggregatedRecord', () => {
    const { logs, failures } = decode(withMd5(Buffer.from([0x1a, 0x05, 0x0a, 0x01])));

    expect(logs).toEqual([]);
    expect(failures.map((f) => f.reason)).toEqual(['invalid_kpl']);
    expect(failures[0]?.message).toMatch(/not a KPL AggregatedRecord/);
  });

  it('quarantines an aggregate whole when a user record names a partition key outside the table', () => {
    const data = anAggregate({
      partition_key_table: ['a'],
      records: [
        { partition_key_index: 0, data: Buffer.from('{"msg":"fine"}') },
        { partition_key_index: 3, data: Buffer.from('{"msg":"bad key"}') },
      ],
    });

    const { logs, failures, inner } = decode(data);

    expect(logs).toEqual([]);
    expect(inner).toEqual([]);
    expect(failures).toEqual([
      { reason: 'invalid_kpl', message: 'user record 1 names partition key 3 of 1', raw: data, decoder: 'kpl' },
    ]);
  });

  it('quarantines an aggregate without user records', () => {
    const { failures } = decode(anAggregate({ partition_key_table: ['a'], records: [] }));

    expect(failures.map((f) => [f.reason, f.message])).toEqual([
      ['invalid_kpl', 'the aggregate holds no user records'],
    ]);
  });

  describe('with random mutations of a valid aggregate', () => {
    const original = fixture('json-lines.bin');
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 16 }) }),
      fc.record({
        kind: fc.constant('insert' as const),
        at: fc.nat(),
        bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
      }),
    );
    type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

    function mutate(bytes: Buffer, mutations: readonly Mutation[]): Buffer {
      let out = Buffer.from(bytes);
      for (const m of mutations) {
        const at = out.length === 0 ? 0 : m.at % (out.length + 1);
        if (m.kind === 'set' && at < out.length) out[at] = m.value;
        else if (m.kind === 'truncate') out = out.subarray(0, at);
        else if (m.kind === 'delete') out = Buffer.concat([out.subarray(0, at), out.subarray(at + m.length)]);
        else if (m.kind === 'insert') out = Buffer.concat([out.subarray(0, at), m.bytes, out.subarray(at)]);
      }
      return out;
    }

    it('never throws, and quarantines any changed aggregate whole without writing a row', () => {
      fc.assert(
        fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (mutations) => {
          const data = mutate(original, mutations);

          const { logs, spans, failures } = decode(data);

          if (data.equals(original)) {
            expect(logs).toHaveLength(5);
          } else {
            expect(logs).toEqual([]);
            expect(spans).toEqual([]);
            expect(failures.map((f) => f.reason)).toEqual(['invalid_kpl']);
          }
        }),
        { numRuns: 500 },
      );
    });

    it('never throws on mutated protobuf bytes with a recomputed MD5, and accounts for what it decoded', () => {
      const body = original.subarray(4, original.length - 16);
      fc.assert(
        fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (mutations) => {
          const data = withMd5(mutate(body, mutations));

          const { logs, spans, failures } = decode(data);

          expect(logs.length + spans.length + failures.length).toBeGreaterThan(0);
          for (const failure of failures satisfies DecodeFailure[]) {
            if (failure.context === undefined) expect(failure.raw).toBe(data);
            else expect(failure.context.formatPrefix).toBe('kpl+');
          }
        }),
        { numRuns: 500 },
      );
    });
  });
});
