import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isMap, isNode, isScalar, LineCounter, parseDocument, type Scalar } from 'yaml';
import type { z } from 'zod';
import { AlertRule, RuleFile, RuleGroup } from '../../../schemas/rules.ts';
import { alertLabelName } from './compile-rules.ts';
import { editDistance, formatExprError, parseExpr } from './expr-parser.ts';
import { parseTemplate } from './template.ts';

export interface RuleSource {
  readonly path: string;
  readonly text: string;
}

/** A problem in a rule file: 1-based line and column, the YAML path (`groups[0].rules[2].expr`) and what is wrong. */
export interface RuleError {
  file: string;
  line: number;
  column: number;
  path: string;
  message: string;
}

/** A loaded group and the file it came from. */
export interface LoadedRuleGroup extends RuleGroup {
  readonly file: string;
}

export type LoadResult = { ok: true; groups: LoadedRuleGroup[] } | { ok: false; errors: RuleError[] };

/**
 * Parses and checks rule files: YAML syntax, the schema (schemas/rules.ts), every `expr` and annotation template,
 * group names unique across all sources, rule names unique within a group. Every problem is reported, each at its
 * line and column; on any problem no group is returned.
 * @example const result = loadRules([{ path: 'rules/api.yaml', text }]);
 */
export function loadRules(sources: readonly RuleSource[]): LoadResult {
  const errors: RuleError[] = [];
  const groups: LoadedRuleGroup[] = [];
  const seen = new Map<string, string>();
  for (const source of sources) {
    const file = new FileChecker(source);
    const loaded = file.load();
    for (const [i, group] of loaded.entries()) {
      const first = seen.get(group.name);
      if (first !== undefined)
        file.error(['groups', i, 'name'], `group '${group.name}' is already defined at ${first}`);
      else seen.set(group.name, file.where(['groups', i, 'name']));
      groups.push({ ...group, file: source.path });
    }
    errors.push(...file.errors);
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, groups };
}

const RULE_FILE = /\.ya?ml$/;
const RULE_TEST_FILE = /\.test\.ya?ml$/;

/**
 * Reads rule files and loads them with `loadRules`. A directory contributes its `*.yaml`/`*.yml` files (recursively,
 * sorted, rule test files `*.test.yaml` left out); a path that cannot be read is an error of that path.
 */
export async function loadRuleFiles(paths: readonly string[]): Promise<LoadResult> {
  const { sources, errors } = await readRuleSources(paths);
  const loaded = loadRules(sources);
  if (errors.length === 0) return loaded;
  return { ok: false, errors: [...errors, ...(loaded.ok ? [] : loaded.errors)] };
}

/** The rule files under `paths` (see `loadRuleFiles`), read, and the paths that could not be. */
export async function readRuleSources(
  paths: readonly string[],
): Promise<{ sources: RuleSource[]; errors: RuleError[] }> {
  const sources: RuleSource[] = [];
  const errors: RuleError[] = [];
  const fail = (file: string, message: string) => errors.push({ file, line: 1, column: 1, path: '(file)', message });
  for (const path of paths) {
    try {
      const info = await stat(path);
      if (!info.isDirectory()) {
        sources.push({ path, text: await readFile(path, 'utf8') });
        continue;
      }
      const files = (await readdir(path, { recursive: true, withFileTypes: true }))
        .filter((e) => e.isFile() && RULE_FILE.test(e.name) && !RULE_TEST_FILE.test(e.name))
        .map((e) => join(e.parentPath, e.name))
        .sort();
      if (files.length === 0) fail(path, 'no rule files (*.yaml, *.yml) in this directory');
      for (const file of files) sources.push({ path: file, text: await readFile(file, 'utf8') });
    } catch (error) {
      const code = error instanceof Error && 'code' in error ? String(error.code) : '';
      fail(path, code === 'ENOENT' ? 'no such file or directory' : `cannot read: ${code || String(error)}`);
    }
  }
  return { sources, errors };
}

type Path = readonly (string | number)[];

const KNOWN_KEYS: readonly (readonly string[])[] = [
  Object.keys(RuleFile.shape),
  Object.keys(RuleGroup.shape),
  Object.keys(AlertRule.shape),
];

/** Checks one file and positions its errors. */
class FileChecker {
  readonly errors: RuleError[] = [];
  private readonly lines = new LineCounter();
  private readonly doc;

  constructor(private readonly source: RuleSource) {
    this.doc = parseDocument(source.text, { lineCounter: this.lines, prettyErrors: false, uniqueKeys: true });
  }

  load(): RuleGroup[] {
    if (this.doc.errors.length > 0) {
      for (const e of this.doc.errors)
        this.errorAt(e.pos[0], '(yaml)', e.message.replace(/ at line \d+, column \d+.*$/s, ''));
      return [];
    }
    let value: unknown;
    try {
      value = this.doc.toJS({ maxAliasCount: 100 });
    } catch (error) {
      this.errorAt(0, '(yaml)', error instanceof Error ? error.message : String(error));
      return [];
    }
    if (value === null || value === undefined) {
      this.errorAt(0, '(root)', "the file is empty: expected 'groups:' with a list of rule groups");
      return [];
    }
    const parsed = RuleFile.safeParse(value);
    if (!parsed.success) for (const issue of parsed.error.issues) this.zodIssue(issue, value);
    // The expressions and templates are checked even when the shape is not right, so one run shows every problem.
    for (const [g, group] of listAt(value, ['groups']).entries()) this.checkGroup(g, group);
    return parsed.success && this.errors.length === 0 ? parsed.data.groups : [];
  }

  private checkGroup(g: number, group: unknown): void {
    const names = new Map<string, number>();
    const groupName = valueAt(group, ['name']);
    for (const [r, rule] of listAt(group, ['rules']).entries()) {
      const path = ['groups', g, 'rules', r];
      const name = valueAt(rule, ['name']);
      if (typeof name === 'string') {
        const first = names.get(name);
        if (first !== undefined)
          this.error(
            [...path, 'name'],
            `rule '${name}' is already defined in group '${String(groupName)}' (rules[${first}])`,
          );
        else names.set(name, r);
      }
      const expr = valueAt(rule, ['expr']);
      if (typeof expr === 'string') this.checkExpr(path, expr, valueAt(rule, ['no_data']));
      const annotations = valueAt(rule, ['annotations']);
      if (annotations !== null && typeof annotations === 'object' && !Array.isArray(annotations)) {
        for (const [key, text] of Object.entries(annotations)) {
          if (typeof text !== 'string') continue;
          const template = parseTemplate(text);
          if (!template.ok)
            this.errorInScalar([...path, 'annotations', key], template.error.offset, template.error.message);
        }
      }
    }
  }

  private checkExpr(path: Path, expr: string, noData: unknown): void {
    const parsed = parseExpr(expr);
    if (!parsed.ok) {
      this.errorInScalar([...path, 'expr'], parsed.error.offset, formatExprError(parsed.error));
      return;
    }
    const byNames = new Map<string, string>();
    for (const label of parsed.expr.by) {
      const name = alertLabelName(label);
      const other = byNames.get(name);
      if (other !== undefined)
        this.error([...path, 'expr'], `by labels '${other}' and '${label}' would both be alert label '${name}'`);
      byNames.set(name, label);
    }
    if (parsed.expr.type === 'absent' && noData !== undefined && noData !== 'ok')
      this.error([...path, 'no_data'], 'absent(…) rules fire on missing data already: no_data does not apply');
  }

  private zodIssue(issue: z.core.$ZodIssue, value: unknown): void {
    const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
    if (issue.code === 'unrecognized_keys') {
      const known = KNOWN_KEYS[depthOf(path)] ?? [];
      for (const key of issue.keys) {
        const close = known.find((k) => editDistance(key, k) <= 2);
        const hint = close === undefined ? `expected ${known.join(', ')}` : `did you mean '${close}'?`;
        this.error([...path, key], `unknown key '${key}': ${hint}`, true);
      }
      return;
    }
    if (
      (issue.code === 'invalid_type' || issue.code === 'invalid_value') &&
      valueAt(value, path) === undefined &&
      path.length > 0
    ) {
      const key = path[path.length - 1];
      this.error(path, typeof key === 'string' ? `missing '${key}'` : 'missing value');
      return;
    }
    this.error(path, issue.message);
  }

  /** `file:line:col` of the node at `path` (or its nearest ancestor). */
  where(path: Path): string {
    const { line, col } = this.lines.linePos(this.nodeOffset(path, false));
    return `${this.source.path}:${line}:${col}`;
  }

  error(path: Path, message: string, atKey = false): void {
    this.errorAt(this.nodeOffset(path, atKey), formatPath(path), message);
  }

  private errorAt(offset: number, path: string, message: string): void {
    const { line, col } = this.lines.linePos(offset);
    this.errors.push({ file: this.source.path, line, column: col, path, message });
  }

  /** An error at `offset` of the string value at `path`, positioned in the source however the scalar is written. */
  private errorInScalar(path: Path, offset: number, message: string): void {
    const node = this.doc.getIn(path, true);
    const at = isScalar(node) ? scalarSourceOffset(this.source.text, node, offset) : this.nodeOffset(path, false);
    this.errorAt(at, formatPath(path), message);
  }

  private nodeOffset(path: Path, atKey: boolean): number {
    for (let n = path.length; n >= 0; n--) {
      const prefix = path.slice(0, n);
      if (atKey && n === path.length && n > 0) {
        const parent = this.doc.getIn(prefix.slice(0, -1), true);
        if (isMap(parent)) {
          const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === prefix[prefix.length - 1]);
          const range = pair !== undefined && isScalar(pair.key) ? pair.key.range : undefined;
          if (range) return range[0];
        }
        continue;
      }
      const node: unknown = prefix.length === 0 ? this.doc.contents : this.doc.getIn(prefix, true);
      const range = rangeOf(node);
      if (range !== undefined) return range;
    }
    return 0;
  }
}

function rangeOf(node: unknown): number | undefined {
  return isNode(node) ? node.range?.[0] : undefined;
}

/** 0 for the file, 1 for a group, 2 for a rule: which keys an object at `path` may have. */
function depthOf(path: Path): number {
  if (path.length === 0) return 0;
  if (path.length === 2 && path[0] === 'groups') return 1;
  if (path.length === 4 && path[2] === 'rules') return 2;
  return -1;
}

function listAt(value: unknown, path: Path): unknown[] {
  const list = valueAt(value, path);
  return Array.isArray(list) ? list : [];
}

function valueAt(value: unknown, path: Path): unknown {
  let current = value;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = Reflect.get(current, key);
  }
  return current;
}

/** `groups[0].rules[2].expr`. */
export function formatPath(path: Path): string {
  let text = '';
  for (const p of path) text += typeof p === 'number' ? `[${p}]` : text === '' ? p : `.${p}`;
  return text === '' ? '(root)' : text;
}

/**
 * Where character `offset` of a scalar's value is in the source. Exact for plain and quoted one-line scalars (escapes
 * counted) and for block scalars (`|`, `>`) line by line; folded multi-line flow scalars map line by line too.
 */
export function scalarSourceOffset(text: string, node: Scalar, offset: number): number {
  const range = node.range;
  if (!range) return 0;
  const [start, end] = range;
  const raw = text.slice(start, end);
  if ((node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE') && !raw.includes('\n')) {
    let value = 0;
    let i = 1;
    while (i < raw.length - 1 && value < offset) {
      const c = raw.charAt(i);
      if (node.type === 'QUOTE_DOUBLE' && c === '\\') {
        const e = raw.charAt(i + 1);
        i += e === 'x' ? 4 : e === 'u' ? 6 : e === 'U' ? 10 : 2;
      } else if (node.type === 'QUOTE_SINGLE' && c === "'" && raw.charAt(i + 1) === "'") i += 2;
      else i += 1;
      value++;
    }
    return start + Math.min(i, raw.length - 1);
  }
  // Line by line: each source line's content start, each line break one character of the value.
  const segments: { at: number; length: number }[] = [];
  const block = node.type === 'BLOCK_LITERAL' || node.type === 'BLOCK_FOLDED';
  const lines = raw.split('\n');
  let lineStart = start;
  const contentLines = block ? lines.slice(1) : lines;
  if (block) lineStart += (lines[0]?.length ?? 0) + 1;
  const indent = block
    ? Math.min(...contentLines.filter((l) => l.trim() !== '').map((l) => l.length - l.trimStart().length))
    : 0;
  const quoted = node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE';
  for (const [k, line] of contentLines.entries()) {
    const lead = block ? Math.min(indent, line.length) : line.length - line.trimStart().length;
    const skip = quoted && k === 0 ? 1 : 0;
    segments.push({ at: lineStart + lead + skip, length: line.trim().length - skip });
    lineStart += line.length + 1;
  }
  let rest = offset;
  for (const s of segments) {
    if (rest <= s.length) return s.at + rest;
    rest -= s.length + 1;
  }
  const last = segments[segments.length - 1];
  return last === undefined ? start : last.at + last.length;
}
