import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PutRecordsInput, PutRecordsOutput, PutRecordsResultEntry } from '@aws-sdk/client-kinesis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SkeinError } from '../../functions/core/errors.ts';
import { pushCommand } from '../../local/cli/push-command.ts';
import {
  fullJitterDelay,
  KINESIS_LIMITS,
  type OutgoingRecord,
  type PushOptions,
  pushRecords,
  recordSize,
} from '../../local/cli/put-records.ts';
import { readRecords, splitLines } from '../../local/cli/read-records.ts';
import { writeEndpoints } from '../../local/endpoints.ts';
import { captureIo } from '../builders/cli-io.ts';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const MiB = 1024 * 1024;

/** A fake Kinesis: records every request; `failures` decides, per call, which entries come back with an ErrorCode. */
function fakeKinesis(failures: (call: number, index: number) => string | undefined = () => undefined) {
  const calls: PutRecordsInput[] = [];
  const putRecords = async (input: PutRecordsInput): Promise<PutRecordsOutput> => {
    const call = calls.length;
    calls.push(input);
    const results: PutRecordsResultEntry[] = (input.Records ?? []).map((_, i) => {
      const code = failures(call, i);
      return code
        ? { ErrorCode: code, ErrorMessage: `${code} on entry ${i}` }
        : { ShardId: 'shardId-000000000000', SequenceNumber: `${call}${i}` };
    });
    return {
      FailedRecordCount: results.filter((r) => r.ErrorCode).length,
      Records: results,
      $metadata: {},
    } as PutRecordsOutput;
  };
  return { calls, putRecords };
}

function records(count: number, bytes: number, key = 'k'): OutgoingRecord[] {
  return Array.from({ length: count }, (_, i) => ({
    data: new Uint8Array(bytes),
    partitionKey: key,
    origin: `record ${i}`,
  }));
}

const noSleep = { sleep: async () => {}, random: () => 0.5 } satisfies Partial<PushOptions>;

function requestBytes(input: PutRecordsInput): number {
  return (input.Records ?? []).reduce(
    (sum, r) => sum + (r.Data?.byteLength ?? 0) + Buffer.byteLength(r.PartitionKey ?? '', 'utf8'),
    0,
  );
}

describe('pushRecords', () => {
  it('packs at most 500 records into one request', async () => {
    // Prepare
    const kinesis = fakeKinesis();

    // Act
    const summary = await pushRecords(records(1_201, 10), { stream: 's', putRecords: kinesis.putRecords });

    // Assess
    expect(kinesis.calls.map((c) => c.Records?.length)).toEqual([500, 500, 201]);
    expect(kinesis.calls.every((c) => c.StreamName === 's')).toBe(true);
    expect(summary).toMatchObject({ records: 1_201, requests: 3, retried: 0 });
  });

  it('keeps each request within 5 MiB counting partition keys', async () => {
    // Prepare: 600 KiB records, so 8 fit in 5 MiB and a 9th would not.
    const kinesis = fakeKinesis();
    const key = 'p'.repeat(256);

    // Act
    await pushRecords(records(20, 600 * 1024, key), { stream: 's', putRecords: kinesis.putRecords });

    // Assess
    expect(kinesis.calls.map((c) => c.Records?.length)).toEqual([8, 8, 4]);
    for (const call of kinesis.calls) expect(requestBytes(call)).toBeLessThanOrEqual(5 * MiB);
  });

  it('fills a request exactly up to 5 MiB', async () => {
    // Prepare: five records of exactly 1 MiB with their one-byte keys.
    const kinesis = fakeKinesis();

    // Act
    await pushRecords(records(6, MiB - 1), { stream: 's', putRecords: kinesis.putRecords });

    // Assess
    expect(kinesis.calls.map((c) => requestBytes(c))).toEqual([5 * MiB, MiB]);
  });

  it('re-sends only the entries that failed, after a backoff', async () => {
    // Prepare: entries 1 and 3 are throttled on the first call.
    const kinesis = fakeKinesis((call, i) =>
      call === 0 && i === 1
        ? 'ProvisionedThroughputExceededException'
        : call === 0 && i === 3
          ? 'InternalFailure'
          : undefined,
    );
    const sleeps: number[] = [];
    const input = records(5, 10).map((r, i) => ({ ...r, data: Buffer.from(`record-${i}`) }));

    // Act
    const summary = await pushRecords(input, {
      stream: 's',
      putRecords: kinesis.putRecords,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      random: () => 0.5,
      baseDelayMs: 100,
    });

    // Assess
    expect(kinesis.calls).toHaveLength(2);
    expect(kinesis.calls[1]?.Records?.map((r) => Buffer.from(r.Data ?? []).toString())).toEqual([
      'record-1',
      'record-3',
    ]);
    expect(summary).toMatchObject({ records: 5, requests: 2, retried: 2 });
    expect(sleeps).toEqual([50]);
  });

  it('gives up after the last attempt with a message naming the error', async () => {
    // Prepare
    const kinesis = fakeKinesis((_call, i) => (i === 0 ? 'ProvisionedThroughputExceededException' : undefined));

    // Act
    const pushing = pushRecords(records(3, 10), {
      stream: 's',
      putRecords: kinesis.putRecords,
      maxAttempts: 3,
      ...noSleep,
    });

    // Assess
    await expect(pushing).rejects.toThrow(SkeinError);
    await expect(pushing).rejects.toThrow(
      /1 records still failing after 3 attempts \(last error ProvisionedThroughputExceededException.*\); 2 records were pushed/,
    );
    expect(kinesis.calls).toHaveLength(3);
  });

  it('does not retry an error code that is not transient', async () => {
    // Prepare
    const kinesis = fakeKinesis((_call, i) => (i === 1 ? 'KMSAccessDeniedException' : undefined));

    // Act
    const pushing = pushRecords(records(2, 10), { stream: 's', putRecords: kinesis.putRecords, ...noSleep });

    // Assess
    await expect(pushing).rejects.toThrow(/record 1: KMSAccessDeniedException/);
    expect(kinesis.calls).toHaveLength(1);
  });

  it('refuses a record over 1 MiB with its data and key, naming it, before sending it', async () => {
    // Prepare
    const kinesis = fakeKinesis();
    const big: OutgoingRecord = { data: new Uint8Array(MiB), partitionKey: 'k', origin: 'app.log:7' };

    // Act
    const pushing = pushRecords([...records(1, 10), big], { stream: 's', putRecords: kinesis.putRecords });

    // Assess
    await expect(pushing).rejects.toThrow(/app\.log:7 is 1048577 bytes .* at most 1048576 bytes/);
    expect(recordSize(big)).toBe(KINESIS_LIMITS.maxBytesPerRecord + 1);
    expect(kinesis.calls).toHaveLength(0);
  });

  it('reports progress after every request', async () => {
    // Prepare
    const kinesis = fakeKinesis();
    const seen: number[] = [];

    // Act
    await pushRecords(records(1_000, 1), {
      stream: 's',
      putRecords: kinesis.putRecords,
      onProgress: (p) => seen.push(p.records),
    });

    // Assess
    expect(seen).toEqual([500, 1_000]);
  });
});

describe('fullJitterDelay', () => {
  it('draws between zero and the capped exponential', () => {
    expect(fullJitterDelay(0, 100, 5_000, () => 0.999)).toBe(99);
    expect(fullJitterDelay(3, 100, 5_000, () => 0.5)).toBe(400);
    expect(fullJitterDelay(10, 100, 5_000, () => 0.5)).toBe(2_500);
    expect(fullJitterDelay(10, 100, 5_000, () => 0)).toBe(0);
  });
});

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

async function* chunks(...parts: string[]): AsyncGenerator<Buffer> {
  for (const part of parts) yield Buffer.from(part);
}

describe('readRecords', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'skein-push-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('splits lines across chunk boundaries and drops carriage returns', async () => {
    const lines = await collect(splitLines(chunks('a\r\nb', 'c\n', '\nd')));
    expect(lines.map(String)).toEqual(['a', 'bc', '', 'd']);
  });

  it('keys a JSON line by its normalised trace id and other lines randomly', async () => {
    // Prepare
    const file = join(dir, 'app.log');
    await writeFile(
      file,
      [
        JSON.stringify({ msg: 'a', trace_id: TRACE_ID.toUpperCase() }),
        '',
        JSON.stringify({ msg: 'b', traceId: `00-${TRACE_ID}-00f067aa0ba902b7-01` }),
        'plain text',
        '   ',
        '{"trace_id": 42}',
      ].join('\n'),
    );

    // Act
    const out = await collect(
      readRecords([file], { lines: true, maxRecordBytes: MiB, stdin: chunks(), randomKey: () => 'random' }),
    );

    // Assess
    expect(out.map((r) => [r.origin, r.partitionKey])).toEqual([
      [`${file}:1`, TRACE_ID],
      [`${file}:3`, TRACE_ID],
      [`${file}:4`, 'random'],
      [`${file}:6`, 'random'],
    ]);
    expect(Buffer.from(out[2]?.data ?? []).toString()).toBe('plain text');
  });

  it('sends a whole file as one record with its raw bytes, and stdin for -', async () => {
    // Prepare
    const file = join(dir, 'export.bin');
    const bytes = Buffer.from([0x1f, 0x8b, 0x00, 0x0a, 0xff]);
    await writeFile(file, bytes);

    // Act
    const out = await collect(
      readRecords([file, '-'], {
        lines: false,
        maxRecordBytes: MiB,
        stdin: chunks('from ', 'stdin'),
        randomKey: () => 'r',
      }),
    );

    // Assess
    expect(out.map((r) => r.origin)).toEqual([file, '<stdin>']);
    expect(Buffer.from(out[0]?.data ?? []).equals(bytes)).toBe(true);
    expect(Buffer.from(out[1]?.data ?? []).toString()).toBe('from stdin');
  });

  it('refuses a whole file over the record limit without reading it', async () => {
    const file = join(dir, 'big.bin');
    await writeFile(file, Buffer.alloc(2_000));
    const reading = collect(readRecords([file], { lines: false, maxRecordBytes: 1_000, stdin: chunks() }));
    await expect(reading).rejects.toThrow(/big\.bin is 2000 bytes; a Kinesis record is at most 1000 bytes/);
  });
});

describe('skein push', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'skein-push-'));
    await writeEndpoints(dir, {
      kinesis: 'http://127.0.0.1:1',
      s3: 'http://127.0.0.1:2',
      stream: 'skein-local',
      bucket: 'skein-local',
      dataDir: join(dir, 's3'),
    });
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('pushes lines to the local stream and prints a summary', async () => {
    // Prepare
    const kinesis = fakeKinesis((call, i) => (call === 0 && i === 0 ? 'InternalFailure' : undefined));
    const file = join(dir, 'app.log');
    await writeFile(file, 'one\ntwo\nthree\n');
    const io = captureIo({ stdin: chunks('four\n') });

    // Act
    const code = await pushCommand(['--local', dir, '--lines', file, '-'], io, { putRecords: kinesis.putRecords });

    // Assess
    expect(code).toBe(0);
    expect(kinesis.calls[0]?.StreamName).toBe('skein-local');
    expect(io.err()).toMatch(/^pushed 4 records in 2 requests \(1 retried\) to skein-local in [\d.]+ s\n$/);
  });

  it('shows a progress line at most once a second while pushing', async () => {
    // Prepare: a clock that advances 600 ms per reading, 1 500 records in three requests.
    const file = join(dir, 'many.log');
    await writeFile(file, Array.from({ length: 1_500 }, (_, i) => `line ${i}`).join('\n'));
    let t = 0;
    const io = captureIo({ stdin: chunks() });

    // Act
    const code = await pushCommand(['--local', dir, '--lines', file], io, {
      putRecords: fakeKinesis().putRecords,
      now: () => (t += 600),
    });

    // Assess
    expect(code).toBe(0);
    expect(io.err().split('\n')).toEqual([
      'pushed 1000 records (7.7 KiB) in 2 requests…',
      expect.stringMatching(/^pushed 1500 records in 3 requests \(0 retried\) to skein-local in 2\.4 s$/),
      '',
    ]);
  });

  it('fails naming the file and line of a record that is too large', async () => {
    // Prepare
    const kinesis = fakeKinesis();
    const file = join(dir, 'app.log');
    await writeFile(file, `small\n${'x'.repeat(MiB + 1)}\n`);
    const io = captureIo({ stdin: chunks() });

    // Act
    const code = await pushCommand(['--local', dir, '--lines', file], io, { putRecords: kinesis.putRecords });

    // Assess
    expect(code).toBe(1);
    expect(io.err()).toContain(`skein: ${file}:2 is `);
    expect(io.err().trim().split('\n')).toHaveLength(1);
  });

  it.each([
    [['--lines', 'a.log'], /say where to push/],
    [['--local', '.', '--stream', 's', 'a.log'], /either --local <dir> or --stream <name>/],
    [['--local', '.', '--region', 'eu-west-1', 'a.log'], /--region applies to --stream only/],
    [['--stream', 's'], /no input files/],
    [['--stream', 's', '--partition-key', '', 'a'], /--partition-key must be 1–256 characters/],
    [['--stream', 's', '--frob', 'a'], /Unknown option '--frob'/],
  ])('rejects %j with exit 2', async (args, reason) => {
    const io = captureIo({ stdin: chunks() });
    const code = await pushCommand(args, io, { putRecords: fakeKinesis().putRecords });
    expect(code).toBe(2);
    expect(io.err().split('\n')[0]).toMatch(reason);
    expect(io.err()).toContain('Usage: skein push');
  });

  it('prints its help on stdout', async () => {
    const io = captureIo({ stdin: chunks() });
    expect(await pushCommand(['--help'], io)).toBe(0);
    expect(io.out()).toContain('Usage: skein push');
    expect(io.err()).toBe('');
  });
});
