import {
  AthenaClient,
  BatchGetNamedQueryCommand,
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  type GetQueryResultsCommandOutput,
  ListNamedQueriesCommand,
  StartQueryExecutionCommand,
} from '@aws-sdk/client-athena';
import { KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { recentLookupBytes } from '../../cli/cost-model.ts';
import { type AwsSmokePorts, SDK_PACKAGES, sdkPorts } from '../../cli/smoke/aws-ports.ts';
import { STACK_OUTPUTS } from '../../cli/smoke/aws-target.ts';
import { SMOKE_COST_DEFAULTS, smokeCommand } from '../../cli/smoke-command.ts';
import { heartbeatKey } from '../../functions/core/heartbeat.ts';
import { createRedactor } from '../../functions/core/redact.ts';
import { decodeRecord } from '../../functions/ingest/decode-record.ts';
import { newSink } from '../../functions/ingest/decoded.ts';
import { namedLookupQueries } from '../../query/named-queries.ts';
import { TABLES } from '../../schemas/columns.ts';
import { captureIo } from '../builders/cli-io.ts';
import { aRecordContext } from '../builders/decode.ts';

// The SDK clients are mocked at `send` (aws-sdk-client-mock): these real clients never reach the network.
const kinesisMock = mockClient(KinesisClient);
const s3Mock = mockClient(S3Client);
const athenaMock = mockClient(AthenaClient);
const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
const clients = () => ({
  kinesis: new KinesisClient({ region: 'eu-west-1', credentials }),
  s3: new S3Client({ region: 'eu-west-1', credentials }),
  athena: new AthenaClient({ region: 'eu-west-1', credentials }),
});

const OUTPUTS = {
  [STACK_OUTPUTS.stream]: 'skein-stream-abc',
  [STACK_OUTPUTS.bucket]: 'skein-data-abc',
  [STACK_OUTPUTS.workgroup]: 'skein',
  [STACK_OUTPUTS.database]: 'skein',
  [STACK_OUTPUTS.failedBatchQueue]: 'https://sqs.eu-west-1.amazonaws.com/123456789012/skein-failed',
  NotifierSecret0: 'skein/slack-webhook',
};
const SLACK_SECRET_URL = 'https://hooks.slack.com/services/T000AAA/B000BBB/XyZsecretToken123';

/** The world the mocks answer from: a bucket, the rows the stream has "ingested", Athena's behaviour. */
interface FakeAws {
  readonly objects: Map<string, Uint8Array>;
  /** Attributes of every row decoded from what was put to the stream. */
  readonly rows: { attributes: string; traceId: string | null; requestId: string | null }[];
  bytesPerQuery: number;
  /** The bucket ignores If-None-Match (both creates win). */
  ignoresConditions: boolean;
  /** Named queries the workgroup has. */
  namedQueries: { Name: string; QueryString: string }[];
  /** What the "notifier" writes for each outbox entry: endpoint → status and error. */
  notifier: { endpoint: string; status: string; lastError?: string }[];
  now: number;
}

function fakeAws(): FakeAws {
  const world: FakeAws = {
    objects: new Map(),
    rows: [],
    bytesPerQuery: 12 * 1024 * 1024,
    ignoresConditions: false,
    namedQueries: namedLookupQueries('skein').map((q) => ({ Name: q.name, QueryString: q.sql })),
    notifier: [],
    now: Date.parse('2026-12-03T08:30:00Z'),
  };
  const text = (s: string) => new TextEncoder().encode(s);
  const error = (name: string, status: number) =>
    Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });

  kinesisMock.on(PutRecordsCommand).callsFake((input: { Records?: { Data?: Uint8Array }[] }) => {
    for (const record of input.Records ?? []) {
      const sink = newSink();
      decodeRecord(record.Data ?? new Uint8Array(), aRecordContext(), sink, {
        maxRecordBytes: 1024 * 1024,
        redactor: createRedactor(),
      });
      for (const row of [...sink.logs, ...sink.spans])
        world.rows.push({ attributes: row.attributes, traceId: row.trace_id, requestId: row.request_id });
    }
    return {
      FailedRecordCount: 0,
      Records: (input.Records ?? []).map((_, i) => ({ SequenceNumber: `${i}`, ShardId: 's' })),
    };
  });

  s3Mock.on(PutObjectCommand).callsFake((input: { Key: string; Body: Uint8Array; IfNoneMatch?: string }) => {
    if (input.IfNoneMatch === '*' && !world.ignoresConditions && world.objects.has(input.Key))
      throw error('PreconditionFailed', 412);
    world.objects.set(input.Key, input.Body);
    // The notifier: each outbox entry gets its delivery records and, when all are final, its _done marker.
    const outbox = /^alerts\/outbox\/(.+)\.json$/.exec(input.Key);
    if (outbox?.[1]) {
      const stem = outbox[1];
      for (const d of world.notifier)
        world.objects.set(
          `alerts/notify/${stem}/${d.endpoint}.json`,
          text(
            JSON.stringify({
              version: 1,
              outbox_key: input.Key,
              endpoint: d.endpoint,
              status: d.status,
              attempts: 1,
              ...(d.lastError ? { last_error: d.lastError } : {}),
            }),
          ),
        );
      if (world.notifier.length > 0) world.objects.set(`alerts/notify/${stem}/_done.json`, text('{}'));
    }
    return { ETag: '"etag"' };
  });
  s3Mock.on(GetObjectCommand).callsFake((input: { Key: string }) => {
    const body = world.objects.get(input.Key);
    if (body === undefined) throw error('NoSuchKey', 404);
    return { Body: { transformToByteArray: async () => body }, ETag: '"etag"' };
  });
  s3Mock.on(DeleteObjectCommand).callsFake((input: { Key: string }) => {
    world.objects.delete(input.Key);
    return {};
  });
  s3Mock.on(ListObjectsV2Command).callsFake((input: { Prefix?: string }) => ({
    Contents: [...world.objects.keys()].filter((k) => k.startsWith(input.Prefix ?? '')).map((Key) => ({ Key })),
  }));

  // Athena: every statement succeeds at once; results by what the statement is.
  const statements = new Map<string, { sql: string; parameters: string[] }>();
  athenaMock
    .on(StartQueryExecutionCommand)
    .callsFake((input: { QueryString: string; ExecutionParameters?: string[] }) => {
      const id = `q${statements.size + 1}`;
      statements.set(id, { sql: input.QueryString, parameters: input.ExecutionParameters ?? [] });
      return { QueryExecutionId: id };
    });
  athenaMock.on(GetQueryExecutionCommand).callsFake(() => ({
    QueryExecution: {
      Status: { State: 'SUCCEEDED' },
      Statistics: { DataScannedInBytes: world.bytesPerQuery, EngineExecutionTimeInMillis: 900 },
    },
  }));
  athenaMock.on(GetQueryResultsCommand).callsFake((input: { QueryExecutionId: string }) => {
    const statement = statements.get(input.QueryExecutionId);
    const sql = statement?.sql ?? '';
    const traceOf = (values: readonly string[]) => values.find((v) => /^'[0-9a-f]{32}'$/.test(v))?.slice(1, -1);
    if (statement && statement.parameters.length > 0) {
      // A named query: the timeline's columns; the id is the first parameter.
      const id = statement.parameters[0]?.slice(1, -1);
      const rows = world.rows.filter((r) => r.traceId === id || r.requestId === id);
      return page(
        ['record_type', 'attributes'],
        rows.map((r) => ['log', r.attributes]),
      );
    }
    if (sql.includes('"trace_index'))
      return page(['data_table', 'data_dt', 'data_hour'], world.rows.length ? [['logs', '2026-12-03', '08']] : []);
    if (sql.includes('"skein"."logs"')) {
      const id = traceOf(sql.match(/'[0-9a-f]{32}'/g) ?? []);
      return page(
        LOG_COLUMNS,
        world.rows.filter((r) => r.traceId === id).map((r) => logRow(r)),
      );
    }
    return page(LOG_COLUMNS, []);
  });
  athenaMock.on(ListNamedQueriesCommand).callsFake(() => ({ NamedQueryIds: world.namedQueries.map((q) => q.Name) }));
  athenaMock.on(BatchGetNamedQueryCommand).callsFake((input: { NamedQueryIds: string[] }) => ({
    NamedQueries: world.namedQueries.filter((q) => input.NamedQueryIds.includes(q.Name)),
  }));
  return world;
}

const LOG_COLUMNS = [...TABLES.logs.map((c) => c.name), 'dt', 'hour'];

function logRow(r: { attributes: string; traceId: string | null }): (string | null)[] {
  const values: Record<string, string | null> = {
    trace_id: r.traceId,
    time: '2026-12-03 08:30:00.000',
    time_unix_nano: '1796286600000000000',
    observed_time_unix_nano: '1796286600000000000',
    severity_number: '9',
    severity_text: 'INFO',
    body: 'skein smoke probe',
    service_name: 'skein-smoke',
    resource_attributes: '{}',
    attributes: r.attributes,
    source_format: 'json-lines',
    shard_id: 'shardId-000000000000',
    sequence_number: '1',
    sub_sequence_number: '0',
    record_ordinal: '0',
    arrival_time: '2026-12-03 08:30:01.000',
    dt: '2026-12-03',
    hour: '08',
  };
  return LOG_COLUMNS.map((c) => values[c] ?? null);
}

function page(columns: readonly string[], rows: (string | null)[][]): GetQueryResultsCommandOutput {
  return {
    $metadata: {},
    ResultSet: {
      ResultSetMetadata: { ColumnInfo: columns.map((Name) => ({ Name, Type: 'varchar' })) },
      Rows: [columns, ...rows].map((r) => ({ Data: r.map((v) => (v === null ? {} : { VarCharValue: v })) })),
    },
  };
}

function fakePorts(overrides: Partial<AwsSmokePorts> = {}): AwsSmokePorts & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    stackOutputs: async (name) => {
      asked.push(`outputs ${name}`);
      return { ...OUTPUTS };
    },
    iteratorAgeMs: async (stream) => {
      asked.push(`iterator age ${stream}`);
      return 1_200;
    },
    queueDepth: async (url) => {
      asked.push(`queue depth ${url}`);
      return 0;
    },
    close: () => {},
    ...overrides,
  };
}

function markers(world: FakeAws, agoMs: number) {
  for (const fn of ['compact', 'evaluate'] as const)
    world.objects.set(
      heartbeatKey(fn),
      new TextEncoder().encode(
        JSON.stringify({ version: 1, function: fn, at: new Date(world.now - agoMs).toISOString() }),
      ),
    );
}

async function smoke(world: FakeAws, ports: AwsSmokePorts, extra: string[] = []) {
  const io = captureIo();
  let t = world.now;
  const code = await smokeCommand(['--stack', 'Skein', '--region', 'eu-west-1', ...extra], io, {
    ports,
    clients: clients(),
    now: () => (t += 10),
    sleep: async () => {},
  });
  const line = (name: string) =>
    io
      .out()
      .split('\n')
      .find((l) => l.includes(`  ${name} (`)) ?? '';
  return { code, out: io.out(), err: io.err(), line };
}

beforeEach(() => {
  kinesisMock.reset();
  s3Mock.reset();
  athenaMock.reset();
});
afterEach(() => {
  kinesisMock.reset();
  s3Mock.reset();
  athenaMock.reset();
});

describe('skein smoke --stack (AWS, SDK mocked at the client boundary)', () => {
  it('reads the stack outputs and passes every check on a healthy stack', async () => {
    // Prepare
    const world = fakeAws();
    markers(world, 30_000);
    const ports = fakePorts();

    // Act
    const { code, out, line } = await smoke(world, ports);

    // Assess
    expect(out.split('\n').filter((l) => /^ {2}(FAIL|SKIP)/.test(l))).toEqual([]);
    expect(code).toBe(0);
    expect(ports.asked).toEqual([
      'outputs Skein',
      'iterator age skein-stream-abc',
      `queue depth ${OUTPUTS.FailedBatchQueueUrl}`,
    ]);
    expect(out.split('\n')[0]).toBe(
      'skein smoke: stack Skein (eu-west-1): stream skein-stream-abc, bucket skein-data-abc, workgroup skein',
    );
    expect(line('PASS  probes reach S3 as rows')).toContain('4 of 4 (json-lines, otlp-json, otlp-proto-gzip, kpl)');
    expect(line('PASS  trace query, no time range')).toContain('4 rows, 12.0 MiB scanned');
    expect(line('PASS  views return each probe row exactly once')).toContain('4 probe rows, once each, in 4 lookups');
    expect(line('PASS  conditional writes hold on the bucket')).toContain('exactly one won');
    expect(line('PASS  evaluator ran recently')).toContain('last finished');
    expect(line('PASS  ingest iterator age is low')).toContain('1.2 s (CloudWatch GetRecords.IteratorAgeMilliseconds');
    expect(line('PASS  failed-batch queue is empty')).toContain('0 (messages in the failed-batch queue)');
    // The probes went to the stream of the outputs; the named queries ran with their parameters bound.
    expect(kinesisMock.commandCalls(PutRecordsCommand)[0]?.args[0].input.StreamName).toBe('skein-stream-abc');
    const named = athenaMock
      .commandCalls(StartQueryExecutionCommand)
      .filter((c) => (c.args[0].input.ExecutionParameters ?? []).length > 0);
    expect(named).toHaveLength(4);
    // The scratch key of the conditional-write check is gone.
    expect([...world.objects.keys()].filter((k) => k.startsWith('status/smoke/'))).toEqual([]);
  });

  it('names the missing output when the stack is from an older version', async () => {
    const world = fakeAws();
    const ports = fakePorts({ stackOutputs: async () => ({ StreamName: 's' }) });

    const { code, err } = await smoke(world, ports);

    expect(code).toBe(1);
    expect(err.trim()).toBe(
      'skein: stack Skein has no output BucketName: deploy this version of Skein (npx cdk deploy) and run again',
    );
  });

  it('fails the lookups when the bytes scanned pass what docs/cost.md predicts', async () => {
    const world = fakeAws();
    markers(world, 30_000);
    world.bytesPerQuery = recentLookupBytes(SMOKE_COST_DEFAULTS) + 1;

    const { code, line } = await smoke(world, fakePorts());

    expect(code).toBe(1);
    expect(line('FAIL  trace query, time range')).toMatch(
      /found all 4 probes but .* scanned \(bound 1\.03 GiB: docs\/cost\.md, a lookup of the last hour at 1000 records\/s of 440 B, 30 d\) — partition projection is not pruning/,
    );
  });

  it('fails the lookups with a clear reason when the workgroup lacks the named queries', async () => {
    const world = fakeAws();
    markers(world, 30_000);
    world.namedQueries = [];

    const { code, line } = await smoke(world, fakePorts());

    expect(code).toBe(1);
    expect(line('FAIL  request query, time range')).toContain(
      'the workgroup skein has no named query skein-request-by-id-in-range: redeploy the stack (npx cdk deploy)',
    );
  });

  it('fails the conditional-write check when both creates win, and still removes the scratch key', async () => {
    const world = fakeAws();
    markers(world, 30_000);
    world.ignoresConditions = true;

    const { code, line } = await smoke(world, fakePorts());

    expect(code).toBe(1);
    expect(line('FAIL  conditional writes hold on the bucket')).toContain(
      'two concurrent If-None-Match creates: 2 won (exactly 1 must) — the bucket does not enforce conditional writes',
    );
    expect([...world.objects.keys()].filter((k) => k.startsWith('status/smoke/'))).toEqual([]);
  });

  it('fails the schedule checks when a marker is missing or stale, and ingest checks on lag and failed batches', async () => {
    const world = fakeAws();
    markers(world, 20 * 60_000);
    world.objects.delete(heartbeatKey('evaluate'));
    const ports = fakePorts({
      stackOutputs: async () => ({ ...OUTPUTS, CompactFunctionName: 'Skein-CompactFn-123' }),
      iteratorAgeMs: async () => 900_000,
      queueDepth: async () => 3,
    });

    const { code, line } = await smoke(world, ports);

    expect(code).toBe(1);
    expect(line('FAIL  compactor ran recently')).toContain(
      'last finished 20 min ago (more than 15 min) — look at the compactor’s log group (/aws/lambda/Skein-CompactFn-123)',
    );
    expect(line('FAIL  evaluator ran recently')).toContain(
      'no last-run marker (status/evaluate/last-run.json): the evaluator has not finished a run',
    );
    expect(line('FAIL  ingest iterator age is low')).toContain('15 min behind (more than 60 s');
    expect(line('FAIL  failed-batch queue is empty')).toContain(
      '3 failed batches (messages in the failed-batch queue) — records were given up on',
    );
  });

  it('reports each receiver’s answer to --notify, cleans up, and never prints a secret', async () => {
    // Prepare: the notifier delivers to PagerDuty and dead-letters Slack with an error that (wrongly) holds its URL.
    const world = fakeAws();
    markers(world, 30_000);
    world.notifier = [
      { endpoint: 'oncall.pagerduty', status: 'delivered' },
      { endpoint: 'team-slack.slack', status: 'dead', lastError: `POST ${SLACK_SECRET_URL} answered 403` },
    ];

    // Act
    const { code, out, err, line } = await smoke(world, fakePorts(), ['--notify']);

    // Assess
    expect(code).toBe(1);
    expect(line('PASS  notify: oncall.pagerduty')).toContain('firing delivered, resolve delivered');
    expect(line('FAIL  notify: team-slack.slack')).toContain(
      'firing dead after 1 attempt: POST https://hooks.slack.com/services/[REDACTED] answered 403',
    );
    expect(out + err).not.toContain('XyZsecretToken123');
    expect(out + err).not.toContain(OUTPUTS.NotifierSecret0);
    // Finished outbox entries, their records and the alert's state are removed.
    expect([...world.objects.keys()].filter((k) => k.startsWith('alerts/'))).toEqual([]);
  });
});

describe('the bytes-scanned bound of skein smoke', () => {
  it('is the cost model’s lookup of the last hour: for the worked example of docs/cost.md, about 1.11 GB', () => {
    // index (D24): 30 days × 1 MiB + 60 merged objects × 16 KiB + 120 s × 1 batch/s × 10 KiB not merged yet;
    // data: 2 tables × 1,000 records/s × 3,600 s × 440 B × 0.34
    expect(recentLookupBytes(SMOKE_COST_DEFAULTS)).toBe(
      30 * 1024 * 1024 + 60 * 16 * 1024 + 120 * 10 * 1024 + 2 * 538_560_000,
    );
  });

  it('never goes below the 10 MB Athena bills per query, three queries a lookup', () => {
    expect(recentLookupBytes({ ...SMOKE_COST_DEFAULTS, ratePerSecond: 0.01, retentionDays: 1 })).toBe(30_000_000);
  });
});

describe('the AWS ports over the SDK', () => {
  it('reads the outputs of DescribeStacks', async () => {
    // Prepare: a stand-in for @aws-sdk/client-cloudformation with the same shape.
    const sent: unknown[] = [];
    class CloudFormationClient {
      async send(command: { input: unknown }) {
        sent.push(command.input);
        return {
          Stacks: [{ Outputs: [{ OutputKey: 'StreamName', OutputValue: 'skein-stream' }, { OutputKey: 'X' }] }],
        };
      }
      destroy() {}
    }
    class DescribeStacksCommand {
      constructor(readonly input: unknown) {}
    }
    const ports = sdkPorts('eu-west-1', async (name) => {
      if (name === SDK_PACKAGES.cloudformation) return { CloudFormationClient, DescribeStacksCommand };
      throw new Error('not installed');
    });

    // Act
    const outputs = await ports.stackOutputs('Skein');

    // Assess
    expect(outputs).toEqual({ StreamName: 'skein-stream' });
    expect(sent).toEqual([{ StackName: 'Skein' }]);
  });

  it('says which package to install when an SDK client is missing', async () => {
    const ports = sdkPorts('eu-west-1', async () => {
      throw new Error('Cannot find package');
    });

    await expect(ports.queueDepth('https://sqs/q')).rejects.toThrow(
      '@aws-sdk/client-sqs is not installed: npm install @aws-sdk/client-sqs (skein smoke --stack needs it)',
    );
  });

  it('takes the latest iterator-age data point, and sums visible and in-flight queue messages', async () => {
    class CloudWatchClient {
      async send() {
        return {
          Datapoints: [
            { Timestamp: new Date('2026-12-03T08:01:00Z'), Maximum: 9_000 },
            { Timestamp: new Date('2026-12-03T08:02:00Z'), Maximum: 300 },
          ],
        };
      }
      destroy() {}
    }
    class SQSClient {
      async send() {
        return { Attributes: { ApproximateNumberOfMessages: '2', ApproximateNumberOfMessagesNotVisible: '1' } };
      }
      destroy() {}
    }
    class Command {
      constructor(readonly input: unknown) {}
    }
    const ports = sdkPorts(undefined, async (name) =>
      name === SDK_PACKAGES.cloudwatch
        ? { CloudWatchClient, GetMetricStatisticsCommand: Command }
        : { SQSClient, GetQueueAttributesCommand: Command },
    );

    expect(await ports.iteratorAgeMs('s', 0, 1)).toBe(300);
    expect(await ports.queueDepth('q')).toBe(3);
  });
});
