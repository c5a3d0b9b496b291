import { join } from 'node:path';
import { z } from 'zod';
import { ConfigError, describeIssue } from '../../schemas/errors.ts';
import { packageRoot } from '../core/package-root.ts';
import { AllowedLatenessSeconds, DEFAULT_MAX_WAIT_MS } from '../shared/watermark.ts';

/**
 * Where rule files are when `SKEIN_RULES_DIR` is not set: the `rules` folder bundled next to the handler on Lambda
 * (`$LAMBDA_TASK_ROOT/rules`, the CDK construct copies the repository's `rules/` there), else the repository's
 * `rules/` folder (local stack, tests).
 */
export function defaultRulesDir(env: Record<string, string | undefined>): string {
  const taskRoot = env.LAMBDA_TASK_ROOT;
  if (taskRoot !== undefined && taskRoot !== '') return join(taskRoot, 'rules');
  return join(packageRoot(import.meta.url), 'rules');
}

/** Environment of the evaluate function. Parsed once, at module scope of the handler. */
export const EvaluateEnv = z.object({
  SKEIN_BUCKET: z.string().min(3, 'SKEIN_BUCKET must name the data bucket'),
  /** Folder of rule files (`*.yaml`, `*.yml`; `*.test.yaml` are skipped). */
  SKEIN_RULES_DIR: z.string().min(1).optional(),
  /**
   * Allowed lateness: a minute is complete once every shard is ingested past its end plus this. Must be ingest's
   * value (the rollups record theirs; the larger one is used).
   */
  SKEIN_ALLOWED_LATENESS_SECONDS: AllowedLatenessSeconds,
  /** A minute a stalled shard holds back is evaluated anyway this long after its end + lateness (logged, counted). */
  SKEIN_EVALUATION_MAX_WAIT_SECONDS: z.coerce
    .number()
    .int()
    .min(0)
    .max(3600)
    .default(DEFAULT_MAX_WAIT_MS / 1000),
  /** The stream ingest reads: shards whose rollups show them behind are asked here (idle ones have no rollup). */
  SKEIN_STREAM_NAME: z.string().min(1).optional(),
  SKEIN_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
});

export interface EvaluateConfig {
  readonly bucket: string;
  readonly rulesDir: string;
  readonly latenessMs: number;
  readonly maxWaitMs: number;
  /** Undefined: completeness from the rollups' watermarks alone. */
  readonly streamName?: string;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
}

/** Reads the evaluate function's environment; a `ConfigError` naming the bad setting. */
export function loadEvaluateConfig(env: Record<string, string | undefined>): EvaluateConfig {
  const parsed = EvaluateEnv.safeParse(env);
  if (!parsed.success) throw new ConfigError(`evaluate configuration: ${describeIssue(parsed.error)}`);
  const e = parsed.data;
  return {
    bucket: e.SKEIN_BUCKET,
    rulesDir: e.SKEIN_RULES_DIR ?? defaultRulesDir(env),
    latenessMs: e.SKEIN_ALLOWED_LATENESS_SECONDS * 1000,
    maxWaitMs: e.SKEIN_EVALUATION_MAX_WAIT_SECONDS * 1000,
    ...(e.SKEIN_STREAM_NAME !== undefined ? { streamName: e.SKEIN_STREAM_NAME } : {}),
    logLevel: e.SKEIN_LOG_LEVEL,
  };
}
