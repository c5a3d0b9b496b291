import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PutRecordsInput, PutRecordsOutput, PutRecordsResultEntry } from '@aws-sdk/client-kinesis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pushCommand } from '../../cli/push-command.ts';
import {
  checkRecords,
  fullJitterDelay,
  KINESIS_LIMITS,
  type OutgoingRecord,
  PushFailedError,
  type PushOptions,
  pushRecords,
  recordSize,
} from '../../cli/put-records.ts';
import { readRecords, splitLines } from '../../cli/read-records.ts';
import { RecordRanges } from '../../cli/record-ranges.ts';
import { writeEndpoints } from '../../local/endpoints.ts';
import { SkeinError } from '../../schemas/errors.ts';
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

  it('skips the records it is told to, counting every record of the input from 1', async () => {
    // Prepare
    const kinesis = fakeKinesis();
    const input = records(6, 1).map((r, i) => ({ ...r, data: Buffer.from(`r${i + 1}`) }));

    // Act
    const summary = await pushRecords(input, {
      stream: 's',
      putRecords: kinesis.putRecords,
      skip: RecordRanges.parse('1-2,5'),
    });

    // Assess
    expect(kinesis.calls.flatMap((c) => c.Records?.map((r) => Buffer.from(r.Data ?? []).toString()))).toEqual([
      'r3',
      'r4',
      'r6',
    ]);
    expect(summary).toMatchObject({ records: 3, skipped: 3 });
  });

  it('reports exactly which records were accepted when entries keep failing, never re-sending an accepted one', async () => {
    // Prepare: 3 records per request; in the second request the middle entry is always throttled
    const kinesis = fakeKinesis((call, i) =>
      call >= 1 && i === (call === 1 ? 1 : 0) ? 'ProvisionedThroughputExceededException' : undefined,
    );
    const input = records(9, 1).map((r, i) => ({ ...r, data: Buffer.from(`r${i + 1}`) }));

    // Act
    const pushing = pushRecords(input, {
      stream: 's',
      putRecords: kinesis.putRecords,
      limits: { maxRecordsPerRequest: 3 },
      maxAttempts: 3,
      ...noSleep,
    });

    // Assess
    const error = await pushing.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PushFailedError);
    if (!(error instanceof PushFailedError)) return;
    expect(error.accepted.toString()).toBe('1-4,6');
    expect(error.unanswered).toBe(0);
    const sent = kinesis.calls.flatMap((c) => c.Records?.map((r) => Buffer.from(r.Data ?? []).toString()) ?? []);
    expect(sent).toEqual(['r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r5', 'r5']);
  });

  it('counts the records of a request without an answer as unanswered, not as accepted', async () => {
    // Prepare
    let calls = 0;
    const putRecords = async (input: PutRecordsInput): Promise<PutRecordsOutput> => {
      calls++;
      if (calls === 2) throw new Error('socket hang up');
      return fakeKinesis().putRecords(input);
    };

    // Act
    const error = await pushRecords(records(5, 1), {
      stream: 's',
      putRecords,
      limits: { maxRecordsPerRequest: 2 },
    }).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(PushFailedError);
    if (!(error instanceof PushFailedError)) return;
    expect(error.message).toMatch(/socket hang up; 2 records were pushed/);
    expect(error.accepted.toString()).toBe('1-2');
    expect(error.unanswered).toBe(2);
  });
});

describe('checkRecords', () => {
  it('lists every record over a limit, with what would work for lines and for whole files', async () => {
    const input: OutgoingRecord[] = [
      { data: new Uint8Array(10), partitionKey: 'k', origin: 'a.log:1' },
      { data: new Uint8Array(MiB), partitionKey: 'k', origin: 'a.log:2' },
      { data: new Uint8Array(10), partitionKey: 'x'.repeat(257), origin: 'a.log:3' },
      { data: new Uint8Array(MiB + 5), partitionKey: 'k', origin: 'a.log:4' },
    ];

    const lines = await checkRecords(input, { lines: true });
    const files = await checkRecords(input.slice(3), { lines: false });

    expect(lines.records).toBe(4);
    expect(lines.problems).toEqual([
      expect.stringMatching(
        /^a\.log:2 is 1048577 bytes with its partition key; .*at most 1048576 bytes: shorten the line/,
      ),
      expect.stringMatching(/^a\.log:3: a partition key must be 1–256 characters, got 257/),
      expect.stringMatching(/^a\.log:4 is 1048582 bytes/),
    ]);
    expect(files.problems).toEqual([expect.stringMatching(/push it line by line with --lines/)]);
  });
});

describe('RecordRanges', () => {
  it('parses, merges and prints record numbers as ranges', () => {
    const set = RecordRanges.parse('5,1-3,4,10-12');
    set.add(13);
    set.add(8);
    set.addRange(20, 21);
    set.add(7);
    expect(set.toString()).toBe('1-5,7-8,10-13,20-21');
    expect(set.size).toBe(13);
    expect([0, 1, 5, 6, 7, 9, 13, 14, 21].map((n) => set.has(n))).toEqual([
      false,
      true,
      true,
      false,
      true,
      false,
      true,
      false,
      true,
    ]);
  });

  it.each(['', '0', '3-1', 'a', '1,,2', '1-2-3'])('refuses %j', (text) => {
    expect(() => RecordRanges.parse(text)).toThrow(/--skip takes record numbers and ranges like 1-1000,1003/);
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

  it('checks every line before sending: lists all that are over the limits and sends nothing', async () => {
    // Prepare: 1,300 lines of which lines 1,201 and 1,250 are over 1 MiB
    const kinesis = fakeKinesis();
    const file = join(dir, 'app.log');
    const lines = Array.from({ length: 1_300 }, (_, i) =>
      i === 1_200 || i === 1_249 ? 'x'.repeat(MiB) : `line ${i + 1}`,
    );
    await writeFile(file, `${lines.join('\n')}\n`);
    const io = captureIo({ stdin: chunks() });

    // Act
    const code = await pushCommand(['--local', dir, '--lines', file], io, { putRecords: kinesis.putRecords });

    // Assess
    expect(code).toBe(1);
    expect(kinesis.calls).toHaveLength(0);
    expect(io.err().split('\n')).toEqual([
      'skein: 2 records are over the Kinesis limits; nothing was sent:',
      expect.stringMatching(
        new RegExp(`^  ${file}:1201 is 1048612 bytes with its partition key; .*: shorten the line`),
      ),
      expect.stringMatching(new RegExp(`^  ${file}:1250 is `)),
      '',
    ]);
  });

  it('refuses whole files over the limit by their size, listing each, before reading or sending', async () => {
    const kinesis = fakeKinesis();
    const small = join(dir, 'small.json');
    const big = join(dir, 'big.json');
    await writeFile(small, '{}');
    await writeFile(big, Buffer.alloc(MiB + 1));
    const io = captureIo({ stdin: chunks() });

    const code = await pushCommand(['--local', dir, small, big, big], io, { putRecords: kinesis.putRecords });

    expect(code).toBe(1);
    expect(kinesis.calls).toHaveLength(0);
    expect(io.err()).toMatch(/2 records are over the Kinesis limits.*\n.*big\.json is 1048577 bytes.*--lines/);
  });

  it('stops on a failure saying how many records Kinesis accepted, and the printed command sends exactly the rest', async () => {
    // Prepare: 1,300 lines; the third request's entries are refused for good from its 50th entry on
    const file = join(dir, 'app.log');
    await writeFile(file, `${Array.from({ length: 1_300 }, (_, i) => `line ${i + 1}`).join('\n')}\n`);
    const failing = fakeKinesis((call, i) =>
      (call === 2 ? i >= 49 : call > 2) ? 'ProvisionedThroughputExceededException' : undefined,
    );
    const first = captureIo({ stdin: chunks() });

    // Act
    const code = await pushCommand(['--local', dir, '--lines', file], first, {
      putRecords: (input) => failing.putRecords(input),
      sleep: async () => {},
    });
    const err = first.err();
    const command = /^ {2}skein push (.*)$/m.exec(err)?.[1] ?? '';
    const resumed = fakeKinesis();
    const second = captureIo({ stdin: chunks() });
    const resumeCode = await pushCommand(command.split(' '), second, { putRecords: resumed.putRecords });

    // Assess
    expect(code).toBe(1);
    expect(err).toContain('Kinesis accepted 1049 records of 1300 (records 1-1049).');
    expect(command).toBe(`--local ${dir} --lines ${file} --skip 1-1049`);
    expect(resumeCode).toBe(0);
    const sent = (k: ReturnType<typeof fakeKinesis>, ok: (call: number, i: number) => boolean) =>
      k.calls.flatMap((c, call) =>
        (c.Records ?? []).filter((_, i) => ok(call, i)).map((r) => Buffer.from(r.Data ?? []).toString()),
      );
    const accepted = [...sent(failing, (call, i) => call < 2 || (call === 2 && i < 49)), ...sent(resumed, () => true)];
    expect(accepted).toEqual(Array.from({ length: 1_300 }, (_, i) => `line ${i + 1}`));
    expect(second.err()).toMatch(/^pushed 251 records in 1 request \(0 retried, 1049 skipped\)/);
  });

  it('says that the records of a request without an answer may be on the stream, and resumes after the accepted ones', async () => {
    const file = join(dir, 'my app.log');
    await writeFile(file, 'a\nb\nc\n');
    let calls = 0;
    const io = captureIo({ stdin: chunks() });

    const code = await pushCommand(['--local', dir, '--lines', file, '--skip', '1'], io, {
      putRecords: async () => {
        calls++;
        throw new SkeinError('push_failed', 'PutRecords to skein-local failed: ECONNREFUSED');
      },
    });

    expect(code).toBe(1);
    expect(calls).toBe(1);
    expect(io.err()).toContain('skein: push to skein-local stopped: PutRecords to skein-local failed: ECONNREFUSED');
    expect(io.err()).toContain('Kinesis accepted 0 records of 2.');
    expect(io.err()).toContain('The last request, 2 records, got no answer');
    expect(io.err()).toContain(`  skein push --local ${dir} --lines '${file}' --skip 1\n`);
  });

  it.each([
    [['--local', 'a', '--dir', 'b', 'a.log'], /give the local stack folder once/],
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
