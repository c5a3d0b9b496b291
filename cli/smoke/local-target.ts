import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { kinesisClient, s3Client } from '../../functions/core/aws-clients.ts';
import { readHeartbeat } from '../../functions/core/heartbeat.ts';
import { s3ObjectStore } from '../../functions/core/object-store.ts';
import { readEndpoints } from '../../local/endpoints.ts';
import { queryLocal } from '../../query/local-query.ts';
import { describeError, SkeinError } from '../../schemas/errors.ts';
import type { IngestHealth, SmokeTarget } from './target.ts';

/**
 * Markers older than this mean the job is not running: the local compactor runs every 60 s and the evaluator every
 * 10 s by default (cli/local-up-command.ts); three periods of slack, as on AWS.
 */
export const LOCAL_MARKER_MAX_AGE_MS = { compact: 3 * 60_000, evaluate: 60_000 } as const;

/**
 * The local stack running in `dir` as a smoke target: its stream and bucket from `<dir>/endpoints.json` (the S3
 * endpoint is the conditional-write proxy), DuckDB over the s3rver files for lookups (`skein query --dir`), and the
 * local poller's marker for ingest lag and discarded records.
 */
export async function localSmokeTarget(dir: string): Promise<SmokeTarget> {
  const endpoints = await readEndpoints(dir);
  const kinesis = kinesisClient({ endpoint: endpoints.kinesis });
  const s3 = s3Client({ endpoint: endpoints.s3 });
  const store = s3ObjectStore(s3, endpoints.bucket);
  return {
    description: `local stack in ${dir}`,
    kind: 'local',
    stream: endpoints.stream,
    bucket: endpoints.bucket,
    store,
    putRecords: async (input) => {
      try {
        return await kinesis.send(new PutRecordsCommand(input));
      } catch (error) {
        throw new SkeinError('push_failed', `${describeError(error)} (${endpoints.kinesis})`, { cause: error });
      }
    },
    async lookup(request) {
      const { rows, stats } = await queryLocal({
        dataDir: endpoints.dataDir,
        bucket: endpoints.bucket,
        by: request.by,
        id: request.id,
        since: request.since,
        until: request.until,
      });
      return { rows: rows.map((r) => ({ attributes: r.row.attributes })), bytesScanned: stats.bytesRead };
    },
    async ingestHealth(): Promise<IngestHealth> {
      const source = 'the local poller';
      const read = await readHeartbeat(store, 'local-poller');
      if (!read.ok) throw new SkeinError('smoke_failed', read.reason);
      const marker = read.value;
      if (marker === undefined)
        return {
          iteratorAgeMs: undefined,
          iteratorSource: `${source} (no report yet)`,
          failedBatches: undefined,
          failedSource: `${source} has not reported yet`,
        };
      return {
        iteratorAgeMs: marker.counts?.iteratorAgeMs,
        iteratorSource: source,
        failedBatches: marker.counts?.discardedRecords,
        failedSource: `records ${source} discarded after failed invocations (its on-failure destination)`,
        reportAgeMs: Date.now() - Date.parse(marker.at),
      };
    },
    markerMaxAgeMs: LOCAL_MARKER_MAX_AGE_MS,
    defaultWaitMs: 60_000,
    pollEveryMs: 500,
    async close() {
      kinesis.destroy();
      s3.destroy();
    },
  };
}
