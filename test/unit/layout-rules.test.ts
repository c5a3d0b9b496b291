import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  cruise,
  type ICruiseOptions,
  type ICruiseResult,
  type IForbiddenRuleType,
  type IReporterOutput,
} from 'dependency-cruiser';
import { afterEach, describe, expect, it } from 'vitest';
import { packageRoot } from '../../functions/core/package-root.ts';

// The layout rules of `npm run lint` (.dependency-cruiser.cjs, decision D27), run through dependency-cruiser's API
// with the same configuration, on the real tree and on small trees laid out like it.

const ROOT = packageRoot(import.meta.url);
const config = createRequire(import.meta.url)(join(ROOT, '.dependency-cruiser.cjs')) as {
  forbidden: IForbiddenRuleType[];
  options: ICruiseOptions;
};

async function lint(baseDir: string): Promise<IReporterOutput> {
  return cruise(['.'], { ...config.options, ruleSet: { forbidden: config.forbidden }, validate: true, baseDir });
}

function summary(result: IReporterOutput): ICruiseResult['summary'] {
  if (typeof result.output === 'string') throw new Error('expected a cruise result object');
  return result.output.summary;
}

/** Each violation as `rule: from → to`. */
function violations(result: IReporterOutput): string[] {
  return summary(result).violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`);
}

/** How many violations are errors: what makes `depcruise` (and so `npm run lint`) exit non-zero. */
function errors(result: IReporterOutput): number {
  return summary(result).error;
}

/** One file per folder of the layout, each importing only to its right: the rules must find nothing here. */
const LEGAL_TREE: Record<string, string> = {
  'bin/skein.ts': `import { main } from '../cli/main.ts';\nmain();`,
  'cli/main.ts': [
    `import { up } from '../local/up.ts';`,
    `import { serve } from '../console/server.ts';`,
    `import { stack } from '../lib/stack.ts';`,
    `export const main = () => [up, serve, stack];`,
  ].join('\n'),
  'local/up.ts': `import { stack } from '../lib/stack.ts';\nimport { lookup } from '../query/lookup.ts';\nexport const up = [stack, lookup];`,
  'console/server.ts': [
    `import { lookup } from '../query/lookup.ts';`,
    `import { clock } from '../functions/core/clock.ts';`,
    `import { readRollups } from '../functions/evaluate/reader.ts';`,
    `import type { Row } from '../schemas/rows.ts';`,
    `export const serve = (row: Row) => [lookup, clock, readRollups, row];`,
  ].join('\n'),
  'lib/stack.ts': `import { lookup } from '../query/lookup.ts';\nimport { handler } from '../functions/notify/handler.ts';\nexport const stack = [lookup, handler];`,
  'query/lookup.ts': `import { traceIndex } from '../functions/shared/trace-index.ts';\nexport const lookup = traceIndex;`,
  'functions/ingest/handler.ts': `import { rollup } from '../shared/rollup.ts';\nimport { traceIndex } from '../shared/trace-index.ts';\nexport const handler = [rollup, traceIndex];`,
  'functions/evaluate/reader.ts': `import { rollup } from '../shared/rollup.ts';\nexport const readRollups = rollup;`,
  'functions/notify/handler.ts': `import { clock } from '../core/clock.ts';\nexport const handler = clock;`,
  'functions/compact/handler.ts': `import { traceIndex } from '../shared/trace-index.ts';\nexport const handler = traceIndex;`,
  'functions/shared/rollup.ts': `import { clock } from '../core/clock.ts';\nimport type { Row } from '../../schemas/rows.ts';\nexport const rollup = (row: Row) => [clock, row];`,
  'functions/shared/trace-index.ts': `import type { Row } from '../../schemas/rows.ts';\nexport const traceIndex = (row: Row) => row;`,
  'functions/core/clock.ts': `import { SkeinError } from '../../schemas/errors.ts';\nexport const clock = SkeinError;`,
  'schemas/rows.ts': `import { createHash } from 'node:crypto';\nimport { SkeinError } from './errors.ts';\nexport type Row = { id: string };\nexport const rows = [createHash, SkeinError];`,
  'schemas/errors.ts': `export class SkeinError extends Error {}`,
  'test/builders/rows.ts': `import type { Row } from '../../schemas/rows.ts';\nexport const aRow = (): Row => ({ id: 'a' });`,
  'test/unit/main.test.ts': `import { main } from '../../cli/main.ts';\nimport { aRow } from '../builders/rows.ts';\nexport const all = [main, aRow];`,
};

describe('the layout rules npm run lint keeps', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  async function lintTree(extra: Record<string, string>): Promise<IReporterOutput> {
    dir = await mkdtemp(join(tmpdir(), 'skein-layout-'));
    for (const [path, text] of Object.entries({ ...LEGAL_TREE, ...extra })) {
      await mkdir(dirname(join(dir, path)), { recursive: true });
      await writeFile(join(dir, path), `${text}\n`);
    }
    return lint(dir);
  }

  it('passes on the real tree', async () => {
    // Act
    const result = await lint(ROOT);

    // Assess
    expect(violations(result)).toEqual([]);
    expect(errors(result)).toBe(0);
    expect(summary(result).totalCruised).toBeGreaterThan(200);
  });

  it('passes on a small tree in which every folder imports only to its right', async () => {
    const result = await lintTree({});

    expect(violations(result)).toEqual([]);
    expect(errors(result)).toBe(0);
  });

  it.each([
    [
      'a Lambda folder imports another',
      {
        'functions/ingest/peek.ts': `import { readRollups } from '../evaluate/reader.ts';\nexport const p = readRollups;`,
      },
      'no-lambda-imports-another: functions/ingest/peek.ts → functions/evaluate/reader.ts',
    ],
    [
      'a new Lambda folder imports an existing one',
      {
        'functions/heartbeat/handler.ts': `import { handler } from '../notify/handler.ts';\nexport const h = handler;`,
      },
      'no-lambda-imports-another: functions/heartbeat/handler.ts → functions/notify/handler.ts',
    ],
    [
      'schemas import functions/',
      { 'schemas/bad.ts': `import { clock } from '../functions/core/clock.ts';\nexport const b = clock;` },
      'schemas-import-only-schemas: schemas/bad.ts → functions/core/clock.ts',
    ],
    [
      'schemas import only a type from functions/',
      { 'schemas/bad.ts': `import type { Row } from '../functions/shared/trace-index.ts';\nexport type B = Row;` },
      'schemas-import-only-schemas: schemas/bad.ts → functions/shared/trace-index.ts',
    ],
    [
      'a Lambda folder imports the query layer',
      { 'functions/compact/plan.ts': `import { lookup } from '../../query/lookup.ts';\nexport const p = lookup;` },
      'lambdas-import-no-layer-above: functions/compact/plan.ts → query/lookup.ts',
    ],
    [
      'functions/core imports functions/shared',
      { 'functions/core/keys.ts': `import { rollup } from '../shared/rollup.ts';\nexport const k = rollup;` },
      'layer-functions/core: functions/core/keys.ts → functions/shared/rollup.ts',
    ],
    [
      'functions/shared imports a Lambda folder',
      { 'functions/shared/keys.ts': `import { handler } from '../ingest/handler.ts';\nexport const k = handler;` },
      'layer-functions/shared: functions/shared/keys.ts → functions/ingest/handler.ts',
    ],
    [
      'query imports lib',
      { 'query/named.ts': `import { stack } from '../lib/stack.ts';\nexport const n = stack;` },
      'layer-query: query/named.ts → lib/stack.ts',
    ],
    [
      'lib imports local',
      { 'lib/local.ts': `import { up } from '../local/up.ts';\nexport const l = up;` },
      'layer-lib: lib/local.ts → local/up.ts',
    ],
    [
      'the console imports the local stack',
      { 'console/stack.ts': `import { up } from '../local/up.ts';\nexport const s = up;` },
      'layer-console: console/stack.ts → local/up.ts',
    ],
    [
      'the console imports the CLI',
      { 'console/args.ts': `import { main } from '../cli/main.ts';\nexport const a = main;` },
      'layer-console: console/args.ts → cli/main.ts',
    ],
    [
      'the local stack imports the console',
      { 'local/page.ts': `import { serve } from '../console/server.ts';\nexport const p = serve;` },
      'layer-local: local/page.ts → console/server.ts',
    ],
    ['the CLI imports bin', { 'cli/entry.ts': `import '../bin/skein.ts';` }, 'layer-cli: cli/entry.ts → bin/skein.ts'],
    [
      'source imports test code',
      { 'query/fake.ts': `import { aRow } from '../test/builders/rows.ts';\nexport const f = aRow;` },
      'no-test-code-in-source: query/fake.ts → test/builders/rows.ts',
    ],
    [
      'two modules import each other',
      {
        'query/a.ts': `import { b } from './b.ts';\nexport const a = () => b;`,
        'query/b.ts': `import { a } from './a.ts';\nexport const b = () => a;`,
      },
      'no-circular: query/a.ts → query/b.ts',
    ],
    [
      'a source file nothing imports and that imports nothing',
      { 'functions/core/unused.ts': `export const unused = 1;` },
      'no-orphans: functions/core/unused.ts → functions/core/unused.ts',
    ],
  ])('fails when %s', async (_case, extra, expected) => {
    // Act
    const result = await lintTree(extra);

    // Assess
    expect(violations(result)).toEqual([expected]);
    expect(errors(result)).toBe(1);
  });
});
