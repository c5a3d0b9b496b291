import { join } from 'node:path';
import { z } from 'zod';
import { ConfigError, describeIssue } from '../core/errors.ts';
import { packageRoot } from '../core/package-root.ts';

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
   * How far behind the clock the evaluated minute is: the Kinesis batching window and ingest must have written a
   * minute's rollups before it is evaluated (60 s: a minute ends, then up to a minute for batching and ingest).
   */
  SKEIN_EVALUATION_DELAY_SECONDS: z.coerce.number().int().min(0).max(3600).default(60),
  SKEIN_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
});

export interface EvaluateConfig {
  readonly bucket: string;
  readonly rulesDir: string;
  readonly delayMs: number;
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
    delayMs: e.SKEIN_EVALUATION_DELAY_SECONDS * 1000,
    logLevel: e.SKEIN_LOG_LEVEL,
  };
}
