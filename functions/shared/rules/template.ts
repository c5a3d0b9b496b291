import { editDistance } from './expr-parser.ts';

/**
 * Annotation templates: the subset of Go's text/template that Prometheus alerting rules use (docs/rules.md).
 * `{{ $labels.service }}`, `{{ $value }}`, pipes into `humanize`, `humanize1024`, `humanizePercentage`,
 * `humanizeDuration` (seconds), `printf "%.2f"`, `toUpper`, `toLower`, `title`; `.Labels.x` and `.Value` as aliases;
 * `{{- … -}}` trims and `{{/* … *\/}}` comments. Templates are parsed when rules load (errors carry an offset) and
 * rendering never throws.
 */

export type TemplateFunc =
  | 'humanize'
  | 'humanize1024'
  | 'humanizePercentage'
  | 'humanizeDuration'
  | 'printf'
  | 'toUpper'
  | 'toLower'
  | 'title';

const FUNCS: readonly TemplateFunc[] = [
  'humanize',
  'humanize1024',
  'humanizePercentage',
  'humanizeDuration',
  'printf',
  'toUpper',
  'toLower',
  'title',
];
const KEYWORDS = ['if', 'else', 'end', 'range', 'with', 'define', 'template', 'block', 'break', 'continue'];

type Operand =
  | { readonly type: 'value' }
  | { readonly type: 'label'; readonly name: string }
  | { readonly type: 'literal'; readonly value: string | number };

type Command =
  | { readonly type: 'operand'; readonly operand: Operand }
  | { readonly type: 'call'; readonly func: TemplateFunc; readonly args: readonly Operand[] };

type Part =
  | { readonly type: 'text'; readonly text: string }
  | { readonly type: 'action'; readonly pipeline: readonly Command[] };

/** A parsed template, ready to render many times. */
export interface Template {
  readonly parts: readonly Part[];
}

export interface TemplateError {
  /** Offset in the template text (0-based). */
  readonly offset: number;
  readonly message: string;
}

export type TemplateParse = { ok: true; template: Template } | { ok: false; error: TemplateError };

/** What a template sees: the alert's labels (series and rule labels) and its value (`null`: no data). */
export interface TemplateData {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number | null;
}

/** How a missing value (no data) renders, in place of Go's NaN. */
export const NO_DATA_TEXT = 'no data';

class TemplateFailure extends Error {
  constructor(
    readonly offset: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Parses a template; never throws.
 * @example parseTemplate('{{ $labels.service }} error rate is {{ $value | humanizePercentage }}')
 */
export function parseTemplate(text: string): TemplateParse {
  try {
    return { ok: true, template: { parts: parseParts(text) } };
  } catch (error) {
    if (error instanceof TemplateFailure) return { ok: false, error: { offset: error.offset, message: error.message } };
    throw error;
  }
}

function parseParts(text: string): Part[] {
  const parts: Part[] = [];
  let at = 0;
  let trimNext = false;
  while (at < text.length) {
    const open = text.indexOf('{{', at);
    let literal = text.slice(at, open === -1 ? text.length : open);
    if (trimNext) literal = literal.replace(/^\s+/, '');
    if (open === -1) {
      if (literal !== '') parts.push({ type: 'text', text: literal });
      break;
    }
    let inner = open + 2;
    if (text.charAt(inner) === '-' && /\s/.test(text.charAt(inner + 1))) {
      literal = literal.replace(/\s+$/, '');
      inner += 1;
    }
    if (literal !== '') parts.push({ type: 'text', text: literal });
    const commentStart = text.slice(inner).match(/^\s*\/\*/);
    if (commentStart) {
      const end = text.indexOf('*/', inner + commentStart[0].length);
      if (end === -1) throw new TemplateFailure(open, 'unclosed comment: missing */');
      const close = text.slice(end + 2).match(/^(\s+-)?\s*\}\}/);
      if (!close) throw new TemplateFailure(end + 2, "expected '}}' after the comment");
      trimNext = close[1] !== undefined;
      at = end + 2 + close[0].length;
      continue;
    }
    const close = findClose(text, inner, open);
    trimNext = close.trim;
    parts.push({ type: 'action', pipeline: parsePipeline(text, inner, close.body) });
    at = close.after;
  }
  return parts;
}

/** The end of an action's body, skipping `}}` inside string literals. */
function findClose(text: string, from: number, open: number): { body: number; after: number; trim: boolean } {
  let i = from;
  while (i < text.length) {
    const c = text.charAt(i);
    if (c === '"' || c === '`') {
      i = skipString(text, i);
      continue;
    }
    if (c === '}' && text.charAt(i + 1) === '}') {
      const trim = text.charAt(i - 1) === '-' && /\s/.test(text.charAt(i - 2)) && i - 2 >= from;
      return { body: trim ? i - 1 : i, after: i + 2, trim };
    }
    i++;
  }
  throw new TemplateFailure(open, "unclosed action: missing '}}'");
}

function skipString(text: string, start: number): number {
  const quote = text.charAt(start);
  let i = start + 1;
  while (i < text.length) {
    const c = text.charAt(i);
    if (c === '\\' && quote === '"') i += 2;
    else if (c === quote) return i + 1;
    else if (c === '\n' && quote === '"') break;
    else i++;
  }
  throw new TemplateFailure(start, `unterminated string: missing closing ${quote}`);
}

interface Word {
  readonly text: string;
  readonly offset: number;
  readonly value?: string | number;
}

function parsePipeline(text: string, from: number, to: number): Command[] {
  const words = splitWords(text, from, to);
  if (words.length === 0) throw new TemplateFailure(from, 'empty action {{ }}');
  const commands: Command[] = [];
  let current: Word[] = [];
  const flush = (at: number): void => {
    if (current.length === 0) throw new TemplateFailure(at, "missing command around '|'");
    commands.push(parseCommand(current, commands.length > 0));
    current = [];
  };
  for (const w of words) {
    if (w.text === '|' && w.value === undefined) flush(w.offset);
    else current.push(w);
  }
  flush(to);
  return commands;
}

function splitWords(text: string, from: number, to: number): Word[] {
  const words: Word[] = [];
  let i = from;
  while (i < to) {
    const c = text.charAt(i);
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '"' || c === '`') {
      const end = skipString(text, i);
      if (end > to) throw new TemplateFailure(i, `unterminated string: missing closing ${c}`);
      words.push({ text: text.slice(i, end), offset: i, value: unquote(text.slice(i, end)) });
      i = end;
      continue;
    }
    if (c === '|') {
      words.push({ text: '|', offset: i });
      i++;
      continue;
    }
    if (c === '(' || c === ')') throw new TemplateFailure(i, 'parentheses are not supported: use a pipe (x | f)');
    let end = i;
    while (end < to && !/[\s|()"`]/.test(text.charAt(end))) end++;
    words.push({ text: text.slice(i, end), offset: i });
    i = end;
  }
  return words;
}

function unquote(literal: string): string {
  if (literal.startsWith('`')) return literal.slice(1, -1);
  let out = '';
  for (let i = 1; i < literal.length - 1; i++) {
    const c = literal.charAt(i);
    if (c !== '\\') {
      out += c;
      continue;
    }
    const next = literal.charAt(++i);
    out += next === 'n' ? '\n' : next === 't' ? '\t' : next === 'r' ? '\r' : next;
  }
  return out;
}

function parseCommand(words: readonly Word[], piped: boolean): Command {
  const [head, ...rest] = words;
  if (head === undefined) throw new TemplateFailure(0, 'missing command');
  const func = FUNCS.find((f) => f === head.text);
  if (func !== undefined) {
    const args = rest.map(parseOperand);
    const arity = ARITY[func] - (piped ? 1 : 0);
    if (func === 'printf') {
      if (!piped && args.length === 0) throw new TemplateFailure(head.offset, 'printf needs a format string');
    } else if (args.length !== arity)
      throw new TemplateFailure(
        head.offset,
        `${func} takes ${ARITY[func]} argument${ARITY[func] === 1 ? '' : 's'}${piped ? ' (the piped value counts as the last)' : ''}`,
      );
    return { type: 'call', func, args };
  }
  if (piped) {
    const close = FUNCS.find((f) => editDistance(head.text.toLowerCase(), f.toLowerCase()) <= 2);
    const hint = close === undefined ? '' : ` (did you mean '${close}'?)`;
    throw new TemplateFailure(head.offset, `'${head.text}' is not a function${hint}: ${FUNCS.join(', ')}`);
  }
  const operand = parseOperand(head);
  const extra = rest[0];
  if (extra !== undefined)
    throw new TemplateFailure(extra.offset, `unexpected '${extra.text}': '${head.text}' is not a function`);
  return { type: 'operand', operand };
}

const ARITY: Readonly<Record<TemplateFunc, number>> = {
  humanize: 1,
  humanize1024: 1,
  humanizePercentage: 1,
  humanizeDuration: 1,
  printf: 1,
  toUpper: 1,
  toLower: 1,
  title: 1,
};

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

function parseOperand(word: Word): Operand {
  if (word.value !== undefined) return { type: 'literal', value: word.value };
  const t = word.text;
  if (t === '$value' || t === '.Value') return { type: 'value' };
  for (const prefix of ['$labels.', '.Labels.']) {
    if (t.startsWith(prefix)) {
      const name = t.slice(prefix.length);
      if (!IDENT.test(name)) throw new TemplateFailure(word.offset, `invalid label name '${name}' in ${t}`);
      return { type: 'label', name };
    }
  }
  if (/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(t)) return { type: 'literal', value: Number(t) };
  if (KEYWORDS.includes(t)) throw new TemplateFailure(word.offset, `'${t}' is not supported in annotation templates`);
  if (t === '$labels' || t === '.Labels') throw new TemplateFailure(word.offset, `use ${t}.<name> for one label`);
  if (t.startsWith('$'))
    throw new TemplateFailure(word.offset, `undefined variable '${t}': use $labels.<name> or $value`);
  const hint = FUNCS.find((f) => f.toLowerCase() === t.toLowerCase());
  throw new TemplateFailure(
    word.offset,
    `unknown function '${t}'${hint ? ` (did you mean '${hint}'?)` : ''}: ${FUNCS.join(', ')}`,
  );
}

type Val = string | number | null;

/** Renders a parsed template. Never throws; an unknown label is empty, a missing value renders as `no data`. */
export function renderTemplate(template: Template, data: TemplateData): string {
  let out = '';
  for (const part of template.parts) {
    if (part.type === 'text') out += part.text;
    else {
      try {
        out += show(runPipeline(part.pipeline, data));
      } catch {
        out += '<error>';
      }
    }
  }
  return out;
}

function runPipeline(pipeline: readonly Command[], data: TemplateData): Val {
  let piped: Val | undefined;
  for (const command of pipeline) {
    if (command.type === 'operand') piped = resolve(command.operand, data);
    else {
      const args = command.args.map((a) => resolve(a, data));
      if (piped !== undefined) args.push(piped);
      piped = call(command.func, args);
    }
  }
  return piped === undefined ? '' : piped;
}

function resolve(operand: Operand, data: TemplateData): Val {
  switch (operand.type) {
    case 'value':
      return data.value;
    case 'label':
      return Object.hasOwn(data.labels, operand.name) ? (data.labels[operand.name] ?? '') : '';
    case 'literal':
      return operand.value;
  }
}

function show(v: Val): string {
  if (v === null) return NO_DATA_TEXT;
  return typeof v === 'number' ? formatFloat(v, undefined) : v;
}

function toNumber(v: Val): number | undefined {
  if (typeof v === 'number') return v;
  if (v === null || v.trim() === '') return undefined;
  const n = Number(v);
  return Number.isNaN(n) ? undefined : n;
}

function call(func: TemplateFunc, args: readonly Val[]): Val {
  if (func === 'printf') {
    const [format, ...rest] = args;
    return sprintf(format === null || format === undefined ? '' : show(format), rest);
  }
  const first = args[0];
  const arg = first === undefined ? '' : first;
  switch (func) {
    case 'toUpper':
      return show(arg).toUpperCase();
    case 'toLower':
      return show(arg).toLowerCase();
    case 'title':
      return show(arg).replace(/(^|[^\p{L}\p{N}])(\p{L})/gu, (_, sep: string, c: string) => sep + c.toUpperCase());
    default: {
      if (arg === null) return NO_DATA_TEXT;
      const n = toNumber(arg);
      if (n === undefined) return show(arg);
      return HUMANIZERS[func](n);
    }
  }
}

const HUMANIZERS: Readonly<
  Record<Exclude<TemplateFunc, 'printf' | 'toUpper' | 'toLower' | 'title'>, (v: number) => string>
> = {
  humanize: (v) => humanizeScaled(v, 1000, ['k', 'M', 'G', 'T', 'P', 'E', 'Z', 'Y'], true),
  humanize1024: (v) => humanizeScaled(v, 1024, ['ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei', 'Zi', 'Yi'], false),
  humanizePercentage: (v) => `${formatFloat(v * 100, 4)}%`,
  humanizeDuration,
};

const SMALL_PREFIXES = ['m', 'u', 'n', 'p', 'f', 'a', 'z', 'y'];

/** Prometheus `humanize` / `humanize1024`: SI (or binary) prefixes, 4 significant digits. */
function humanizeScaled(v: number, base: number, prefixes: readonly string[], small: boolean): string {
  if (v === 0 || !Number.isFinite(v)) return formatFloat(v, 4);
  let prefix = '';
  if (Math.abs(v) >= 1 || !small) {
    for (const p of prefixes) {
      if (Math.abs(v) < base) break;
      prefix = p;
      v /= base;
    }
  } else {
    for (const p of SMALL_PREFIXES) {
      if (Math.abs(v) >= 1) break;
      prefix = p;
      v *= 1000;
    }
  }
  return `${formatFloat(v, 4)}${prefix}`;
}

/** Prometheus `humanizeDuration`: seconds in, `1d 2h 3m 4s` / `2m 5s` / `1.5s` / `250ms` out. */
function humanizeDuration(v: number): string {
  if (!Number.isFinite(v)) return formatFloat(v, 4);
  if (v === 0) return '0s';
  if (Math.abs(v) >= 1) {
    const sign = v < 0 ? '-' : '';
    const abs = Math.abs(v);
    const total = Math.trunc(abs);
    const seconds = total % 60;
    const minutes = Math.trunc(total / 60) % 60;
    const hours = Math.trunc(total / 3600) % 24;
    const days = Math.trunc(total / 86_400);
    if (days !== 0) return `${sign}${days}d ${hours}h ${minutes}m ${seconds}s`;
    if (hours !== 0) return `${sign}${hours}h ${minutes}m ${seconds}s`;
    if (minutes !== 0) return `${sign}${minutes}m ${seconds}s`;
    return `${sign}${formatFloat(abs, 4)}s`;
  }
  let prefix = '';
  for (const p of SMALL_PREFIXES) {
    if (Math.abs(v) >= 1) break;
    prefix = p;
    v *= 1000;
  }
  return `${formatFloat(v, 4)}${prefix}s`;
}

/**
 * Go's `%g` (and `%v`) for floats: `precision` significant digits (`undefined`: the shortest that reads back), the
 * exponent form when the exponent is < -4 or >= the precision (6 for shortest), exponent with a sign and two digits,
 * no trailing zeros.
 */
function formatFloat(v: number, precision: number | undefined): string {
  if (Number.isNaN(v)) return 'NaN';
  if (!Number.isFinite(v)) return v > 0 ? '+Inf' : '-Inf';
  if (v === 0) return '0';
  const p = precision === undefined ? undefined : Math.min(100, Math.max(1, precision));
  const [mantissa = '0', e = '0'] = (p === undefined ? v.toExponential() : v.toExponential(p - 1)).split('e');
  const exponent = Number(e);
  if (exponent < -4 || exponent >= (p ?? 6)) {
    return `${trimZeros(mantissa)}e${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  const digits = mantissa.replace(/[-.]/g, '').length;
  return trimZeros(v.toFixed(Math.min(100, Math.max(0, digits - 1 - exponent))));
}

function trimZeros(text: string): string {
  return text.includes('.') ? text.replace(/\.?0+$/, '') : text;
}

/** Go's `fmt.Sprintf` for the verbs templates use: %v %s %d %f %e %g %q %x %% with flags, width and precision. */
export function sprintf(format: string, args: readonly Val[]): string {
  let next = 0;
  return format.replace(
    /%([-+ 0#]*)(\d+)?(?:\.(\d+))?([a-zA-Z%])/g,
    (whole, flags: string, width?: string, prec?: string, verb?: string) => {
      if (verb === '%') return '%';
      if (next >= args.length) return `%!${verb}(MISSING)`;
      const arg = args[next++];
      if (arg === undefined) return `%!${verb}(MISSING)`;
      const precision = prec === undefined ? undefined : Number(prec);
      const body = formatVerb(verb ?? 'v', arg, precision, flags);
      if (body === undefined) return whole;
      return pad(body, width === undefined ? 0 : Number(width), flags);
    },
  );
}

function formatVerb(verb: string, arg: Val, precision: number | undefined, flags: string): string | undefined {
  if (arg === null) return NO_DATA_TEXT;
  const n = toNumber(arg);
  const sign = (s: string): string => (n !== undefined && n >= 0 && flags.includes('+') ? `+${s}` : s);
  switch (verb) {
    case 'v':
    case 's':
      return precision !== undefined && verb === 's' ? show(arg).slice(0, precision) : show(arg);
    case 'q':
      return JSON.stringify(show(arg));
    case 'd':
      if (n === undefined) return `%!d(string=${show(arg)})`;
      return sign(Number.isInteger(n) ? String(n) : String(Math.trunc(n)));
    case 'f':
    case 'F':
      if (n === undefined) return `%!f(string=${show(arg)})`;
      return sign(Number.isFinite(n) ? n.toFixed(Math.min(100, precision ?? 6)) : formatFloat(n, undefined));
    case 'e':
    case 'E': {
      if (n === undefined) return `%!e(string=${show(arg)})`;
      const [m = '0', e = '0'] = n.toExponential(Math.min(100, precision ?? 6)).split('e');
      const exponent = Number(e);
      const text = `${m}e${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`;
      return sign(verb === 'E' ? text.toUpperCase() : text);
    }
    case 'g':
    case 'G': {
      if (n === undefined) return `%!g(string=${show(arg)})`;
      const text = formatFloat(n, precision);
      return sign(verb === 'G' ? text.toUpperCase() : text);
    }
    case 'x':
    case 'X': {
      const text =
        n !== undefined && Number.isInteger(n) ? n.toString(16) : Buffer.from(show(arg), 'utf8').toString('hex');
      return verb === 'X' ? text.toUpperCase() : text;
    }
    default:
      return undefined;
  }
}

function pad(text: string, width: number, flags: string): string {
  if (text.length >= width) return text;
  if (flags.includes('-')) return text.padEnd(width);
  if (flags.includes('0') && /^[-+]?[\d.]/.test(text)) {
    const signed = /^[-+]/.test(text);
    return signed ? text.charAt(0) + text.slice(1).padStart(width - 1, '0') : text.padStart(width, '0');
  }
  return text.padStart(width);
}
