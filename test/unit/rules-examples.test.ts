import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileRules } from '../../functions/shared/rules/compile-rules.ts';
import { loadRuleFiles } from '../../functions/shared/rules/load-rules.ts';

describe('rules/examples', () => {
  it('every example file validates and compiles', async () => {
    // Prepare
    const files = (await readdir('rules/examples')).filter((f) => /\.ya?ml$/.test(f) && !/\.test\.ya?ml$/.test(f));

    // Act
    const loaded = await loadRuleFiles(files.map((f) => join('rules/examples', f)));

    // Assess
    if (!loaded.ok)
      throw new Error(loaded.errors.map((e) => `${e.file}:${e.line}:${e.column}: ${e.message}`).join('\n'));
    const compiled = compileRules(loaded.groups);
    expect(files.length).toBeGreaterThan(0);
    expect(compiled.rules.map((r) => r.name).sort()).toEqual([
      'CacheHitRateLow',
      'ClusterTooSmall',
      'ConsumerLagHigh',
      'HighErrorRate',
      'LeaderHeartbeatMissing',
      'NodeHeartbeatMissing',
      'S3UploadFailed',
      'SlowRequestsP99',
    ]);
    for (const rule of compiled.rules) {
      expect(Object.keys(rule.annotations)).toEqual(expect.arrayContaining(['summary', 'description', 'runbook_url']));
      expect(rule.measureIds.length).toBeGreaterThan(0);
    }
  });
});
