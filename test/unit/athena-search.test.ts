import {
  AthenaClient,
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  StartQueryExecutionCommand,
} from '@aws-sdk/client-athena';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { athenaSearchCommand } from '../../query/search/athena-search.ts';
import { SEARCH_RESULT_COLUMNS } from '../../query/search/search-queries.ts';
import { parseSearch } from '../../query/search/traceql.ts';
import { captureIo } from '../builders/cli-io.ts';

const athena = mockClient(AthenaClient);
const client = new AthenaClient({ region: 'eu-west-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
const NOW = Date.parse('2025-11-25T10:30:00Z');

function query(filter: string) {
  const parsed = parseSearch(filter);
  if (!parsed.ok) throw new Error(parsed.error.message);
  return parsed.query;
}

describe('skein query search --athena', () => {
  afterEach(() => athena.reset());

  it('runs one statement over the trace index for an index-only filter and prints the traces as JSON', async () => {
    // Prepare
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q-1' });
    athena.on(GetQueryExecutionCommand).resolves({
      QueryExecution: {
        Status: { State: 'SUCCEEDED' },
        Statistics: { DataScannedInBytes: 52_000, EngineExecutionTimeInMillis: 900 },
      },
    });
    const row = [
      '4bf92f3577b34da6a3ce929d0e0e4736',
      '2025-11-25 10:20:00.500',
      '1234',
      'web',
      'GET /',
      'orders,web',
      '5',
      '2',
      '1',
    ];
    athena.on(GetQueryResultsCommand).resolves({
      ResultSet: {
        ResultSetMetadata: { ColumnInfo: SEARCH_RESULT_COLUMNS.map((Name) => ({ Name, Type: 'varchar' })) },
        Rows: [[...SEARCH_RESULT_COLUMNS], row].map((r) => ({ Data: r.map((v) => ({ VarCharValue: v })) })),
      },
    });
    const io = captureIo();

    // Act
    const code = await athenaSearchCommand(
      {
        query: query('{ resource.service.name = "orders" && status = error }'),
        filter: '',
        range: { since: NOW - 3_600_000, until: NOW },
        limit: 20,
        workgroup: 'skein',
        database: 'skein',
        json: true,
      },
      io,
      { client, sleep: async () => {} },
    );

    // Assess
    expect(code).toBe(0);
    const sql = athena.commandCalls(StartQueryExecutionCommand)[0]?.args[0].input.QueryString ?? '';
    expect(sql).toContain('"error_services"');
    expect(sql).not.toContain('"skein"."spans"');
    expect(JSON.parse(io.out())).toEqual({
      trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
      start: '2025-11-25T10:20:00.500Z',
      duration_ms: 1234,
      root_service: 'web',
      root_name: 'GET /',
      services: ['orders', 'web'],
      spans: 5,
      logs: 2,
      errors: 1,
      matched_spans: null,
    });
    expect(io.err()).toContain('trace index only');
    expect(io.err()).toContain('50.8 KB scanned');
  });
});
