import type { Context, ScheduledEvent } from 'aws-lambda';
import { kinesisClient, s3Client } from '../core/aws-clients.ts';
import { systemClock } from '../core/clock.ts';
import { withHeartbeat } from '../core/heartbeat.ts';
import { createLogger } from '../core/logger.ts';
import { s3ObjectStore } from '../core/object-store.ts';
import { loadCompiledRules } from '../shared/rules/load-compiled-rules.ts';
import { loadEvaluateConfig } from './config.ts';
import { type EvaluationSummary, evaluateOnce } from './evaluate.ts';
import { kinesisShardProgress } from './shard-progress.ts';

// Wiring only: configuration, rules, clients and the logger are built once per execution environment.
const config = loadEvaluateConfig(process.env);
const rules = await loadCompiledRules(config.rulesDir);
const store = s3ObjectStore(s3Client({ region: process.env.AWS_REGION }), config.bucket);
const logger = createLogger({ service: 'skein-evaluate', level: config.logLevel });
// Shards whose rollups show them behind are asked of the stream (an idle shard invokes no ingest, writes no rollup).
const progress =
  config.streamName === undefined
    ? undefined
    : kinesisShardProgress(kinesisClient({ region: process.env.AWS_REGION }), config.streamName, { atTimestamp: true });
// CloudWatch Logs extracts embedded-metric-format lines written to stdout into metrics (namespace Skein).
const metrics = (line: string) => process.stdout.write(`${line}\n`);

/** EventBridge schedule (every minute): one evaluator run, then its last-run marker (D20). */
export const handler = (_event: ScheduledEvent, context: Context): Promise<EvaluationSummary> => {
  const log = logger.child({ request_id: context.awsRequestId });
  return withHeartbeat(
    store,
    'evaluate',
    systemClock,
    () =>
      evaluateOnce({
        store,
        rules,
        clock: systemClock,
        logger: log,
        config: { latenessMs: config.latenessMs, maxWaitMs: config.maxWaitMs },
        metrics,
        ...(progress !== undefined ? { progress } : {}),
      }),
    (error) => log.warn('last-run marker not written', { error: String(error) }),
  );
};
