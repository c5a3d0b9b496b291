import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { packageRoot } from '../functions/core/package-root.ts';
import { MAX_ALLOWED_LATENESS_MS } from '../functions/shared/watermark.ts';
import { parseSettingDuration } from '../schemas/durations.ts';
import { ConfigError, UsageError } from '../schemas/errors.ts';
import { parseCommandArgs } from './io.ts';
import { DEFAULT_LOCAL_DIR, LOCAL_DIR_OPTIONS, localDir } from './local-dir.ts';
import { type AlertingInput, shownPath } from './local-up-text.ts';

const REPO_ROOT = packageRoot(import.meta.url);
/** The demo's alert rules and the local notifier configuration, found from the repository whatever the cwd. */
export const DEFAULT_RULES = join(REPO_ROOT, 'rules', 'demo');
export const DEFAULT_NOTIFY_CONFIG = join(REPO_ROOT, 'config', 'notify.local.yaml');

const MAX_SHARDS = 50;
const EVALUATE_EVERY_MS = 10_000;
/** Allowed lateness of the local stack: its poller delivers within ~1 s, so 15 s is ample (30 s on AWS). */
const ALLOWED_LATENESS_MS = 15_000;

/** The command line of `skein local up`, checked. */
export interface LocalUpOptions {
  readonly dir: string;
  readonly shards: number;
  /** `--shards` as given: a resumed stream that has another count says so. */
  readonly shardsAsked: number | undefined;
  readonly demo: boolean;
  readonly alerting: boolean;
  readonly rulesPath: string;
  readonly notifyConfigPath: string;
  readonly evaluateEveryMs: number;
  readonly latenessMs: number;
}

/** `skein local up`'s flags, checked; `help` when help was asked for. */
export function parseLocalUpArgs(args: string[]): LocalUpOptions | 'help' {
  const { values, positionals } = parseCommandArgs(args, {
    ...LOCAL_DIR_OPTIONS,
    shards: { type: 'string' },
    'no-demo': { type: 'boolean' },
    rules: { type: 'string' },
    'notify-config': { type: 'string' },
    'evaluate-every': { type: 'string' },
    'allowed-lateness': { type: 'string' },
    'no-alerting': { type: 'boolean' },
  });
  if (values.help) return 'help';
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  const dir = localDir(values) ?? DEFAULT_LOCAL_DIR;
  if (dir.trim() === '') throw new UsageError('--dir needs a folder');
  const shards = parseShards(values.shards);
  const alerting = !values['no-alerting'];
  if (!alerting) {
    for (const flag of ['rules', 'notify-config', 'evaluate-every', 'allowed-lateness'] as const)
      if (values[flag] !== undefined) throw new UsageError(`--${flag} has no effect with --no-alerting`);
  }
  const evaluateEveryMs = parseInterval('--evaluate-every', values['evaluate-every'], EVALUATE_EVERY_MS, 1_000);
  const latenessMs = parseInterval('--allowed-lateness', values['allowed-lateness'], ALLOWED_LATENESS_MS, 0);
  if (latenessMs > MAX_ALLOWED_LATENESS_MS) throw new UsageError('--allowed-lateness is at most 5m');
  return {
    dir,
    shards,
    shardsAsked: values.shards === undefined ? undefined : shards,
    demo: !values['no-demo'],
    alerting,
    rulesPath: values.rules ?? DEFAULT_RULES,
    notifyConfigPath: values['notify-config'] ?? DEFAULT_NOTIFY_CONFIG,
    evaluateEveryMs,
    latenessMs,
  };
}

/** Loads the rules once (ingest rolls up their measures, the evaluator runs them) and checks the notifier config. */
export async function loadAlertingInput(rulesPath: string, notifyConfigPath: string): Promise<AlertingInput> {
  const { loadCompiledRules } = await import('../functions/shared/rules/load-compiled-rules.ts');
  const rules = await loadCompiledRules(rulesPath);
  if (rules.rules.length === 0) throw new ConfigError(`no alert rules in ${rulesPath} (or run with --no-alerting)`);
  let text: string;
  try {
    text = await readFile(notifyConfigPath, 'utf8');
  } catch (error) {
    const code = (error as { code?: string } | undefined)?.code ?? 'unreadable';
    throw new ConfigError(`cannot read the notifier configuration ${notifyConfigPath} (${code})`);
  }
  const source = shownPath(notifyConfigPath);
  // Checked now with stand-in URLs, so a mistake fails before anything starts; parsed again with the real ones.
  const { localNotifyConfig } = await import('../local/alerting.ts');
  localNotifyConfig(
    text,
    { alertmanagerUrl: 'http://127.0.0.1:9093', pagerDutyUrl: 'http://127.0.0.1:9/v2/enqueue' },
    source,
  );
  return { rulesPath, rules, notifyConfig: { text, source } };
}

/** A `--evaluate-every`-style duration (`10s`, `1m`, `500ms`), at least `minMs`. */
function parseInterval(flag: string, raw: string | undefined, fallback: number, minMs: number): number {
  if (raw === undefined) return fallback;
  const ms = parseSettingDuration(raw);
  if (ms === undefined || ms < minMs)
    throw new UsageError(
      `${flag} must be a duration such as 10s or 1m${minMs > 0 ? ` (at least ${minMs / 1000}s)` : ''}, got '${raw}'`,
    );
  return ms;
}

function parseShards(raw: string | undefined): number {
  if (raw === undefined) return 2;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1 || n > MAX_SHARDS)
    throw new UsageError(`--shards must be a whole number from 1 to ${MAX_SHARDS}, got '${raw}'`);
  return n;
}
