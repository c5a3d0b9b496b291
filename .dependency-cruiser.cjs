/**
 * Skein's layout, as rules `npm run lint` keeps (dependency-cruiser; decision D27, picture in docs/architecture.md).
 *
 * The source folders form one line; a file may import its own folder and folders to its RIGHT, never to its left:
 *
 *   bin → cli → local | console → lib → query → functions/<lambda> → functions/shared → functions/core → schemas
 *
 * `local` (the local stack) and `console` (the web console) stand side by side: `cli` imports both, neither imports
 * the other. The Lambda folders (functions/ingest, evaluate, notify, compact and any new one) stand side by side
 * too: no Lambda folder imports another; what two of them share lives in functions/shared or functions/core.
 * Tests (test/) may import anything; source never imports tests.
 *
 * Paths are the resolved files, not the import text, so `../shared/x.ts` and `../../functions/shared/x.ts` are one
 * module. Try it: `npx depcruise --config .dependency-cruiser.cjs .` (what `npm run lint` runs after Biome).
 */

/**
 * The layers, left to right. `folders` of one entry are siblings: they do not import each other. `namedRule`: the
 * layer's rule is written out below under a plainer name instead of generated.
 */
const LAYERS = [
  { name: 'bin', folders: ['bin'] },
  { name: 'cli', folders: ['cli'] },
  { name: 'local and console', folders: ['local', 'console'] },
  { name: 'lib', folders: ['lib'] },
  { name: 'query', folders: ['query'] },
  { name: 'the Lambda folders', folders: ['functions/(?!shared/|core/)[^/]+'], namedRule: true },
  { name: 'functions/shared', folders: ['functions/shared'] },
  { name: 'functions/core', folders: ['functions/core'] },
  { name: 'schemas', folders: ['schemas'], namedRule: true },
];

/** Every source folder (test/, scripts/ and config files are not source). */
const SOURCE = '^(bin|cli|local|console|lib|query|functions|schemas)/';

const anyOf = (folders) => `^(${folders.join('|')})/`;

/**
 * One rule per folder of the line above: it may not import a layer to its left, nor its sibling. (The Lambda
 * folders and schemas have their own named rules below, which say it more plainly.)
 */
const layerRules = LAYERS.flatMap((layer, index) =>
  layer.namedRule
    ? []
    : layer.folders.flatMap((folder) => {
        const siblings = layer.folders.filter((other) => other !== folder);
        const forbidden = [...LAYERS.slice(0, index).flatMap((l) => l.folders), ...siblings];
        if (forbidden.length === 0) return []; // bin/: nothing is to its left
        const right = LAYERS.slice(index + 1).map((l) => l.name);
        return {
          name: `layer-${folder}`,
          comment: `${folder}/ imports only itself and folders to its right (${right.join(', ')}); never ${forbidden.join(', ')}.`,
          severity: 'error',
          from: { path: `^${folder}/` },
          to: { path: anyOf(forbidden) },
        };
      }),
);

module.exports = {
  forbidden: [
    {
      name: 'no-lambda-imports-another',
      comment:
        'A Lambda folder (functions/ingest, evaluate, notify, compact, or a new one) never imports another Lambda ' +
        'folder. Move what both need to functions/shared (formats two Lambdas share) or functions/core (plumbing).',
      severity: 'error',
      from: { path: '^functions/(?!shared/|core/)([^/]+)/' },
      to: { path: '^functions/(?!shared/|core/)[^/]+/', pathNot: '^functions/$1/' },
    },
    {
      name: 'lambdas-import-no-layer-above',
      comment:
        'A Lambda folder imports only itself, functions/shared, functions/core, schemas and packages: never query, ' +
        'lib, local, console, cli or bin.',
      severity: 'error',
      from: { path: '^functions/(?!shared/|core/)[^/]+/' },
      to: { path: '^(bin|cli|local|console|lib|query)/' },
    },
    {
      name: 'schemas-import-only-schemas',
      comment:
        'schemas/ holds the contracts everything else builds on: it imports other schemas/ files and packages ' +
        '(zod), nothing else of ours.',
      severity: 'error',
      from: { path: '^schemas/' },
      to: { path: '^(bin|cli|local|console|lib|query|functions|test|scripts)/' },
    },
    ...layerRules,
    {
      name: 'no-test-code-in-source',
      comment: 'Source never imports from test/ (builders, support, fixtures belong to tests).',
      severity: 'error',
      from: { path: SOURCE },
      to: { path: '^test/' },
    },
    {
      name: 'no-circular',
      comment: 'No import cycles: a cycle means two modules are one job, or one of them holds what belongs lower.',
      severity: 'error',
      from: { path: SOURCE },
      to: { circular: true },
    },
    {
      name: 'no-orphans',
      comment: 'A source file nothing imports and that imports nothing is dead or misplaced: delete it or wire it in.',
      severity: 'error',
      from: { orphan: true, path: SOURCE },
      to: {},
    },
    {
      name: 'not-to-unresolvable',
      comment: 'Every import resolves to a file or an installed package.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|cdk\\.out|dist|\\.skein)/' },
    // Type-only imports count: a type from the wrong layer ties the layers together as much as a value does.
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
