import { createHash } from 'node:crypto';
// The KPL message definition shipped by the maintained aggregation library (awslabs/kinesis-aggregation), loaded into
// our own protobufjs: no second protobufjs instance, no hand-written wire parser.
import kplProto from 'aws-kinesis-agg/lib/kpl.json' with { type: 'json' };
import protobuf from 'protobufjs';
import type { DecodeFailure, RecordContext } from './decoded.ts';

export const KPL = 'kpl';

/**
 * Magic number of the KPL aggregation format 0.9.0 (amazon-kinesis-producer `aggregation-format.md`): 4 bytes of
 * magic, the protobuf `AggregatedRecord`, then the 16-byte MD5 of the protobuf bytes.
 */
const MAGIC_0 = 0xf3;
const MAGIC_1 = 0x89;
const MAGIC_2 = 0x9a;
const MAGIC_3 = 0xc2;
const MAGIC_BYTES = 4;
const MD5_BYTES = 16;

const AggregatedRecord = protobuf.Root.fromJSON(kplProto).lookupType('AggregatedRecord');

/** protobufjs decodes `uint64` to a `Long` when long.js is installed (it is), to a number otherwise. */
type Uint64 = number | { toNumber(): number };

interface KplUserRecord {
  readonly partitionKeyIndex: Uint64;
  readonly data: Uint8Array;
}

interface KplAggregate {
  readonly partitionKeys: readonly string[];
  readonly records: readonly KplUserRecord[];
}

/**
 * Decodes the `AggregatedRecord` protobuf. protobufjs checks the wire format and the `required` fields of the .proto
 * (it throws on a missing `partition_key_index` or `data`), so the fields read here have the types the .proto gives
 * them — the same guarantee pbjs-generated static code declares.
 */
function decodeAggregate(body: Uint8Array): KplAggregate {
  const message = AggregatedRecord.decode(body);
  return { partitionKeys: message.partition_key_table, records: message.records.map(userRecord) };
}

function userRecord(record: { [k: string]: unknown }): KplUserRecord {
  const index = record.partition_key_index;
  const data = record.data;
  if (!(data instanceof Uint8Array)) throw new Error('a user record has no data bytes');
  if (typeof index !== 'number' && !isLong(index)) throw new Error('a user record has no partition key index');
  return { partitionKeyIndex: index, data };
}

function isLong(value: unknown): value is { toNumber(): number } {
  return typeof value === 'object' && value !== null && 'toNumber' in value && typeof value.toNumber === 'function';
}

/** True when `data` starts with the KPL aggregation magic `F3 89 9A C2`. */
export function isKplAggregate(data: Uint8Array): boolean {
  return (
    data.length >= MAGIC_BYTES &&
    data[0] === MAGIC_0 &&
    data[1] === MAGIC_1 &&
    data[2] === MAGIC_2 &&
    data[3] === MAGIC_3
  );
}

/**
 * De-aggregates a KPL aggregated record and decodes each user record with `decodeInner` (the format detector).
 *
 * The aggregate is atomic: when it is truncated, fails its MD5 check, is not a valid `AggregatedRecord` or names a
 * partition key that is not in its table, one `invalid_kpl` failure with the original bytes is returned and nothing
 * is decoded. Otherwise user record `i` is decoded with `subSequenceNumber: i`, its own partition key and
 * `formatPrefix: 'kpl+'`; its failures are returned with that context attached (`DecodeFailure.context`), so the
 * quarantine entry names the sub-record. KPL never nests: a user record that is itself an aggregate is `invalid_kpl`.
 *
 * @example
 * const failures = decodeKpl(data, ctx, (inner, innerCtx) => decodeRecord(inner, innerCtx, sink, options));
 */
export function decodeKpl(
  data: Uint8Array,
  ctx: RecordContext,
  decodeInner: (inner: Uint8Array, innerCtx: RecordContext) => DecodeFailure[],
): DecodeFailure[] {
  if (ctx.formatPrefix === 'kpl+') {
    return [invalid('a KPL aggregate inside a KPL aggregate: the KPL never nests aggregates', data)];
  }
  if (!isKplAggregate(data)) return [invalid('the record does not start with the KPL magic F3 89 9A C2', data)];
  if (data.length < MAGIC_BYTES + MD5_BYTES) {
    return [invalid(`truncated: ${data.length} bytes cannot hold the magic and the 16-byte MD5`, data)];
  }
  const bodyEnd = data.length - MD5_BYTES;
  const body = data.subarray(MAGIC_BYTES, bodyEnd);
  const digest = createHash('md5').update(body).digest();
  if (!digest.equals(data.subarray(bodyEnd))) {
    return [invalid('the MD5 trailer does not match the aggregated bytes: the record is truncated or corrupt', data)];
  }

  let aggregate: KplAggregate;
  try {
    aggregate = decodeAggregate(body);
  } catch (error) {
    return [invalid(`not a KPL AggregatedRecord: ${(error as Error).message}`, data)];
  }
  const { records, partitionKeys } = aggregate;
  if (records.length === 0) return [invalid('the aggregate holds no user records', data)];
  // Resolve every partition key before decoding anything, so a malformed aggregate writes no row at all.
  const keys: string[] = new Array(records.length);
  for (let i = 0; i < records.length; i++) {
    const index = toIndex(records[i]?.partitionKeyIndex);
    const key = index === undefined ? undefined : partitionKeys[index];
    if (key === undefined) {
      return [invalid(`user record ${i} names partition key ${index ?? '?'} of ${partitionKeys.length}`, data)];
    }
    keys[i] = key;
  }

  const failures: DecodeFailure[] = [];
  for (let i = 0; i < records.length; i++) {
    const inner = records[i]?.data ?? EMPTY;
    const innerCtx: RecordContext = {
      shardId: ctx.shardId,
      sequenceNumber: ctx.sequenceNumber,
      subSequenceNumber: i,
      formatPrefix: 'kpl+',
      partitionKey: keys[i] ?? '',
      arrivalMs: ctx.arrivalMs,
      observedNs: ctx.observedNs,
    };
    if (isKplAggregate(inner)) {
      failures.push({
        reason: 'invalid_kpl',
        message: `user record ${i} is itself a KPL aggregate: the KPL never nests aggregates`,
        raw: inner,
        decoder: KPL,
        context: innerCtx,
      });
      continue;
    }
    const innerFailures = decodeInner(inner, innerCtx);
    for (const failure of innerFailures) {
      failures.push(failure.context === undefined ? { ...failure, context: innerCtx } : failure);
    }
  }
  return failures;
}

const EMPTY = new Uint8Array(0);

function toIndex(value: Uint64 | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === 'number' ? value : value.toNumber();
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

function invalid(message: string, raw: Uint8Array): DecodeFailure {
  return { reason: 'invalid_kpl', message, raw, decoder: KPL };
}
