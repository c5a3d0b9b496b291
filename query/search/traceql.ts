import { type ExprError, type LexSyntax, lexExpr, type Token } from '../../functions/shared/rules/expr-lexer.ts';
import { editDistance } from '../../functions/shared/rules/expr-parser.ts';
import { parseSpanDuration } from '../../schemas/durations.ts';

/**
 * The TraceQL subset `skein query search` understands (docs/search.md, point by point against TraceQL):
 * ```
 * query      := spanset {('&&' | '||') spanset}          (&& binds tighter; parentheses group)
 * spanset    := '{' [expr] '}'
 * expr       := and {'||' and}
 * and        := term {'&&' term}
 * term       := '(' expr ')' | 'true' | field op value
 * field      := name | status | kind | duration | statusMessage | traceDuration | rootName | rootServiceName
 *             | span.<key> | resource.<key> | .<key>
 * op         := '=' | '!=' | '>' | '>=' | '<' | '<=' | '=~' | '!~'
 * value      := "string" | number | duration (1.5s, 500ms, 100us) | true | false | error | ok | unset
 *             | server | client | internal | producer | consumer | unspecified
 * ```
 * Anything else TraceQL has (pipelines, aggregates, structural operators, `select`, arithmetic, `nil`, events and
 * links) is refused with a message at its column.
 */

/** Fields a span carries (one per span) and fields of the whole trace (the same for every span of it). */
export const SPAN_INTRINSICS = ['name', 'status', 'kind', 'duration', 'statusMessage'] as const;
export const TRACE_INTRINSICS = ['traceDuration', 'rootName', 'rootServiceName'] as const;
export type SpanIntrinsic = (typeof SPAN_INTRINSICS)[number];
export type TraceIntrinsic = (typeof TRACE_INTRINSICS)[number];

export const STATUSES = ['error', 'ok', 'unset'] as const;
export const KINDS = ['server', 'client', 'internal', 'producer', 'consumer', 'unspecified'] as const;
export type Status = (typeof STATUSES)[number];
export type Kind = (typeof KINDS)[number];

export type Field =
  | { readonly type: 'intrinsic'; readonly name: SpanIntrinsic | TraceIntrinsic }
  /** `resource.service.name` and `.service.name`: the `service_name` column. */
  | { readonly type: 'service' }
  /** `span.<key>` (span attributes), `resource.<key>` (resource attributes) or `.<key>` (either, span first). */
  | { readonly type: 'attribute'; readonly scope: 'span' | 'resource' | 'any'; readonly key: string };

export type Value =
  | { readonly type: 'string'; readonly value: string }
  | { readonly type: 'number'; readonly value: number }
  | { readonly type: 'duration'; readonly nanos: bigint }
  | { readonly type: 'bool'; readonly value: boolean }
  | { readonly type: 'status'; readonly value: Status }
  | { readonly type: 'kind'; readonly value: Kind };

export const OPERATORS = ['=', '!=', '>', '>=', '<', '<=', '=~', '!~'] as const;
export type Operator = (typeof OPERATORS)[number];

/** One comparison; `text` is how the filter wrote it (for messages and docs). */
export interface Condition {
  readonly type: 'condition';
  readonly field: Field;
  readonly op: Operator;
  readonly value: Value;
  /** A compiled `=~`/`!~` pattern, fully anchored. */
  readonly regex?: RegExp;
  readonly offset: number;
  readonly text: string;
}

/** A condition on one span: comparisons joined by `&&`/`||`; `true` matches every span. */
export type SpanExpr =
  | Condition
  | { readonly type: 'true' }
  | { readonly type: 'and' | 'or'; readonly left: SpanExpr; readonly right: SpanExpr };

/** A spanset `{ … }`: the traces with at least one span satisfying `expr`; spansets joined by `&&`/`||`. */
export type SearchQuery =
  | { readonly type: 'spanset'; readonly expr: SpanExpr }
  | { readonly type: 'and' | 'or'; readonly left: SearchQuery; readonly right: SearchQuery };

export type SearchParse = { ok: true; query: SearchQuery } | { ok: false; error: ExprError };

/** The lexer of the rule language with TraceQL's operators: the ones refused are lexed so they can be pointed at. */
const SEARCH_SYNTAX: LexSyntax = {
  ops: [
    '!>>',
    '!<<',
    '&>>',
    '&<<',
    '&&',
    '||',
    '==',
    '>>',
    '<<',
    '!=',
    '=~',
    '!~',
    '>=',
    '<=',
    '&~',
    '=',
    '>',
    '<',
    '~',
    '|',
    '!',
    '&',
    '+',
    '*',
    '/',
    '^',
  ],
  leadingDot: true,
};

const STRUCTURAL: Readonly<Record<string, string>> = {
  '>>': 'descendant',
  '<<': 'ancestor',
  '>': 'child',
  '<': 'parent',
  '~': 'sibling',
  '!>>': 'not-descendant',
  '!<<': 'not-ancestor',
  '&>>': 'union descendant',
  '&<<': 'union ancestor',
  '&~': 'union sibling',
};
const AGGREGATES = ['count', 'avg', 'min', 'max', 'sum', 'quantile_over_time', 'rate', 'histogram_over_time'];
const PIPELINE_WORDS = ['select', 'by', 'coalesce', 'count', 'avg', 'min', 'max', 'sum'];
/** TraceQL fields Skein has no column for (or does not support yet), with why. */
const UNSUPPORTED_FIELDS: Readonly<Record<string, string>> = {
  childCount: 'spans do not record their number of children',
  nestedSetLeft: 'nested-set positions are not stored',
  nestedSetRight: 'nested-set positions are not stored',
  nestedSetParent: 'nested-set positions are not stored',
  traceID: 'search by trace id with skein query trace <id>',
  'trace:id': 'search by trace id with skein query trace <id>',
  spanID: 'span ids are not searchable; look the trace up with skein query trace <id>',
  'span:id': 'span ids are not searchable; look the trace up with skein query trace <id>',
  parent: 'parent-span conditions are structural and not supported',
  instrumentation: 'instrumentation scope attributes are not stored apart from the scope name',
};
const SCOPED_INTRINSICS: Readonly<Record<string, SpanIntrinsic | TraceIntrinsic>> = {
  'span:name': 'name',
  'span:status': 'status',
  'span:kind': 'kind',
  'span:duration': 'duration',
  'span:statusMessage': 'statusMessage',
  'trace:duration': 'traceDuration',
  'trace:rootName': 'rootName',
  'trace:rootService': 'rootServiceName',
};
const ATTRIBUTE_KEY = /^[A-Za-z0-9_.:/-]+$/;

/** `message at column N` and the filter with a caret under that column (rule errors print the same way). */
export function formatSearchError(filter: string, error: ExprError): string {
  const line = filter.replace(/[\r\n\t]/g, ' ');
  return `${error.message} at column ${error.offset + 1}\n  ${line}\n  ${' '.repeat(error.offset)}^`;
}

/**
 * Parses a search filter. Never throws: anything outside the subset comes back as an error at its offset.
 * @example parseSearch('{ resource.service.name = "orders" && status = error }')
 */
export function parseSearch(text: string): SearchParse {
  const lexed = lexExpr(text, SEARCH_SYNTAX);
  if (!lexed.ok) {
    const c = text.charAt(lexed.error.offset);
    const message = c === '$' || c === '@' ? `'${c}' is not TraceQL` : lexed.error.message;
    return { ok: false, error: { offset: lexed.error.offset, message } };
  }
  try {
    return { ok: true, query: new SearchParser(text, lexed.tokens).query() };
  } catch (error) {
    if (error instanceof SearchFailure) return { ok: false, error: { offset: error.offset, message: error.message } };
    throw error;
  }
}

/** The `and`/`or` nodes the parser builds, one per grammar level. */
const joinSpansets = (type: 'or' | 'and', left: SearchQuery, right: SearchQuery): SearchQuery => ({
  type,
  left,
  right,
});
const joinExprs = (type: 'or' | 'and', left: SpanExpr, right: SpanExpr): SpanExpr => ({ type, left, right });

class SearchFailure extends Error {
  constructor(
    readonly offset: number,
    message: string,
  ) {
    super(message);
  }
}

function describe(token: Token): string {
  return token.kind === 'eof' ? 'the end' : `'${token.text}'`;
}

function isOp(token: Token, ...ops: string[]): boolean {
  return token.kind === 'op' && ops.includes(token.text);
}

function isPunct(token: Token, text: string): boolean {
  return token.kind === 'punct' && token.text === text;
}

class SearchParser {
  private at = 0;
  constructor(
    private readonly source: string,
    private readonly tokens: readonly Token[],
  ) {}

  private peek(ahead = 0): Token {
    const token = this.tokens[this.at + ahead] ?? this.tokens[this.tokens.length - 1];
    if (token === undefined) throw new SearchFailure(0, 'internal: no tokens');
    return token;
  }

  private next(): Token {
    const token = this.peek();
    if (token.kind !== 'eof') this.at++;
    return token;
  }

  private fail(token: Token, message: string): never {
    throw new SearchFailure(token.offset, message);
  }

  query(): SearchQuery {
    const head = this.peek();
    if (head.kind === 'eof')
      this.fail(head, 'empty filter: expected a spanset like { resource.service.name = "orders" && status = error }');
    const query = this.spansetOr();
    const rest = this.peek();
    if (rest.kind !== 'eof') this.failAfterSpanset(rest);
    return query;
  }

  /**
   * Operands joined by `||` (`or`) or `&&` (`and`), left-associative: `a || b || c` is `(a || b) || c`. Spansets and
   * span expressions both use it; `&&` binds tighter because each `||` operand is parsed as an `&&` chain.
   */
  private chain<T extends SearchQuery | SpanExpr>(
    type: 'or' | 'and',
    operand: () => T,
    join: (type: 'or' | 'and', left: T, right: T) => T,
  ): T {
    const op = type === 'or' ? '||' : '&&';
    let left = operand();
    while (isOp(this.peek(), op)) {
      this.next();
      left = join(type, left, operand());
    }
    return left;
  }

  /** Spansets joined by `||`, whose operands are joined by `&&`. */
  private spansetOr(): SearchQuery {
    return this.chain('or', () => this.spansetAnd(), joinSpansets);
  }

  private spansetAnd(): SearchQuery {
    return this.chain('and', () => this.spansetTerm(), joinSpansets);
  }

  private spansetTerm(): SearchQuery {
    const t = this.peek();
    if (isPunct(t, '('))
      return this.group(
        () => this.spansetOr(),
        (close) =>
          close.kind === 'eof'
            ? this.fail(close, "missing ')' to close the group of spansets")
            : this.failAfterSpanset(close),
      );
    if (isPunct(t, '{')) return this.spanset();
    if (t.kind === 'ident' && AGGREGATES.includes(t.text) && isPunct(this.peek(1), '('))
      this.fail(t, `aggregate ${t.text}() is not supported: search returns traces, not metrics`);
    if (t.kind === 'ident' && /^[a-z_]+$/.test(t.text) && isOp(this.peek(1), ...OPERATORS))
      this.fail(t, `conditions go inside braces: { ${this.source.slice(t.offset).trim()} }`);
    return this.fail(t, `expected a spanset '{ … }', found ${describe(t)}`);
  }

  /** `( inner )`, the next token being `(`: the inner expression; `unclosed` reports what stands where `)` should. */
  private group<T>(inner: () => T, unclosed: (close: Token) => never): T {
    this.next();
    const value = inner();
    const close = this.peek();
    if (!isPunct(close, ')')) unclosed(close);
    this.next();
    return value;
  }

  /** What follows a spanset where only `&&`, `||` or the end may. */
  private failAfterSpanset(t: Token): never {
    if (isOp(t, '|'))
      this.fail(t, 'pipelines (| count(), | select(…), | by(…), …) are not supported: search returns whole traces');
    const structural = t.kind === 'op' ? STRUCTURAL[t.text] : undefined;
    if (structural !== undefined)
      this.fail(
        t,
        `structural operator '${t.text}' (${structural}) is not supported: combine spansets with && or || (same trace)`,
      );
    if (t.kind === 'ident' && PIPELINE_WORDS.includes(t.text))
      this.fail(t, `'${t.text}' is a pipeline stage, not supported: search returns whole traces`);
    if (isPunct(t, '{')) this.fail(t, "expected && or || between spansets, found '{'");
    return this.fail(t, `unexpected ${describe(t)} after a spanset: expected &&, || or the end`);
  }

  private spanset(): SearchQuery {
    const open = this.next();
    if (isPunct(this.peek(), '}')) {
      this.next();
      return { type: 'spanset', expr: { type: 'true' } };
    }
    const expr = this.exprOr();
    const close = this.peek();
    if (!isPunct(close, '}')) {
      if (close.kind === 'eof') this.fail(open, "unclosed '{': missing '}'");
      if (isOp(close, '|'))
        this.fail(close, "'|' inside a spanset: pipelines are not supported, and conditions are joined by && or ||");
      if (isOp(close, '+', '-', '*', '/', '^') || close.text.startsWith('-'))
        this.fail(close, 'arithmetic is not supported: compare a field with a literal value');
      this.fail(close, `expected &&, || or '}' after a condition, found ${describe(close)}`);
    }
    this.next();
    return { type: 'spanset', expr };
  }

  private exprOr(): SpanExpr {
    return this.chain('or', () => this.exprAnd(), joinExprs);
  }

  private exprAnd(): SpanExpr {
    return this.chain('and', () => this.term(), joinExprs);
  }

  private term(): SpanExpr {
    const t = this.peek();
    if (isPunct(t, '('))
      return this.group(
        () => this.exprOr(),
        (close) => this.fail(close, `expected ')' to close the group, found ${describe(close)}`),
      );
    if (isOp(t, '!')) this.fail(t, "negation '!' is not supported: use != or !~ on the condition");
    if (t.kind === 'ident' && t.text === 'true' && !isOp(this.peek(1), ...OPERATORS)) {
      this.next();
      return { type: 'true' };
    }
    return this.condition();
  }

  private condition(): Condition {
    const fieldToken = this.peek();
    const field = this.field(fieldToken);
    this.next();
    const opToken = this.peek();
    const op = OPERATORS.find((o) => isOp(opToken, o));
    if (op === undefined) {
      if (isOp(opToken, '+', '*', '/', '^') || (opToken.kind !== 'eof' && opToken.text.startsWith('-')))
        this.fail(opToken, 'arithmetic is not supported: compare a field with a literal value');
      if (isOp(opToken, '==')) this.fail(opToken, "TraceQL compares with '=', not '=='");
      this.fail(
        opToken,
        `expected a comparison (${OPERATORS.join(' ')}) after ${describe(fieldToken)}, found ${describe(opToken)}`,
      );
    }
    this.next();
    const valueToken = this.peek();
    const value = this.value(field, fieldToken, op, opToken, valueToken);
    this.next();
    let regex: RegExp | undefined;
    if (op === '=~' || op === '!~') regex = this.regex(valueToken, value);
    return {
      type: 'condition',
      field,
      op,
      value,
      ...(regex === undefined ? {} : { regex }),
      offset: fieldToken.offset,
      text: this.source.slice(fieldToken.offset, valueToken.offset + valueToken.text.length),
    };
  }

  private field(t: Token): Field {
    if (t.kind !== 'ident') {
      if (isPunct(t, '{')) this.fail(t, "nested '{': spansets cannot be nested; group conditions with ( )");
      if (isPunct(t, '}') || t.kind === 'eof')
        this.fail(t, `expected a condition after && or ||, found ${describe(t)}`);
      return this.fail(
        t,
        `expected a field (name, status, duration, span.<key>, resource.<key>, …), found ${describe(t)}`,
      );
    }
    const word = t.text;
    if (word === 'nil' || word === 'true' || word === 'false')
      this.fail(t, `expected a field before the comparison, found '${word}'`);
    if (isPunct(this.peek(1), '('))
      this.fail(
        t,
        `${AGGREGATES.includes(word) ? `aggregate ${word}()` : `function ${word}()`} is not supported in a spanset`,
      );
    if ((SPAN_INTRINSICS as readonly string[]).includes(word) || (TRACE_INTRINSICS as readonly string[]).includes(word))
      return { type: 'intrinsic', name: word as SpanIntrinsic | TraceIntrinsic };
    const scoped = SCOPED_INTRINSICS[word];
    if (scoped !== undefined) return { type: 'intrinsic', name: scoped };
    const unsupported = UNSUPPORTED_FIELDS[word] ?? UNSUPPORTED_FIELDS[word.split('.')[0] ?? ''];
    if (unsupported !== undefined) this.fail(t, `'${word}' is not supported: ${unsupported}`);
    for (const [prefix, scope] of [
      ['span.', 'span'],
      ['resource.', 'resource'],
      ['.', 'any'],
    ] as const) {
      if (!word.startsWith(prefix)) continue;
      const key = word.slice(prefix.length);
      if (key === '' || !ATTRIBUTE_KEY.test(key))
        this.fail(t, `invalid attribute '${word}': keys are [A-Za-z0-9_.:/-]+`);
      if (key === 'service.name' && scope !== 'span') return { type: 'service' };
      return { type: 'attribute', scope, key };
    }
    if (word.startsWith('event.') || word.startsWith('event:'))
      this.fail(t, `'${word}': span events are not searchable (they are stored as JSON text, not indexed)`);
    if (word.startsWith('link.') || word.startsWith('link:'))
      this.fail(t, `'${word}': span links are not searchable (they are stored as JSON text, not indexed)`);
    if (word.startsWith('instrumentation.') || word.startsWith('instrumentation:'))
      this.fail(t, `'${word}' is not supported: ${UNSUPPORTED_FIELDS.instrumentation}`);
    const hint = suggest(word, [...SPAN_INTRINSICS, ...TRACE_INTRINSICS]);
    return this.fail(
      t,
      `unknown field '${word}'${hint}: use an intrinsic (${[...SPAN_INTRINSICS, ...TRACE_INTRINSICS].join(', ')}) or an attribute with its scope (span.${word}, resource.${word}, .${word})`,
    );
  }

  private value(field: Field, fieldToken: Token, op: Operator, opToken: Token, t: Token): Value {
    const name = field.type === 'intrinsic' ? field.name : undefined;
    const ordered = op === '>' || op === '>=' || op === '<' || op === '<=';
    const regex = op === '=~' || op === '!~';
    if (t.kind === 'ident' && t.text === 'nil')
      this.fail(t, 'nil is not supported: a condition on a missing attribute never matches (use != on a value)');
    if (name === 'status' || name === 'kind') {
      const allowed: readonly string[] = name === 'status' ? STATUSES : KINDS;
      if (ordered || regex) this.fail(opToken, `${name} takes = or != only`);
      if (t.kind === 'string' && allowed.includes(t.value.toLowerCase()))
        this.fail(t, `${name} values are not quoted: ${name} ${op} ${t.value.toLowerCase()}`);
      if (t.kind !== 'ident' || !allowed.includes(t.text))
        this.fail(t, `expected a ${name} (${allowed.join(', ')}), found ${describe(t)}`);
      return name === 'status' ? { type: 'status', value: t.text as Status } : { type: 'kind', value: t.text as Kind };
    }
    if (name === 'duration' || name === 'traceDuration') {
      if (regex) this.fail(opToken, `${name} takes = != > >= < <=, not a regex`);
      if (t.kind === 'number' && t.value.replace(/^-/, '') === '0') return { type: 'duration', nanos: 0n };
      const nanos = t.kind === 'duration' ? parseSpanDuration(t.text) : undefined;
      if (nanos === undefined)
        this.fail(
          t,
          `expected a duration like 500ms, 1.5s, 100us or 1m30s after '${fieldToken.text} ${op}', found ${describe(t)}`,
        );
      return { type: 'duration', nanos };
    }
    if (t.kind === 'string') return { type: 'string', value: t.value };
    if (regex) this.fail(t, `${op} takes a quoted regex, found ${describe(t)}`);
    if (t.kind === 'number') {
      const n = Number(t.value);
      if (!Number.isFinite(n)) this.fail(t, `invalid number '${t.text}'`);
      if (field.type !== 'attribute') this.fail(t, `${describe(fieldToken)} is text: quote the value ("${t.text}")`);
      return { type: 'number', value: n };
    }
    if (t.kind === 'ident' && (t.text === 'true' || t.text === 'false')) {
      if (field.type !== 'attribute') this.fail(t, `${describe(fieldToken)} is text, not a boolean`);
      if (ordered) this.fail(opToken, 'booleans take = or != only');
      return { type: 'bool', value: t.text === 'true' };
    }
    if (t.kind === 'duration') {
      this.fail(t, `a duration compares with duration or traceDuration only, not ${describe(fieldToken)}`);
    }
    if (t.kind === 'ident')
      this.fail(
        t,
        `expected a value after '${fieldToken.text} ${op}', found ${describe(t)}: quote strings ("${t.text}")`,
      );
    return this.fail(t, `expected a value after '${fieldToken.text} ${op}', found ${describe(t)}`);
  }

  private regex(t: Token, value: Value): RegExp {
    if (value.type !== 'string') return this.fail(t, 'a regex is a quoted string');
    if (/\(\?<?[=!]/.test(value.value) || /\\[1-9]/.test(value.value))
      this.fail(t, 'lookarounds and backreferences are not supported in regexes (RE2 syntax)');
    try {
      return new RegExp(`^(?:${value.value})$`, 'su');
    } catch (error) {
      const reason =
        error instanceof Error ? error.message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '') : 'invalid';
      return this.fail(t, `invalid regex ${JSON.stringify(value.value)}: ${reason}`);
    }
  }
}

function suggest(word: string, candidates: readonly string[]): string {
  const close = candidates.find((c) => editDistance(word, c) <= Math.max(1, Math.floor(c.length / 4)));
  return close === undefined ? '' : ` (did you mean '${close}'?)`;
}
