import { ConfigError } from '../../../schemas/errors.ts';
import { type CompiledRuleSet, compileRules } from './compile-rules.ts';
import { loadRuleFiles } from './load-rules.ts';

/**
 * Loads and compiles the rule files under `paths` (files or folders) once; a `ConfigError` listing every rule error
 * (file:line:column) when any is invalid, so a bad rule deployment fails at cold start instead of evaluating — or
 * rolling up — a partial rule set. Used by the evaluate and ingest functions and the local stack.
 */
export async function loadCompiledRules(paths: string | readonly string[]): Promise<CompiledRuleSet> {
  const list = typeof paths === 'string' ? [paths] : paths;
  const loaded = await loadRuleFiles(list);
  if (!loaded.ok) {
    const errors = loaded.errors.map((e) => `${e.file}:${e.line}:${e.column} ${e.path}: ${e.message}`).join('; ');
    throw new ConfigError(`rule files in ${list.join(', ')} are invalid (${loaded.errors.length}): ${errors}`);
  }
  return compileRules(loaded.groups);
}
