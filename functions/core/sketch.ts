import { SkeinError } from '../../schemas/errors.ts';
import type { SketchData } from '../../schemas/measures.ts';

/**
 * A DDSketch-style quantile sketch (Masson, Rim, Lee, "DDSketch: a fast and fully-mergeable quantile sketch with
 * relative-error guarantees", VLDB 2019). With gamma = (1 + alpha) / (1 - alpha), a positive value v goes to bucket
 * i = ceil(log_gamma(v)), which covers (gamma^(i-1), gamma^i]; the bucket's representative 2·gamma^i / (gamma + 1) is
 * within relative error alpha of every value in it. Negative values use the same buckets for their magnitude; zeros
 * are counted apart. Two sketches with the same alpha merge exactly by adding bucket counts.
 *
 * Quantile convention (the "lower" quantile): for n values sorted ascending, quantile q is the value at 0-based index
 * floor(q · (n − 1)). The sketch returns a value within relative error alpha of it.
 *
 * Bucket bound: each side (positive, negative) keeps at most `SKETCH_MAX_BUCKETS` buckets. Beyond that the buckets of
 * the smallest magnitudes are collapsed into the smallest kept one, so only values near zero lose accuracy (high
 * quantiles of durations, what alerts ask for, keep theirs). With alpha = 0.01, 2048 buckets span a ratio of ~5·10^17
 * between the smallest and largest magnitude, so collapsing needs pathological input.
 */
export const SKETCH_DEFAULT_ALPHA = 0.01;
export const SKETCH_MAX_BUCKETS = 2048;

/** The mutable working form of a sketch (hot path); `sketchToData` gives the serialised form. */
export interface Sketch {
  readonly alpha: number;
  /** 1 / ln(gamma). */
  readonly invLogGamma: number;
  /** Bucket index → count, positive values. */
  readonly pos: Map<number, number>;
  /** Bucket index → count, magnitudes of negative values. */
  readonly neg: Map<number, number>;
  zeros: number;
}

/** Creates an empty sketch with relative accuracy `alpha` (0 < alpha < 1, default 0.01). */
export function newSketch(alpha: number = SKETCH_DEFAULT_ALPHA): Sketch {
  if (!(alpha > 0 && alpha < 1)) {
    throw new SkeinError('sketch_invalid', `sketch alpha must be in (0, 1), got ${alpha}`);
  }
  const gamma = (1 + alpha) / (1 - alpha);
  return { alpha, invLogGamma: 1 / Math.log(gamma), pos: new Map(), neg: new Map(), zeros: 0 };
}

/**
 * Adds one value. Non-finite values (NaN, ±Infinity) are ignored: callers only feed finite numbers (the row field
 * extractor never yields others), and a sketch has no bucket that could represent them.
 */
export function sketchAdd(s: Sketch, value: number): void {
  if (value > 0) {
    if (value === Number.POSITIVE_INFINITY) return;
    addToStore(s.pos, Math.ceil(Math.log(value) * s.invLogGamma), 1);
  } else if (value < 0) {
    if (value === Number.NEGATIVE_INFINITY) return;
    addToStore(s.neg, Math.ceil(Math.log(-value) * s.invLogGamma), 1);
  } else if (value === 0) {
    s.zeros++;
  }
  // NaN falls through every branch.
}

/** Adds a serialised sketch into a working one (same alpha required). */
export function sketchMergeInto(target: Sketch, data: SketchData): void {
  requireSameAlpha(target.alpha, data.alpha);
  for (const key in data.pos) addToStore(target.pos, Number(key), data.pos[key] ?? 0);
  for (const key in data.neg) addToStore(target.neg, Number(key), data.neg[key] ?? 0);
  target.zeros += data.zeros;
}

/**
 * The sketch of the union of the values of `a` and `b` (which must have the same alpha). Pure: neither is changed.
 * @example sketchQuantile(sketchMerge(minute1, minute2), 0.99)
 */
export function sketchMerge(a: SketchData, b: SketchData): SketchData {
  requireSameAlpha(a.alpha, b.alpha);
  const s = sketchFromData(a);
  sketchMergeInto(s, b);
  return sketchToData(s);
}

/** The serialised form (bucket indexes as string keys, in ascending index order). */
export function sketchToData(s: Sketch): SketchData {
  return { alpha: s.alpha, pos: storeToRecord(s.pos), neg: storeToRecord(s.neg), zeros: s.zeros };
}

/** A working copy of a serialised sketch. */
export function sketchFromData(data: SketchData): Sketch {
  const s = newSketch(data.alpha);
  sketchMergeInto(s, data);
  return s;
}

/** How many values the sketch holds. */
export function sketchCount(data: SketchData | Sketch): number {
  let n = data.zeros;
  if (isWorking(data)) {
    for (const c of data.pos.values()) n += c;
    for (const c of data.neg.values()) n += c;
    return n;
  }
  for (const key in data.pos) n += data.pos[key] ?? 0;
  for (const key in data.neg) n += data.neg[key] ?? 0;
  return n;
}

function isWorking(data: SketchData | Sketch): data is Sketch {
  return data.pos instanceof Map;
}

/**
 * The lower q-quantile (value at sorted index floor(q · (n − 1))), within relative error alpha; `undefined` when the
 * sketch is empty. `q` must be in [0, 1].
 * @example sketchQuantile(aggregate.sketch, 0.99) // p99 in the unit the values were added in
 */
export function sketchQuantile(data: SketchData, q: number): number | undefined {
  if (!(q >= 0 && q <= 1)) throw new SkeinError('sketch_invalid', `quantile must be in [0, 1], got ${q}`);
  const neg = sortedBuckets(data.neg);
  const pos = sortedBuckets(data.pos);
  let n = data.zeros;
  for (let i = 1; i < neg.length; i += 2) n += neg[i] ?? 0;
  for (let i = 1; i < pos.length; i += 2) n += pos[i] ?? 0;
  if (n === 0) return undefined;
  const rank = Math.floor(q * (n - 1));
  const gamma = (1 + data.alpha) / (1 - data.alpha);
  const logGamma = Math.log(gamma);
  const logScale = Math.log(2 / (gamma + 1));
  let seen = 0;
  // Ascending values: the most negative first (largest magnitude index), then zeros, then positives.
  for (let i = neg.length - 2; i >= 0; i -= 2) {
    seen += neg[i + 1] ?? 0;
    if (seen > rank) return -representative(neg[i] ?? 0, logGamma, logScale);
  }
  seen += data.zeros;
  if (seen > rank) return 0;
  for (let i = 0; i < pos.length; i += 2) {
    seen += pos[i + 1] ?? 0;
    if (seen > rank) return representative(pos[i] ?? 0, logGamma, logScale);
  }
  // Unreachable: rank < n. Kept so the type is honest.
  return undefined;
}

/** 2·gamma^i / (gamma + 1), computed in log space so the top buckets do not overflow before scaling. */
function representative(index: number, logGamma: number, logScale: number): number {
  return Math.min(Math.exp(index * logGamma + logScale), Number.MAX_VALUE);
}

function addToStore(store: Map<number, number>, index: number, count: number): void {
  const current = store.get(index);
  if (current !== undefined) {
    store.set(index, current + count);
    return;
  }
  store.set(index, count);
  if (store.size > SKETCH_MAX_BUCKETS) collapseLowest(store);
}

/** Merges the lowest-index buckets into the lowest kept one until at most SKETCH_MAX_BUCKETS remain. */
function collapseLowest(store: Map<number, number>): void {
  const keys = [...store.keys()].sort((a, b) => a - b);
  const excess = keys.length - SKETCH_MAX_BUCKETS;
  const keep = keys[excess];
  if (keep === undefined) return;
  let moved = 0;
  for (let i = 0; i < excess; i++) {
    const key = keys[i];
    if (key === undefined) continue;
    moved += store.get(key) ?? 0;
    store.delete(key);
  }
  store.set(keep, (store.get(keep) ?? 0) + moved);
}

function storeToRecord(store: Map<number, number>): Record<string, number> {
  const keys = [...store.keys()].sort((a, b) => a - b);
  const out: Record<string, number> = {};
  for (const key of keys) out[String(key)] = store.get(key) ?? 0;
  return out;
}

/** Flat [index, count, index, count, …] sorted by index ascending. */
function sortedBuckets(record: Readonly<Record<string, number>>): number[] {
  const pairs: [number, number][] = [];
  for (const key in record) {
    const index = Number(key);
    const count = record[key] ?? 0;
    if (Number.isInteger(index) && count > 0) pairs.push([index, count]);
  }
  pairs.sort((a, b) => a[0] - b[0]);
  const flat: number[] = new Array(pairs.length * 2);
  for (let i = 0; i < pairs.length; i++) {
    const pair = pairs[i];
    if (!pair) continue;
    flat[2 * i] = pair[0];
    flat[2 * i + 1] = pair[1];
  }
  return flat;
}

function requireSameAlpha(a: number, b: number): void {
  if (a !== b) {
    throw new SkeinError('sketch_alpha_mismatch', `cannot merge sketches of different accuracy (${a} vs ${b})`);
  }
}
