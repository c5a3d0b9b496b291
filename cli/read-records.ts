import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { z } from 'zod';
import { normaliseTraceId } from '../functions/core/ids.ts';
import { SkeinError, UsageError } from '../schemas/errors.ts';
import type { OutgoingRecord } from './put-records.ts';

export interface ReadRecordsOptions {
  /** One record per non-empty line instead of one per file. */
  readonly lines: boolean;
  /** A fixed partition key for every record; otherwise the line's trace id, or a random key. */
  readonly partitionKey?: string | undefined;
  /** Whole-file records larger than this are refused before they are read. */
  readonly maxRecordBytes: number;
  /** What `-` reads. */
  readonly stdin: AsyncIterable<Uint8Array | string>;
  /** Random partition keys (injected for tests). */
  readonly randomKey?: () => string;
}

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;

/** The correlation fields of a JSON line that can pick its partition key (records of one trace stay on one shard). */
const TraceFields = z.looseObject({ trace_id: z.unknown().optional(), traceId: z.unknown().optional() });

/**
 * The records `skein push` sends, read lazily file after file: each file (or stdin for `-`) is one record, or with
 * `lines` each non-empty line is one. A line that is a JSON object with a `trace_id`/`traceId` is keyed by its
 * normalised trace id, so one trace lands on one shard in order; everything else gets a random key.
 */
export async function* readRecords(
  files: readonly string[],
  options: ReadRecordsOptions,
): AsyncGenerator<OutgoingRecord> {
  const randomKey = options.randomKey ?? randomUUID;
  for (const file of files) {
    const name = file === '-' ? '<stdin>' : file;
    if (!options.lines) {
      const data = await readWhole(file, name, options);
      yield { data, partitionKey: options.partitionKey ?? randomKey(), origin: name };
      continue;
    }
    let lineNumber = 0;
    for await (const line of splitLines(open(file, name, options))) {
      lineNumber++;
      if (isBlank(line)) continue;
      yield {
        data: line,
        partitionKey: options.partitionKey ?? traceIdOf(line) ?? randomKey(),
        origin: `${name}:${lineNumber}`,
      };
    }
  }
}

async function readWhole(file: string, name: string, options: ReadRecordsOptions): Promise<Uint8Array> {
  if (file !== '-') {
    const info = await stat(file).catch((error: unknown) => {
      throw cannotRead(name, error);
    });
    if (!info.isFile()) throw new UsageError(`${name} is not a file`);
    if (info.size > options.maxRecordBytes)
      throw new SkeinError(
        'record_too_large',
        `${name} is ${info.size} bytes; a Kinesis record is at most ${options.maxRecordBytes} bytes (push it line by line with --lines)`,
      );
  }
  const chunks: Buffer[] = [];
  for await (const chunk of open(file, name, options)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function* open(file: string, name: string, options: ReadRecordsOptions): AsyncGenerator<Buffer> {
  if (file === '-') {
    for await (const chunk of options.stdin)
      yield typeof chunk === 'string'
        ? Buffer.from(chunk)
        : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    return;
  }
  try {
    for await (const chunk of createReadStream(file)) yield Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
  } catch (error) {
    throw cannotRead(name, error);
  }
}

function cannotRead(name: string, error: unknown): UsageError {
  const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : 'error';
  return new UsageError(`cannot read ${name} (${code})`);
}

/** Splits a byte stream on `\n` (dropping a trailing `\r`), without decoding it. */
export async function* splitLines(chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let rest: Buffer | undefined;
  for await (const chunk of chunks) {
    let buffer = rest === undefined ? chunk : Buffer.concat([rest, chunk]);
    let start = 0;
    let end = buffer.indexOf(NEWLINE, start);
    while (end !== -1) {
      yield trimCarriageReturn(buffer.subarray(start, end));
      start = end + 1;
      end = buffer.indexOf(NEWLINE, start);
    }
    buffer = buffer.subarray(start);
    rest = buffer.length > 0 ? Buffer.from(buffer) : undefined;
  }
  if (rest !== undefined) yield trimCarriageReturn(rest);
}

function trimCarriageReturn(line: Buffer): Buffer {
  return line.length > 0 && line[line.length - 1] === CARRIAGE_RETURN ? line.subarray(0, line.length - 1) : line;
}

function isBlank(line: Buffer): boolean {
  for (const byte of line) if (byte !== 0x20 && byte !== 0x09) return false;
  return true;
}

/** The normalised trace id of a JSON-object line, if it has one. */
export function traceIdOf(line: Buffer): string | undefined {
  const first = line.findIndex((byte) => byte !== 0x20 && byte !== 0x09);
  if (first === -1 || line[first] !== 0x7b /* { */) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(line.toString('utf8'));
  } catch {
    return undefined;
  }
  const fields = TraceFields.safeParse(parsed);
  if (!fields.success) return undefined;
  const raw = fields.data.trace_id ?? fields.data.traceId;
  return typeof raw === 'string' ? normaliseTraceId(raw) : undefined;
}
