import { UsageError } from '../schemas/errors.ts';

/**
 * A set of record numbers (1-based, in the order `skein push` reads its inputs) kept as sorted, disjoint, non-adjacent
 * ranges: what a push has had accepted, and what `--skip` leaves out. Written as `1-1000,1003,1005-1200`.
 */
export class RecordRanges {
  /** Sorted by start; no two overlap or touch. */
  private readonly ranges: [number, number][] = [];

  /** Parses `--skip`: comma-separated record numbers and `a-b` ranges (1-based, inclusive). */
  static parse(text: string): RecordRanges {
    const set = new RecordRanges();
    for (const part of text.split(',')) {
      const match = /^\s*(\d+)(?:\s*-\s*(\d+))?\s*$/.exec(part);
      const lo = Number(match?.[1]);
      const hi = match?.[2] === undefined ? lo : Number(match[2]);
      if (match === null || !Number.isSafeInteger(lo) || !Number.isSafeInteger(hi) || lo < 1 || hi < lo)
        throw new UsageError(
          `--skip takes record numbers and ranges like 1-1000,1003 (1-based, as a failed push prints them), got '${part}'`,
        );
      set.addRange(lo, hi);
    }
    return set;
  }

  /** A copy. */
  clone(): RecordRanges {
    const copy = new RecordRanges();
    for (const [lo, hi] of this.ranges) copy.ranges.push([lo, hi]);
    return copy;
  }

  has(n: number): boolean {
    let lo = 0;
    let hi = this.ranges.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const range = this.ranges[mid];
      if (range === undefined) return false;
      if (n < range[0]) hi = mid - 1;
      else if (n > range[1]) lo = mid + 1;
      else return true;
    }
    return false;
  }

  add(n: number): void {
    this.addRange(n, n);
  }

  addRange(from: number, to: number): void {
    // Appending in increasing order (the usual case) touches only the last range.
    const last = this.ranges[this.ranges.length - 1];
    if (last === undefined || from > last[1] + 1) {
      this.ranges.push([from, to]);
      return;
    }
    if (from >= last[0]) {
      last[1] = Math.max(last[1], to);
      return;
    }
    let start = from;
    let end = to;
    const kept: [number, number][] = [];
    for (const [lo, hi] of this.ranges) {
      if (hi + 1 < start || lo > end + 1) kept.push([lo, hi]);
      else {
        start = Math.min(start, lo);
        end = Math.max(end, hi);
      }
    }
    kept.push([start, end]);
    kept.sort((a, b) => a[0] - b[0]);
    this.ranges.splice(0, this.ranges.length, ...kept);
  }

  /** How many record numbers the set holds. */
  get size(): number {
    let n = 0;
    for (const [lo, hi] of this.ranges) n += hi - lo + 1;
    return n;
  }

  /** `1-1000,1003`: what `--skip` takes. Empty for an empty set. */
  toString(): string {
    return this.ranges.map(([lo, hi]) => (lo === hi ? `${lo}` : `${lo}-${hi}`)).join(',');
  }
}
