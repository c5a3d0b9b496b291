import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError, describeIssue } from '../../schemas/errors.ts';
import { type NotifyConfig, parseNotifyConfig } from '../../schemas/notify-config.ts';

/** Environment of the notify function. Parsed once, at module scope of the handler. */
export const NotifyEnv = z.object({
  SKEIN_BUCKET: z.string().min(3, 'SKEIN_BUCKET must name the data bucket'),
  /** The notifier's YAML configuration, bundled with the function (config/notify.example.yaml shows the format). */
  SKEIN_NOTIFY_CONFIG_FILE: z.string().min(1).default('notify.yaml'),
  SKEIN_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
});

export interface NotifyFunctionConfig {
  readonly bucket: string;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
  readonly notify: NotifyConfig;
}

/**
 * The notify function's settings: environment plus the YAML file it names. On AWS `http://` endpoints are never
 * allowed (no `allowLoopbackHttp`).
 * @throws ConfigError naming the variable, or `file:line:col` of the configuration problem.
 */
export function loadNotifyFunctionConfig(
  env: Record<string, string | undefined>,
  readFile: (path: string) => string = (path) => readFileSync(path, 'utf8'),
): NotifyFunctionConfig {
  const parsed = NotifyEnv.safeParse(env);
  if (!parsed.success) throw new ConfigError(`notify configuration: ${describeIssue(parsed.error)}`);
  const e = parsed.data;
  let text: string;
  try {
    text = readFile(e.SKEIN_NOTIFY_CONFIG_FILE);
  } catch (error) {
    throw new ConfigError(`cannot read SKEIN_NOTIFY_CONFIG_FILE ${e.SKEIN_NOTIFY_CONFIG_FILE}`, { cause: error });
  }
  return {
    bucket: e.SKEIN_BUCKET,
    logLevel: e.SKEIN_LOG_LEVEL,
    notify: parseNotifyConfig(text, { source: e.SKEIN_NOTIFY_CONFIG_FILE }),
  };
}
