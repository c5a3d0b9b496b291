import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type LoadResult, loadRuleFiles, loadRules, type RuleError } from '../../functions/shared/rules/load-rules.ts';
import { aRuleFile } from '../builders/rules.ts';

function errorsOf(result: LoadResult): RuleError[] {
  if (result.ok) throw new Error('loaded without errors');
  return result.errors;
}

function load(text: string, path = 'rules.yaml'): LoadResult {
  return loadRules([{ path, text }]);
}

describe('loadRules', () => {
  it('loads a valid file with defaults filled in', () => {
    // Act
    const result = load(aRuleFile());

    // Assess
    expect(result).toEqual({
      ok: true,
      groups: [
        {
          file: 'rules.yaml',
          name: 'api',
          interval: '1m',
          rules: [
            {
              name: 'HighErrorRate',
              expr: 'ratio(spans{status="error"}, spans) by (service) [5m] > 0.1',
              for: '0s',
              keep_firing_for: '0s',
              labels: { severity: 'critical' },
              annotations: {},
              no_data: 'ok',
            },
          ],
        },
      ],
    });
  });

  it('positions an expr error at its column in a plain scalar', () => {
    // Prepare
    const text = aRuleFile({ expr: 'ratio(spans{status="error"}, spans) by (service [5m] > 0.1' });

    // Act
    const [error, ...more] = errorsOf(load(text));

    // Assess
    expect(more).toEqual([]);
    expect(error).toEqual({
      file: 'rules.yaml',
      line: 5,
      column: 63,
      path: 'groups[0].rules[0].expr',
      message: "expected ')' after by labels, found '[' at column 49",
    });
    expect(text.split('\n')[4]?.charAt(62)).toBe('[');
  });

  it('positions expr errors inside quoted scalars with escapes and inside block scalars', () => {
    // Prepare
    const quoted = aRuleFile({ expr: '"count(logs{body=\\"x\\", status=\\"error\\"}) [5m] > 1"' });
    const block = aRuleFile({ expr: '|\n          count(logs)\n            by (service) [5x] > 1' });

    // Act
    const [q] = errorsOf(load(quoted));
    const [b] = errorsOf(load(block));

    // Assess
    expect(q).toMatchObject({ line: 5, message: expect.stringMatching(/^label 'status' exists only on spans/) });
    expect(quoted.split('\n')[4]?.slice((q?.column ?? 0) - 1)).toMatch(/^status=/);
    expect(b).toMatchObject({ line: 7, message: expect.stringMatching(/^invalid duration '5x'/) });
    expect(block.split('\n')[6]?.slice((b?.column ?? 0) - 1)).toMatch(/^5x\]/);
  });

  it('reports YAML syntax errors at their line', () => {
    const [error] = errorsOf(load('groups:\n  - name: a\n    rules: [\n'));
    expect(error).toMatchObject({ path: '(yaml)', line: 4 });
  });

  it('reports duplicate keys, unknown keys with a hint, missing keys and bad values each at its line', () => {
    // Prepare
    const text = [
      'groups:',
      '  - name: api',
      '    rules:',
      '      - name: A',
      '        expr: count(logs) [1m] > 0',
      '        labels: { severity: urgent }',
      '        annotation: { summary: x }',
      '        for: 5 minutes',
      '      - name: B',
      '        labels: { severity: info, 1bad: x }',
      '  - name: api2',
      '    interval: 30s',
      '    rules: []',
      '',
    ].join('\n');

    // Act
    const errors = errorsOf(load(text));

    // Assess
    expect(errors.map((e) => [e.line, e.path, e.message])).toEqual(
      expect.arrayContaining([
        [6, 'groups[0].rules[0].labels.severity', expect.stringMatching(/expected one of "critical"\|"error"/)],
        [7, 'groups[0].rules[0].annotation', "unknown key 'annotation': did you mean 'annotations'?"],
        [8, 'groups[0].rules[0].for', expect.stringMatching(/expected a duration like 30s, 5m/)],
        [9, 'groups[0].rules[1].expr', "missing 'expr'"],
        [10, 'groups[0].rules[1].labels.1bad', expect.stringMatching(/invalid label name '1bad'/)],
        [12, 'groups[1].interval', expect.stringMatching(/interval must be whole minutes/)],
      ]),
    );
    expect(errors).toHaveLength(6);
    expect(errorsOf(load('groups:\n  - name: a\n    name: b\n    rules: []\n'))[0]).toMatchObject({ line: 3 });
  });

  it('requires severity among the rule labels', () => {
    const [error] = errorsOf(load(aRuleFile().replace('severity: critical', 'team: x')));
    expect(error).toMatchObject({ line: 7, path: 'groups[0].rules[0].labels.severity', message: "missing 'severity'" });
  });

  it('rejects a group name used twice across files, pointing at the second with the first place', () => {
    const errors = errorsOf(
      loadRules([
        { path: 'a.yaml', text: aRuleFile() },
        { path: 'b.yaml', text: `# another team\n${aRuleFile({ name: 'Other' })}` },
      ]),
    );
    expect(errors).toEqual([
      {
        file: 'b.yaml',
        line: 3,
        column: 11,
        path: 'groups[0].name',
        message: "group 'api' is already defined at a.yaml:2:11",
      },
    ]);
  });

  it('rejects a rule name used twice in a group', () => {
    const text = `${aRuleFile()}      - name: HighErrorRate\n        expr: count(logs) [1m] > 0\n        labels: { severity: info }\n`;
    expect(errorsOf(load(text))).toEqual([
      expect.objectContaining({
        line: 8,
        message: "rule 'HighErrorRate' is already defined in group 'api' (rules[0])",
      }),
    ]);
  });

  it('reports template errors at their position, and expr errors even when the shape is wrong too', () => {
    // Prepare
    const text = aRuleFile({
      expr: 'count(logs) [5m]',
      severity: 'bad',
      extra: "        annotations:\n          summary: 'rate {{ $value | humanise }}'",
    });

    // Act
    const errors = errorsOf(load(text));

    // Assess
    expect(errors.map((e) => `${e.line}:${e.column} ${e.path}`)).toEqual([
      '7:21 groups[0].rules[0].labels.severity',
      '5:31 groups[0].rules[0].expr',
      '9:38 groups[0].rules[0].annotations.summary',
    ]);
  });

  it('rejects no_data on absent rules and by labels that collide as alert labels', () => {
    const absent = errorsOf(load(aRuleFile({ expr: 'absent(logs) [1m]', extra: '        no_data: alerting' })));
    expect(absent).toEqual([expect.objectContaining({ line: 8, path: 'groups[0].rules[0].no_data' })]);
    const collide = errorsOf(load(aRuleFile({ expr: 'count(logs) by (attr.a_b, attr.a.b) [1m] > 0' })));
    expect(collide[0]?.message).toBe("by labels 'attr.a.b' and 'attr.a_b' would both be alert label 'attr_a_b'");
  });

  it('reports an empty file and a file without groups', () => {
    expect(errorsOf(load(''))[0]?.message).toMatch(/the file is empty/);
    expect(errorsOf(load('rules: []\n')).map((e) => e.message)).toEqual([
      "missing 'groups'",
      "unknown key 'rules': expected groups",
    ]);
  });
});

describe('loadRuleFiles', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'skein-rules-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads *.yaml and *.yml under a directory, recursively, without rule test files', async () => {
    // Prepare
    await mkdir(join(dir, 'team'));
    await writeFile(join(dir, 'a.yaml'), aRuleFile({ group: 'a' }));
    await writeFile(join(dir, 'team', 'b.yml'), aRuleFile({ group: 'b' }));
    await writeFile(join(dir, 'a.test.yaml'), 'not: a rule file\n');
    await writeFile(join(dir, 'notes.txt'), 'x');

    // Act
    const result = await loadRuleFiles([dir]);

    // Assess
    expect(result.ok && result.groups.map((g) => [g.name, g.file])).toEqual([
      ['a', join(dir, 'a.yaml')],
      ['b', join(dir, 'team', 'b.yml')],
    ]);
  });

  it('reports a missing path and an empty directory as errors of that path', async () => {
    const errors = errorsOf(await loadRuleFiles([join(dir, 'nope.yaml'), dir]));
    expect(errors.map((e) => e.message)).toEqual([
      'no such file or directory',
      'no rule files (*.yaml, *.yml) in this directory',
    ]);
  });
});
