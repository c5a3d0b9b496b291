import type { Logger } from '../functions/core/logger.ts';
import type { MeasureSpec } from '../schemas/measures.ts';
import type { Endpoints } from './endpoints.ts';
import type { IngestTally } from './ingest-tally.ts';
import type { KinesisBatchHandler } from './poller.ts';

/** What the stack hands the ingest function besides its endpoints. */
export interface HandlerOptions {
  /** The measures of the loaded alert rules: each batch writes its per-minute rollup of them. None: no rollups. */
  readonly measures?: readonly MeasureSpec[];
  /** Allowed lateness (ms) rows are assigned to minutes with; the evaluator uses the same (D15). */
  readonly latenessMs?: number;
}

/** Builds the function the poller invokes, once the stack's endpoints are known; it adds what it ingests to `tally`. */
export type HandlerFactory = (
  endpoints: Endpoints,
  logger: Logger,
  tally: IngestTally,
  options: HandlerOptions,
) => KinesisBatchHandler | Promise<KinesisBatchHandler>;

/**
 * The ingest function's domain work, against the local bucket, counting rows per format and quarantine per reason
 * for the progress line. Loaded on demand so the stack itself never imports ingest code.
 */
export const ingestHandler: HandlerFactory = async (endpoints, logger, tally, options) => {
  const [{ ingest }, { loadIngestConfig }, { s3Client }, { s3ObjectStore }] = await Promise.all([
    import('../functions/ingest/ingest-batch.ts'),
    import('../functions/ingest/config.ts'),
    import('../functions/core/aws-clients.ts'),
    import('../functions/core/object-store.ts'),
  ]);
  const config = loadIngestConfig({
    SKEIN_BUCKET: endpoints.bucket,
    ...(options.latenessMs !== undefined ? { SKEIN_ALLOWED_LATENESS_SECONDS: String(options.latenessMs / 1000) } : {}),
  });
  const store = s3ObjectStore(s3Client({ endpoint: endpoints.s3 }), endpoints.bucket);
  const ingestLogger = logger.child({ component: 'ingest' });
  const deps = {
    store,
    config,
    clock: Date.now,
    logger: ingestLogger,
    ...(options.measures ? { measures: options.measures } : {}),
  };
  return async (event) => {
    const { response, summary } = await ingest(event.Records, deps);
    // A batch that failed is retried by the poller and counted once, when it succeeds.
    if (response.batchItemFailures.length === 0) tally.add(summary);
    return response;
  };
};
