import { describe, expect, it } from 'vitest';
import {
  afterInvoke,
  buildEvent,
  classifyResponse,
  expireRecords,
  type FailureReason,
  type InvokeOutcome,
  type RetryPolicy,
  type Segment,
  type StreamRecord,
  takeBatch,
} from '../../local/poller.ts';

function aRecord(sequenceNumber: string, options: { arrivalMs?: number; bytes?: number } = {}): StreamRecord {
  return {
    sequenceNumber,
    partitionKey: `pk-${sequenceNumber}`,
    data: new Uint8Array(options.bytes ?? 4).fill(65),
    arrivalMs: options.arrivalMs ?? 1_700_000_000_000,
  };
}

const records = (...seqs: string[]) => seqs.map((s) => aRecord(s));
const seqs = (rs: readonly StreamRecord[]) => rs.map((r) => r.sequenceNumber);
const segment = (rs: readonly StreamRecord[], retries = 0): Segment<StreamRecord> => ({
  records: rs,
  retries,
  invocations: retries + 1,
});

const noRetryLimit: RetryPolicy = { maximumRetryAttempts: -1, bisectBatchOnError: false };

describe('classifyResponse', () => {
  const batch = ['101', '102', '103', '104'];
  it.each([
    ['no answer', undefined, { kind: 'success' }],
    ['null', null, { kind: 'success' }],
    ['an empty object', {}, { kind: 'success' }],
    ['batchItemFailures: null', { batchItemFailures: null }, { kind: 'success' }],
    ['an empty list', { batchItemFailures: [] }, { kind: 'success' }],
    [
      'one failure in the middle',
      { batchItemFailures: [{ itemIdentifier: '103' }] },
      { kind: 'partial', failedIndex: 2 },
    ],
    [
      'several failures (lowest wins)',
      { batchItemFailures: [{ itemIdentifier: '104' }, { itemIdentifier: '102' }] },
      { kind: 'partial', failedIndex: 1 },
    ],
    [
      'a failure at the first record',
      { batchItemFailures: [{ itemIdentifier: '101' }] },
      { kind: 'partial', failedIndex: 0 },
    ],
  ])('reads %s as %j', (_name, response, expected) => {
    // Act
    const outcome = classifyResponse(response, batch);
    // Assess
    expect(outcome).toEqual(expected);
  });

  it.each([
    ['an empty itemIdentifier', { batchItemFailures: [{ itemIdentifier: '' }] }],
    ['a missing itemIdentifier', { batchItemFailures: [{}] }],
    ['a null item', { batchItemFailures: [null] }],
    ['a numeric itemIdentifier', { batchItemFailures: [{ itemIdentifier: 103 }] }],
    ['an itemIdentifier not in the batch', { batchItemFailures: [{ itemIdentifier: '999' }] }],
    ['batchItemFailures that is not a list', { batchItemFailures: 'oops' }],
  ])('fails the whole batch on %s', (_name, response) => {
    // Act
    const outcome = classifyResponse(response, batch);
    // Assess
    expect(outcome.kind).toBe('error');
  });
});

describe('afterInvoke', () => {
  const five = records('1', '2', '3', '4', '5');
  const cases: {
    name: string;
    outcome: InvokeOutcome;
    policy?: Partial<RetryPolicy>;
    retries?: number;
    done: string[];
    next: { seqs: string[]; retries: number }[];
    discarded?: { seqs: string[]; reason: FailureReason };
  }[] = [
    {
      name: 'success checkpoints the whole batch',
      outcome: { kind: 'success' },
      done: ['1', '2', '3', '4', '5'],
      next: [],
    },
    {
      name: 'a partial failure in the middle checkpoints before it and retries from it',
      outcome: { kind: 'partial', failedIndex: 2 },
      done: ['1', '2'],
      next: [{ seqs: ['3', '4', '5'], retries: 1 }],
    },
    {
      name: 'a partial failure at the first record retries everything',
      outcome: { kind: 'partial', failedIndex: 0 },
      done: [],
      next: [{ seqs: ['1', '2', '3', '4', '5'], retries: 1 }],
    },
    {
      name: 'a function error retries the whole batch',
      outcome: { kind: 'error', error: 'Error: boom' },
      done: [],
      next: [{ seqs: ['1', '2', '3', '4', '5'], retries: 1 }],
    },
    {
      name: 'a function error with bisect splits the batch without using a retry',
      outcome: { kind: 'error', error: 'Error: boom' },
      policy: { bisectBatchOnError: true },
      retries: 1,
      done: [],
      next: [
        { seqs: ['1', '2', '3'], retries: 1 },
        { seqs: ['4', '5'], retries: 1 },
      ],
    },
    {
      name: 'a partial failure with bisect retries from the failed record (no split)',
      outcome: { kind: 'partial', failedIndex: 3 },
      policy: { bisectBatchOnError: true },
      done: ['1', '2', '3'],
      next: [{ seqs: ['4', '5'], retries: 1 }],
    },
    {
      name: 'a function error after the last allowed retry discards the batch',
      outcome: { kind: 'error', error: 'Error: boom' },
      policy: { maximumRetryAttempts: 2 },
      retries: 2,
      done: [],
      next: [],
      discarded: { seqs: ['1', '2', '3', '4', '5'], reason: 'RetryAttemptsExhausted' },
    },
    {
      name: 'a partial failure with no retries allowed keeps the prefix and discards the rest',
      outcome: { kind: 'partial', failedIndex: 1 },
      policy: { maximumRetryAttempts: 0 },
      done: ['1'],
      next: [],
      discarded: { seqs: ['2', '3', '4', '5'], reason: 'RetryAttemptsExhausted' },
    },
  ];

  it.each(cases)('$name', ({ outcome, policy, retries, done, next, discarded }) => {
    // Act
    const step = afterInvoke(segment(five, retries ?? 0), outcome, { ...noRetryLimit, ...policy });
    // Assess
    expect(seqs(step.done)).toEqual(done);
    expect(step.next.map((s) => ({ seqs: seqs(s.records), retries: s.retries }))).toEqual(next);
    expect(step.discarded ? { seqs: seqs(step.discarded.records), reason: step.discarded.reason } : undefined).toEqual(
      discarded,
    );
  });

  it('splits a single failing record no further: it uses retries', () => {
    // Act
    const step = afterInvoke(
      segment(records('9')),
      { kind: 'error', error: 'x' },
      { ...noRetryLimit, bisectBatchOnError: true },
    );
    // Assess
    expect(step.bisected).toBe(false);
    expect(step.next).toMatchObject([{ retries: 1 }]);
  });
});

/** Drives the rules over a stream the way a shard loop does, with a scripted handler. */
function drive(
  stream: readonly StreamRecord[],
  batchSize: number,
  policy: RetryPolicy,
  handle: (batch: string[]) => InvokeOutcome,
): {
  invocations: string[][];
  processed: string[];
  discarded: { seqs: string[]; reason: FailureReason }[];
  checkpoint?: string;
} {
  const buffer = [...stream];
  const queue: Segment<StreamRecord>[] = [];
  const invocations: string[][] = [];
  const processed: string[] = [];
  const discarded: { seqs: string[]; reason: FailureReason }[] = [];
  let checkpoint: string | undefined;
  for (let guard = 0; guard < 1000; guard++) {
    const head =
      queue.shift() ??
      (buffer.length ? { records: takeBatch(buffer, batchSize), retries: 0, invocations: 0 } : undefined);
    if (!head) break;
    const batch = seqs(head.records);
    invocations.push(batch);
    const step = afterInvoke({ ...head, invocations: head.invocations + 1 }, handle(batch), policy);
    processed.push(...seqs(step.done));
    if (step.done.length) checkpoint = step.done[step.done.length - 1]?.sequenceNumber;
    if (step.discarded) {
      discarded.push({ seqs: seqs(step.discarded.records), reason: step.discarded.reason });
      checkpoint = step.discarded.records[step.discarded.records.length - 1]?.sequenceNumber;
    }
    queue.unshift(...step.next);
  }
  return { invocations, processed, discarded, ...(checkpoint ? { checkpoint } : {}) };
}

describe('the retry rules over a stream', () => {
  const stream = records('1', '2', '3', '4', '5', '6', '7', '8');

  it('retries a partial failure from the failed record once, then moves on', () => {
    // Prepare
    let failed = false;
    // Act
    const run = drive(stream, 4, noRetryLimit, (batch) => {
      if (!failed && batch.includes('3')) {
        failed = true;
        return { kind: 'partial', failedIndex: batch.indexOf('3') };
      }
      return { kind: 'success' };
    });
    // Assess
    expect(run.invocations).toEqual([
      ['1', '2', '3', '4'],
      ['3', '4'],
      ['5', '6', '7', '8'],
    ]);
    expect(run.processed).toEqual(['1', '2', '3', '4', '5', '6', '7', '8']);
    expect(run.checkpoint).toBe('8');
  });

  it('isolates a poison record by bisecting, reports only it and processes the rest exactly once', () => {
    // Act
    const run = drive(stream, 8, { maximumRetryAttempts: 1, bisectBatchOnError: true }, (batch) =>
      batch.includes('6') ? { kind: 'error', error: 'Error: poison' } : { kind: 'success' },
    );
    // Assess
    expect(run.invocations).toEqual([
      ['1', '2', '3', '4', '5', '6', '7', '8'],
      ['1', '2', '3', '4'],
      ['5', '6', '7', '8'],
      ['5', '6'],
      ['5'],
      ['6'],
      ['6'],
      ['7', '8'],
    ]);
    expect(run.discarded).toEqual([{ seqs: ['6'], reason: 'RetryAttemptsExhausted' }]);
    expect(run.processed).toEqual(['1', '2', '3', '4', '5', '7', '8']);
    expect(run.checkpoint).toBe('8');
  });

  it('gives up on a batch after the retries, reports it and continues with the next batch', () => {
    // Act
    const run = drive(stream, 4, { maximumRetryAttempts: 2, bisectBatchOnError: false }, (batch) =>
      batch.includes('2') ? { kind: 'error', error: 'Error: always' } : { kind: 'success' },
    );
    // Assess
    expect(run.invocations).toEqual([
      ['1', '2', '3', '4'],
      ['1', '2', '3', '4'],
      ['1', '2', '3', '4'],
      ['5', '6', '7', '8'],
    ]);
    expect(run.discarded).toEqual([{ seqs: ['1', '2', '3', '4'], reason: 'RetryAttemptsExhausted' }]);
    expect(run.processed).toEqual(['5', '6', '7', '8']);
  });

  it('treats an invalid identifier as a whole-batch failure', () => {
    // Prepare
    let calls = 0;
    // Act
    const run = drive(records('1', '2'), 2, noRetryLimit, (batch) =>
      calls++ === 0
        ? classifyResponse({ batchItemFailures: [{ itemIdentifier: 'not-a-sequence-number' }] }, batch)
        : { kind: 'success' },
    );
    // Assess
    expect(run.invocations).toEqual([
      ['1', '2'],
      ['1', '2'],
    ]);
    expect(run.processed).toEqual(['1', '2']);
  });
});

describe('expireRecords', () => {
  it('splits off the records older than the maximum age and keeps the rest', () => {
    // Prepare
    const now = 1_700_000_100_000;
    const rs = [
      aRecord('1', { arrivalMs: now - 90_000 }),
      aRecord('2', { arrivalMs: now - 61_000 }),
      aRecord('3', { arrivalMs: now - 1_000 }),
    ];
    // Act
    const { expired, rest } = expireRecords(segment(rs), now, 60_000);
    // Assess
    expect(seqs(expired)).toEqual(['1', '2']);
    expect(rest && seqs(rest.records)).toEqual(['3']);
  });

  it('keeps everything when the maximum age is -1', () => {
    // Act
    const { expired, rest } = expireRecords(segment([aRecord('1', { arrivalMs: 0 })]), Date.now(), -1);
    // Assess
    expect(expired).toEqual([]);
    expect(rest?.records).toHaveLength(1);
  });
});

describe('takeBatch', () => {
  it('takes at most batchSize records', () => {
    // Prepare
    const buffer = records('1', '2', '3');
    // Act
    const batch = takeBatch(buffer, 2);
    // Assess
    expect(seqs(batch)).toEqual(['1', '2']);
    expect(seqs(buffer)).toEqual(['3']);
  });

  it('keeps the event under Lambda’s 6 MB payload limit', () => {
    // Prepare: 1 MiB records become ~1.4 MB of base64 each
    const buffer = Array.from({ length: 10 }, (_, i) => aRecord(String(i), { bytes: 1024 * 1024 }));
    // Act
    const batch = takeBatch(buffer, 100);
    // Assess
    expect(batch).toHaveLength(4);
    const event = buildEvent(batch, { shardId: 's', streamArn: 'a', region: 'r', invokeIdentityArn: 'i' });
    expect(JSON.stringify(event).length).toBeLessThan(6 * 1024 * 1024);
  });
});

describe('buildEvent', () => {
  it('builds the records Lambda sends for a Kinesis source', () => {
    // Prepare
    const record: StreamRecord = {
      sequenceNumber: '49590338271490256608559692538361571095921575989136588898',
      partitionKey: '4bf92f3577b34da6a3ce929d0e0e4736',
      data: new TextEncoder().encode('Hello, this is a test.'),
      arrivalMs: 1_545_084_650_987,
    };
    // Act
    const event = buildEvent([record], {
      shardId: 'shardId-000000000006',
      streamArn: 'arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream',
      region: 'us-east-2',
      invokeIdentityArn: 'arn:aws:iam::123456789012:role/lambda-role',
    });
    // Assess
    expect(event).toEqual({
      Records: [
        {
          kinesis: {
            kinesisSchemaVersion: '1.0',
            partitionKey: '4bf92f3577b34da6a3ce929d0e0e4736',
            sequenceNumber: '49590338271490256608559692538361571095921575989136588898',
            data: 'SGVsbG8sIHRoaXMgaXMgYSB0ZXN0Lg==',
            approximateArrivalTimestamp: 1545084650.987,
          },
          eventSource: 'aws:kinesis',
          eventVersion: '1.0',
          eventID: 'shardId-000000000006:49590338271490256608559692538361571095921575989136588898',
          eventName: 'aws:kinesis:record',
          invokeIdentityArn: 'arn:aws:iam::123456789012:role/lambda-role',
          awsRegion: 'us-east-2',
          eventSourceARN: 'arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream',
        },
      ],
    });
  });
});
