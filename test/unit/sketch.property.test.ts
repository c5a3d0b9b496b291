import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  newSketch,
  SKETCH_MAX_BUCKETS,
  type Sketch,
  sketchAdd,
  sketchCount,
  sketchFromData,
  sketchMerge,
  sketchQuantile,
  sketchToData,
} from '../../functions/core/sketch.ts';
import { SketchData } from '../../schemas/measures.ts';

const ALPHA = 0.01;
/** Floating point in log/ceil/exp may land a value exactly on a bucket edge one bucket up: allow 1e-9 of slack. */
const TOLERANCE = ALPHA * (1 + 1e-9);

function sketchOf(values: readonly number[], alpha = ALPHA): Sketch {
  const s = newSketch(alpha);
  for (const v of values) sketchAdd(s, v);
  return s;
}

/** The lower quantile convention the sketch documents: sorted[floor(q · (n − 1))]. */
function trueQuantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const value = sorted[Math.floor(q * (sorted.length - 1))];
  if (value === undefined) throw new Error('empty');
  return value;
}

function relativeError(estimate: number, truth: number): number {
  return truth === 0 ? Math.abs(estimate) : Math.abs(estimate - truth) / Math.abs(truth);
}

// Durations in ms from a microsecond to ~11 days: 15 orders of magnitude, well inside 2048 buckets.
const positive = fc.double({ min: 1e-3, max: 1e9, noNaN: true, noDefaultInfinity: true });
const anyFinite = fc.oneof(
  positive,
  positive.map((v) => -v),
  fc.constant(0),
);
const quantile = fc.double({ min: 0, max: 1, noNaN: true });

describe('quantile sketch', () => {
  it('returns every quantile of positive values within relative error alpha of the true lower quantile', () => {
    fc.assert(
      fc.property(fc.array(positive, { minLength: 1, maxLength: 400 }), quantile, (values, q) => {
        // Act
        const estimate = sketchQuantile(sketchToData(sketchOf(values)), q);
        // Assess
        expect(estimate).toBeDefined();
        expect(relativeError(estimate ?? Number.NaN, trueQuantile(values, q))).toBeLessThanOrEqual(TOLERANCE);
      }),
      { numRuns: 500 },
    );
  });

  it('keeps the guarantee with negative values and zeros mixed in', () => {
    fc.assert(
      fc.property(fc.array(anyFinite, { minLength: 1, maxLength: 300 }), quantile, (values, q) => {
        const estimate = sketchQuantile(sketchToData(sketchOf(values)), q);
        expect(relativeError(estimate ?? Number.NaN, trueQuantile(values, q))).toBeLessThanOrEqual(TOLERANCE);
      }),
      { numRuns: 300 },
    );
  });

  it('merges two sketches into exactly the sketch of the union of their values', () => {
    fc.assert(
      fc.property(fc.array(anyFinite, { maxLength: 200 }), fc.array(anyFinite, { maxLength: 200 }), (a, b) => {
        // Act
        const merged = sketchMerge(sketchToData(sketchOf(a)), sketchToData(sketchOf(b)));
        // Assess
        expect(merged).toEqual(sketchToData(sketchOf([...a, ...b])));
        expect(sketchCount(merged)).toBe(a.length + b.length);
      }),
      { numRuns: 300 },
    );
  });

  it('serialises to data the SketchData schema accepts and that round-trips through JSON', () => {
    fc.assert(
      fc.property(fc.array(anyFinite, { maxLength: 100 }), (values) => {
        const data = sketchToData(sketchOf(values));
        const parsed = SketchData.parse(JSON.parse(JSON.stringify(data)));
        expect(sketchToData(sketchFromData(parsed))).toEqual(data);
      }),
    );
  });
});

describe('quantile sketch edge cases', () => {
  it('returns undefined for an empty sketch', () => {
    expect(sketchQuantile(sketchToData(newSketch()), 0.5)).toBeUndefined();
  });

  it('ignores non-finite values', () => {
    // Prepare
    const s = sketchOf([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 5]);
    // Assess
    expect(sketchCount(s)).toBe(1);
  });

  it('answers 0 for a quantile that falls on zeros', () => {
    expect(sketchQuantile(sketchToData(sketchOf([0, 0, 0, 10])), 0.5)).toBe(0);
  });

  it('stays finite and accurate at the extremes of the double range', () => {
    // Prepare
    const data = sketchToData(sketchOf([Number.MAX_VALUE, 5e-324, 1]));
    // Act
    const max = sketchQuantile(data, 1);
    const min = sketchQuantile(data, 0);
    // Assess
    expect(max).toBeLessThanOrEqual(Number.MAX_VALUE);
    expect(relativeError(max ?? 0, Number.MAX_VALUE)).toBeLessThanOrEqual(TOLERANCE);
    expect(min).toBeGreaterThan(0);
  });

  it('rejects a merge of sketches with different alpha', () => {
    expect(() => sketchMerge(sketchToData(newSketch(0.01)), sketchToData(newSketch(0.02)))).toThrow(/accuracy/);
  });

  it('rejects a quantile outside [0, 1]', () => {
    expect(() => sketchQuantile(sketchToData(sketchOf([1])), 1.5)).toThrow(/quantile/);
  });

  it('bounds the bucket count by collapsing the smallest magnitudes and keeps high quantiles accurate', () => {
    // Prepare: 3000 values a factor 1.05 apart; buckets at alpha 0.01 are a factor ~1.02 wide, so each value has its
    // own bucket: 3000 > 2048, and the lowest 952 get collapsed.
    const values: number[] = [];
    for (let i = 0; i < 3000; i++) values.push(1e-30 * 1.05 ** i);
    // Act
    const data = sketchToData(sketchOf(values));
    // Assess
    expect(Object.keys(data.pos).length).toBeLessThanOrEqual(SKETCH_MAX_BUCKETS);
    expect(sketchCount(data)).toBe(values.length);
    expect(relativeError(sketchQuantile(data, 0.99) ?? 0, trueQuantile(values, 0.99))).toBeLessThanOrEqual(TOLERANCE);
    expect(relativeError(sketchQuantile(data, 0.5) ?? 0, trueQuantile(values, 0.5))).toBeLessThanOrEqual(TOLERANCE);
  });
});
