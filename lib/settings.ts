import type { Construct } from 'constructs';
import { z } from 'zod';
import { INPUT_FORMATS } from '../functions/ingest/decoded.ts';
import { ConfigError } from '../schemas/errors.ts';

/** Prefix of every Skein key in the CDK context (`cdk.json` or `cdk synth -c skein:batchSize=500`). */
export const CONTEXT_PREFIX = 'skein:';

const GIB = 1024 ** 3;
/** Athena refuses a per-query data usage limit below 10 MB (BytesScannedCutoffPerQuery minimum, 10,000,000 bytes). */
const ATHENA_MIN_CUTOFF_BYTES = 10_000_000;

/**
 * The deploy-time settings of the Skein stack. Every key can be set in the CDK context as `skein:<key>`; values
 * given on the command line arrive as strings, hence the coercion.
 */
export const SkeinSettings = z.object({
  /**
   * Prefix of the Kinesis stream's physical name: the stack appends `-<8 hex digits of its stack id>` (lib/ingest.ts
   * `streamPhysicalName`), so Kinesis' 128-character limit leaves 119 for the prefix.
   */
  streamName: z
    .string()
    .regex(/^[a-zA-Z0-9_.-]{1,119}$/, 'must be 1–119 characters of a-z, A-Z, 0-9, "_", "." or "-"')
    .default('skein'),
  /** How long records stay on the stream: the replay window after an outage or a bad deploy. */
  streamRetentionDays: z.coerce.number().int().min(1).max(365).default(7),
  /** Records per Lambda invocation (Kinesis event source mapping allows 1–10,000). */
  batchSize: z.coerce.number().int().min(1).max(10_000).default(1000),
  /** How long the event source mapping gathers records before invoking (0–300 s). */
  batchWindowSeconds: z.coerce.number().int().min(0).max(300).default(5),
  /**
   * Allowed lateness (D15): a record arriving up to this long after its minute ended still counts in that minute, and
   * a minute is evaluated once every shard is ingested this far past its end. Ingest and evaluator get the same value.
   */
  allowedLatenessSeconds: z.coerce.number().int().min(0).max(300).default(30),
  /** A minute a stalled shard holds back is evaluated anyway this long after its end + lateness (logged, counted). */
  evaluationMaxWaitSeconds: z.coerce.number().int().min(0).max(3600).default(120),
  /** Athena per-query data usage limit of the workgroup, in GiB. */
  athenaScanLimitGiB: z.coerce
    .number()
    .positive()
    .refine((gib) => gib * GIB >= ATHENA_MIN_CUTOFF_BYTES, 'Athena needs at least 10 MB (0.01 GiB)')
    .default(10),
  /** Days a quarantined record (raw bytes + reason) is kept before S3 expires it. */
  quarantineExpiryDays: z.coerce.number().int().min(1).max(3650).default(30),
  /** Rows per Parquet row group, passed to the ingest function as SKEIN_ROW_GROUP_ROWS. */
  rowGroupRows: z.coerce.number().int().min(100).max(1_000_000).default(10_000),
  /** Pins the format of every record on the stream (SKEIN_FORMAT); `auto` detects per record. */
  format: z.enum(INPUT_FORMATS).default('auto'),
  /** Log level of the ingest function (SKEIN_LOG_LEVEL). */
  logLevel: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  /**
   * The alert rules to deploy: a repository-relative rule file or folder (every `*.yaml` under it except
   * `*.test.yaml`). Bundled with the ingest (rollups) and evaluate functions and validated at synthesis. The default
   * is the generic request-health rules; `rules/examples` also holds heartbeat, cluster and pipeline examples that
   * only make sense for services that log those fields.
   */
  rules: z
    .string()
    .regex(/^rules(\/[A-Za-z0-9_.-]+)*$/, "must be a path under the repository's rules/ folder")
    .refine((path) => !path.split('/').includes('..'), 'must stay inside the repository')
    .default('rules/examples/service-health.yaml'),
  /**
   * The notifier's configuration (receivers, routes, secret names, Alertmanager URLs), repository-relative. Bundled
   * with the notify function and validated at synthesis; when the file does not exist, no notifier is deployed.
   */
  notifyConfig: z
    .string()
    .regex(/^[A-Za-z0-9_./-]+\.ya?ml$/, 'must be a repository-relative path to a .yaml file')
    .refine((path) => !path.split('/').includes('..') && !path.startsWith('/'), 'must stay inside the repository')
    .default('config/notify.yaml'),
  /** SNS topic the alarms notify (ALARM and OK); without it the alarms only change state. */
  alarmTopicArn: z
    .string()
    .regex(/^arn:aws[a-zA-Z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/, 'must be an SNS topic ARN')
    .optional(),
});

export type SkeinSettings = z.infer<typeof SkeinSettings>;
export type SkeinSettingKey = keyof typeof SkeinSettings.shape;
export const SETTING_KEYS = Object.keys(SkeinSettings.shape) as SkeinSettingKey[];

/** Athena's `BytesScannedCutoffPerQuery` for a limit in GiB. */
export function scanLimitBytes(settings: Pick<SkeinSettings, 'athenaScanLimitGiB'>): number {
  return Math.round(settings.athenaScanLimitGiB * GIB);
}

/**
 * Validates settings and fills in the defaults.
 *
 * @throws ConfigError naming the context key (`skein:<key>`) that is wrong.
 */
export function parseSkeinSettings(input: Readonly<Record<string, unknown>>): SkeinSettings {
  const parsed = SkeinSettings.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const key = issue?.path.join('.') ?? '?';
  throw new ConfigError(
    `stack setting ${CONTEXT_PREFIX}${key}: ${issue?.message ?? 'invalid'} (set it in cdk.json "context" or with -c ${CONTEXT_PREFIX}${key}=…)`,
  );
}

/**
 * Reads every `skein:<key>` from the CDK context of `scope`; explicit `overrides` (stack props) win.
 *
 * @example
 * const settings = settingsFromContext(app, { batchSize: 500 });
 */
export function settingsFromContext(scope: Construct, overrides: Partial<SkeinSettings> = {}): SkeinSettings {
  const input: Record<string, unknown> = {};
  for (const key of SETTING_KEYS) {
    const value: unknown = scope.node.tryGetContext(`${CONTEXT_PREFIX}${key}`);
    if (value !== undefined) input[key] = value;
  }
  for (const [key, value] of Object.entries(overrides)) if (value !== undefined) input[key] = value;
  return parseSkeinSettings(input);
}
