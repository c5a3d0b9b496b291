import { z } from 'zod';
import { ConfigError } from '../core/errors.ts';
import { createRedactor, type TextRedactor } from '../core/redact.ts';

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
  /** Field names redacted on top of the built-in list, comma-separated (`x-session,ssn`). */
  SKEIN_REDACT_KEYS: z.string().default(''),
});

export interface IngestConfig {
  readonly bucket: string;
  readonly rowGroupRows: number;
  readonly maxRecordBytes: number;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** Built once from the built-in list and SKEIN_REDACT_KEYS. */
  readonly redactor: TextRedactor;
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
    redactor: createRedactor(
      e.SKEIN_REDACT_KEYS.split(',')
        .map((k) => k.trim())
        .filter((k) => k.length > 0),
    ),
  };
}
