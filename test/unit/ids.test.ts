import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  isZeroTraceId,
  normaliseRequestId,
  normaliseSpanId,
  normaliseTraceId,
  spanIdFromDecimal,
  traceIdFromDecimal,
} from '../../functions/core/ids.ts';

describe('normaliseTraceId', () => {
  it.each([
    ['4bf92f3577b34da6a3ce929d0e0e4736', '4bf92f3577b34da6a3ce929d0e0e4736'],
    ['4BF92F3577B34DA6A3CE929D0E0E4736', '4bf92f3577b34da6a3ce929d0e0e4736'],
    [' 4bf92f3577b34da6a3ce929d0e0e4736 ', '4bf92f3577b34da6a3ce929d0e0e4736'],
    ['4bf92f35-77b3-4da6-a3ce-929d0e0e4736', '4bf92f3577b34da6a3ce929d0e0e4736'],
    ['00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', '4bf92f3577b34da6a3ce929d0e0e4736'],
    ['1-5759e988-bd862e3fe1be46a994272793', '5759e988bd862e3fe1be46a994272793'],
    ['Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1', '5759e988bd862e3fe1be46a994272793'],
    ['a3ce929d0e0e4736', '0000000000000000a3ce929d0e0e4736'],
  ])('reads %s as %s', (raw, expected) => {
    expect(normaliseTraceId(raw)).toBe(expected);
  });

  it.each([
    '',
    '00000000000000000000000000000000',
    '4bf92f3577b34da6a3ce929d0e0e473',
    'zzf92f3577b34da6a3ce929d0e0e4736',
    'not-a-trace',
  ])('rejects %j', (raw) => {
    expect(normaliseTraceId(raw)).toBeUndefined();
  });

  it.each([
    ['00000000000000000000000000000000', true],
    ['00000000-0000-0000-0000-000000000000', true],
    ['00-00000000000000000000000000000000-00f067aa0ba902b7-01', true],
    ['1-00000000-000000000000000000000000', true],
    ['0000000000000000', true],
    ['4bf92f3577b34da6a3ce929d0e0e4736', false],
    ['0000000000000000000000000000000', false],
    ['not-a-trace', false],
  ])('knows %s as the all-zero trace id: %s', (raw, zero) => {
    expect(isZeroTraceId(raw)).toBe(zero);
    expect(normaliseTraceId(raw) === undefined).toBe(zero || raw.length !== 32);
  });

  it('is idempotent on every 32-hex id', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9a-fA-F]{32}$/), (raw) => {
        const once = normaliseTraceId(raw);
        if (once !== undefined) expect(normaliseTraceId(once)).toBe(once);
      }),
    );
  });
});

describe('normaliseSpanId', () => {
  it('lowercases 16 hex and rejects zeros and other lengths', () => {
    expect(normaliseSpanId('00F067AA0BA902B7')).toBe('00f067aa0ba902b7');
    expect(normaliseSpanId('0000000000000000')).toBeUndefined();
    expect(normaliseSpanId('abc')).toBeUndefined();
  });
});

describe('normaliseRequestId', () => {
  it('turns UUIDs and 32 hex into lowercase 32 hex', () => {
    expect(normaliseRequestId('C0FFEE00-1234-4ABC-8DEF-0123456789AB')).toBe('c0ffee0012344abc8def0123456789ab');
    expect(normaliseRequestId('C0FFEE0012344ABC8DEF0123456789AB')).toBe('c0ffee0012344abc8def0123456789ab');
  });

  it('keeps other printable ids verbatim, trimmed', () => {
    expect(normaliseRequestId(' req-7f3a ')).toBe('req-7f3a');
    expect(normaliseRequestId('01HZX3KQ4TB5J8M2YQ7R9V6W0N')).toBe('01HZX3KQ4TB5J8M2YQ7R9V6W0N');
  });

  it('rejects empty, control characters and ids over 256 characters', () => {
    expect(normaliseRequestId('   ')).toBeUndefined();
    expect(normaliseRequestId('a\u0000b')).toBeUndefined();
    expect(normaliseRequestId('x'.repeat(257))).toBeUndefined();
  });
});

describe('traceIdFromDecimal', () => {
  it.each([
    ['a dd-trace decimal id', '5208512171318403364', '000000000000000048485a3953bb6124'],
    ['the largest 64-bit id', '18446744073709551615', '0000000000000000ffffffffffffffff'],
    ['a small id', '1', '00000000000000000000000000000001'],
    ['a safe integer number', 5_208_512_171_318_403, '00000000000000000012811d3dc79c83'],
    ['a bigint', 5208512171318403364n, '000000000000000048485a3953bb6124'],
    [
      '128-bit hex (dd-trace with 128-bit log injection)',
      '4BF92F3577B34DA6A3CE929D0E0E4736',
      '4bf92f3577b34da6a3ce929d0e0e4736',
    ],
  ])('reads %s', (_name, raw, expected) => {
    expect(traceIdFromDecimal(raw)).toBe(expected);
  });

  it.each([
    ['zero', '0'],
    ['2^64', '18446744073709551616'],
    ['a number past 2^53 (digits already lost)', 2 ** 62 + 2 ** 10],
    ['hex of 16 digits', 'a3ce929d0e0e4736'],
    ['a negative number', '-5'],
    ['empty', ''],
  ])('rejects %s', (_name, raw) => {
    expect(traceIdFromDecimal(raw)).toBeUndefined();
  });

  it('round-trips every non-zero unsigned 64-bit id', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: 2n ** 64n - 1n }), (n) => {
        const id = traceIdFromDecimal(n.toString());
        expect(id).toMatch(/^0{16}[0-9a-f]{16}$/);
        expect(BigInt(`0x${id}`)).toBe(n);
      }),
    );
  });
});

describe('spanIdFromDecimal', () => {
  it('reads decimal 64-bit span ids as 16 hex and rejects zero and overflow', () => {
    expect(spanIdFromDecimal('7353677229817254731')).toBe('660d827aa422d34b');
    expect(spanIdFromDecimal(' 42 ')).toBe('000000000000002a');
    expect(spanIdFromDecimal('0')).toBeUndefined();
    expect(spanIdFromDecimal('18446744073709551616')).toBeUndefined();
  });
});
