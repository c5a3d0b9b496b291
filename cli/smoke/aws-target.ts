import {
  AthenaClient,
  BatchGetNamedQueryCommand,
  ListNamedQueriesCommand,
  type NamedQuery,
} from '@aws-sdk/client-athena';
import { type KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import type { S3Client } from '@aws-sdk/client-s3';
import { kinesisClient, s3Client } from '../../functions/core/aws-clients.ts';
import { s3ObjectStore } from '../../functions/core/object-store.ts';
import { runAthenaLookup, runStatement } from '../../query/athena-query.ts';
import { namedLookupQuery, sqlStringLiteral } from '../../query/named-queries.ts';
import { describeError, SkeinError } from '../../schemas/errors.ts';
import type { AwsSmokePorts } from './aws-ports.ts';
import type { IngestHealth, LookupRequest, SmokeTarget } from './target.ts';

/** The stack outputs `skein smoke` reads (lib/skein-stack.ts). */
export const STACK_OUTPUTS = {
  stream: 'StreamName',
  bucket: 'BucketName',
  workgroup: 'WorkGroupName',
  database: 'DatabaseName',
  failedBatchQueue: 'FailedBatchQueueUrl',
} as const;

/**
 * The compactor and the evaluator run every minute (lib/compaction.ts, lib/alerting.ts); a compactor run that
 * compacts hours may take up to its 15-minute timeout, one that evaluates up to a few minutes. A marker older than
 * that means runs are failing or not scheduled.
 */
export const AWS_MARKER_MAX_AGE_MS = { compact: 15 * 60_000, evaluate: 5 * 60_000 } as const;

export interface AwsTargetOptions {
  readonly stackName: string;
  readonly region?: string | undefined;
  readonly ports: AwsSmokePorts;
  /** Injected in unit tests (aws-sdk-client-mock mocks their `send`). */
  readonly clients?: { readonly kinesis?: KinesisClient; readonly s3?: S3Client; readonly athena?: AthenaClient };
  readonly now?: () => number;
  /** Athena's poll sleep (tests: none). */
  readonly sleep?: (ms: number) => Promise<void>;
}

/**
 * A deployed stack as a smoke target: names from its CloudFormation outputs; probes polled with the CLI's Athena
 * lookup (`skein query --athena`); the lookup checks run the workgroup's named queries as deployed, with and without
 * a date range; iterator age from CloudWatch, failed batches from the SQS queue.
 */
export async function awsSmokeTarget(options: AwsTargetOptions): Promise<SmokeTarget> {
  const { stackName, region, ports } = options;
  const now = options.now ?? Date.now;
  const outputs = await ports.stackOutputs(stackName);
  const need = (key: string) => {
    const value = outputs[key];
    if (value === undefined)
      throw new SkeinError(
        'smoke_stack',
        `stack ${stackName} has no output ${key}: deploy this version of Skein (npx cdk deploy) and run again`,
      );
    return value;
  };
  const stream = need(STACK_OUTPUTS.stream);
  const bucket = need(STACK_OUTPUTS.bucket);
  const workgroup = need(STACK_OUTPUTS.workgroup);
  const database = need(STACK_OUTPUTS.database);
  const queueUrl = need(STACK_OUTPUTS.failedBatchQueue);
  const logGroups: Partial<Record<'ingest' | 'compact' | 'evaluate' | 'notify', string>> = {};
  for (const fn of ['ingest', 'compact', 'evaluate', 'notify'] as const) {
    const name = outputs[`${fn[0]?.toUpperCase()}${fn.slice(1)}FunctionName`];
    if (name !== undefined) logGroups[fn] = `/aws/lambda/${name}`;
  }
  const kinesis = options.clients?.kinesis ?? kinesisClient({ region });
  const s3 = options.clients?.s3 ?? s3Client({ region });
  const athena = options.clients?.athena ?? new AthenaClient(region ? { region } : {});
  const deps = { now, ...(options.sleep ? { sleep: options.sleep } : {}) };
  let named: Map<string, NamedQuery> | undefined;

  const namedQuery = async (name: string): Promise<NamedQuery> => {
    named ??= await listNamedQueries(athena, workgroup);
    const query = named.get(name);
    if (query?.QueryString === undefined)
      throw new SkeinError(
        'smoke_named_query',
        `the workgroup ${workgroup} has no named query ${name}: redeploy the stack (npx cdk deploy)`,
      );
    return query;
  };

  return {
    description: `stack ${stackName}${region ? ` (${region})` : ''}: stream ${stream}, bucket ${bucket}, workgroup ${workgroup}`,
    kind: 'aws',
    stream,
    bucket,
    store: s3ObjectStore(s3, bucket),
    putRecords: async (input) => {
      try {
        return await kinesis.send(new PutRecordsCommand(input));
      } catch (error) {
        throw new SkeinError('push_failed', describeError(error), { cause: error });
      }
    },
    async lookup(request: LookupRequest) {
      const ranged = request.since !== undefined || request.until !== undefined;
      // Polling for the probes (no range, repeated) uses the CLI's two-step lookup; the checks run the named queries.
      if (!ranged && request.viaCli === true) {
        const { rows, stats } = await runAthenaLookup(
          athena,
          { by: request.by, id: request.id, workgroup, database },
          deps,
        );
        return { rows: rows.map((r) => ({ attributes: r.row.attributes })), bytesScanned: stats.bytesScanned };
      }
      const shape = namedLookupQuery(request.by, ranged, database);
      const query = await namedQuery(shape.name);
      const values = {
        id: sqlStringLiteral(request.id),
        from_date: sqlStringLiteral(isoDate(request.since ?? now())),
        to_date: sqlStringLiteral(isoDate(request.until ?? now())),
      };
      const result = await runStatement(
        athena,
        query.QueryString ?? '',
        { workgroup, database },
        request.by === 'trace' ? 'spans' : 'logs',
        deps,
        shape.parameters.map((p) => values[p]),
      );
      return {
        rows: result.rows.map((r) => ({ attributes: r.attributes ?? '{}' })),
        bytesScanned: result.bytesScanned,
      };
    },
    async ingestHealth(): Promise<IngestHealth> {
      const t = now();
      const [age, depth] = await Promise.all([
        ports.iteratorAgeMs(stream, t - 10 * 60_000, t),
        ports.queueDepth(queueUrl),
      ]);
      return {
        iteratorAgeMs: age,
        iteratorSource: 'CloudWatch GetRecords.IteratorAgeMilliseconds, last 10 min',
        failedBatches: depth,
        failedSource: 'messages in the failed-batch queue',
      };
    },
    logGroups,
    markerMaxAgeMs: AWS_MARKER_MAX_AGE_MS,
    defaultWaitMs: 180_000,
    pollEveryMs: 10_000,
    async close() {
      kinesis.destroy();
      s3.destroy();
      athena.destroy();
      ports.close();
    },
  };
}

async function listNamedQueries(athena: AthenaClient, workgroup: string): Promise<Map<string, NamedQuery>> {
  const ids: string[] = [];
  let next: string | undefined;
  do {
    const page = await athena.send(
      new ListNamedQueriesCommand({ WorkGroup: workgroup, ...(next ? { NextToken: next } : {}) }),
    );
    ids.push(...(page.NamedQueryIds ?? []));
    next = page.NextToken;
  } while (next);
  const byName = new Map<string, NamedQuery>();
  // BatchGetNamedQuery takes at most 50 ids.
  for (let i = 0; i < ids.length; i += 50) {
    const batch = await athena.send(new BatchGetNamedQueryCommand({ NamedQueryIds: ids.slice(i, i + 50) }));
    for (const q of batch.NamedQueries ?? []) if (q.Name) byName.set(q.Name, q);
  }
  return byName;
}

function isoDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}
