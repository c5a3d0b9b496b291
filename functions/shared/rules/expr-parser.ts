import { formatDuration, parseDuration } from '../../../schemas/durations.ts';
import { type Matcher, MatchOp, type Selector } from '../../../schemas/measures.ts';
import { type ExprError, lexExpr, type Token } from './expr-lexer.ts';

/**
 * The rule expression language (docs/rules.md):
 * ```
 * rule       := value_expr cmp threshold | absent_expr
 * value_expr := func [by] '[' duration ']'
 * func       := count(sel) | rate(sel) | ratio(sel, sel) | quantile(q, field, sel)
 *             | max(field, sel) | min(field, sel) | avg(field, sel) | sum(field, sel)
 * absent_expr:= absent(sel) [by] '[' duration ']'
 * by         := 'by' '(' label {',' label} ')'
 * sel        := ('logs' | 'spans') ['{' matcher {',' matcher} '}']
 * matcher    := label ('=' | '!=' | '=~' | '!~' | '>=' | '>' | '<=' | '<') string
 * threshold  := number ['%' | 'ms' | 's' | 'm' | 'h']
 * ```
 * The parser also checks meaning: labels per table, fields, severity values, regexes, ranges.
 */

export const VALUE_FUNCS = ['count', 'rate', 'ratio', 'quantile', 'max', 'min', 'avg', 'sum'] as const;
export type ValueFunc = (typeof VALUE_FUNCS)[number];
export const COMPARISONS = ['>', '>=', '<', '<=', '==', '!='] as const;
export type Comparison = (typeof COMPARISONS)[number];

export const SEVERITY_VALUES = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export const STATUS_VALUES = ['unset', 'ok', 'error'] as const;
export const KIND_VALUES = ['server', 'client', 'internal', 'producer', 'consumer', 'unspecified'] as const;

/** The longest range a rule may look back over: the evaluator reads one rollup object per minute of it. */
export const MAX_WINDOW_MS = 86_400_000;

export interface ValueExpr {
  readonly type: 'value';
  readonly func: ValueFunc;
  /** `quantile` only. */
  readonly q?: number;
  /** `quantile`, `max`, `min`, `avg`, `sum`: `duration` or `attr.<key>`. */
  readonly field?: string;
  /** One selector; two for `ratio` (numerator, denominator). */
  readonly selectors: readonly Selector[];
  /** Group-by labels, sorted, without duplicates. */
  readonly by: readonly string[];
  readonly windowMs: number;
  readonly cmp: Comparison;
  readonly threshold: number;
}

export interface AbsentExpr {
  readonly type: 'absent';
  readonly selectors: readonly [Selector];
  readonly by: readonly string[];
  readonly windowMs: number;
}

export type RuleExpr = ValueExpr | AbsentExpr;

export type ParseResult = { ok: true; expr: RuleExpr } | { ok: false; error: ExprError };

/** `message at column N` (1-based) for an error of `parseExpr`. */
export function formatExprError(error: ExprError): string {
  return `${error.message} at column ${error.offset + 1}`;
}

/**
 * Parses and checks a rule expression. Never throws: every problem comes back as an `ExprError` at an offset.
 * @example parseExpr('ratio(spans{status="error"}, spans) by (service) [5m] > 0.1')
 */
export function parseExpr(text: string): ParseResult {
  const lexed = lexExpr(text);
  if (!lexed.ok) return lexed;
  try {
    return { ok: true, expr: new Parser(lexed.tokens).rule() };
  } catch (error) {
    if (error instanceof ParseFailure) return { ok: false, error: { offset: error.offset, message: error.message } };
    throw error;
  }
}

/** Thrown inside the parser only; `parseExpr` turns it into a result. */
class ParseFailure extends Error {
  constructor(
    readonly offset: number,
    message: string,
  ) {
    super(message);
  }
}

const TABLES = ['logs', 'spans'] as const;
type Table = (typeof TABLES)[number];
const COMMON_LABELS = ['service', 'request_id'];
const TABLE_LABELS: Readonly<Record<Table, readonly string[]>> = {
  logs: ['severity', 'body'],
  spans: ['name', 'kind', 'status'],
};
const ENUM_VALUES: Readonly<Record<string, readonly string[]>> = {
  severity: SEVERITY_VALUES,
  status: STATUS_VALUES,
  kind: KIND_VALUES,
};
const ATTR_KEY = /^(attr|resource)\.[A-Za-z0-9_.-]+$/;
const MATCH_OPS: readonly MatchOp[] = MatchOp.options;
const ORDER_OPS: readonly string[] = ['>=', '>', '<=', '<'];
const FIELD_FUNCS: readonly string[] = ['quantile', 'max', 'min', 'avg', 'sum'];
const DURATION_UNITS_MS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

function describe(token: Token): string {
  return token.kind === 'eof' ? 'the end' : `'${token.text}'`;
}

function isTable(name: string): name is Table {
  return name === 'logs' || name === 'spans';
}

function suggestion(word: string, candidates: readonly string[]): string {
  const close = candidates.find((c) => editDistance(word.toLowerCase(), c) <= Math.max(1, Math.floor(c.length / 4)));
  return close === undefined ? '' : ` (did you mean '${close}'?)`;
}

/** Levenshtein distance, for "did you mean" hints on short words. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a.charAt(i - 1) === b.charAt(j - 1) ? 0 : 1;
      row.push(Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost));
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}

class Parser {
  private at = 0;
  constructor(private readonly tokens: readonly Token[]) {}

  private peek(ahead = 0): Token {
    const last = this.tokens[this.tokens.length - 1];
    const token = this.tokens[this.at + ahead] ?? last;
    if (token === undefined) throw new ParseFailure(0, 'internal: no tokens');
    return token;
  }

  private next(): Token {
    const token = this.peek();
    if (token.kind !== 'eof') this.at++;
    return token;
  }

  private fail(token: Token, message: string): never {
    throw new ParseFailure(token.offset, message);
  }

  private isPunct(text: string): boolean {
    const t = this.peek();
    return t.kind === 'punct' && t.text === text;
  }

  private expectPunct(text: string, context: string): Token {
    const t = this.peek();
    if (t.kind !== 'punct' || t.text !== text) this.fail(t, `expected '${text}' ${context}, found ${describe(t)}`);
    return this.next();
  }

  rule(): RuleExpr {
    const head = this.peek();
    if (head.kind === 'eof')
      this.fail(head, 'empty expression: expected e.g. ratio(spans{status="error"}, spans) by (service) [5m] > 0.1');
    if (head.kind !== 'ident')
      this.fail(head, `expected a function (${[...VALUE_FUNCS, 'absent'].join(', ')}), found ${describe(head)}`);
    const name = head.text;
    if (name === 'absent') return this.absent();
    const func = VALUE_FUNCS.find((f) => f === name);
    if (func === undefined) {
      const hint = suggestion(name, [...VALUE_FUNCS, 'absent']);
      this.fail(head, `unknown function '${name}'${hint}: use one of ${[...VALUE_FUNCS, 'absent'].join(', ')}`);
    }
    return this.value(func);
  }

  private absent(): AbsentExpr {
    this.next();
    this.expectPunct('(', 'after absent');
    const selector = this.selector('absent');
    this.expectPunct(')', 'after the selector of absent(…)');
    const by = this.by([selector]);
    const windowMs = this.window('absent(…)');
    const rest = this.peek();
    if (rest.kind === 'op')
      this.fail(rest, `absent(…) takes no comparison: it is active when no row matches in the range`);
    this.end();
    return { type: 'absent', selectors: [selector], by, windowMs };
  }

  private value(func: ValueFunc): ValueExpr {
    this.next();
    this.expectPunct('(', `after ${func}`);
    let q: number | undefined;
    let field: { name: string; token: Token } | undefined;
    if (func === 'quantile') {
      q = this.quantileArg();
      this.expectPunct(',', 'after the quantile, before the field');
    }
    if (FIELD_FUNCS.includes(func)) {
      field = this.field(func);
      this.expectPunct(',', `after the field ${field.name}, before the selector`);
    }
    const selectors = [this.selector(func)];
    if (func === 'ratio') {
      this.expectPunct(',', 'between the two selectors of ratio(matching, total)');
      selectors.push(this.selector(func));
    }
    this.expectPunct(')', `after the ${func === 'ratio' ? 'selectors' : 'selector'} of ${func}(…)`);
    if (field !== undefined && field.name === 'duration') {
      const logs = selectors.find((s) => s.table === 'logs');
      if (logs !== undefined)
        this.fail(field.token, `field 'duration' exists only on spans; on logs use a numeric attribute (attr.<key>)`);
    }
    const by = this.by(selectors);
    const windowMs = this.window(`${func}(…)`);
    const cmpToken = this.peek();
    const cmp = COMPARISONS.find((c) => cmpToken.kind === 'op' && c === cmpToken.text);
    if (cmp === undefined)
      this.fail(
        cmpToken,
        `expected a comparison (${COMPARISONS.join(' ')}) after the range, found ${describe(cmpToken)}`,
      );
    this.next();
    const threshold = this.threshold(cmp, field?.name);
    this.end();
    return {
      type: 'value',
      func,
      ...(q === undefined ? {} : { q }),
      ...(field === undefined ? {} : { field: field.name }),
      selectors,
      by,
      windowMs,
      cmp,
      threshold,
    };
  }

  private end(): void {
    const t = this.peek();
    if (t.kind !== 'eof') this.fail(t, `unexpected ${describe(t)} after the end of the expression`);
  }

  private quantileArg(): number {
    const t = this.peek();
    if (t.kind !== 'number')
      this.fail(t, `expected the quantile (a number between 0 and 1, e.g. 0.99), found ${describe(t)}`);
    const q = Number(t.value);
    if (!(q > 0 && q < 1)) this.fail(t, `quantile must be between 0 and 1 (exclusive), got ${t.text}`);
    this.next();
    return q;
  }

  private field(func: string): { name: string; token: Token } {
    const t = this.peek();
    if (t.kind !== 'ident')
      this.fail(
        t,
        `expected a numeric field (duration or attr.<key>) as the first argument of ${func}, found ${describe(t)}`,
      );
    if (t.text !== 'duration' && !ATTR_KEY.test(t.text)) {
      const hint = isTable(t.text) ? `; ${func}(field, ${t.text}{…}) takes the field first` : '';
      this.fail(t, `'${t.text}' is not a numeric field: use duration (spans, ms), attr.<key> or resource.<key>${hint}`);
    }
    this.next();
    return { name: t.text, token: t };
  }

  private selector(func: string): Selector {
    const t = this.peek();
    if (t.kind !== 'ident' || !isTable(t.text)) {
      const hint = t.kind === 'ident' ? suggestion(t.text, TABLES) : '';
      this.fail(t, `expected a selector (logs or spans) in ${func}(…), found ${describe(t)}${hint}`);
    }
    this.next();
    const table = t.text;
    const matchers: Matcher[] = [];
    if (!this.isPunct('{')) return { table, matchers };
    this.next();
    if (this.isPunct('}')) {
      this.next();
      return { table, matchers };
    }
    for (;;) {
      matchers.push(this.matcher(table));
      if (this.isPunct(',')) {
        this.next();
        if (this.isPunct('}')) break; // a trailing comma, as PromQL allows
        continue;
      }
      if (this.isPunct('}')) break;
      const bad = this.peek();
      this.fail(bad, `expected ',' or '}' after a matcher in ${table}{…}, found ${describe(bad)}`);
    }
    this.next();
    return { table, matchers };
  }

  private matcher(table: Table): Matcher {
    const labelToken = this.peek();
    if (labelToken.kind !== 'ident')
      this.fail(labelToken, `expected a label name in ${table}{…}, found ${describe(labelToken)}`);
    this.checkLabel(labelToken, [table]);
    this.next();
    const label = labelToken.text;
    const opToken = this.peek();
    const op = MATCH_OPS.find((o) => opToken.kind === 'op' && o === opToken.text);
    if (op === undefined)
      this.fail(opToken, `expected a match operator (= != =~ !~) after '${label}', found ${describe(opToken)}`);
    const numeric = label.startsWith('attr.') || label.startsWith('resource.');
    if (ORDER_OPS.includes(op) && label !== 'severity' && !numeric)
      this.fail(opToken, `'${op}' compares severities and numeric attributes only; for '${label}' use = != =~ !~`);
    this.next();
    const valueToken = this.peek();
    if (valueToken.kind !== 'string')
      this.fail(valueToken, `expected a quoted string after '${label}${op}', found ${describe(valueToken)}`);
    this.next();
    const value = valueToken.value;
    if (op === '=~' || op === '!~') this.checkRegex(valueToken, value);
    else if (numeric && ORDER_OPS.includes(op)) {
      if (value.trim() === '' || !Number.isFinite(Number(value)))
        this.fail(valueToken, `'${label}${op}' needs a number in quotes, e.g. "500", got ${JSON.stringify(value)}`);
    } else this.checkEnumValue(valueToken, label, value, ORDER_OPS.includes(op));
    return { label, op, value };
  }

  private checkEnumValue(token: Token, label: string, value: string, ordered: boolean): void {
    const allowed = ENUM_VALUES[label];
    if (allowed === undefined) return;
    if (allowed.includes(value) || (value === '' && !ordered)) return;
    const hint = allowed.includes(value.toLowerCase()) ? ` (values are lowercase: '${value.toLowerCase()}')` : '';
    this.fail(token, `'${value}' is not a ${label}: one of ${allowed.join(', ')}${hint}`);
  }

  private checkRegex(token: Token, source: string): void {
    if (/\(\?<?[=!]/.test(source) || /\\[1-9]/.test(source))
      this.fail(token, 'lookarounds and backreferences are not supported in regexes (RE2 syntax)');
    try {
      new RegExp(`^(?:${source})$`, 'su');
    } catch (error) {
      const reason =
        error instanceof Error ? error.message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '') : 'invalid';
      this.fail(token, `invalid regex ${JSON.stringify(source)}: ${reason}`);
    }
  }

  private checkLabel(token: Token, tables: readonly Table[]): void {
    const label = token.text;
    if (COMMON_LABELS.includes(label)) return;
    if (label.startsWith('attr.') || label.startsWith('resource.')) {
      if (!ATTR_KEY.test(label)) this.fail(token, `invalid label '${label}': keys are [A-Za-z0-9_.-]+`);
      return;
    }
    for (const table of tables) {
      if (TABLE_LABELS[table].includes(label)) continue;
      const other = TABLES.find((t) => t !== table && TABLE_LABELS[t].includes(label));
      if (other !== undefined)
        this.fail(
          token,
          `label '${label}' exists only on ${other}, not on ${table}: ${table} have ${labelList(table)}`,
        );
      const hint = suggestion(label, [...COMMON_LABELS, ...TABLE_LABELS[table]]);
      this.fail(token, `unknown label '${label}'${hint}: ${table} have ${labelList(table)}`);
    }
  }

  private by(selectors: readonly Selector[]): string[] {
    const t = this.peek();
    if (!(t.kind === 'ident' && t.text === 'by')) return [];
    this.next();
    this.expectPunct('(', "after 'by'");
    const labels = new Set<string>();
    const tables = [...new Set(selectors.map((s) => s.table))];
    for (;;) {
      const label = this.peek();
      if (label.kind !== 'ident') this.fail(label, `expected a label name in by (…), found ${describe(label)}`);
      this.checkLabel(label, tables);
      labels.add(label.text);
      this.next();
      if (this.isPunct(',')) {
        this.next();
        continue;
      }
      if (this.isPunct(')')) break;
      const bad = this.peek();
      this.fail(bad, `expected ')' after by labels, found ${describe(bad)}`);
    }
    this.next();
    return [...labels].sort(compareStrings);
  }

  private window(what: string): number {
    const open = this.peek();
    if (!(open.kind === 'punct' && open.text === '['))
      this.fail(
        open,
        `expected a range like [5m] after ${what}${open.kind === 'eof' ? '' : `, found ${describe(open)}`}`,
      );
    this.next();
    const t = this.peek();
    if (t.kind !== 'duration' && t.kind !== 'number')
      this.fail(t, `expected a duration like 5m in the range, found ${describe(t)}`);
    const ms = parseDuration(t.text);
    if (ms === undefined) this.fail(t, `invalid duration '${t.text}': use s, m, h, d like 5m or 1h30m`);
    if (ms < 60_000 || ms % 60_000 !== 0)
      this.fail(t, `range [${t.text}] must be whole minutes (1m or more): rollups are per minute`);
    if (ms > MAX_WINDOW_MS) this.fail(t, `range [${t.text}] is longer than ${formatDuration(MAX_WINDOW_MS)}`);
    this.next();
    this.expectPunct(']', 'after the range');
    return ms;
  }

  private threshold(cmp: string, field: string | undefined): number {
    const t = this.peek();
    if (t.kind === 'number') {
      const number = Number(t.value);
      if (!Number.isFinite(number)) this.fail(t, `invalid number '${t.text}'`);
      this.next();
      return number;
    }
    if (t.kind === 'duration') {
      const m = /^(-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(%|ms|s|m|h)$/.exec(t.text);
      const number = Number(m?.[1]);
      const unit = Number.isFinite(number) ? m?.[2] : undefined;
      if (unit === '%') {
        this.next();
        return number / 100;
      }
      const scale = unit === undefined ? undefined : DURATION_UNITS_MS[unit];
      if (scale !== undefined) {
        if (field !== 'duration')
          this.fail(t, `'${t.text}' has a time unit, but the value is not a duration (field duration of spans, in ms)`);
        this.next();
        return number * scale;
      }
      this.fail(t, `invalid number '${t.text}' after '${cmp}': units are %, or ms s m h for durations`);
    }
    return this.fail(t, `expected a number after '${cmp}', found ${describe(t)}`);
  }
}

function labelList(table: Table): string {
  return [...COMMON_LABELS, ...TABLE_LABELS[table], 'attr.<key>', 'resource.<key>'].join(', ');
}

/** Plain code-unit order: the same everywhere (no locale). */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
