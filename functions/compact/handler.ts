import type { Context } from 'aws-lambda';
import { SkeinError } from '../../schemas/errors.ts';
import { s3Client } from '../core/aws-clients.ts';
import { systemClock } from '../core/clock.ts';
import { withHeartbeat } from '../core/heartbeat.ts';
import { createLogger } from '../core/logger.ts';
import { s3ObjectStore } from '../core/object-store.ts';
import { loadCompactConfig } from './config.ts';
import { type CompactionRunSummary, runCompaction } from './run-compaction.ts';

// Wiring only: configuration, clients and the logger are built once per execution environment.
const config = loadCompactConfig(process.env);
const store = s3ObjectStore(s3Client({ region: process.env.AWS_REGION }), config.bucket);
const logger = createLogger({ service: 'skein-compact', level: config.logLevel });

/**
 * The scheduled compactor (EventBridge, every few minutes). A run that failed some hours still finishes the others,
 * then fails the invocation so the Lambda `Errors` metric shows it; the next scheduled run retries those hours.
 */
export const handler = (_event: unknown, context: Context): Promise<CompactionRunSummary> => {
  const log = logger.child({ request_id: context.awsRequestId });
  // A run that finished every hour leaves its last-run marker (D20); a failed one does not.
  return withHeartbeat(
    store,
    'compact',
    systemClock,
    async () => {
      const summary = await runCompaction({ store, clock: systemClock, logger: log, config });
      if (summary.failed > 0) {
        throw new SkeinError(
          'compaction_failed',
          `${summary.failed} of ${summary.hours.length} hours failed; see the log`,
        );
      }
      return summary;
    },
    (error) => log.warn('last-run marker not written', { error: String(error) }),
  );
};
