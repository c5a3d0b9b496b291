/**
 * The footer: `FileMetaData` in Thrift's compact protocol — the schema, every row group's column chunks with their
 * offsets, sizes, encodings and statistics, and the column orders that make the string statistics trustworthy.
 */
import type { ColumnDef, ColumnType } from '../../../schemas/columns.ts';
import {
  type ChunkMeta,
  type ChunkStatistics,
  Codec,
  type CompressionName,
  ConvertedType,
  DEFAULT_CREATED_BY,
  Encoding,
  PageType,
  type ParquetWriteOptions,
  PhysicalType,
  Repetition,
  type RowGroupMeta,
} from './parquet-format.ts';
import { CompactType, type CompactWriter } from './thrift-compact.ts';

function physicalTypeOf(type: ColumnType): number {
  switch (type) {
    case 'string':
      return PhysicalType.BYTE_ARRAY;
    case 'int32':
      return PhysicalType.INT32;
    case 'int64':
    case 'timestamp_ms':
      return PhysicalType.INT64;
    case 'boolean':
      return PhysicalType.BOOLEAN;
  }
}

/**
 * SchemaElement{1 type, 3 repetition_type, 4 name, 6 converted_type, 10 logicalType}. Both the legacy ConvertedType
 * and the LogicalType are written, as the spec asks, so old readers (Hive-era parquet-mr) and new ones agree.
 */
function writeSchemaLeaf(t: CompactWriter, column: ColumnDef): void {
  t.beginStruct();
  t.i32Field(1, physicalTypeOf(column.type));
  t.i32Field(3, column.nullable ? Repetition.OPTIONAL : Repetition.REQUIRED);
  t.stringField(4, column.name);
  switch (column.type) {
    case 'string':
      t.i32Field(6, ConvertedType.UTF8);
      t.beginStructField(10);
      t.emptyStructField(1); // LogicalType.STRING = StringType {}
      t.endStruct();
      break;
    case 'int32':
    case 'int64':
      t.i32Field(6, column.type === 'int32' ? ConvertedType.INT_32 : ConvertedType.INT_64);
      t.beginStructField(10);
      t.beginStructField(10); // LogicalType.INTEGER = IntType{1 bitWidth i8, 2 isSigned}
      t.i8Field(1, column.type === 'int32' ? 32 : 64);
      t.boolField(2, true);
      t.endStruct();
      t.endStruct();
      break;
    case 'timestamp_ms':
      t.i32Field(6, ConvertedType.TIMESTAMP_MILLIS);
      t.beginStructField(10);
      t.beginStructField(8); // LogicalType.TIMESTAMP = TimestampType{1 isAdjustedToUTC, 2 unit}
      t.boolField(1, true);
      t.beginStructField(2);
      t.emptyStructField(1); // TimeUnit.MILLIS = MilliSeconds {}
      t.endStruct();
      t.endStruct();
      t.endStruct();
      break;
    case 'boolean':
      break;
  }
  t.endStruct();
}

/**
 * Statistics{1 max, 2 min, 3 null_count, 4 distinct_count, 5 max_value, 6 min_value, 7 is_max_value_exact,
 * 8 is_min_value_exact}. The deprecated 1/2 are signed-order only, so they are set for numbers and booleans and left
 * out for strings (whose order is unsigned bytes); readers of strings use 5/6 under `column_orders` TYPE_ORDER.
 */
function writeStatistics(t: CompactWriter, column: ColumnDef, stats: ChunkStatistics, minMax: boolean): void {
  t.beginStructField(12);
  const legacy = column.type !== 'string';
  if (minMax && legacy && stats.max !== undefined && stats.min !== undefined) {
    t.binaryField(1, stats.max);
    t.binaryField(2, stats.min);
  }
  t.i64Field(3, stats.nullCount);
  if (stats.distinctCount !== undefined) t.i64Field(4, stats.distinctCount);
  if (minMax && stats.max !== undefined && stats.min !== undefined) {
    t.binaryField(5, stats.max);
    t.binaryField(6, stats.min);
    t.boolField(7, true);
    t.boolField(8, true);
  }
  t.endStruct();
}

/** ColumnMetaData (ColumnChunk field 3); field ids in the body. */
function writeColumnMetaData(t: CompactWriter, chunk: ChunkMeta, codec: number, minMax: boolean): void {
  const dictionary = chunk.dictionaryPageOffset !== undefined;
  t.beginStructField(3);
  t.i32Field(1, physicalTypeOf(chunk.column.type));
  const encodings = dictionary
    ? [Encoding.PLAIN, Encoding.RLE, Encoding.RLE_DICTIONARY]
    : [Encoding.PLAIN, Encoding.RLE];
  t.listField(2, CompactType.I32, encodings.length);
  for (const encoding of encodings) t.i32(encoding);
  t.listField(3, CompactType.BINARY, 1); // path_in_schema: flat schema, one element
  t.string(chunk.column.name);
  t.i32Field(4, codec);
  t.i64Field(5, chunk.numValues);
  t.i64Field(6, chunk.totalUncompressed);
  t.i64Field(7, chunk.totalCompressed);
  t.i64Field(9, chunk.dataPageOffset);
  if (chunk.dictionaryPageOffset !== undefined) t.i64Field(11, chunk.dictionaryPageOffset);
  writeStatistics(t, chunk.column, chunk.statistics, minMax);
  // encoding_stats (13): lets readers see every data page is dictionary-encoded (dictionary-based pruning).
  t.listField(13, CompactType.STRUCT, dictionary ? 2 : 1);
  if (dictionary) writePageEncodingStats(t, PageType.DICTIONARY_PAGE, Encoding.PLAIN, 1);
  writePageEncodingStats(t, PageType.DATA_PAGE, dictionary ? Encoding.RLE_DICTIONARY : Encoding.PLAIN, chunk.dataPages);
  t.endStruct();
}

function writePageEncodingStats(t: CompactWriter, pageType: number, encoding: number, count: number): void {
  t.beginStruct();
  t.i32Field(1, pageType);
  t.i32Field(2, encoding);
  t.i32Field(3, count);
  t.endStruct();
}

/**
 * FileMetaData{1 version, 2 schema, 3 num_rows, 4 row_groups, 5 key_value_metadata, 6 created_by, 7 column_orders}.
 * `column_orders` is what makes `min_value`/`max_value` meaningful: without it their order is undefined and
 * parquet-mr (Spark) ignores string statistics.
 */
export function writeFileMetaData(
  t: CompactWriter,
  columns: readonly ColumnDef[],
  numRows: number,
  rowGroups: readonly RowGroupMeta[],
  compression: CompressionName,
  options: ParquetWriteOptions,
): void {
  const codec = compression === 'gzip' ? Codec.GZIP : Codec.UNCOMPRESSED;
  const minMax = columns.map((c) => options.minMaxColumns?.includes(c.name) ?? true);
  t.beginStruct();
  t.i32Field(1, 1);
  t.listField(2, CompactType.STRUCT, columns.length + 1);
  t.beginStruct(); // root: name and num_children only, no repetition
  t.stringField(4, 'schema');
  t.i32Field(5, columns.length);
  t.endStruct();
  for (const column of columns) writeSchemaLeaf(t, column);
  t.i64Field(3, numRows);
  t.listField(4, CompactType.STRUCT, rowGroups.length);
  rowGroups.forEach((rowGroup, ordinal) => {
    // RowGroup{1 columns, 2 total_byte_size, 3 num_rows, 5 file_offset, 6 total_compressed_size, 7 ordinal}
    t.beginStruct();
    t.listField(1, CompactType.STRUCT, rowGroup.chunks.length);
    let uncompressed = 0;
    let compressed = 0;
    rowGroup.chunks.forEach((chunk, c) => {
      // ColumnChunk{2 file_offset (deprecated: 0 when no ColumnMetaData is written outside the footer), 3 meta_data}
      t.beginStruct();
      t.i64Field(2, 0);
      writeColumnMetaData(t, chunk, codec, minMax[c] ?? true);
      t.endStruct();
      uncompressed += chunk.totalUncompressed;
      compressed += chunk.totalCompressed;
    });
    t.i64Field(2, uncompressed);
    t.i64Field(3, rowGroup.numRows);
    t.i64Field(5, rowGroup.chunks[0]?.firstPageOffset ?? 0);
    t.i64Field(6, compressed);
    if (ordinal <= 0x7fff) t.i16Field(7, ordinal);
    t.endStruct();
  });
  const keyValues = Object.entries(options.keyValueMetadata ?? {});
  if (keyValues.length > 0) {
    t.listField(5, CompactType.STRUCT, keyValues.length);
    for (const [key, value] of keyValues) {
      t.beginStruct();
      t.stringField(1, key);
      t.stringField(2, value);
      t.endStruct();
    }
  }
  t.stringField(6, options.createdBy ?? DEFAULT_CREATED_BY);
  t.listField(7, CompactType.STRUCT, columns.length);
  for (let k = 0; k < columns.length; k++) {
    t.beginStruct();
    t.emptyStructField(1); // ColumnOrder.TYPE_ORDER = TypeDefinedOrder {}
    t.endStruct();
  }
  t.endStruct();
}
