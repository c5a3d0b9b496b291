import { z } from 'zod';
import { ConfigError, describeIssue } from '../../schemas/errors.ts';

const MIB = 1024 * 1024;

/** Environment of the compact function. Parsed once, at module scope of the handler. */
export const CompactEnv = z.object({
  SKEIN_BUCKET: z.string().min(3, 'SKEIN_BUCKET must name the data bucket'),
  /**
   * Target size of a compacted object, bytes (estimated from the inputs' sizes). 256 MiB: large enough that Athena
   * opens few files per hour, small enough that one file is written in one Lambda run.
   */
  SKEIN_COMPACT_TARGET_BYTES: z.coerce
    .number()
    .int()
    .min(64 * 1024)
    .default(256 * MIB),
  /**
   * Rows per row group of a compacted object, or `auto` (the default): sized per object so that a point lookup's
   * footer and row group together are least (`rowGroupRowsFor`, functions/compact/row-groups.ts; D24).
   */
  SKEIN_COMPACT_ROW_GROUP_ROWS: z
    .union([z.literal('auto'), z.coerce.number().int().min(100).max(1_000_000)])
    .default('auto'),
  /**
   * Largest number of rows one run of one hour of one table holds in memory (~1 KB of heap per row). A bigger hour
   * is compacted in several generations, each covering a part of its raw objects.
   */
  SKEIN_COMPACT_MAX_ROWS: z.coerce.number().int().min(1_000).default(1_000_000),
  /** Superseded objects are deleted only this long after the manifest that superseded them: longer than any query. */
  SKEIN_COMPACT_GRACE_SECONDS: z.coerce.number().int().min(0).default(900),
  /** An hour is compacted once its end is this far in the past (batches of the hour still in flight have landed). */
  SKEIN_COMPACT_SETTLE_SECONDS: z.coerce.number().int().min(0).default(600),
  /** How many days back a run looks for hours to compact (late data and replays into older days included). */
  SKEIN_COMPACT_LOOKBACK_DAYS: z.coerce.number().int().min(1).max(400).default(3),
  /** Hours handled per run at most (oldest first); the schedule picks up the rest. */
  SKEIN_COMPACT_MAX_HOURS: z.coerce.number().int().min(1).default(24),
  /** A run starts no new hour after this many seconds (leave room below the Lambda timeout for the last hour). */
  SKEIN_COMPACT_TIME_BUDGET_SECONDS: z.coerce.number().int().min(1).default(600),
  SKEIN_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
});

/** The compactor's settings, in the units the code uses (bytes, rows, milliseconds). */
export interface CompactConfig {
  readonly bucket: string;
  readonly targetBytes: number;
  /** A fixed number of rows per row group, or `'auto'` to size them per object (`rowGroupRowsFor`). */
  readonly rowGroupRows: number | 'auto';
  readonly maxRowsPerRun: number;
  readonly graceMs: number;
  readonly settleMs: number;
  readonly lookbackDays: number;
  readonly maxHoursPerRun: number;
  readonly timeBudgetMs: number;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
}

/**
 * Parses the compactor's environment (`SKEIN_COMPACT_*`, `SKEIN_BUCKET`, `SKEIN_LOG_LEVEL`) into a {@link CompactConfig}.
 *
 * @throws {ConfigError} naming the first invalid setting.
 */
export function loadCompactConfig(env: Record<string, string | undefined>): CompactConfig {
  const parsed = CompactEnv.safeParse(env);
  if (!parsed.success) throw new ConfigError(`compact configuration: ${describeIssue(parsed.error)}`);
  const e = parsed.data;
  return {
    bucket: e.SKEIN_BUCKET,
    targetBytes: e.SKEIN_COMPACT_TARGET_BYTES,
    rowGroupRows: e.SKEIN_COMPACT_ROW_GROUP_ROWS,
    maxRowsPerRun: e.SKEIN_COMPACT_MAX_ROWS,
    graceMs: e.SKEIN_COMPACT_GRACE_SECONDS * 1000,
    settleMs: e.SKEIN_COMPACT_SETTLE_SECONDS * 1000,
    lookbackDays: e.SKEIN_COMPACT_LOOKBACK_DAYS,
    maxHoursPerRun: e.SKEIN_COMPACT_MAX_HOURS,
    timeBudgetMs: e.SKEIN_COMPACT_TIME_BUDGET_SECONDS * 1000,
    logLevel: e.SKEIN_LOG_LEVEL,
  };
}
