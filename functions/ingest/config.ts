import { z } from 'zod';
import { ConfigError, describeIssue } from '../../schemas/errors.ts';
import { createRedactor, type TextRedactor } from '../core/redact.ts';
import { AllowedLatenessSeconds } from '../shared/watermark.ts';
import { INPUT_FORMATS, type InputFormat } from './decoded.ts';
import type { HygieneLimits } from './hygiene.ts';

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
  /** Largest log `body` kept, UTF-8 bytes; longer bodies are cut with a `…[truncated N bytes]` marker. */
  SKEIN_MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(64 * 1024),
  /** Largest `attributes` (and span `events`) JSON kept, UTF-8 bytes; larger ones become a `skein.truncated` marker. */
  SKEIN_MAX_ATTRIBUTES_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(64 * 1024),
  /** An event time more than this many hours before the record's arrival is clamped to the arrival time (7 days). */
  SKEIN_MAX_CLOCK_SKEW_PAST_HOURS: z.coerce.number().positive().default(168),
  /** An event time more than this many minutes after the record's arrival is clamped to the arrival time. */
  SKEIN_MAX_CLOCK_SKEW_FUTURE_MINUTES: z.coerce.number().positive().default(60),
  /** Field names redacted on top of the built-in list, comma-separated (`x-session,ssn`). */
  SKEIN_REDACT_KEYS: z.string().default(''),
  /** Pins every record of the stream to one format instead of detecting it per record. */
  SKEIN_FORMAT: z.enum(INPUT_FORMATS).default('auto'),
  /**
   * Folder of alert rule files: ingest pre-aggregates what they need into per-minute rollups. Unset: no rollups (the
   * CDK stack sets it to the rules bundled beside the handler, the same files the evaluator loads).
   */
  SKEIN_RULES_DIR: z.string().min(1).optional(),
  /**
   * Allowed lateness: a row arriving up to this long after its minute ended counts in that minute; later ones count
   * in a later minute. The evaluator's setting of the same name must match (D15).
   */
  SKEIN_ALLOWED_LATENESS_SECONDS: AllowedLatenessSeconds,
});

export interface IngestConfig {
  readonly bucket: string;
  readonly rowGroupRows: number;
  readonly maxRecordBytes: number;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** `auto`, or the one format every record of this stream is in (SKEIN_FORMAT). */
  readonly format: InputFormat;
  /** Built once from the built-in list and SKEIN_REDACT_KEYS. */
  readonly redactor: TextRedactor;
  /** Size and clock limits every row is held to (SKEIN_MAX_BODY_BYTES, SKEIN_MAX_ATTRIBUTES_BYTES, clock skew). */
  readonly hygiene: HygieneLimits;
  /** Alert rule files to roll up for (SKEIN_RULES_DIR); none: no rollups. */
  readonly rulesDir?: string;
  /** Allowed lateness (SKEIN_ALLOWED_LATENESS_SECONDS), ms: how rows are assigned to minutes. */
  readonly latenessMs: number;
}

export function loadIngestConfig(env: Record<string, string | undefined>): IngestConfig {
  const parsed = IngestEnv.safeParse(env);
  if (!parsed.success) throw new ConfigError(`ingest configuration: ${describeIssue(parsed.error)}`);
  const e = parsed.data;
  return {
    bucket: e.SKEIN_BUCKET,
    rowGroupRows: e.SKEIN_ROW_GROUP_ROWS,
    maxRecordBytes: e.SKEIN_MAX_RECORD_BYTES,
    logLevel: e.SKEIN_LOG_LEVEL,
    format: e.SKEIN_FORMAT,
    redactor: createRedactor(
      e.SKEIN_REDACT_KEYS.split(',')
        .map((k) => k.trim())
        .filter((k) => k.length > 0),
    ),
    hygiene: {
      maxBodyBytes: e.SKEIN_MAX_BODY_BYTES,
      maxAttributesBytes: e.SKEIN_MAX_ATTRIBUTES_BYTES,
      maxClockSkewPastMs: Math.round(e.SKEIN_MAX_CLOCK_SKEW_PAST_HOURS * 3_600_000),
      maxClockSkewFutureMs: Math.round(e.SKEIN_MAX_CLOCK_SKEW_FUTURE_MINUTES * 60_000),
    },
    ...(e.SKEIN_RULES_DIR !== undefined ? { rulesDir: e.SKEIN_RULES_DIR } : {}),
    latenessMs: e.SKEIN_ALLOWED_LATENESS_SECONDS * 1000,
  };
}
