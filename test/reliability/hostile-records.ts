import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { aLogLine, anOtlpTraceRequest, aSpanId, aTraceId } from '../builders/telemetry.ts';

/**
 * Generated input for the reliability suite: good records (each one JSON log line naming its id in `msg`, or one
 * OTLP span whose span id is its id) mixed with hostile ones, each hostile record with the specific quarantine reason
 * it must get — or, for hostile records that are still valid telemetry (huge attributes, `__proto__` keys, mistyped
 * fields, absurd timestamps), the row it must become.
 */

/** What must become of one generated record. */
export type Expectation =
  /** Rows: one log row whose `body` is `good <id>`, or one span row whose span id is `spanId`. */
  | { readonly kind: 'log'; readonly id: string; readonly body: string; readonly flag?: string }
  | { readonly kind: 'span'; readonly id: string; readonly spanId: string; readonly traceId: string }
  /** Quarantined whole with this reason. */
  | { readonly kind: 'quarantine'; readonly id: string; readonly reason: string };

export interface GeneratedRecord {
  readonly data: Buffer;
  readonly partitionKey: string;
  /** What this record is, for messages: `hostile deep-nesting #17`. */
  readonly label: string;
  readonly expect: Expectation;
}

/** The hostile kinds, and the reason each must be quarantined with (`row` when it must still become a row). */
export const HOSTILE_KINDS = {
  'truncated-gzip': 'corrupt_compression',
  'garbage-gzip': 'corrupt_compression',
  'garbage-zlib': 'corrupt_compression',
  'deep-nesting': 'too_deep',
  'deep-nesting-otlp': 'too_deep',
  'invalid-utf8': 'row',
  'bad-kpl-checksum': 'invalid_kpl',
  'truncated-kpl': 'invalid_kpl',
  'mistyped-otlp': 'invalid_otlp',
  'short-trace-id': 'invalid_span',
  'not-an-object': 'not_a_json_object',
  'invalid-json': 'invalid_json',
  'huge-attributes': 'row',
  'proto-keys': 'row',
  'mistyped-log-fields': 'row',
  'far-future-number': 'row',
  'far-future-iso': 'row',
  'ancient-number': 'row',
  'invalid-iso': 'row',
  'skewed-future-number': 'row',
  'skewed-past-iso': 'row',
  'wrong-length-log-ids': 'row',
} as const;
export type HostileKind = keyof typeof HOSTILE_KINDS;

/** The `ingest_flags` entry a hostile record that becomes a row must carry. */
export const HOSTILE_FLAGS: Partial<Record<HostileKind, string>> = {
  'invalid-utf8': 'invalid_utf8',
  'huge-attributes': 'truncated',
  'skewed-future-number': 'time_clamped',
  'skewed-past-iso': 'time_clamped',
};

const KPL_BAD_MD5 = readFileSync(new URL('../fixtures/kpl/bad-md5.bin', import.meta.url));
const KPL_GOOD = readFileSync(new URL('../fixtures/kpl/json-lines.bin', import.meta.url));

/** A small deterministic PRNG (mulberry32) so a run is reproducible from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function deep(depth: number): string {
  return `${'['.repeat(depth)}${']'.repeat(depth)}`;
}

/** The bytes of one hostile record of `kind`; `id` is put where a row would show it. */
export function hostileRecord(kind: HostileKind, id: string, nowMs: number): Buffer {
  const line = (extra: Record<string, unknown> = {}, msg = `hostile ${id}`) =>
    aLogLine({ msg, timeMs: nowMs, service: 'hostile', extra });
  switch (kind) {
    case 'truncated-gzip': {
      const gz = gzipSync(Buffer.from(line()));
      return gz.subarray(0, Math.max(12, gz.length - 9));
    }
    case 'garbage-gzip':
      return Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0x00]), Buffer.from(`garbage ${id} `.repeat(8))]);
    case 'garbage-zlib':
      return Buffer.concat([Buffer.from([0x78, 0x9c]), Buffer.from(`not deflate ${id} `.repeat(8))]);
    case 'deep-nesting':
      return Buffer.from(`{"msg":"hostile ${id}","level":"INFO","nested":${deep(10_000)}}`);
    case 'deep-nesting-otlp':
      return Buffer.from(
        `{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"x","value":${'{"arrayValue":{"values":['.repeat(5_000)}${']}}'.repeat(5_000)}}]}]}]}]}`,
      );
    case 'invalid-utf8':
      return Buffer.concat([
        Buffer.from(`{"msg":"hostile ${id} `),
        Buffer.from([0xc3, 0x28, 0xff, 0xfe]),
        Buffer.from('"}'),
      ]);
    case 'bad-kpl-checksum':
      return Buffer.from(KPL_BAD_MD5);
    case 'truncated-kpl':
      return KPL_GOOD.subarray(0, KPL_GOOD.length - 20);
    case 'mistyped-otlp':
      return Buffer.from(
        `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":42,"spanId":true,"name":["${id}"]}]}]}]}`,
      );
    case 'short-trace-id':
      return Buffer.from(
        anOtlpTraceRequest('hostile', [{ traceId: 'abc123', spanId: aSpanId(1), name: `hostile ${id}` }]),
      );
    case 'not-an-object':
      return Buffer.from(`["hostile ${id}", 1, 2]`);
    case 'invalid-json':
      return Buffer.from(`{"msg":"hostile ${id}", "level": INFO}`);
    case 'huge-attributes':
      return Buffer.from(line({ blob: 'x'.repeat(70_000), tags: Array.from({ length: 500 }, (_, i) => `t${i}`) }));
    case 'proto-keys':
      return Buffer.from(
        `{"msg":"hostile ${id}","level":"INFO","__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}}}`,
      );
    case 'mistyped-log-fields':
      return Buffer.from(
        JSON.stringify({ msg: `hostile ${id}`, level: 42, timestamp: true, trace_id: 12345, service: { a: 1 } }),
      );
    case 'far-future-number':
      return Buffer.from(JSON.stringify({ msg: `hostile ${id}`, level: 'INFO', ts: 9.9e30 }));
    case 'far-future-iso':
      return Buffer.from(
        JSON.stringify({ msg: `hostile ${id}`, level: 'INFO', timestamp: '+275760-09-13T00:00:00.000Z' }),
      );
    case 'ancient-number':
      return Buffer.from(JSON.stringify({ msg: `hostile ${id}`, level: 'INFO', ts: -1e15 }));
    case 'invalid-iso':
      return Buffer.from(JSON.stringify({ msg: `hostile ${id}`, level: 'INFO', timestamp: '2026-13-45T99:99:99Z' }));
    case 'skewed-future-number':
      return Buffer.from(
        JSON.stringify({ msg: `hostile ${id}`, level: 'INFO', timestamp: nowMs + 10 * 365 * 86_400_000 }),
      );
    case 'skewed-past-iso':
      return Buffer.from(JSON.stringify({ msg: `hostile ${id}`, level: 'INFO', timestamp: '1990-01-01T00:00:00Z' }));
    case 'wrong-length-log-ids':
      return Buffer.from(
        JSON.stringify({ msg: `hostile ${id}`, level: 'INFO', trace_id: 'abc', span_id: '0123456789abcdef01' }),
      );
  }
}

export interface MixOptions {
  readonly good: number;
  readonly hostile: number;
  readonly seed: number;
  /** Event time of the good records and of the hostile ones that carry one. */
  readonly nowMs: number;
  /** Ids are `<prefix>-<n>`, unique across runs that use different prefixes. */
  readonly prefix: string;
}

function flagOf(kind: HostileKind): { flag?: string } {
  const flag = HOSTILE_FLAGS[kind];
  return flag === undefined ? {} : { flag };
}

/** `good` good records and `hostile` hostile ones (kinds round-robin), shuffled by the seed. */
export function mixedRecords(options: MixOptions): GeneratedRecord[] {
  const random = prng(options.seed);
  const out: GeneratedRecord[] = [];
  for (let i = 0; i < options.good; i++) {
    const id = `${options.prefix}-g${i}`;
    if (i % 10 === 9) {
      const traceId = aTraceId(1_000_000 + i);
      const spanId = aSpanId(1_000_000 + i);
      out.push({
        data: Buffer.from(anOtlpTraceRequest('good', [{ traceId, spanId, name: `good ${id}` }])),
        partitionKey: id,
        label: `good span ${id}`,
        expect: { kind: 'span', id, spanId, traceId },
      });
    } else {
      out.push({
        data: Buffer.from(
          aLogLine({ msg: `good ${id}`, timeMs: options.nowMs, traceId: aTraceId(i % 97), service: 'good' }),
        ),
        partitionKey: id,
        label: `good log ${id}`,
        expect: { kind: 'log', id, body: `good ${id}` },
      });
    }
  }
  const kinds = Object.keys(HOSTILE_KINDS) as HostileKind[];
  for (let i = 0; i < options.hostile; i++) {
    const kind = kinds[i % kinds.length] ?? 'invalid-json';
    const id = `${options.prefix}-h${i}`;
    const reason = HOSTILE_KINDS[kind];
    out.push({
      data: hostileRecord(kind, id, options.nowMs),
      partitionKey: id,
      label: `hostile ${kind} ${id}`,
      expect:
        reason === 'row'
          ? { kind: 'log', id, body: `hostile ${id}`, ...flagOf(kind) }
          : { kind: 'quarantine', id, reason },
    });
  }
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const a = out[i];
    const b = out[j];
    if (a && b) {
      out[i] = b;
      out[j] = a;
    }
  }
  return out;
}
