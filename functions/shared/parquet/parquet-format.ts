/**
 * The Parquet format's vocabulary as the writer uses it: options, the error, enum values from `parquet.thrift`, and
 * what the footer records about each written column chunk.
 *
 * Format reference: apache/parquet-format `src/main/thrift/parquet.thrift`; field numbers in comments of the page and
 * footer encoders are the Thrift field ids they write.
 */
import type { ColumnDef } from '../../../schemas/columns.ts';
import { SkeinError } from '../../../schemas/errors.ts';

/** How the writer lays out and compresses a file. */
export interface ParquetWriteOptions {
  /** Rows per row group: the unit of min/max pruning for readers. */
  readonly rowGroupRows: number;
  /**
   * Page compression codec. Default `'gzip'` (zlib level 1): at the CPU cost of snappy it writes files a third
   * smaller, and Athena bills by bytes scanned (D4).
   */
  readonly compression?: 'gzip' | 'none';
  /** `FileMetaData.created_by` (field 6), in the spec's `<app> version <ver> (build <hash>)` form. */
  readonly createdBy?: string;
  /** `FileMetaData.key_value_metadata` (field 5). */
  readonly keyValueMetadata?: Readonly<Record<string, string>>;
  /**
   * Columns whose chunks carry min/max statistics; every column when absent. Null counts are written for every
   * column either way. Leaving min/max out where no reader prunes by them keeps the footer small, and a point lookup
   * reads the whole footer of every object it opens.
   */
  readonly minMaxColumns?: readonly string[];
}

/** The rows or options handed to `writeParquet` cannot be written: the message names the column and row. */
export class ParquetWriteError extends SkeinError {
  constructor(message: string) {
    super('parquet_write_invalid', message);
  }
}

export type CompressionName = NonNullable<ParquetWriteOptions['compression']>;

/** The default codec: see docs/decisions.md D4 for the measurements behind it. */
export const DEFAULT_PARQUET_COMPRESSION = 'gzip' as const;

/** `created_by` when the caller sets none; parseable by parquet-mr's VersionParser. */
export const DEFAULT_CREATED_BY = 'skein-parquet-writer version 1.0.0';

/**
 * Target uncompressed size of a data page. 1 MiB is the default of parquet-mr and parquet-rs: big enough that page
 * headers cost nothing, small enough that a reader decompresses one page at a time without spikes.
 */
export const PAGE_TARGET_BYTES = 1 << 20;
/** Above this many PLAIN bytes of distinct values a dictionary stops paying off: the chunk falls back to PLAIN. */
export const DICTIONARY_LIMIT_BYTES = 1 << 20;

// Enum values from parquet.thrift.
export const PhysicalType = { BOOLEAN: 0, INT32: 1, INT64: 2, BYTE_ARRAY: 6 } as const;
export const ConvertedType = { UTF8: 0, TIMESTAMP_MILLIS: 9, INT_32: 17, INT_64: 18 } as const;
export const Repetition = { REQUIRED: 0, OPTIONAL: 1 } as const;
export const Encoding = { PLAIN: 0, RLE: 3, RLE_DICTIONARY: 8 } as const;
export const Codec = { UNCOMPRESSED: 0, GZIP: 2 } as const;
export const PageType = { DATA_PAGE: 0, DICTIONARY_PAGE: 2 } as const;

export const MAGIC = Buffer.from('PAR1', 'latin1');

/** A non-null value of some column: what dictionaries hold and statistics compare. */
export type ScalarValue = string | number | bigint | boolean;

/** Statistics of one column chunk (`ColumnMetaData.statistics`, field 12). */
export interface ChunkStatistics {
  nullCount: number;
  /** PLAIN encoding of the minimum, without a length prefix for strings; undefined when every value is null. */
  min: Uint8Array | undefined;
  max: Uint8Array | undefined;
  distinctCount: number | undefined;
}

/** What the footer needs to know about one written column chunk. */
export interface ChunkMeta {
  readonly column: ColumnDef;
  readonly numValues: number;
  readonly totalUncompressed: number;
  readonly totalCompressed: number;
  readonly firstPageOffset: number;
  readonly dataPageOffset: number;
  readonly dictionaryPageOffset: number | undefined;
  readonly dataPages: number;
  readonly statistics: ChunkStatistics;
}

export interface RowGroupMeta {
  readonly numRows: number;
  readonly chunks: ChunkMeta[];
}
