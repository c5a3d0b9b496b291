/**
 * Tokens of rule expressions (docs/rules.md). Every token keeps its offset in the expression so that parse errors
 * point at a column.
 */

export type TokenKind = 'ident' | 'string' | 'number' | 'duration' | 'punct' | 'op' | 'eof';

export interface Token {
  readonly kind: TokenKind;
  /** The source text of the token (for strings: with quotes). */
  readonly text: string;
  /** Strings: the unescaped value; numbers: the digits; others: `text`. */
  readonly value: string;
  /** Offset of the first character in the expression (0-based). */
  readonly offset: number;
}

/** A problem at an offset of the expression. */
export interface ExprError {
  readonly offset: number;
  readonly message: string;
}

export type LexResult = { ok: true; tokens: Token[] } | { ok: false; error: ExprError };

const PUNCT = '(){}[],';

/** What a language lexes beyond the shared tokens (identifiers, numbers, durations, strings, brackets). */
export interface LexSyntax {
  /** Operators, longest first. */
  readonly ops: readonly string[];
  /** Whether `.key` (a dot, then an identifier) is one identifier, as TraceQL's unscoped attributes are. */
  readonly leadingDot: boolean;
}

/** Rule expressions (docs/rules.md). */
export const RULE_SYNTAX: LexSyntax = {
  ops: ['==', '!=', '=~', '!~', '>=', '<=', '=', '>', '<'],
  leadingDot: false,
};

function isIdentStart(c: string): boolean {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_';
}

/** Label keys (`attr.http.route`, `resource.k8s-pod`) keep dots and dashes inside one identifier. */
function isIdentPart(c: string): boolean {
  return isIdentStart(c) || (c >= '0' && c <= '9') || c === '.' || c === '-' || c === ':';
}

function isDigit(c: string): boolean {
  return c >= '0' && c <= '9';
}

function isSpace(c: string): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\r';
}

/**
 * Splits an expression into tokens; never throws. Rule expressions by default; the search language (TraceQL subset,
 * query/search) passes its own operators.
 */
export function lexExpr(text: string, syntax: LexSyntax = RULE_SYNTAX): LexResult {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text.charAt(i);
    if (isSpace(c)) {
      i++;
      continue;
    }
    const start = i;
    if (isIdentStart(c) || (syntax.leadingDot && c === '.' && isIdentStart(text.charAt(i + 1)))) {
      i++;
      while (i < text.length && isIdentPart(text.charAt(i))) i++;
      const word = text.slice(start, i);
      tokens.push({ kind: 'ident', text: word, value: word, offset: start });
      continue;
    }
    if (isDigit(c) || (c === '.' && isDigit(text.charAt(i + 1))) || (c === '-' && isNumberAt(text, i + 1))) {
      if (c === '-') i++;
      while (i < text.length && (isDigit(text.charAt(i)) || text.charAt(i) === '.')) i++;
      if ((text.charAt(i) === 'e' || text.charAt(i) === 'E') && isExponentAt(text, i + 1)) {
        i += 2;
        while (i < text.length && isDigit(text.charAt(i))) i++;
      }
      const digitsEnd = i;
      // A unit right after the digits: `5m`, `1h30m`, `500ms`, `10%`.
      while (i < text.length && (isIdentStart(text.charAt(i)) || isDigit(text.charAt(i)) || text.charAt(i) === '%'))
        i++;
      const word = text.slice(start, i);
      const digits = text.slice(start, digitsEnd);
      tokens.push(
        digitsEnd === i
          ? { kind: 'number', text: word, value: digits, offset: start }
          : { kind: 'duration', text: word, value: word, offset: start },
      );
      continue;
    }
    if (c === '"' || c === "'" || c === '`') {
      const lexed = lexString(text, i);
      if (!lexed.ok) return lexed;
      tokens.push({ kind: 'string', text: text.slice(start, lexed.end), value: lexed.value, offset: start });
      i = lexed.end;
      continue;
    }
    if (PUNCT.includes(c)) {
      tokens.push({ kind: 'punct', text: c, value: c, offset: start });
      i++;
      continue;
    }
    const op = syntax.ops.find((o) => text.startsWith(o, i));
    if (op !== undefined) {
      tokens.push({ kind: 'op', text: op, value: op, offset: start });
      i += op.length;
      continue;
    }
    return { ok: false, error: { offset: start, message: `unexpected character ${JSON.stringify(c)}` } };
  }
  tokens.push({ kind: 'eof', text: '', value: '', offset: text.length });
  return { ok: true, tokens };
}

function isNumberAt(text: string, i: number): boolean {
  const c = text.charAt(i);
  return isDigit(c) || (c === '.' && isDigit(text.charAt(i + 1)));
}

function isExponentAt(text: string, i: number): boolean {
  const c = text.charAt(i);
  return isDigit(c) || ((c === '+' || c === '-') && isDigit(text.charAt(i + 1)));
}

const ESCAPES: Readonly<Record<string, string>> = {
  n: '\n',
  t: '\t',
  r: '\r',
  '\\': '\\',
  '"': '"',
  "'": "'",
  '`': '`',
};

type StringLex = { ok: true; value: string; end: number } | { ok: false; error: ExprError };

/** `"…"` and `'…'` with backslash escapes (`\\`, `\"`, `\n`, `\t`…), or a raw `` `…` `` (regexes read better raw). */
function lexString(text: string, start: number): StringLex {
  const quote = text.charAt(start);
  let value = '';
  let i = start + 1;
  while (i < text.length) {
    const c = text.charAt(i);
    if (c === quote) return { ok: true, value, end: i + 1 };
    if (c === '\\' && quote !== '`') {
      const next = text.charAt(i + 1);
      const escaped = ESCAPES[next];
      if (escaped === undefined) {
        // Regexes need their backslashes: `\d`, `\.` stay as written.
        if (next === '') break;
        value += `\\${next}`;
      } else value += escaped;
      i += 2;
      continue;
    }
    value += c;
    i++;
  }
  return { ok: false, error: { offset: start, message: `unterminated string: missing closing ${quote}` } };
}
