import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runSkein } from '../../cli/main.ts';
import { quarantineCommand } from '../../cli/quarantine-command.ts';
import { replayCommand } from '../../cli/replay-command.ts';
import { memoryObjectStore, type ObjectStore } from '../../functions/core/object-store.ts';
import type { DecodeFailure } from '../../functions/ingest/decoded.ts';
import { encodeQuarantine, type QuarantineEntry, quarantineEntry } from '../../functions/ingest/quarantine.ts';
import { quarantineObjectKey } from '../../functions/shared/object-keys.ts';
import { writeEndpoints } from '../../local/endpoints.ts';
import { captureIo } from '../builders/cli-io.ts';
import { aRecordContext } from '../builders/decode.ts';
import { T0 } from '../builders/kinesis.ts';
import { aLogLine, aTraceId } from '../builders/telemetry.ts';

const SHARD = 'shardId-000000000000';
const FIRST = 49650000000000000000000000000000000000000000000000000001n;
const seq = (i: number) => String(FIRST + BigInt(i));
const NOW = T0 + 3_600_000;

function entry(i: number, o: { line?: number; raw: string; reason?: DecodeFailure['reason'] }): QuarantineEntry {
  const ctx = aRecordContext({ shardId: SHARD, sequenceNumber: seq(i), arrivalMs: T0 + i * 1000 });
  return quarantineEntry(
    {
      reason: o.reason ?? 'invalid_json',
      message: o.line === undefined ? 'bad record' : `line ${o.line}: bad`,
      raw: Buffer.from(o.raw),
      decoder: o.line === undefined ? 'detect' : 'json-lines',
      ...(o.line === undefined ? {} : { line: o.line }),
    },
    ctx,
  );
}

async function putObject(store: ObjectStore, first: number, entries: readonly QuarantineEntry[]): Promise<void> {
  const key = quarantineObjectKey({
    shardId: SHARD,
    firstSequenceNumber: seq(first),
    firstArrivalMs: T0 + first * 1000,
  });
  await store.put(key, encodeQuarantine(entries), 'application/x-ndjson');
}

/**
 * Two quarantine objects: a bisected retry left the first one holding record 2 as well. Record 1's line 2 decodes
 * now; record 2 is binary; record 3 has a line that is still not JSON.
 */
async function aQuarantine(store: ObjectStore): Promise<void> {
  const binary = '\u0000\u0001binary';
  await putObject(store, 0, [
    entry(1, { line: 2, raw: aLogLine({ traceId: aTraceId(1), msg: 'now fine' }) }),
    entry(2, { raw: binary, reason: 'unknown_format' }),
  ]);
  await putObject(store, 2, [entry(2, { raw: binary, reason: 'unknown_format' }), entry(3, { line: 1, raw: '{oops' })]);
}

describe('skein quarantine ls', () => {
  let dir: string;
  let store: ReturnType<typeof memoryObjectStore>;
  const deps = () => ({ store, now: () => NOW });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'skein-quarantine-'));
    await writeEndpoints(dir, {
      kinesis: 'http://127.0.0.1:1',
      s3: 'http://127.0.0.1:2',
      stream: 'skein',
      bucket: 'skein-local',
      dataDir: join(dir, 's3'),
    });
    store = memoryObjectStore();
    await aQuarantine(store);
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('lists every entry once, oldest first, with a count per reason', async () => {
    // Act
    const io = captureIo();
    const code = await quarantineCommand(['ls', '--local', dir], io, deps());

    // Assess
    expect(code).toBe(0);
    const lines = io.out().split('\n');
    expect(lines[0]).toMatch(/^ARRIVED\s+SHARD\s+SEQUENCE\s+LINE\s+REASON\s+SIZE\s+MESSAGE$/);
    expect(lines.slice(1, 4).map((l) => l.split(/\s{2,}/).slice(0, 6))).toEqual([
      [
        '2026-11-25 21:30:01',
        SHARD,
        seq(1),
        '2',
        'invalid_json',
        `${aLogLine({ traceId: aTraceId(1), msg: 'now fine' }).length} B`,
      ],
      ['2026-11-25 21:30:02', SHARD, seq(2), '-', 'unknown_format', '8 B'],
      ['2026-11-25 21:30:03', SHARD, seq(3), '1', 'invalid_json', '5 B'],
    ]);
    expect(lines.slice(4).join('\n')).toBe(
      '3 entries in 2 quarantine objects of s3://skein-local (1 duplicate of retried batches not shown)\n' +
        '  invalid_json         2\n' +
        '  unknown_format       1\n',
    );
    expect(io.err()).toBe('');
  });

  it('filters by reason and arrival time', async () => {
    // Act
    const io = captureIo();
    await quarantineCommand(
      ['ls', '--local', dir, '--reason', 'invalid_json', '--since', '2026-11-25T21:30:02Z'],
      io,
      deps(),
    );

    // Assess
    expect(io.out()).toContain(seq(3));
    expect(io.out()).not.toContain(seq(1));
    expect(io.out()).toMatch(/^1 entry in 1 quarantine object/m);
  });

  it('prints ndjson with --json, the summary on stderr', async () => {
    // Act
    const io = captureIo();
    await quarantineCommand(['ls', '--local', dir, '--json'], io, deps());

    // Assess
    const rows = io
      .out()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rows.map((r) => [r.sequence_number, r.line, r.status, r.size])).toEqual([
      [seq(1), 2, 'quarantined', expect.any(Number)],
      [seq(2), null, 'quarantined', 8],
      [seq(3), 1, 'quarantined', 5],
    ]);
    expect(Buffer.from(rows[2].data, 'base64').toString()).toBe('{oops');
    expect(rows[1].object_key).toMatch(new RegExp(`${SHARD}-${seq(2)}\\.ndjson$`));
    expect(io.err()).toMatch(/^3 entries in 2 quarantine objects/);
  });

  it('leaves replayed entries out unless --all is given', async () => {
    // Prepare
    const replayIo = captureIo();
    expect(await replayCommand(['--local', dir], replayIo, deps())).toBe(0);

    // Act
    const io = captureIo();
    await quarantineCommand(['ls', '--local', dir], io, deps());
    const allIo = captureIo();
    await quarantineCommand(['ls', '--local', dir, '--all'], allIo, deps());

    // Assess
    expect(io.out()).not.toContain(seq(1));
    expect(io.out()).toMatch(/^2 entries in 1 quarantine object of/m);
    expect(allIo.out()).toMatch(/^STATUS\s+ARRIVED/);
    expect(allIo.out()).toMatch(new RegExp(`^replayed\\s+2026-11-25 21:30:01\\s+${SHARD}\\s+${seq(1)}`, 'm'));
    expect(allIo.out()).toMatch(/^2 quarantined, 1 replayed in 2 quarantine objects/m);
  });

  it.each([
    [[], /no local stack at \.skein: .*endpoints\.json is missing/],
    [['--bucket', 'b', '--local', 'x'], /not both/],
    [['--local', 'x', '--region', 'eu-west-1'], /--region applies to --bucket only/],
    [['--bucket', 'b', '--reason', 'nope'], /unknown --reason 'nope': one of empty_record, /],
    [['--bucket', 'b', '--since', 'yesterday'], /--since yesterday: expected an ISO 8601 time/],
    [['--bucket', 'b', 'extra'], /unexpected argument 'extra'/],
  ])('rejects %j with exit 2 and a one-line reason', async (args, message) => {
    const io = captureIo();
    expect(await quarantineCommand(['ls', ...args], io, deps())).toBe(2);
    expect(io.err()).toMatch(message);
    expect(io.err()).toContain("Run 'skein quarantine ls --help' for details.");
  });

  it('says when there is no local stack in the folder', async () => {
    const io = captureIo();
    expect(await quarantineCommand(['ls', '--local', join(dir, 'nowhere')], io, deps())).toBe(2);
    expect(io.err()).toMatch(/^skein: no local stack at .*nowhere/);
  });

  it('turns a failing bucket into one line with a hint', async () => {
    // Prepare
    const broken: ObjectStore = { ...store, list: () => Promise.reject(new Error('connect ECONNREFUSED')) };

    // Act
    const io = captureIo();
    const code = await quarantineCommand(['ls', '--local', dir], io, { store: broken });

    // Assess
    expect(code).toBe(1);
    expect(io.err()).toBe(
      `skein: reading s3://skein-local failed: Error: connect ECONNREFUSED (is the local stack in ${dir} still running?)\n`,
    );
  });
});

describe('skein replay', () => {
  let store: ReturnType<typeof memoryObjectStore>;
  const deps = () => ({ store, now: () => NOW });

  beforeEach(async () => {
    store = memoryObjectStore();
    await aQuarantine(store);
  });

  it('replays what decodes now and reports what still fails', async () => {
    // Act
    const io = captureIo();
    const code = await replayCommand(['--bucket', 'skein-data'], io, deps());

    // Assess
    expect(code).toBe(0);
    // Binary in no format Skein reads was withheld from the quarantine (D17): there is nothing to decode again.
    const firstMessage =
      'its bytes were not kept (8 bytes in no format Skein reads (may be compressed or encrypted): withheld): ' +
      're-send it from the producer';
    expect(io.out()).toBe(
      [
        'replayed 1 entry of 3 selected from 1 quarantine object (rows: json-lines 1)',
        '2 entries still fail and stay quarantined:',
        '  not_kept           1',
        '  invalid_json       1',
        `  first: ${SHARD} ${seq(2)}: ${firstMessage}`,
        '1 duplicate entry of retried batches skipped',
        'wrote:',
        `  tables/logs/dt=2026-11-25/hour=21/replay-${SHARD}-${seq(0)}.parquet`,
        `  quarantine/dt=2026-11-25/hour=21/${SHARD}-${seq(0)}.replayed.json`,
        '',
      ].join('\n'),
    );
  });

  it('writes nothing with --dry-run', async () => {
    // Prepare
    const before = new Map(store.objects);

    // Act
    const io = captureIo();
    await replayCommand(['--bucket', 'skein-data', '--dry-run'], io, deps());

    // Assess
    expect(io.out()).toMatch(/^would replay 1 entry of 3 selected/);
    expect(io.out()).toContain('would write:\n');
    expect(store.objects).toEqual(before);
  });

  it('says so when nothing matches', async () => {
    const io = captureIo();
    await replayCommand(['--bucket', 'skein-data', '--reason', 'empty_record'], io, deps());
    expect(io.out()).toBe('nothing to replay in s3://skein-data\n1 duplicate entry of retried batches skipped\n');
  });

  it('uses the ingest settings of the environment', async () => {
    const io = captureIo({ env: { SKEIN_MAX_RECORD_BYTES: '12' } });
    expect(await replayCommand(['--bucket', 'skein-data'], io, deps())).toBe(1);
    expect(io.err()).toMatch(/^skein: ingest configuration: SKEIN_MAX_RECORD_BYTES: /);
  });
});

describe('skein (quarantine and replay registered)', () => {
  it.each([
    [['quarantine', '--help'], 'Usage: skein quarantine ls'],
    [['quarantine', 'ls', '--help'], 'Usage: skein quarantine ls'],
    [['replay', '--help'], 'Usage: skein replay'],
  ])('prints help for %j', async (args, usage) => {
    const io = captureIo();
    expect(await runSkein(args, io)).toBe(0);
    expect(io.out().startsWith(usage)).toBe(true);
  });

  it('rejects an unknown quarantine command', async () => {
    const io = captureIo();
    expect(await runSkein(['quarantine', 'rm'], io)).toBe(2);
    expect(io.err()).toMatch(/^skein: unknown command 'quarantine rm'/);
  });
});
