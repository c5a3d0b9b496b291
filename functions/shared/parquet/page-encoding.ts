/**
 * Page encoding: the PLAIN encoding of each column type (with the order its statistics use) and the RLE/bit-packed
 * hybrid of definition levels and dictionary indices. Pure functions over a {@link ByteWriter}; no file layout here.
 */
import type { ColumnType } from '../../../schemas/columns.ts';
import type { ScalarValue } from './parquet-format.ts';
import type { ByteWriter } from './thrift-compact.ts';

/** The running minimum and maximum of a column chunk's values, in the column's statistics order. */
export interface MinMax<T extends ScalarValue> {
  min: T | undefined;
  max: T | undefined;
}

/**
 * The PLAIN encoding of one column type: how one value is checked, appended to a page and counted in the min/max
 * statistics (in one call, so the one generic chunk loop makes one dispatch per value), how two compare, and the
 * statistic's bytes.
 */
export interface PlainCodec<T extends ScalarValue> {
  /** What a value of this type must be, for the error message. */
  readonly expected: string;
  /**
   * Appends `value`, the `indexInPage`-th value of the page (booleans are bit-packed 8 to a byte), and widens
   * `stats` to include it; returns false and writes nothing when `value` is not of this type.
   */
  append(page: ByteWriter, value: unknown, indexInPage: number, stats: MinMax<T>): boolean;
  accepts(value: unknown): value is T;
  /** Negative, zero or positive as `a` orders before, with or after `b` in the column's statistics order. */
  compare(a: T, b: T): number;
  /** `value`'s PLAIN bytes as a statistic (strings without their length prefix). */
  statistic(value: T): Uint8Array;
  /** Appends `value` without statistics (dictionary pages). */
  put(page: ByteWriter, value: T, indexInPage: number): void;
  /** Bytes `value` adds to a dictionary page. */
  dictionaryBytes(value: T): number;
}

const compareNative = <T extends number | bigint | boolean>(a: T, b: T): number => (a < b ? -1 : a > b ? 1 : 0);

function widen<T extends number | bigint | boolean>(stats: MinMax<T>, value: T): void {
  if (stats.min === undefined || stats.max === undefined) {
    stats.min = value;
    stats.max = value;
  } else if (value < stats.min) {
    stats.min = value;
  } else if (value > stats.max) {
    stats.max = value;
  }
}

const stringCodec: PlainCodec<string> = {
  expected: 'a string',
  append: (page, value, _indexInPage, stats) => {
    if (typeof value !== 'string') return false;
    const byteLength = putPlainString(page, value);
    const { min, max } = stats;
    if (min === undefined || max === undefined) {
      stats.min = value;
      stats.max = value;
    } else if (byteLength === value.length) {
      // ASCII: UTF-16 code-unit order is UTF-8 byte order, so the native comparison is exact (and far cheaper).
      if (value < min) stats.min = value;
      else if (value > max) stats.max = value;
    } else if (compareUtf8(value, min) < 0) {
      stats.min = value;
    } else if (compareUtf8(value, max) > 0) {
      stats.max = value;
    }
    return true;
  },
  accepts: (value): value is string => typeof value === 'string',
  compare: compareUtf8,
  statistic: (value) => Buffer.from(value, 'utf8'),
  put: (page, value) => {
    putPlainString(page, value);
  },
  dictionaryBytes: (value) => 4 + Buffer.byteLength(value, 'utf8'),
};

/** A fixed-width number codec: `put` writes the value little-endian; statistics order is the native order. */
function fixedWidthCodec<T extends number | bigint>(o: {
  readonly expected: string;
  readonly accepts: (value: unknown) => value is T;
  readonly put: (page: ByteWriter, value: T) => void;
  readonly statistic: (value: T) => Uint8Array;
  readonly width: number;
}): PlainCodec<T> {
  const { accepts, put } = o;
  return {
    expected: o.expected,
    append: (page, value, _indexInPage, stats) => {
      if (!accepts(value)) return false;
      put(page, value);
      widen(stats, value);
      return true;
    },
    accepts,
    compare: compareNative,
    statistic: o.statistic,
    put,
    dictionaryBytes: () => o.width,
  };
}

const int32Codec = fixedWidthCodec<number>({
  expected: 'a 32-bit integer number',
  accepts: (value): value is number => typeof value === 'number' && (value | 0) === value,
  put: (page, value) => page.i32le(value),
  statistic: int32Bytes,
  width: 4,
});

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const int64Codec = fixedWidthCodec<bigint>({
  expected: 'a bigint within the signed 64-bit range',
  accepts: (value): value is bigint => typeof value === 'bigint' && value >= INT64_MIN && value <= INT64_MAX,
  put: (page, value) => page.i64le(value),
  statistic: int64Bytes,
  width: 8,
});

const timestampCodec = fixedWidthCodec<number>({
  expected: 'a safe-integer number of epoch milliseconds',
  accepts: (value): value is number => typeof value === 'number' && Number.isSafeInteger(value),
  put: (page, value) => page.i64leNumber(value),
  statistic: (value) => int64Bytes(BigInt(value)),
  width: 8,
});

/** PLAIN booleans are bit-packed, least significant bit first. */
function putBoolean(page: ByteWriter, value: boolean, indexInPage: number): void {
  const bit = indexInPage & 7;
  if (bit === 0) page.u8(0);
  if (value) page.buf[page.pos - 1] = (page.buf[page.pos - 1] ?? 0) | (1 << bit);
}
const booleanCodec: PlainCodec<boolean> = {
  expected: 'a boolean',
  append: (page, value, indexInPage, stats) => {
    if (typeof value !== 'boolean') return false;
    putBoolean(page, value, indexInPage);
    widen(stats, value);
    return true;
  },
  accepts: (value): value is boolean => typeof value === 'boolean',
  compare: compareNative,
  statistic: (value) => Uint8Array.of(value ? 1 : 0),
  put: putBoolean,
  dictionaryBytes: () => 1,
};

/** The PLAIN codec of each column type. */
export const PLAIN_CODECS: { readonly [K in ColumnType]: PlainCodec<ScalarValue> } = {
  string: stringCodec as PlainCodec<ScalarValue>,
  int32: int32Codec as PlainCodec<ScalarValue>,
  int64: int64Codec as PlainCodec<ScalarValue>,
  timestamp_ms: timestampCodec as PlainCodec<ScalarValue>,
  boolean: booleanCodec as PlainCodec<ScalarValue>,
};

function int32Bytes(value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setInt32(0, value, true);
  return bytes;
}

function int64Bytes(value: bigint): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigInt64(0, value, true);
  return bytes;
}

/**
 * Appends a PLAIN BYTE_ARRAY (4-byte little-endian length, UTF-8 bytes) and returns its byte length. Short ASCII
 * strings are copied by a JS loop, which beats the native call of `Buffer#write` below ~32 characters.
 */
export function putPlainString(w: ByteWriter, value: string): number {
  const length = value.length;
  w.ensure(4 + length * 3);
  const buf = w.buf;
  const at = w.pos + 4;
  let byteLength = length;
  if (length <= 32) {
    for (let k = 0; k < length; k++) {
      const c = value.charCodeAt(k);
      if (c >= 0x80) {
        byteLength = buf.write(value, at, 'utf8');
        break;
      }
      buf[at + k] = c;
    }
  } else {
    byteLength = buf.write(value, at, 'utf8');
  }
  w.view.setInt32(w.pos, byteLength, true);
  w.pos = at + byteLength;
  return byteLength;
}

/**
 * Compares two strings in the order of their UTF-8 bytes (unsigned), which is the order Parquet defines for
 * UTF8/StringType statistics (`ColumnOrder.TYPE_ORDER`). JS `<` compares UTF-16 code units and disagrees for
 * supplementary characters (surrogates, U+D800–DFFF) against U+E000–U+FFFF; this walks code points instead. A lone
 * surrogate counts as U+FFFD, which is what `Buffer#write` stores for it.
 *
 * @returns negative, zero or positive like `Buffer.compare(Buffer.from(a), Buffer.from(b))`.
 */
export function compareUtf8(a: string, b: string): number {
  const aLength = a.length;
  const bLength = b.length;
  let i = 0;
  let j = 0;
  while (i < aLength && j < bLength) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(j);
    if (ca === cb && (ca < 0xd800 || ca > 0xdfff)) {
      i++;
      j++;
      continue;
    }
    let cpA = ca;
    let cpB = cb;
    let stepA = 1;
    let stepB = 1;
    if (ca >= 0xd800 && ca <= 0xdfff) {
      const next = i + 1 < aLength ? a.charCodeAt(i + 1) : 0;
      if (ca <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        cpA = ((ca - 0xd800) << 10) + (next - 0xdc00) + 0x10000;
        stepA = 2;
      } else {
        cpA = 0xfffd;
      }
    }
    if (cb >= 0xd800 && cb <= 0xdfff) {
      const next = j + 1 < bLength ? b.charCodeAt(j + 1) : 0;
      if (cb <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        cpB = ((cb - 0xd800) << 10) + (next - 0xdc00) + 0x10000;
        stepB = 2;
      } else {
        cpB = 0xfffd;
      }
    }
    if (cpA !== cpB) return cpA - cpB;
    i += stepA;
    j += stepB;
  }
  return aLength - i - (bLength - j);
}

/**
 * Appends values[from, to) in the RLE/bit-packed hybrid encoding (no length prefix) with `bitWidth` ≤ 24.
 *
 * Runs of 8 or more equal values become RLE runs (`varint(count << 1)`, value in ⌈bitWidth/8⌉ bytes); everything
 * else goes into bit-packed runs of 8-value groups (`varint(groups << 1 | 1)`, LSB-first). Only the final group may
 * be padded past `to`, which readers ignore because they know the value count.
 */
export function writeHybrid(
  out: ByteWriter,
  values: Uint8Array | Int32Array,
  from: number,
  to: number,
  bitWidth: number,
): void {
  const valueBytes = (bitWidth + 7) >> 3;
  let i = from;
  while (i < to) {
    const first = values[i] ?? 0;
    let j = i + 1;
    while (j < to && values[j] === first) j++;
    if (j - i >= 8) {
      out.varint((j - i) * 2);
      out.ensure(valueBytes);
      for (let b = 0; b < valueBytes; b++) out.buf[out.pos++] = (first >>> (8 * b)) & 0xff;
      i = j;
      continue;
    }
    // Bit-packed: whole groups of 8 until a run of 8 equal values starts on a group boundary, or the end.
    let groups = 0;
    let p = i;
    for (;;) {
      p += 8;
      groups++;
      if (p >= to) break;
      if (p + 8 <= to) {
        const v = values[p];
        let same = 1;
        while (same < 8 && values[p + same] === v) same++;
        if (same === 8) break;
      }
    }
    out.varint(groups * 2 + 1);
    out.ensure(groups * bitWidth);
    const buf = out.buf;
    let pos = out.pos;
    let acc = 0;
    let bits = 0;
    const groupEnd = i + groups * 8;
    for (let k = i; k < groupEnd; k++) {
      const v = k < to ? (values[k] ?? 0) : 0;
      acc |= v << bits;
      bits += bitWidth;
      while (bits >= 8) {
        buf[pos++] = acc & 0xff;
        acc >>>= 8;
        bits -= 8;
      }
    }
    out.pos = pos;
    i = Math.min(p, to);
  }
}
