/**
 * Column chunks: one column of one row group, written straight into the file as an optional dictionary page and
 * data pages of about 1 MiB, each with its Thrift page header; returns what the footer records about the chunk.
 */
import { gzipSync } from 'node:zlib';
import type { ColumnDef } from '../../../schemas/columns.ts';
import type { FileOutput } from './file-output.ts';
import { type MinMax, PLAIN_CODECS, type PlainCodec, writeHybrid } from './page-encoding.ts';
import {
  type ChunkMeta,
  type ChunkStatistics,
  type CompressionName,
  DICTIONARY_LIMIT_BYTES,
  Encoding,
  PAGE_TARGET_BYTES,
  PageType,
  ParquetWriteError,
  type ScalarValue,
} from './parquet-format.ts';
import { ByteWriter, CompactWriter } from './thrift-compact.ts';

/**
 * zlib level for GZIP pages. On 100k log rows level 1 costs ~2.3× less CPU than the default 6 for files 17% larger
 * (9.97 vs 8.50 MB), and about the same CPU as snappy with files 36% smaller: see docs/decisions.md D4.
 */
const GZIP_LEVEL = 1;

/**
 * Page scratch shared by every file this process writes: two ~1 MiB buffers plus the level and index arrays. Why
 * shared: a batch writes three files, and fresh scratch per file was ~6 MiB of external memory per batch that V8
 * answered with full GCs over the batch's rows. `writeParquet` is synchronous, so one file at a time uses them.
 */
const scratch = {
  header: new ByteWriter(256),
  values: new ByteWriter(PAGE_TARGET_BYTES + (1 << 16)),
  body: new ByteWriter(PAGE_TARGET_BYTES + (1 << 16)),
  defs: new Uint8Array(1024),
  indices: new Int32Array(1024),
};

/**
 * Encodes column chunks straight into the output: values into a reusable page buffer, then levels + values into a
 * page body, then (maybe) compression, then the Thrift page header and the payload into the file.
 */
export class ColumnChunkWriter {
  private readonly out: FileOutput;
  /** Page header scratch: headers are encoded here, then copied to `out`. */
  private readonly header = scratch.header;
  private readonly thrift: CompactWriter;
  private readonly compression: CompressionName;
  /** PLAIN or RLE_DICTIONARY values of the page being built. */
  private readonly values = scratch.values;
  /** Definition levels + values of a nullable column's page. */
  private readonly body = scratch.body;
  /** Definition level (0 null, 1 present) of each row of the current chunk. */
  private defs: Uint8Array;
  /** Dictionary index of each non-null value of the current chunk. */
  private indices: Int32Array;
  private readonly dictionary = new Map<ScalarValue, number>();
  private readonly dictionaryValues: ScalarValue[] = [];

  // Per-chunk accumulators.
  private totalUncompressed = 0;
  private totalCompressed = 0;
  private dataPages = 0;
  private dataPageOffset = -1;

  constructor(out: FileOutput, compression: CompressionName, maxRowGroupRows: number) {
    this.out = out;
    this.thrift = new CompactWriter(this.header);
    this.compression = compression;
    this.header.reset();
    this.values.reset();
    this.body.reset();
    if (scratch.defs.length < maxRowGroupRows) {
      scratch.defs = new Uint8Array(maxRowGroupRows);
      scratch.indices = new Int32Array(maxRowGroupRows);
    }
    this.defs = scratch.defs;
    this.indices = scratch.indices;
  }

  /** Writes one column chunk from `values` (the column's values of one row group; row `rowOffset` is first). */
  writeChunk(column: ColumnDef, values: readonly unknown[], count: number, rowOffset: number): ChunkMeta {
    if (this.defs.length < count) {
      scratch.defs = new Uint8Array(count);
      scratch.indices = new Int32Array(count);
      this.defs = scratch.defs;
      this.indices = scratch.indices;
    }
    const firstPageOffset = this.out.offset;
    this.totalUncompressed = 0;
    this.totalCompressed = 0;
    this.dataPages = 0;
    this.dataPageOffset = -1;

    const codec = PLAIN_CODECS[column.type];
    let statistics: ChunkStatistics | undefined;
    let dictionaryPageOffset: number | undefined;
    if (column.dictionary === true && column.type !== 'boolean') {
      statistics = this.writeDictionaryChunk(column, codec, values, count, rowOffset);
      if (statistics !== undefined) dictionaryPageOffset = firstPageOffset;
    }
    statistics ??= this.writePlainChunk(column, codec, values, count, rowOffset);
    return {
      column,
      numValues: count,
      totalUncompressed: this.totalUncompressed,
      totalCompressed: this.totalCompressed,
      firstPageOffset,
      dataPageOffset: this.dataPageOffset,
      dictionaryPageOffset,
      dataPages: this.dataPages,
      statistics,
    };
  }

  /** PLAIN data pages of every value, cut when a page reaches {@link PAGE_TARGET_BYTES}; exact min and max. */
  private writePlainChunk(
    column: ColumnDef,
    codec: PlainCodec<ScalarValue>,
    values: readonly unknown[],
    count: number,
    rowOffset: number,
  ): ChunkStatistics {
    const { nullable } = column;
    const defs = this.defs;
    const page = this.values;
    page.reset();
    let pageStart = 0;
    let pageValues = 0;
    let nullCount = 0;
    const stats: MinMax<ScalarValue> = { min: undefined, max: undefined };
    for (let i = 0; i < count; i++) {
      const value = values[i];
      if (value === null || value === undefined) {
        if (!nullable) throw nullInRequired(column, rowOffset + i);
        defs[i] = 0;
        nullCount++;
        continue;
      }
      if (!codec.append(page, value, pageValues++, stats)) throw wrongType(column, codec, rowOffset + i, value);
      defs[i] = 1;
      if (page.pos >= PAGE_TARGET_BYTES) {
        this.flushPlainPage(nullable, pageStart, i + 1);
        pageStart = i + 1;
        pageValues = 0;
      }
    }
    if (pageStart < count || this.dataPages === 0) this.flushPlainPage(nullable, pageStart, count);
    const { min, max } = stats;
    return {
      nullCount,
      min: min === undefined ? undefined : codec.statistic(min),
      max: max === undefined ? undefined : codec.statistic(max),
      distinctCount: undefined,
    };
  }

  /** Writes chunk rows [pageStart, pageEnd), whose values are in `this.values`, as one PLAIN data page. */
  private flushPlainPage(nullable: boolean, pageStart: number, pageEnd: number): void {
    const levels = nullable ? this.defs.subarray(pageStart, pageEnd) : undefined;
    this.writeDataPage(levels, pageEnd - pageStart, Encoding.PLAIN, this.values.bytes());
    this.values.reset();
  }

  /**
   * Writes a DICTIONARY_PAGE (PLAIN) and RLE_DICTIONARY data pages, or nothing and returns undefined when the
   * dictionary would outgrow {@link DICTIONARY_LIMIT_BYTES} (or every value is null): the caller then writes PLAIN.
   */
  private writeDictionaryChunk(
    column: ColumnDef,
    codec: PlainCodec<ScalarValue>,
    values: readonly unknown[],
    count: number,
    rowOffset: number,
  ): ChunkStatistics | undefined {
    const { nullable } = column;
    const defs = this.defs;
    const indices = this.indices;
    const dictionary = this.dictionary;
    const dictionaryValues = this.dictionaryValues;
    dictionary.clear();
    dictionaryValues.length = 0;
    let dictionaryBytes = 0;
    let nullCount = 0;
    let present = 0;
    for (let i = 0; i < count; i++) {
      const value = values[i];
      if (value === null || value === undefined) {
        if (!nullable) throw nullInRequired(column, rowOffset + i);
        defs[i] = 0;
        nullCount++;
        continue;
      }
      if (!codec.accepts(value)) throw wrongType(column, codec, rowOffset + i, value);
      defs[i] = 1;
      let index = dictionary.get(value);
      if (index === undefined) {
        index = dictionaryValues.length;
        dictionary.set(value, index);
        dictionaryValues.push(value);
        dictionaryBytes += codec.dictionaryBytes(value);
        if (dictionaryBytes > DICTIONARY_LIMIT_BYTES) return undefined;
      }
      indices[present++] = index;
    }
    if (dictionaryValues.length === 0) return undefined;

    // Dictionary page: the distinct values, PLAIN.
    const page = this.values;
    page.reset();
    for (let k = 0; k < dictionaryValues.length; k++) codec.put(page, dictionaryValues[k] as ScalarValue, k);
    this.writeDictionaryPage(dictionaryValues.length, page.bytes());

    // Data pages: bit width byte + RLE/bit-packed hybrid of the indices, about PAGE_TARGET_BYTES each.
    const bitWidth = Math.max(1, 32 - Math.clz32(dictionaryValues.length - 1));
    const rowsPerPage = Math.max(1, Math.floor((PAGE_TARGET_BYTES * 8) / bitWidth));
    let indexStart = 0;
    for (let pageStart = 0; pageStart < count; pageStart += rowsPerPage) {
      const pageEnd = Math.min(count, pageStart + rowsPerPage);
      let pagePresent = pageEnd - pageStart;
      if (nullable) {
        pagePresent = 0;
        for (let r = pageStart; r < pageEnd; r++) pagePresent += defs[r] ?? 0;
      }
      page.reset();
      page.u8(bitWidth);
      writeHybrid(page, indices, indexStart, indexStart + pagePresent, bitWidth);
      indexStart += pagePresent;
      const levels = nullable ? defs.subarray(pageStart, pageEnd) : undefined;
      this.writeDataPage(levels, pageEnd - pageStart, Encoding.RLE_DICTIONARY, page.bytes());
    }
    page.reset();

    // Statistics over the distinct values only: far cheaper than comparing every row.
    let min = dictionaryValues[0];
    let max = min;
    for (let k = 1; k < dictionaryValues.length; k++) {
      const value = dictionaryValues[k];
      if (value === undefined || min === undefined || max === undefined) continue;
      if (codec.compare(value, min) < 0) min = value;
      if (codec.compare(value, max) > 0) max = value;
    }
    return {
      nullCount,
      min: min === undefined ? undefined : codec.statistic(min),
      max: max === undefined ? undefined : codec.statistic(max),
      distinctCount: dictionaryValues.length,
    };
  }

  /**
   * A V1 DATA_PAGE: PageHeader{1 type, 2 uncompressed size, 3 compressed size, 5 DataPageHeader{1 num_values,
   * 2 encoding, 3 definition_level_encoding, 4 repetition_level_encoding}} then the (compressed) body, which for an
   * OPTIONAL column starts with the 4-byte length and RLE/bit-packed hybrid of its definition levels.
   */
  private writeDataPage(
    levels: Uint8Array | undefined,
    numValues: number,
    encoding: number,
    encodedValues: Buffer,
  ): void {
    let body = encodedValues;
    if (levels !== undefined) {
      const b = this.body;
      b.reset();
      b.ensure(4);
      b.pos = 4;
      writeHybrid(b, levels, 0, levels.length, 1);
      b.view.setInt32(0, b.pos - 4, true);
      b.append(encodedValues);
      body = b.bytes();
    }
    if (this.dataPageOffset < 0) this.dataPageOffset = this.out.offset;
    this.writePage(PageType.DATA_PAGE, 5, body, (t) => {
      t.i32Field(1, numValues);
      t.i32Field(2, encoding);
      t.i32Field(3, Encoding.RLE);
      t.i32Field(4, Encoding.RLE);
    });
    this.dataPages++;
  }

  /** PageHeader{1 DICTIONARY_PAGE, 2, 3, 7 DictionaryPageHeader{1 num_values, 2 encoding PLAIN}} and the body. */
  private writeDictionaryPage(numValues: number, body: Buffer): void {
    this.writePage(PageType.DICTIONARY_PAGE, 7, body, (t) => {
      t.i32Field(1, numValues);
      t.i32Field(2, Encoding.PLAIN);
    });
  }

  /** Appends the encoded page header and its payload to the file and counts both in the chunk's sizes. */
  /**
   * PageHeader{1 type, 2 uncompressed size, 3 compressed size, `headerField` the type's own header} and the
   * (compressed) body; `typeHeader` writes the fields of that own header.
   */
  private writePage(type: number, headerField: number, body: Buffer, typeHeader: (t: CompactWriter) => void): void {
    this.header.reset();
    const t = this.thrift;
    const payload = this.compress(body);
    t.beginStruct();
    t.i32Field(1, type);
    t.i32Field(2, body.length);
    t.i32Field(3, payload.length);
    t.beginStructField(headerField);
    typeHeader(t);
    t.endStruct();
    t.endStruct();
    this.emitPage(body.length, payload);
  }

  private emitPage(bodyLength: number, payload: Uint8Array): void {
    const headerLength = this.header.pos;
    this.out.append(this.header.bytes());
    if (this.compression === 'gzip') this.out.adopt(payload);
    else this.out.append(payload);
    this.totalUncompressed += headerLength + bodyLength;
    this.totalCompressed += headerLength + payload.length;
  }

  private compress(body: Buffer): Uint8Array {
    return this.compression === 'gzip' ? gzipSync(body, { level: GZIP_LEVEL }) : body;
  }
}

function nullInRequired(column: ColumnDef, row: number): ParquetWriteError {
  return new ParquetWriteError(
    `column "${column.name}" is REQUIRED (nullable: false) but row ${row} has no value; ` +
      'fill it in the row mapping or mark the column nullable in schemas/columns.ts',
  );
}

/** Names the JS type only: values are log data and must not leak into error messages. */
function wrongType(column: ColumnDef, codec: PlainCodec<ScalarValue>, row: number, value: unknown): ParquetWriteError {
  return new ParquetWriteError(
    `column "${column.name}" (${column.type}) expects ${codec.expected} but row ${row} has a ${typeof value}` +
      (typeof value === 'number' || typeof value === 'bigint' ? ' out of range or not an integer' : ''),
  );
}
