import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { ObjectStore } from '../functions/core/object-store.ts';
import type { RuleTestFileResult } from '../functions/evaluate/rule-tests.ts';
import { UsageError } from '../schemas/errors.ts';
import { type CliIo, EXIT, parseCommandArgs, runGuarded, usageHint } from './io.ts';

export const RULES_TEST_USAGE = `Usage: skein rules test <file|dir>…
       skein rules test <rules|file.test.yaml|dir>… --data <dir>

Runs rule tests, like 'promtool test rules'. A test file (*.test.yaml; a directory stands for the ones in it)
names rule files and has cases: input series given as rows per minute, and the alerts expected to fire and
resolve, at minutes from the start of the case. Each case runs the real rollup and the real evaluator on a fake
clock, minute by minute. Prints PASS or FAIL per case with the minutes expected and seen; exits 1 on any failure.

With --data, evaluates the rules (rule files, or those a test file names) over the rollups captured by a local
stack in <dir> instead, over the minutes they cover, and prints when each alert would fire and resolve.

Series:  series: 'spans{service="checkout", status="error"}'   values: '0x5 30x10 0x15'
         series: 'spans{service="api", kind="server"}'   count: '100x30'   duration_ms: '120x10 900x10 120x10'
         series: 'logs{service="ingest"}'   values: '1x30'   attr.consumer_lag: '10x5 5000x5 10x20'
         AxN = A for N minutes; A+BxN = A, A+B, … (N minutes); _ = no rows. Format: docs/alerting.md.

Options:
  --data <dir>   a local stack's folder (e.g. .skein): evaluate over its captured rollups
  -h, --help     show this help

Examples:
  skein rules test rules/examples/
  skein rules test rules/examples/service-health.test.yaml
  skein rules test rules/examples/service-health.yaml --data .skein
`;

/** Test seam: the store of captured rollups for --data (otherwise read from s3rver's files in <dir>). */
export interface RulesTestDeps {
  readonly dataStore?: ObjectStore;
}

/** `skein rules test …`: runs rule test files, or evaluates rules over captured rollups with `--data`. */
export function rulesTestCommand(args: string[], io: CliIo, deps: RulesTestDeps = {}): Promise<number> {
  return runGuarded(io, usageHint(RULES_TEST_USAGE, 'skein rules test'), async () => {
    const { values, positionals } = parseCommandArgs(args, { data: { type: 'string' } });
    if (values.help) {
      io.stdout.write(RULES_TEST_USAGE);
      return EXIT.ok;
    }
    if (positionals.length === 0) throw new UsageError('give the rule test files (or directories) to run');
    if (values.data !== undefined) return dataCommand(positionals, values.data, io, deps);

    const files = await testFiles(positionals);
    if (files.length === 0) throw new UsageError(`no rule test files (*.test.yaml) in ${positionals.join(', ')}`);
    const { formatRuleTestReport, runRuleTestFile } = await import('../functions/evaluate/rule-tests.ts');
    const results: RuleTestFileResult[] = [];
    for (const file of files) {
      if (io.stderr.isTTY) io.stderr.write(`running ${file}…\n`);
      results.push(await runRuleTestFile(file));
    }
    io.stdout.write(formatRuleTestReport(results));
    return results.every((r) => r.passed) ? EXIT.ok : EXIT.failure;
  });
}

/** The test files of `paths`: files as given, directories searched for `*.test.yaml`/`*.test.yml`. */
async function testFiles(paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const path of paths) {
    const info = await stat(path).catch(() => undefined);
    if (info === undefined) throw new UsageError(`${path}: no such file or directory`);
    if (!info.isDirectory()) {
      out.push(path);
      continue;
    }
    const entries = await readdir(path, { recursive: true, withFileTypes: true });
    out.push(
      ...entries
        .filter((e) => e.isFile() && /\.test\.ya?ml$/.test(e.name))
        .map((e) => join(e.parentPath, e.name))
        .sort(),
    );
  }
  return out;
}

async function dataCommand(paths: readonly string[], dir: string, io: CliIo, deps: RulesTestDeps): Promise<number> {
  const { loadRuleFiles } = await import('../functions/shared/rules/load-rules.ts');
  const { compileRules } = await import('../functions/shared/rules/compile-rules.ts');
  const { evaluateCapturedRollups, formatDataReport } = await import('../functions/evaluate/rule-tests.ts');
  const rulePaths = await rulePathsOf(paths);
  const loaded = await loadRuleFiles(rulePaths);
  if (!loaded.ok) {
    for (const e of loaded.errors) io.stderr.write(`${e.file}:${e.line}:${e.column}: ${e.path}: ${e.message}\n`);
    return EXIT.failure;
  }
  const rules = compileRules(loaded.groups);
  const source = deps.dataStore ?? (await capturedRollups(dir));
  const result = await evaluateCapturedRollups(rules, source);
  io.stdout.write(formatDataReport(result, dir));
  return EXIT.ok;
}

/** Rule files: a test file stands for the rule files it names. */
async function rulePathsOf(paths: readonly string[]): Promise<string[]> {
  const { parse } = await import('yaml');
  const { RuleTestFile } = await import('../schemas/rule-tests.ts');
  const { dirname, resolve } = await import('node:path');
  const out: string[] = [];
  for (const path of paths) {
    if (!/\.test\.ya?ml$/.test(path)) {
      out.push(path);
      continue;
    }
    const parsed = RuleTestFile.safeParse(parse(await readFile(path, 'utf8')));
    if (!parsed.success) throw new UsageError(`${path} is not a rule test file`);
    for (const f of parsed.data.rule_files) out.push(resolve(dirname(path), f));
  }
  return out;
}

const S3RVER_SUFFIX = '._S3rver_object';

/**
 * A read-only store over the rollups s3rver keeps on disk for the local stack in `dir`: `<dataDir>/<bucket>/…` from
 * `<dir>/endpoints.json` when it is there, else the only bucket under `<dir>/s3/`. The stack need not be running.
 */
async function capturedRollups(dir: string): Promise<ObjectStore> {
  let bucketDir: string | undefined;
  try {
    const { readEndpoints } = await import('../local/endpoints.ts');
    const endpoints = await readEndpoints(dir);
    bucketDir = join(endpoints.dataDir, endpoints.bucket);
  } catch {
    const s3 = join(dir, 's3');
    const buckets = (await readdir(s3, { withFileTypes: true }).catch(() => [])).filter((e) => e.isDirectory());
    if (buckets.length !== 1 || buckets[0] === undefined)
      throw new UsageError(
        `--data ${dir}: no local stack data there (expected ${dir}/endpoints.json or ${s3}/<bucket>)`,
      );
    bucketDir = join(s3, buckets[0].name);
  }
  const root = bucketDir;
  const files = new Map<string, string>();
  const entries = await readdir(join(root, 'rollups'), { recursive: true, withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    if (!e.isFile() || !e.name.endsWith(S3RVER_SUFFIX)) continue;
    const path = join(e.parentPath, e.name);
    files.set(relative(root, path).split(sep).join('/').slice(0, -S3RVER_SUFFIX.length), path);
  }
  const readOnly = (): never => {
    throw new UsageError('captured rollups are read only');
  };
  return {
    async list(prefix) {
      return [...files.keys()].filter((k) => k.startsWith(prefix)).sort();
    },
    async get(key) {
      const path = files.get(key);
      return path === undefined ? undefined : new Uint8Array(await readFile(path));
    },
    async getVersioned(key) {
      const path = files.get(key);
      return path === undefined ? undefined : { body: new Uint8Array(await readFile(path)), etag: '"captured"' };
    },
    put: async () => readOnly(),
    putIf: async () => readOnly(),
    delete: async () => readOnly(),
  };
}
