import { DataType, type Field, type Table, TimeUnit, tableFromIPC, type Vector } from 'apache-arrow';
import { readParquet } from 'parquet-wasm';
import type { ColumnDef, ColumnType } from '../../schemas/columns.ts';
import { SkeinError } from '../../schemas/errors.ts';

/** The JS value our Parquet writer takes (and this reader returns) for a column type. */
export type ColumnValue<T extends ColumnType> = T extends 'string'
  ? string
  : T extends 'int32' | 'timestamp_ms'
    ? number
    : T extends 'int64'
      ? bigint
      : boolean;

/** The row object of a column list: one property per column, `null` allowed where the column is nullable. */
export type RowOf<C extends readonly ColumnDef[]> = {
  -readonly [K in C[number] as K['name']]: ColumnValue<K['type']> | (K['nullable'] extends true ? null : never);
};

/** A Parquet object does not hold what its table's column list says: the message names the column. */
export class ParquetReadError extends SkeinError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('parquet_read_invalid', message, options);
  }
}

/**
 * Reads a whole Parquet object into row objects with the JS types `writeParquet` takes — `string`, `number` for
 * int32 and timestamp_ms (epoch ms), `bigint` for int64, `boolean`, `null` — so rows read here can be written again
 * unchanged. Decoding is parquet-wasm (parquet-rs: every page version and codec Athena and DuckDB write), handed to
 * JS as Arrow IPC.
 *
 * Every column of `columns` must be in the file with a matching Arrow type; a column the file lacks reads as `null`
 * when it is nullable (an object written before the column was added). Extra columns in the file are ignored.
 *
 * @throws {ParquetReadError} when the bytes are not Parquet, a column has another type, or a non-nullable column is
 *   missing or holds a null.
 * @example
 * ```ts
 * const rows = readParquetRows(bytes, LOG_COLUMNS); // rows[0].time_unix_nano is a bigint
 * ```
 */
export function readParquetRows<const C extends readonly ColumnDef[]>(
  bytes: Uint8Array,
  columns: C,
  what = 'object',
): RowOf<C>[] {
  let table: Table;
  try {
    table = tableFromIPC(readParquet(bytes).intoIPCStream());
  } catch (error) {
    throw new ParquetReadError(`${what} is not a readable Parquet file`, { cause: error });
  }
  const names = columns.map((c) => c.name);
  const present: boolean[] = [];
  for (const column of columns) {
    const field = table.schema.fields.find((f: Field) => f.name === column.name);
    if (field === undefined) {
      if (!column.nullable) throw new ParquetReadError(`${what} has no column ${column.name}`);
      present.push(false);
      continue;
    }
    if (!typeMatches(column.type, field.type)) {
      throw new ParquetReadError(`${what}: column ${column.name} is ${String(field.type)}, expected ${column.type}`);
    }
    present.push(true);
  }

  const rows: Record<string, unknown>[] = new Array(table.numRows);
  let at = 0;
  for (const batch of table.batches) {
    const n = batch.numRows;
    // Column by column into plain arrays first (typed-array reads, no per-value visitor), then rows.
    const values = columns.map((c, i) => {
      const vector = present[i] ? batch.getChild(c.name) : null;
      return vector ? columnValues(vector, c.type) : undefined;
    });
    for (let r = 0; r < n; r++) {
      const row: Record<string, unknown> = {};
      for (let c = 0; c < names.length; c++) {
        const value = values[c]?.[r] ?? null;
        if (value === null && columns[c]?.nullable === false) {
          throw new ParquetReadError(`${what}: row ${at} has a null in non-nullable column ${names[c] ?? ''}`);
        }
        row[names[c] ?? ''] = value;
      }
      rows[at++] = row;
    }
  }
  // Each value was checked above against its column's type (Arrow type per column, nulls per nullability): the rows
  // have the shape RowOf<C> describes.
  return rows as RowOf<C>[];
}

/**
 * The values of one column of a record batch as a JS array (`null` where the validity bitmap says so), read straight
 * from the Arrow buffers: `Vector.get` goes through a generic visitor per value and costs several times more.
 */
function columnValues(vector: Vector, type: ColumnType): (string | number | bigint | boolean | null)[] {
  const out: (string | number | bigint | boolean | null)[] = new Array(vector.length);
  let at = 0;
  for (const data of vector.data) {
    const n = data.length;
    const bitmap = data.nullCount > 0 ? data.nullBitmap : undefined;
    const offset = data.offset;
    const valid = (i: number) =>
      bitmap === undefined || ((bitmap[(offset + i) >> 3] ?? 0) & (1 << ((offset + i) & 7))) !== 0;
    const raw: unknown = data.values;
    const offsets: unknown = data.valueOffsets;
    if (type === 'string' && raw instanceof Uint8Array && offsets instanceof Int32Array) {
      const text = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
      // Sorted rows repeat values (trace ids, services, resource attributes): reuse the previous string when the
      // bytes are equal, which is cheaper than decoding and keeps one copy on the heap instead of one per row.
      let previous = '';
      let previousStart = 0;
      let previousEnd = -1;
      for (let i = 0; i < n; i++) {
        if (!valid(i)) {
          out[at++] = null;
          continue;
        }
        const start = offsets[i] ?? 0;
        const end = offsets[i + 1] ?? start;
        if (!sameBytes(raw, previousStart, previousEnd, start, end)) {
          previous = text.toString('utf8', start, end);
          previousStart = start;
          previousEnd = end;
        }
        out[at++] = previous;
      }
    } else if (type === 'int32' && raw instanceof Int32Array) {
      for (let i = 0; i < n; i++) out[at++] = valid(i) ? (raw[i] ?? null) : null;
    } else if (type === 'int64' && raw instanceof BigInt64Array) {
      for (let i = 0; i < n; i++) out[at++] = valid(i) ? (raw[i] ?? null) : null;
    } else if (type === 'timestamp_ms' && raw instanceof BigInt64Array) {
      for (let i = 0; i < n; i++) {
        const v = raw[i];
        out[at++] = valid(i) && v !== undefined ? Number(v) : null;
      }
    } else {
      // Dictionary-encoded, large strings, booleans (bit-packed): the generic accessor, which knows every layout.
      for (let i = 0; i < n; i++, at++) out[at] = valid(i) ? readGeneric(vector, at) : null;
    }
  }
  return out;
}

function sameBytes(bytes: Uint8Array, aStart: number, aEnd: number, bStart: number, bEnd: number): boolean {
  if (aEnd - aStart !== bEnd - bStart) return false;
  for (let a = aStart, b = bStart; a < aEnd; a++, b++) if (bytes[a] !== bytes[b]) return false;
  return true;
}

function readGeneric(vector: Vector, index: number): string | number | bigint | boolean | null {
  const v: unknown = vector.get(index);
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean' ? v : null;
}

function typeMatches(expected: ColumnType, actual: DataType): boolean {
  const type = DataType.isDictionary(actual) ? actual.dictionary : actual;
  switch (expected) {
    case 'string':
      return DataType.isUtf8(type) || DataType.isLargeUtf8(type);
    case 'int32':
      return DataType.isInt(type) && type.bitWidth === 32 && type.isSigned;
    case 'int64':
      return DataType.isInt(type) && type.bitWidth === 64 && type.isSigned;
    case 'timestamp_ms':
      return DataType.isTimestamp(type) && type.unit === TimeUnit.MILLISECOND;
    case 'boolean':
      return DataType.isBool(type);
  }
}
