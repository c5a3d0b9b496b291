import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { memoryObjectStore } from '../../functions/core/object-store.ts';
import { createRedactor } from '../../functions/core/redact.ts';
import { redactJsonText } from '../../functions/core/redact-json.ts';
import { loadIngestConfig } from '../../functions/ingest/config.ts';
import { decodeRecord } from '../../functions/ingest/decode-record.ts';
import { newSink } from '../../functions/ingest/decoded.ts';
import { encodeQuarantine, quarantineEntry } from '../../functions/ingest/quarantine.ts';
import { redactPayload } from '../../functions/ingest/redact-payload.ts';
import { replayQuarantine } from '../../functions/ingest/replay.ts';
import { quarantineObjectKey } from '../../functions/shared/object-keys.ts';
import { aRecordContext } from '../builders/decode.ts';
import { T0 } from '../builders/kinesis.ts';
import { aKplAggregate, compress, otlpJsonToProto } from '../builders/payloads.ts';
import { aSpanId, aTraceId } from '../builders/telemetry.ts';

const redactor = createRedactor();
const MAX = 1024 * 1024;
const AWS_KEY = 'AKIAZN9E9C2E15Z37825';
const PASSWORD = 'pwk15WyK38By07d6X191';
const ctx = aRecordContext();

function decode(data: Uint8Array) {
  const sink = newSink();
  const failures = decodeRecord(data, ctx, sink, { maxRecordBytes: MAX, redactor });
  return { rows: sink.logs.length + sink.spans.length, reasons: failures.map((f) => f.reason), sink };
}

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString('utf8');

/** An OTLP/JSON traces request with secrets in the span name, an attribute value and secret-named attributes. */
function tracesJson(traceId = aTraceId(1)): string {
  return JSON.stringify({
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'auth' } }] },
        scopeSpans: [
          {
            spans: [
              {
                traceId,
                spanId: aSpanId(1),
                name: `GET /keys/${AWS_KEY}`,
                kind: 2,
                startTimeUnixNano: String(BigInt(T0) * 1_000_000n),
                endTimeUnixNano: String(BigInt(T0 + 5) * 1_000_000n),
                attributes: [
                  { key: 'password', value: { stringValue: PASSWORD } },
                  { key: 'api_key', value: { intValue: '123456789' } },
                  { key: 'note', value: { stringValue: `key ${AWS_KEY} used` } },
                ],
              },
            ],
          },
        ],
      },
    ],
  });
}

describe('redactJsonText', () => {
  it('redacts a secret-named member whole, whatever its value, and keeps everything else verbatim', () => {
    const json = '{"n":12345678901234567890, "password":{"v":["x"]},"user":"ann","note":"key AKIAZN9E9C2E15Z37825"}';

    expect(redactJsonText(json, redactor)).toBe(
      '{"n":12345678901234567890, "password":"[REDACTED]","user":"ann","note":"key [REDACTED]"}',
    );
  });

  it('redacts the value of an OTLP KeyValue whose key is a secret name, keeping it valid OTLP', () => {
    const json = '[{"value":{"intValue":"42"},"key":"api_key"},{"key":"ok","value":{"stringValue":"fine"}}]';

    expect(redactJsonText(json, redactor)).toBe(
      '[{"value":{"stringValue":"[REDACTED]"},"key":"api_key"},{"key":"ok","value":{"stringValue":"fine"}}]',
    );
  });

  it('follows JSON inside strings, and redacts each line of JSON lines on its own', () => {
    const lines = [
      JSON.stringify({ message: JSON.stringify({ token: { id: PASSWORD } }) }),
      `{"msg": unquoted, "password": ${PASSWORD}}`,
      `  "secret": "${PASSWORD}",`,
      `password=${PASSWORD} user=bob`,
    ].join('\n');

    const out = redactJsonText(lines, redactor);

    expect(out).not.toContain(PASSWORD);
    expect(out.split('\n')).toHaveLength(4);
    expect(JSON.parse(out.split('\n')[0] ?? '')).toEqual({ message: '{"token":"[REDACTED]"}' });
  });

  it('drops the last word of a string cut by the end of the text: it may be half a secret', () => {
    const cut = `{"msg":"token ghp_${'a1B2'.repeat(6)}`; // 24 of a GitHub token's 36+ characters

    expect(redactJsonText(cut, redactor)).toBe('{"msg":"token …');
  });

  it('returns the very same string when there is nothing to redact', () => {
    const json = '{"msg":"hello","n":1}';
    expect(redactJsonText(json, redactor)).toBe(json);
  });
});

describe('redactPayload', () => {
  it('keeps bytes without secrets as they are', () => {
    const data = Buffer.from('{"msg": nope');
    expect(redactPayload(data, redactor, MAX)).toEqual({ bytes: data, form: 'original' });
  });

  it('redacts OTLP protobuf field by field: the request still decodes, to the same spans, secrets replaced', () => {
    // Prepare
    const data = otlpJsonToProto(tracesJson());

    // Act
    const out = redactPayload(data, redactor, MAX);

    // Assess
    expect(out.form).toBe('redacted');
    expect(Buffer.from(out.bytes).toString('latin1')).not.toMatch(new RegExp(`${AWS_KEY}|${PASSWORD}`));
    const { rows, sink } = decode(out.bytes);
    expect(rows).toBe(1);
    expect(sink.spans[0]?.name).toBe('GET /keys/[REDACTED]');
    expect(JSON.parse(sink.spans[0]?.attributes ?? '')).toEqual({
      password: '[REDACTED]',
      api_key: '[REDACTED]',
      note: 'key [REDACTED] used',
    });
  });

  it('inflates gzip, redacts what it holds and compresses it again, so the record decodes as before', () => {
    const data = compress(otlpJsonToProto(tracesJson('abcd')), 'gzip'); // an invalid span: quarantined

    const out = redactPayload(data, redactor, MAX);

    expect(out.form).toBe('redacted');
    expect(Buffer.from(gunzipSync(out.bytes)).toString('latin1')).not.toContain(PASSWORD);
    expect(decode(out.bytes).reasons).toEqual(decode(data).reasons);
  });

  it('keeps what a truncated gzip stream inflates to, uncompressed and redacted, without the word it was cut in', () => {
    // Prepare
    const lines = `${JSON.stringify({ password: PASSWORD, msg: 'first' })}\n{"msg":"key ${AWS_KEY}"}\n`;
    const whole = gzipSync(Buffer.from(lines.repeat(3)));
    const data = whole.subarray(0, whole.length - 12);

    // Act
    const out = redactPayload(data, redactor, MAX);

    // Assess
    expect(out.form).toBe('prefix');
    expect(out.note).toMatch(/^gzip stream cut short: kept what it inflates to \(\d+ bytes\), uncompressed$/);
    expect(text(out.bytes)).toMatch(/^\{"password":"\[REDACTED\]","msg":"first"\}\n\{"msg":"key /);
    expect(text(out.bytes)).toMatch(/…$/);
    expect(text(out.bytes)).not.toMatch(new RegExp(`${AWS_KEY}|${PASSWORD}`));
  });

  it('withholds a damaged gzip stream: what deflate inflates before it notices is garbled', () => {
    const data = Buffer.from(gzipSync(Buffer.from(`{"password":"${PASSWORD}"}\n`.repeat(40))));
    data[Math.floor(data.length / 2)] = (data[Math.floor(data.length / 2)] ?? 0) ^ 0x5a;

    const out = redactPayload(data, redactor, MAX);

    expect(out.form).toBe('withheld');
    expect(out.bytes).toHaveLength(0);
    expect(out.note).toMatch(/gzip stream damaged/);
  });

  it('redacts the user records of a KPL aggregate and recomputes a matching MD5', () => {
    // Prepare
    const data = aKplAggregate([
      { partitionKey: 'a', data: `{"msg":"ok","password":"${PASSWORD}"}` },
      { partitionKey: 'b', data: gzipSync(`{"msg":"key ${AWS_KEY}"}`) },
    ]);

    // Act
    const out = redactPayload(data, redactor, MAX);

    // Assess
    expect(out.form).toBe('redacted');
    const { rows, reasons, sink } = decode(out.bytes);
    expect([rows, reasons]).toEqual([2, []]);
    expect(sink.logs.map((r) => r.body)).toEqual(['ok', 'key [REDACTED]']);
  });

  it('withholds binary in no format Skein reads, and compressed formats it does not decode', () => {
    const zstd = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.from(AWS_KEY)]);
    const binary = Buffer.concat([Buffer.from([0x00, 0x01, 0xfe]), Buffer.from(PASSWORD)]);

    expect(redactPayload(zstd, redactor, MAX)).toMatchObject({ form: 'withheld', note: expect.stringMatching(/zstd/) });
    expect(redactPayload(binary, redactor, MAX)).toMatchObject({ form: 'withheld', bytes: new Uint8Array(0) });
  });

  it('keeps the fields of a protobuf cut short up to the cut, re-framed so they decode', () => {
    const whole = otlpJsonToProto(tracesJson());

    const out = redactPayload(whole.subarray(0, whole.length - 40), redactor, MAX);

    expect(out.form).toBe('prefix');
    expect(Buffer.from(out.bytes).toString('latin1')).not.toMatch(new RegExp(`${AWS_KEY}|${PASSWORD}`));
    expect(decode(out.bytes).reasons).not.toContain('invalid_protobuf');
  });
});

describe('quarantine entries', () => {
  it('hold redacted bytes and say so, and messages without the input a JSON parser quotes', () => {
    // Prepare
    const line = `{"password": ${PASSWORD}}`;
    let message = '';
    try {
      JSON.parse(line);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('assword'); // V8 quotes the input around the error

    // Act
    const entry = quarantineEntry(
      { reason: 'invalid_json', message: `line 1: ${message}`, line: 1, raw: Buffer.from(line), decoder: 'json-lines' },
      ctx,
      redactor,
      MAX,
    );

    // Assess
    expect(entry).toMatchObject({
      data: Buffer.from('{"password": "[REDACTED]"}').toString('base64'),
      data_form: 'redacted',
      original_size: line.length,
      message: "line 1: Unexpected token 'p' is not valid JSON",
    });
  });

  it('are replayed when redacted (secrets still replaced) and reported, not replayed, when only a prefix was kept', async () => {
    // Prepare
    const store = memoryObjectStore();
    const config = loadIngestConfig({ SKEIN_BUCKET: 'skein-test' });
    const truncated = gzipSync(Buffer.from(`{"msg":"a"}\n`.repeat(50)));
    const entries = [
      quarantineEntry(
        {
          reason: 'decoder_error',
          message: 'a bug, since fixed',
          raw: Buffer.from(`{"msg":"hello","password":"${PASSWORD}"}`),
          decoder: 'detect',
        },
        ctx,
        redactor,
        MAX,
      ),
      quarantineEntry(
        {
          reason: 'corrupt_compression',
          message: 'unexpected end of file',
          raw: truncated.subarray(0, truncated.length - 10),
          decoder: 'detect',
        },
        aRecordContext({ sequenceNumber: '49650000000000000000000000000000000000000000000000000002' }),
        redactor,
        MAX,
      ),
    ];
    const batch = { shardId: ctx.shardId, firstSequenceNumber: ctx.sequenceNumber, firstArrivalMs: ctx.arrivalMs };
    await store.put(quarantineObjectKey(batch), encodeQuarantine(entries), 'application/x-ndjson');

    // Act
    const report = await replayQuarantine(store, { config, clock: () => T0 + 3_600_000 });

    // Assess
    expect(entries.map((e) => e.data_form)).toEqual(['redacted', 'prefix']);
    expect(report.replayed).toBe(1);
    expect(report.stillFailing.map((f) => [f.reason, f.message])).toEqual([
      ['not_kept', expect.stringMatching(/^only part of the record was kept \(gzip stream cut short.*re-send it/)],
    ]);
    const written = [...store.objects.entries()].filter(([key]) => key.startsWith('tables/logs/'));
    expect(written).toHaveLength(1);
    expect(Buffer.from(written[0]?.[1] ?? []).toString('latin1')).not.toContain(PASSWORD);
  });
});
