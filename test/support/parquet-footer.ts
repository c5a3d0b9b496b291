/**
 * An independent Thrift compact reader for Parquet footers and page headers, to look at what DuckDB does not report
 * (page types, raw statistics). Written from the spec, not from the writer, so it checks the writer.
 */

export type ThriftValue = bigint | boolean | Uint8Array | ThriftValue[] | ThriftStruct;
export type ThriftStruct = Map<number, ThriftValue>;

class CompactReader {
  constructor(
    private readonly bytes: Uint8Array,
    public pos: number,
  ) {}

  private byte(): number {
    const value = this.bytes[this.pos++];
    if (value === undefined) throw new Error(`read past the end at ${this.pos}`);
    return value;
  }

  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const b = this.byte();
      result |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return result;
      shift += 7n;
    }
  }

  zigzag(): bigint {
    const n = this.varint();
    return (n >> 1n) ^ -(n & 1n);
  }

  struct(): ThriftStruct {
    const fields: ThriftStruct = new Map();
    let lastId = 0;
    for (;;) {
      const header = this.byte();
      if (header === 0) return fields;
      const type = header & 0x0f;
      const delta = header >> 4;
      const id = delta === 0 ? Number(this.zigzag()) : lastId + delta;
      lastId = id;
      fields.set(id, type === 1 || type === 2 ? type === 1 : this.value(type));
    }
  }

  private value(type: number): ThriftValue {
    switch (type) {
      case 1:
      case 2:
        return this.byte() === 1;
      case 3:
        return BigInt(this.byte());
      case 4:
      case 5:
      case 6:
        return this.zigzag();
      case 8: {
        const length = Number(this.varint());
        const value = this.bytes.subarray(this.pos, this.pos + length);
        this.pos += length;
        return value;
      }
      case 9: {
        const header = this.byte();
        const size = header >> 4 === 15 ? Number(this.varint()) : header >> 4;
        return Array.from({ length: size }, () => this.value(header & 0x0f));
      }
      case 12:
        return this.struct();
      default:
        throw new Error(`unexpected compact type ${type}`);
    }
  }
}

export function field(struct: ThriftValue | undefined, id: number): ThriftValue | undefined {
  return struct instanceof Map ? struct.get(id) : undefined;
}

export function list(value: ThriftValue | undefined): ThriftValue[] {
  return Array.isArray(value) ? value : [];
}

export function footerOf(bytes: Uint8Array): ThriftStruct {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getInt32(bytes.length - 8, true);
  return new CompactReader(bytes, bytes.length - 8 - length).struct();
}

/** ColumnMetaData (ColumnChunk field 3) of every chunk, row group by row group. */
export function columnMetaData(footer: ThriftStruct): ThriftStruct[][] {
  return list(footer.get(4)).map((rowGroup) =>
    list(field(rowGroup, 1)).map((chunk) => {
      const meta = field(chunk, 3);
      if (!(meta instanceof Map)) throw new Error('ColumnChunk without meta_data');
      return meta;
    }),
  );
}

/** The PageHeader.type (field 1) of every page of a column chunk, walking compressed_page_size (field 3). */
export function pageTypes(bytes: Uint8Array, meta: ThriftStruct): number[] {
  const start = Number(meta.get(11) ?? meta.get(9));
  const end = start + Number(meta.get(7));
  const reader = new CompactReader(bytes, start);
  const types: number[] = [];
  while (reader.pos < end) {
    const header = reader.struct();
    types.push(Number(header.get(1)));
    reader.pos += Number(header.get(3));
  }
  return types;
}

export const DATA_PAGE = 0;
export const DICTIONARY_PAGE = 2;
