import {
  AthenaClient,
  GetQueryExecutionCommand,
  type GetQueryExecutionCommandOutput,
  GetQueryResultsCommand,
  type GetQueryResultsCommandOutput,
  type QueryExecutionState,
  StartQueryExecutionCommand,
  TooManyRequestsException,
} from '@aws-sdk/client-athena';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ATHENA_ERRORS, type AthenaProgress, athenaLookupCommand, runAthenaLookup } from '../../query/athena-query.ts';
import { TABLES } from '../../schemas/columns.ts';
import { SkeinError } from '../../schemas/errors.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const REQUEST = { by: 'trace', id: TRACE, workgroup: 'skein', database: 'skein' } as const;

const athena = mockClient(AthenaClient);
/** A real client: the mock intercepts `send` of every AthenaClient, so no request leaves the process. */
const client = new AthenaClient({ region: 'eu-west-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });

/** A fake clock that advances 100 ms per reading, and a sleep that records its waits instead of waiting. */
function fakeTime() {
  let t = Date.parse('2025-11-25T10:30:00Z');
  const waits: number[] = [];
  return {
    now: () => {
      t += 100;
      return t;
    },
    sleep: async (ms: number) => {
      waits.push(ms);
    },
    waits,
  };
}

const execution = (state: QueryExecutionState, bytes = 0, reason?: string): GetQueryExecutionCommandOutput => ({
  $metadata: {},
  QueryExecution: {
    Status: { State: state, ...(reason ? { StateChangeReason: reason } : {}) },
    Statistics: { DataScannedInBytes: bytes, EngineExecutionTimeInMillis: 1_000 },
  },
});

function page(columns: readonly string[], rows: (string | null)[][], header: boolean, next?: string) {
  const output: GetQueryResultsCommandOutput = {
    $metadata: {},
    ResultSet: {
      ResultSetMetadata: { ColumnInfo: columns.map((Name) => ({ Name, Type: 'varchar' })) },
      Rows: [...(header ? [columns] : []), ...rows].map((r) => ({
        Data: r.map((v) => (v === null ? {} : { VarCharValue: v })),
      })),
    },
    ...(next ? { NextToken: next } : {}),
  };
  return output;
}

const HIT_COLUMNS = ['data_table', 'data_dt', 'data_hour'] as const;
const LOG_COLUMNS = [...TABLES.logs.map((c) => c.name), 'dt', 'hour'];

/** A log row as Athena returns it: every value a string, NULL as a missing VarCharValue. */
function logRow(time: string, body: string): (string | null)[] {
  const values: Record<string, string | null> = {
    trace_id: TRACE,
    time,
    time_unix_nano: `${Date.parse(`${time.replace(' ', 'T')}Z`)}000000`,
    observed_time_unix_nano: '1764064801600000000',
    span_id: null,
    request_id: null,
    severity_number: '17',
    severity_text: 'ERROR',
    body,
    service_name: 'checkout',
    resource_attributes: '{}',
    attributes: '{}',
    source_format: 'json-lines',
    shard_id: 'shardId-000000000000',
    sequence_number: '49590338271490256608559692538361571095921575989136588898',
    sub_sequence_number: '0',
    record_ordinal: '0',
    arrival_time: '2025-11-25 10:00:02.000',
    ingest_flags: null,
    dt: '2025-11-25',
    hour: '10',
  };
  return LOG_COLUMNS.map((c) => values[c] ?? null);
}

/** Routes each statement by its text: the index step, the logs step or the spans step. */
function stepOf(sql: string | undefined): 'index' | 'logs' | 'spans' {
  if (sql?.includes('"trace_index_compacted"')) return 'index';
  return sql?.includes('"skein"."logs"') ? 'logs' : 'spans';
}

beforeEach(() => {
  athena.reset();
});
afterEach(() => {
  athena.reset();
});

describe('Athena lookup', () => {
  it('finds the partitions in the index, reads the logs there across result pages and maps the rows', async () => {
    // Prepare
    athena.on(StartQueryExecutionCommand).callsFake((input) => ({ QueryExecutionId: stepOf(input.QueryString) }));
    athena
      .on(GetQueryExecutionCommand, { QueryExecutionId: 'index' })
      .resolvesOnce(execution('QUEUED'))
      .resolvesOnce(execution('RUNNING', 1_024))
      .resolves(execution('SUCCEEDED', 2_048));
    athena.on(GetQueryExecutionCommand, { QueryExecutionId: 'logs' }).resolves(execution('SUCCEEDED', 5 * 1024 ** 2));
    athena
      .on(GetQueryResultsCommand, { QueryExecutionId: 'index' })
      .resolves(page(HIT_COLUMNS, [['logs', '2025-11-25', '10']], true));
    athena
      .on(GetQueryResultsCommand, { QueryExecutionId: 'logs' })
      .callsFake((input) =>
        input.NextToken === 'p2'
          ? page(LOG_COLUMNS, [logRow('2025-11-25 10:00:01.000', 'first')], false)
          : page(LOG_COLUMNS, [logRow('2025-11-25 10:00:02.500', 'second')], true, 'p2'),
      );
    const time = fakeTime();
    const progress: AthenaProgress[] = [];

    // Act
    const result = await runAthenaLookup(client, REQUEST, {
      ...time,
      onProgress: (p) => progress.push(p),
    });

    // Assess
    expect(result.partitions).toEqual([{ table: 'logs', dt: '2025-11-25', hour: '10' }]);
    expect(result.rows.map((r) => (r.table === 'logs' ? r.row.body : r.row.name))).toEqual(['first', 'second']);
    const [first] = result.rows;
    expect(first?.table === 'logs' && first.row).toMatchObject({
      time: Date.parse('2025-11-25T10:00:01Z'),
      time_unix_nano: 1_764_064_801_000_000_000n,
      severity_number: 17,
      span_id: null,
      arrival_time: Date.parse('2025-11-25T10:00:02Z'),
    });
    expect(result.stats).toMatchObject({ queries: 2, bytesScanned: 2_048 + 5 * 1024 ** 2, engineMs: 2_000 });
    // No spans partition was hit: the spans view is not queried at all.
    const statements = athena.commandCalls(StartQueryExecutionCommand).map((c) => c.args[0].input);
    expect(statements.map((s) => stepOf(s.QueryString))).toEqual(['index', 'logs']);
    expect(statements[1]).toMatchObject({
      WorkGroup: 'skein',
      QueryExecutionContext: { Database: 'skein', Catalog: 'awsdatacatalog' },
    });
    expect(statements[1]?.QueryString).toContain(`("d"."dt" = '2025-11-25' AND "d"."hour" = '10')`);
    expect(progress.filter((p) => p.step === 'index').map((p) => [p.state, p.bytesScanned])).toEqual([
      ['QUEUED', 0],
      ['RUNNING', 1_024],
      ['SUCCEEDED', 2_048],
    ]);
    // Polling backs off between polls.
    expect(time.waits).toEqual([250, 375]);
  });

  it('drops a record a producer sent twice, in two hit partitions, and counts the copy', async () => {
    // Prepare: the same line arrived at 10:59:59 and, retried, at 11:00:01 (another hour, another sequence number)
    const copy = (row: (string | null)[], sequence: string, hour: string) =>
      row.map((v, i) => (LOG_COLUMNS[i] === 'sequence_number' ? sequence : LOG_COLUMNS[i] === 'hour' ? hour : v));
    const line = logRow('2025-11-25 10:59:58.000', 'paid');
    athena.on(StartQueryExecutionCommand).callsFake((input) => ({ QueryExecutionId: stepOf(input.QueryString) }));
    athena.on(GetQueryExecutionCommand).resolves(execution('SUCCEEDED', 1_024));
    athena.on(GetQueryResultsCommand, { QueryExecutionId: 'index' }).resolves(
      page(
        HIT_COLUMNS,
        [
          ['logs', '2025-11-25', '10'],
          ['logs', '2025-11-25', '11'],
        ],
        true,
      ),
    );
    athena
      .on(GetQueryResultsCommand, { QueryExecutionId: 'logs' })
      .resolves(page(LOG_COLUMNS, [copy(line, '2000', '11'), copy(line, '1000', '10')], true));

    // Act
    const result = await runAthenaLookup(client, REQUEST, fakeTime());

    // Assess
    expect(result.rows.map((r) => r.row.sequence_number)).toEqual(['1000']);
    expect(result.stats.retriedCopiesDropped).toBe(1);
  });

  it('reads no data when the index has no hit', async () => {
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'index' });
    athena.on(GetQueryExecutionCommand).resolves(execution('SUCCEEDED', 100));
    athena.on(GetQueryResultsCommand).resolves(page(HIT_COLUMNS, [], true));

    const result = await runAthenaLookup(client, REQUEST, fakeTime());

    expect(result.rows).toEqual([]);
    expect(athena.commandCalls(StartQueryExecutionCommand)).toHaveLength(1);
  });

  it('retries throttled calls with backoff', async () => {
    athena
      .on(StartQueryExecutionCommand)
      .rejectsOnce(new TooManyRequestsException({ message: 'Rate exceeded', $metadata: {} }))
      .rejectsOnce(new TooManyRequestsException({ message: 'Rate exceeded', $metadata: {} }))
      .resolves({ QueryExecutionId: 'index' });
    athena.on(GetQueryExecutionCommand).resolves(execution('SUCCEEDED'));
    athena.on(GetQueryResultsCommand).resolves(page(HIT_COLUMNS, [], true));
    const time = fakeTime();

    await runAthenaLookup(client, REQUEST, time);

    expect(athena.commandCalls(StartQueryExecutionCommand)).toHaveLength(3);
    expect(time.waits).toEqual([500, 1_000]);
  });

  it('gives up on throttling after a bounded number of attempts', async () => {
    athena
      .on(StartQueryExecutionCommand)
      .rejects(new TooManyRequestsException({ message: 'slow down', $metadata: {} }));

    await expect(runAthenaLookup(client, REQUEST, fakeTime())).rejects.toMatchObject({
      code: ATHENA_ERRORS.throttled,
    });
    expect(athena.commandCalls(StartQueryExecutionCommand)).toHaveLength(6);
  });

  it.each([
    [
      'the bytes-scanned limit',
      execution('CANCELLED', 10 * 1024 ** 3, 'Query cancelled! : Bytes scanned limit was exceeded'),
      ATHENA_ERRORS.scanLimit,
      /bytes-scanned limit \(10\.0 GB scanned\): narrow it with --since\/--until/,
    ],
    [
      'a missing table',
      execution(
        'FAILED',
        0,
        "TABLE_NOT_FOUND: line 3:6: Table 'awsdatacatalog.skein.trace_index_compacted' does not exist",
      ),
      ATHENA_ERRORS.notFound,
      /is the Skein stack deployed/,
    ],
    [
      'a missing database',
      execution('FAILED', 0, "SCHEMA_NOT_FOUND: line 3:6: Schema 'skein' does not exist"),
      ATHENA_ERRORS.notFound,
      /database skein/,
    ],
    [
      'an S3 permission',
      execution('FAILED', 0, 'Permission denied on S3 path: s3://skein-data/tables/trace_index'),
      ATHENA_ERRORS.accessDenied,
      /s3:GetObject/,
    ],
    [
      'any other failure, with its reason',
      execution('FAILED', 0, 'HIVE_BAD_DATA: Field time type INT64 in parquet is incompatible'),
      ATHENA_ERRORS.failed,
      /Athena query FAILED: HIVE_BAD_DATA: Field time/,
    ],
  ])('explains a lookup stopped by %s', async (_what, state, code, message) => {
    // Prepare
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'index' });
    athena.on(GetQueryExecutionCommand).resolves(state);

    // Act
    const failure = runAthenaLookup(client, REQUEST, fakeTime());

    // Assess
    await expect(failure).rejects.toBeInstanceOf(SkeinError);
    await expect(failure).rejects.toMatchObject({ code, message: expect.stringMatching(message) });
  });

  it('explains an API call the caller may not make', async () => {
    athena
      .on(StartQueryExecutionCommand)
      // Athena models no AccessDeniedException class: the SDK raises a service exception with that name.
      .rejects(
        Object.assign(new Error('User is not authorized to perform: athena:StartQueryExecution'), {
          name: 'AccessDeniedException',
        }),
      );

    await expect(runAthenaLookup(client, REQUEST, fakeTime())).rejects.toMatchObject({
      code: ATHENA_ERRORS.accessDenied,
      message: expect.stringMatching(/athena:StartQueryExecution.*workgroup skein/),
    });
  });
});

describe('athenaLookupCommand', () => {
  function sinks(tty: boolean) {
    const out = { text: '', write: (s: string) => (out.text += s) };
    const err = { text: '', isTTY: tty, write: (s: string) => (err.text += s) };
    return { io: { stdout: out, stderr: err, env: {} }, out, err };
  }

  function oneLogLookup() {
    athena.on(StartQueryExecutionCommand).callsFake((input) => ({ QueryExecutionId: stepOf(input.QueryString) }));
    athena
      .on(GetQueryExecutionCommand, { QueryExecutionId: 'index' })
      .resolvesOnce(execution('RUNNING', 512))
      .resolves(execution('SUCCEEDED', 1_024));
    athena.on(GetQueryExecutionCommand, { QueryExecutionId: 'logs' }).resolves(execution('SUCCEEDED', 3 * 1024 ** 2));
    athena
      .on(GetQueryResultsCommand, { QueryExecutionId: 'index' })
      .resolves(page(HIT_COLUMNS, [['logs', '2025-11-25', '10']], true));
    athena
      .on(GetQueryResultsCommand, { QueryExecutionId: 'logs' })
      .resolves(page(LOG_COLUMNS, [logRow('2025-11-25 10:00:01.000', 'payment declined')], true));
  }

  it('prints ndjson rows on stdout, one progress line per state and the totals on stderr', async () => {
    // Prepare
    oneLogLookup();
    const { io, out, err } = sinks(false);

    // Act
    const code = await athenaLookupCommand({ ...REQUEST, format: 'json' }, io, {
      ...fakeTime(),
      client: client,
    });

    // Assess
    expect(code).toBe(0);
    const rows = out.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rows).toEqual([
      expect.objectContaining({ table: 'logs', body: 'payment declined', time: '2025-11-25T10:00:01.000Z' }),
    ]);
    const lines = err.text.trim().split('\n');
    expect(lines[0]).toMatch(/^athena index: RUNNING \d+\.\d s, 512 B scanned$/);
    expect(lines).toContainEqual(expect.stringMatching(/^athena index: SUCCEEDED .*1\.00 KB scanned$/));
    expect(lines).toContainEqual(expect.stringMatching(/^athena logs: SUCCEEDED .*3\.00 MB scanned$/));
    expect(lines.at(-1)).toMatch(/^athena: 2 queries, 3\.00 MB scanned, \d+\.\d s \(engine 2\.0 s\)$/);
  });

  it('updates one progress line in place on a terminal and prints the timeline', async () => {
    oneLogLookup();
    const { io, out, err } = sinks(true);

    await athenaLookupCommand({ ...REQUEST, format: 'timeline' }, io, {
      ...fakeTime(),
      client: client,
    });

    expect(err.text).toContain('\r\x1b[Kathena index: RUNNING');
    expect(err.text.split('\n')).toHaveLength(2);
    expect(out.text).toContain('payment declined');
  });

  it('says so when nothing matches', async () => {
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'index' });
    athena.on(GetQueryExecutionCommand).resolves(execution('SUCCEEDED'));
    athena.on(GetQueryResultsCommand).resolves(page(HIT_COLUMNS, [], true));
    const { io, out } = sinks(false);

    await athenaLookupCommand({ ...REQUEST, format: 'timeline' }, io, {
      ...fakeTime(),
      client: client,
    });

    expect(out.text).toBe(`no records for trace ${TRACE}\n`);
  });
});
