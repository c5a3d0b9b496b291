import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';

export interface RecordOptions {
  readonly shardId?: string;
  readonly sequenceNumber?: string;
  readonly partitionKey?: string;
  /** Epoch ms. */
  readonly arrivalMs?: number;
}

const STREAM_ARN = 'arn:aws:kinesis:us-east-1:123456789012:stream/skein-test';
export const T0 = Date.UTC(2026, 10, 25, 21, 30, 0);

/** A Kinesis record as Lambda delivers it, carrying `data`. */
export function aKinesisRecord(data: string | Uint8Array, options: RecordOptions = {}): KinesisStreamRecord {
  const shardId = options.shardId ?? 'shardId-000000000000';
  const sequenceNumber = options.sequenceNumber ?? '49650000000000000000000000000000000000000000000000000001';
  return {
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: options.partitionKey ?? 'pk',
      sequenceNumber,
      data: Buffer.from(data).toString('base64'),
      approximateArrivalTimestamp: (options.arrivalMs ?? T0) / 1000,
    },
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `${shardId}:${sequenceNumber}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn: 'arn:aws:iam::123456789012:role/skein-ingest',
    awsRegion: 'us-east-1',
    eventSourceARN: STREAM_ARN,
  };
}

/** A batch of records with consecutive sequence numbers starting at `firstSeq`, arriving 1 ms apart. */
export function aKinesisEvent(
  payloads: readonly (string | Uint8Array)[],
  options: RecordOptions & { firstSeq?: bigint } = {},
): KinesisStreamEvent {
  const first = options.firstSeq ?? 49650000000000000000000000000000000000000000000000000001n;
  const arrival = options.arrivalMs ?? T0;
  return {
    Records: payloads.map((p, i) =>
      aKinesisRecord(p, { ...options, sequenceNumber: String(first + BigInt(i)), arrivalMs: arrival + i }),
    ),
  };
}
