/**
 * A minimal Thrift compact-protocol encoder: just enough to write Parquet's footer (`FileMetaData`) and page headers.
 *
 * Parquet serialises all of its metadata with Thrift's compact protocol
 * (https://github.com/apache/thrift/blob/master/doc/specs/thrift-compact-protocol.md). We only ever write, never read,
 * and only the shapes Parquet needs: structs with ascending field ids, i8/i16/i32/i64 zigzag varints, binary/strings,
 * lists and booleans. Unions are structs with exactly one field set; empty structs (`StringType {}`) are a lone stop
 * byte.
 */

/** Type ids of the compact protocol, as they appear in field and list headers. */
export const CompactType = {
  BOOLEAN_TRUE: 1,
  BOOLEAN_FALSE: 2,
  BYTE: 3,
  I16: 4,
  I32: 5,
  I64: 6,
  DOUBLE: 7,
  BINARY: 8,
  LIST: 9,
  SET: 10,
  MAP: 11,
  STRUCT: 12,
} as const;

/** One of the element types a compact list header can name. */
export type CompactListElementType = (typeof CompactType)[keyof typeof CompactType];

const TWO_POW_32 = 4_294_967_296;

/**
 * A growable byte buffer that encoders write into directly: `ensure(n)` once, then raw stores at `pos`.
 *
 * Why not an array of chunks: Parquet pages and footers are built by many tiny writes (a varint, a 4-byte length),
 * and a single contiguous `Buffer` with amortised doubling keeps every write a couple of machine stores. `view` is a
 * `DataView` over the same memory for little-endian ints and bigints (`setBigInt64` is native, unlike
 * `Buffer#writeBigInt64LE`).
 */
export class ByteWriter {
  buf: Buffer;
  view: DataView;
  pos = 0;

  constructor(initialCapacity = 64 * 1024) {
    this.buf = Buffer.allocUnsafeSlow(Math.max(16, initialCapacity));
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  /** Makes room for `extra` more bytes at `pos`. */
  ensure(extra: number): void {
    if (this.pos + extra > this.buf.length) this.grow(extra);
  }

  private grow(extra: number): void {
    const capacity = Math.max(this.buf.length * 2, this.pos + extra);
    const next = Buffer.allocUnsafeSlow(capacity);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }

  /** Forgets the content but keeps the memory, so one writer can serve page after page. */
  reset(): void {
    this.pos = 0;
  }

  /** The bytes written so far: a view, valid until the next write or `reset()`. */
  bytes(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  u8(value: number): void {
    this.ensure(1);
    this.buf[this.pos++] = value;
  }

  i32le(value: number): void {
    this.ensure(4);
    this.view.setInt32(this.pos, value, true);
    this.pos += 4;
  }

  /** An integral `number` (|value| < 2^53) as 8 little-endian bytes, without going through BigInt. */
  i64leNumber(value: number): void {
    this.ensure(8);
    const high = Math.floor(value / TWO_POW_32);
    this.view.setUint32(this.pos, value - high * TWO_POW_32, true);
    this.view.setInt32(this.pos + 4, high, true);
    this.pos += 8;
  }

  i64le(value: bigint): void {
    this.ensure(8);
    this.view.setBigInt64(this.pos, value, true);
    this.pos += 8;
  }

  append(source: Uint8Array): void {
    this.ensure(source.length);
    this.buf.set(source, this.pos);
    this.pos += source.length;
  }

  /** Unsigned LEB128 varint of a non-negative integral `number` up to 2^53. */
  varint(value: number): void {
    this.ensure(10);
    let v = value;
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
  }

  /** Unsigned LEB128 varint of a non-negative bigint below 2^64. */
  varintBig(value: bigint): void {
    this.ensure(10);
    let v = value;
    while (v >= 0x80n) {
      this.buf[this.pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.pos++] = Number(v);
  }
}

/** Zigzag of a 32-bit signed int: small magnitudes of either sign become small unsigned numbers. */
function zigzag32(value: number): number {
  return ((value << 1) ^ (value >> 31)) >>> 0;
}

/**
 * Writes Thrift compact-protocol structs into a {@link ByteWriter}.
 *
 * Field headers carry the *delta* from the previous field id of the same struct (1–15 fits in the header byte), so
 * fields must be written in ascending id order, which is how the Parquet structs are declared anyway.
 *
 * @example
 * ```ts
 * const w = new CompactWriter(new ByteWriter());
 * w.beginStruct();            // KeyValue
 * w.stringField(1, 'key');
 * w.stringField(2, 'value');
 * w.endStruct();
 * ```
 */
export class CompactWriter {
  readonly out: ByteWriter;
  private lastFieldId = 0;
  private readonly parentFieldIds: number[] = [];

  constructor(out: ByteWriter) {
    this.out = out;
  }

  /** Starts a struct that is a list element or the top-level value. Pair with {@link endStruct}. */
  beginStruct(): void {
    this.parentFieldIds.push(this.lastFieldId);
    this.lastFieldId = 0;
  }

  /** Writes the stop byte and returns to the enclosing struct. */
  endStruct(): void {
    this.out.u8(0);
    this.lastFieldId = this.parentFieldIds.pop() ?? 0;
  }

  private fieldHeader(id: number, type: number): void {
    const delta = id - this.lastFieldId;
    if (delta > 0 && delta <= 15) {
      this.out.u8((delta << 4) | type);
    } else {
      this.out.u8(type);
      this.out.varint(zigzag32(id));
    }
    this.lastFieldId = id;
  }

  boolField(id: number, value: boolean): void {
    this.fieldHeader(id, value ? CompactType.BOOLEAN_TRUE : CompactType.BOOLEAN_FALSE);
  }

  i8Field(id: number, value: number): void {
    this.fieldHeader(id, CompactType.BYTE);
    this.out.u8(value & 0xff);
  }

  i16Field(id: number, value: number): void {
    this.fieldHeader(id, CompactType.I16);
    this.out.varint(zigzag32(value));
  }

  /** i32 fields, and enums (Thrift enums are i32 on the wire). */
  i32Field(id: number, value: number): void {
    this.fieldHeader(id, CompactType.I32);
    this.out.varint(zigzag32(value));
  }

  i64Field(id: number, value: number | bigint): void {
    this.fieldHeader(id, CompactType.I64);
    this.i64(value);
  }

  binaryField(id: number, value: Uint8Array): void {
    this.fieldHeader(id, CompactType.BINARY);
    this.binary(value);
  }

  stringField(id: number, value: string): void {
    this.fieldHeader(id, CompactType.BINARY);
    this.string(value);
  }

  /** Starts a nested struct (or union) in field `id`. Pair with {@link endStruct}. */
  beginStructField(id: number): void {
    this.fieldHeader(id, CompactType.STRUCT);
    this.beginStruct();
  }

  /** An empty struct in field `id`, e.g. `LogicalType.STRING = StringType {}` or `ColumnOrder.TYPE_ORDER`. */
  emptyStructField(id: number): void {
    this.fieldHeader(id, CompactType.STRUCT);
    this.out.u8(0);
  }

  /** Starts a list in field `id`; write exactly `size` elements with the element methods below. */
  listField(id: number, elementType: CompactListElementType, size: number): void {
    this.fieldHeader(id, CompactType.LIST);
    if (size < 15) {
      this.out.u8((size << 4) | elementType);
    } else {
      this.out.u8(0xf0 | elementType);
      this.out.varint(size);
    }
  }

  /** A bare i32 (list element). */
  i32(value: number): void {
    this.out.varint(zigzag32(value));
  }

  /** A bare i64 (list element): zigzag varint of a safe-integer `number` or of a bigint. */
  i64(value: number | bigint): void {
    if (typeof value === 'bigint') {
      this.out.varintBig(BigInt.asUintN(64, (value << 1n) ^ (value >> 63n)));
    } else {
      this.out.varint(value >= 0 ? value * 2 : -value * 2 - 1);
    }
  }

  /** A bare binary (list element): varint length and the bytes. */
  binary(value: Uint8Array): void {
    this.out.varint(value.length);
    this.out.append(value);
  }

  /** A bare UTF-8 string (list element). */
  string(value: string): void {
    const length = Buffer.byteLength(value, 'utf8');
    this.out.varint(length);
    this.out.ensure(length);
    this.out.pos += this.out.buf.write(value, this.out.pos, length, 'utf8');
  }
}
