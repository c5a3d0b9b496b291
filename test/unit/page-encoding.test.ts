import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareUtf8 } from '../../functions/shared/parquet/page-encoding.ts';

describe('compareUtf8', () => {
  it('orders strings like their UTF-8 bytes, surrogates and lone surrogates included (property)', () => {
    const units = fc.array(fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0xd7f0, max: 0xe010 })), {
      maxLength: 8,
    });
    const anyString = fc.oneof(
      units.map((codes) => String.fromCharCode(...codes)),
      fc.string({ unit: 'binary' }),
    );
    fc.assert(
      fc.property(anyString, anyString, (a, b) => {
        expect(Math.sign(compareUtf8(a, b))).toBe(Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b))));
      }),
      { numRuns: 2000 },
    );
  });

  it('puts a supplementary character after U+FFFF, unlike JS string comparison', () => {
    expect('😀' < '\uffff').toBe(true);
    expect(compareUtf8('😀', '\uffff')).toBeGreaterThan(0);
  });
});
