import { compileRules } from '../functions/shared/rules/compile-rules.ts';
import {
  type LoadedRuleGroup,
  loadRules,
  type RuleError,
  readRuleSources,
} from '../functions/shared/rules/load-rules.ts';
import { SkeinError, UsageError } from '../schemas/errors.ts';
import { type CliIo, type Command, EXIT, parseCommandArgs, runGuarded, usageHint } from './io.ts';
import { plural } from './quarantine-command.ts';

export const RULES_VALIDATE_USAGE = `Usage: skein rules validate <file|dir>…

Checks alert rule files: YAML syntax, the rule schema, every expr and annotation template, group names unique
across all the files given, rule names unique within a group. A directory stands for its *.yaml and *.yml files
(recursively; rule test files *.test.yaml are left out). Prints each file with its group and rule counts, or each
problem as file:line:col: path: message. Exits 1 when any file has a problem.

Options:
  -h, --help   show this help

Examples:
  skein rules validate rules/
  skein rules validate rules/examples/cluster.yaml rules/team-a.yaml

The language is described in docs/rules.md.
`;

export const RULES_USAGE = `Usage: skein rules <command> [options]

Commands:
  validate <file|dir>…   check rule files; 'skein rules validate --help' for details
  test <file>…           run rule tests; 'skein rules test --help' for details
`;

/**
 * `cli/rules-test-command.ts` is loaded only for `skein rules test`: validation must work, and be testable,
 * without it.
 */
const rulesTest: Command = async (args, io) => {
  let loaded: typeof import('./rules-test-command.ts');
  try {
    loaded = await import('./rules-test-command.ts');
  } catch (error) {
    if (error instanceof Error && /rules-test-command/.test(error.message))
      throw new SkeinError('unavailable', `'skein rules test' is not available: ${error.message}`);
    throw error;
  }
  return loaded.rulesTestCommand(args, io);
};

/** `skein rules validate …` and `skein rules test …`. */
export function rulesCommand(args: string[], io: CliIo): Promise<number> {
  return runGuarded(io, RULES_USAGE, async () => {
    const [sub, ...rest] = args;
    if (sub === undefined) throw new UsageError('missing rules command: skein rules validate <file|dir>…');
    if (sub === '--help' || sub === '-h' || sub === 'help') {
      io.stdout.write(RULES_USAGE);
      return EXIT.ok;
    }
    if (sub === 'validate')
      return runGuarded(io, usageHint(RULES_VALIDATE_USAGE, 'skein rules validate'), () => validateCommand(rest, io));
    if (sub === 'test') return runGuarded(io, undefined, () => rulesTest(rest, io));
    throw new UsageError(`unknown command 'rules ${sub}'`);
  });
}

async function validateCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, {});
  if (values.help) {
    io.stdout.write(RULES_VALIDATE_USAGE);
    return EXIT.ok;
  }
  if (positionals.length === 0) throw new UsageError('give the rule files or directories to validate');

  const read = await readRuleSources(positionals);
  const loaded = loadRules(read.sources);
  const errors = [...read.errors, ...(loaded.ok ? [] : loaded.errors)];
  const texts = new Map(read.sources.map((s) => [s.path, s.text]));

  const byFile = new Map<string, RuleError[]>();
  for (const e of errors) byFile.set(e.file, [...(byFile.get(e.file) ?? []), e]);
  const files = [...new Set([...read.errors.map((e) => e.file), ...read.sources.map((s) => s.path)])];
  for (const file of files) {
    const fileErrors = byFile.get(file);
    if (fileErrors === undefined) {
      const groups = loaded.ok ? loaded.groups.filter((g) => g.file === file) : groupsOf(file, texts);
      const rules = groups.reduce((n, g) => n + g.rules.length, 0);
      io.stdout.write(`${file}: OK (${plural(groups.length, 'group')}, ${plural(rules, 'rule')})\n`);
      continue;
    }
    for (const e of fileErrors.sort((a, b) => a.line - b.line || a.column - b.column))
      io.stdout.write(formatRuleError(e, texts.get(file)));
  }

  if (!loaded.ok || read.errors.length > 0) {
    io.stderr.write(`skein: ${plural(errors.length, 'problem')} in ${plural(byFile.size, 'file')}\n`);
    return EXIT.failure;
  }
  const compiled = compileRules(loaded.groups);
  io.stdout.write(
    `${plural(files.length, 'file')}, ${plural(loaded.groups.length, 'group')}, ${plural(compiled.rules.length, 'rule')}: ` +
      `ingest rolls up ${plural(compiled.measures.length, 'measure')}\n`,
  );
  return EXIT.ok;
}

/** The groups of one file that is fine on its own (another file failed, so the whole load did). */
function groupsOf(file: string, texts: ReadonlyMap<string, string>): LoadedRuleGroup[] {
  const result = loadRules([{ path: file, text: texts.get(file) ?? '' }]);
  return result.ok ? result.groups : [];
}

/** `file:line:col: path: message`, then the source line and a caret under the column. */
export function formatRuleError(e: RuleError, text: string | undefined): string {
  const head = `${e.file}:${e.line}:${e.column}: ${e.path}: ${e.message}\n`;
  const line = text?.split('\n')[e.line - 1];
  if (line === undefined || line.trim() === '') return head;
  const shown = line.replace(/\t/g, ' ').replace(/\r$/, '');
  return `${head}  ${shown}\n  ${' '.repeat(Math.max(0, e.column - 1))}^\n`;
}
