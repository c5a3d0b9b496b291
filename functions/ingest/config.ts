import { z } from 'zod';
import { ConfigError } from '../core/errors.ts';

/** Environment of the ingest function. Parsed once, at module scope of the handler. */
export const IngestEnv = z.object({
  SKEIN_BUCKET: z.string().min(3, 'SKEIN_BUCKET must name the data bucket'),
  /** Rows per Parquet row group: small enough that min/max statistics on trace_id prune. */
  SKEIN_ROW_GROUP_ROWS: z.coerce.number().int().min(100).max(1_000_000).default(10_000),
  /** Largest record decoded (bytes); a larger one is quarantined as `record_too_large`. Kinesis caps records at 1 MiB (10 MiB for large records). */
  SKEIN_MAX_RECORD_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(10 * 1024 * 1024),
  SKEIN_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
});

export interface IngestConfig {
  readonly bucket: string;
  readonly rowGroupRows: number;
  readonly maxRecordBytes: number;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
}

export function loadIngestConfig(env: Record<string, string | undefined>): IngestConfig {
  const parsed = IngestEnv.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`ingest configuration: ${issue?.path.join('.')}: ${issue?.message}`);
  }
  const e = parsed.data;
  return {
    bucket: e.SKEIN_BUCKET,
    rowGroupRows: e.SKEIN_ROW_GROUP_ROWS,
    maxRecordBytes: e.SKEIN_MAX_RECORD_BYTES,
    logLevel: e.SKEIN_LOG_LEVEL,
  };
}
