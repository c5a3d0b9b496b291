import type { Context, ScheduledEvent } from 'aws-lambda';
import { s3Client } from '../core/aws-clients.ts';
import { systemClock } from '../core/clock.ts';
import { withHeartbeat } from '../core/heartbeat.ts';
import { createLogger } from '../core/logger.ts';
import { s3ObjectStore } from '../core/object-store.ts';
import { loadEvaluateConfig } from './config.ts';
import { type EvaluationSummary, evaluateOnce } from './evaluate.ts';
import { loadCompiledRules } from './rules/load-compiled-rules.ts';

// Wiring only: configuration, rules, clients and the logger are built once per execution environment.
const config = loadEvaluateConfig(process.env);
const rules = await loadCompiledRules(config.rulesDir);
const store = s3ObjectStore(s3Client({ region: process.env.AWS_REGION }), config.bucket);
const logger = createLogger({ service: 'skein-evaluate', level: config.logLevel });

/** EventBridge schedule (every minute): one evaluator run, then its last-run marker (D20). */
export const handler = (_event: ScheduledEvent, context: Context): Promise<EvaluationSummary> => {
  const log = logger.child({ request_id: context.awsRequestId });
  return withHeartbeat(
    store,
    'evaluate',
    systemClock,
    () => evaluateOnce({ store, rules, clock: systemClock, logger: log, config: { delayMs: config.delayMs } }),
    (error) => log.warn('last-run marker not written', { error: String(error) }),
  );
};
