import { REDACTED, type TextRedactor } from './redact.ts';

/**
 * Secrets out of text that is JSON, JSON lines, JSON cut short, or no JSON at all — the text of a record that could
 * not be decoded, before it is kept in the quarantine. Redacts by key where the text parses and by value everywhere:
 *
 * - a member whose name is a secret (`password`, `Authorization`, `db_token`, `SKEIN_REDACT_KEYS`…) has its whole
 *   value replaced by `"[REDACTED]"`, whatever its type (a string, a number, an object);
 * - an OTLP/JSON `KeyValue` (`{"key": "password", "value": {"stringValue": …}}`) has its `value` replaced by
 *   `{"stringValue":"[REDACTED]"}`, so the request stays valid OTLP;
 * - every string (member names too) goes through the value patterns (`AKIA…`, bearer tokens, JWTs, PEM keys, Slack
 *   and GitHub tokens, `key=value` pairs); a string that holds JSON itself (a CloudWatch Logs `message`) is redacted
 *   the same way, recursively;
 * - from where the text stops parsing to the end of that line, the value patterns run over the line (with what was
 *   already redacted in it); a value of a secret-named member cut short is redacted to the end of its line. Parsing
 *   starts again on the next line, so each line of JSON lines is read on its own.
 *
 * Everything else is kept verbatim (numbers keep their digits; whitespace and member order do not change), so a
 * record that parsed before parses the same after, secrets aside. Returns `text` itself when nothing changed.
 * Iterative: nesting depth costs heap, not stack.
 *
 * @example
 * redactJsonText('{"user":"ann","password":{"v":"x"}}', redactor) // '{"user":"ann","password":"[REDACTED]"}'
 */
export function redactJsonText(text: string, redactor: TextRedactor): string {
  return redactNested(text, redactor, 0);
}

/** How deep JSON held in strings is followed (a JSON line inside a CloudWatch message inside …). */
const MAX_EMBEDDED_DEPTH = 4;
const QUOTED_REDACTED = `"${REDACTED}"`;
const OTLP_REDACTED_VALUE = `{"stringValue":"${REDACTED}"}`;

/** A part of the text to write differently: `[start, end)` becomes `text`. */
interface Replacement {
  readonly start: number;
  readonly end: number;
  readonly text: string;
}

interface Frame {
  readonly object: boolean;
  readonly start: number;
  /** The current member's name (objects). */
  key: string | undefined;
  /** The current member's name is a secret: its value is redacted whole. */
  secretKey: boolean;
  /** Where the current member's value starts (after the colon). */
  valueStart: number;
  /** OTLP `KeyValue` shape: the string value of member `key`, and where member `value` is. */
  kvKey: string | undefined;
  kvValueStart: number;
  kvValueEnd: number;
}

enum State {
  Value,
  ValueOrClose,
  Key,
  KeyOrClose,
  Colon,
  AfterValue,
}

const LITERAL = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/y;

function redactNested(original: string, redactor: TextRedactor, depth: number): string {
  // Values first, over the whole text: a PEM block spans lines, and a line-by-line pass would cut it apart.
  const text = redactor.redactText(original);
  const replacements: Replacement[] = [];
  const stack: Frame[] = [];
  const n = text.length;
  let i = 0;
  let state = State.Value;

  const isSecretName = (name: string): boolean => isSecretFieldName(name, redactor);
  /** Replaces `[start, end)`, dropping the replacements inside it (it covers them); the list stays sorted. */
  const replace = (start: number, end: number, with_: string): void => {
    let from = replacements.length;
    while (from > 0 && (replacements[from - 1]?.end ?? 0) > start) from--;
    let to = from;
    while (to < replacements.length && (replacements[to]?.start ?? end) < end) to++;
    replacements.splice(from, to - from, { start, end, text: with_ });
  };
  /** A string literal `[start, end)`: its value through the patterns (and through this function when it is JSON). */
  const redactString = (start: number, end: number): string | undefined => {
    let value: unknown;
    try {
      value = JSON.parse(text.slice(start, end));
    } catch {
      return undefined; // a bad escape: not a string after all
    }
    if (typeof value !== 'string') return undefined;
    let redacted = redactor.redactText(value);
    if (depth < MAX_EMBEDDED_DEPTH && looksLikeJson(redacted)) redacted = redactNested(redacted, redactor, depth + 1);
    if (redacted !== value) replacements.push({ start, end, text: JSON.stringify(redacted) });
    return value;
  };
  /** A value `[start, end)` is complete: a secret member's value, or an OTLP KeyValue's key or value. */
  const valueDone = (start: number, end: number, stringValue: string | undefined): void => {
    const parent = stack.at(-1);
    if (parent === undefined || !parent.object) return;
    if (parent.secretKey) replace(start, end, QUOTED_REDACTED);
    else if (parent.key === 'key' && stringValue !== undefined) parent.kvKey = stringValue;
    else if (parent.key === 'value') {
      parent.kvValueStart = start;
      parent.kvValueEnd = end;
    }
  };
  const closeObject = (frame: Frame): void => {
    if (frame.kvKey !== undefined && frame.kvValueStart >= 0 && isSecretName(frame.kvKey)) {
      const value = text.charCodeAt(frame.kvValueStart) === OPEN_BRACE ? OTLP_REDACTED_VALUE : QUOTED_REDACTED;
      replace(frame.kvValueStart, frame.kvValueEnd, value);
    }
  };

  /**
   * Parsing stopped at `at`: redact what is left of the line by value (and a secret member's value cut short as a
   * whole), then start again on the next line.
   */
  const recover = (at: number): void => {
    const lineEnd = lineEndOf(text, at);
    let secretFrom = -1;
    for (const frame of stack) {
      if (!frame.object) continue;
      if (frame.kvKey !== undefined && isSecretName(frame.kvKey)) {
        if (frame.kvValueStart >= 0) closeObject(frame);
        else if (frame.key === 'value' && frame.valueStart >= 0) secretFrom = frame.valueStart;
      }
      if (secretFrom === -1 && frame.secretKey && frame.valueStart >= 0) secretFrom = frame.valueStart;
      if (secretFrom !== -1) break;
    }
    if (secretFrom !== -1 && secretFrom <= at) {
      replace(secretFrom, lineEnd, QUOTED_REDACTED);
    } else {
      let lineStart = text.lastIndexOf('\n', at - 1) + 1;
      for (const r of replacements) if (r.start < lineStart && r.end > lineStart) lineStart = r.end;
      const line = applyReplacements(text, lineStart, lineEnd, replacements);
      const redacted = redactor.redactText(line);
      if (redacted !== line || hasReplacementIn(replacements, lineStart)) replace(lineStart, lineEnd, redacted);
    }
    stack.length = 0;
    state = State.Value;
    i = lineEnd;
  };

  while (true) {
    i = skipSpace(text, i);
    const frame = stack.at(-1);
    if (i >= n) {
      if (stack.length > 0 || state === State.Colon) recover(n);
      break;
    }
    const c = text.charCodeAt(i);
    switch (state) {
      case State.ValueOrClose:
        if (c === CLOSE_BRACKET && frame !== undefined) {
          stack.pop();
          i++;
          valueDone(frame.start, i, undefined);
          state = State.AfterValue;
          continue;
        }
        state = State.Value;
        continue;
      case State.Value: {
        const start = i;
        if (c === OPEN_BRACE || c === OPEN_BRACKET) {
          stack.push({
            object: c === OPEN_BRACE,
            start,
            key: undefined,
            secretKey: false,
            valueStart: -1,
            kvKey: undefined,
            kvValueStart: -1,
            kvValueEnd: -1,
          });
          i++;
          state = c === OPEN_BRACE ? State.KeyOrClose : State.ValueOrClose;
          continue;
        }
        if (c === QUOTE) {
          const end = stringEnd(text, i);
          const value = end === -1 ? undefined : redactString(i, end);
          if (end === -1 && text.indexOf('\n', i) === -1) {
            // A string cut by the end of the text: its last word may be the first characters of a secret whose
            // pattern needs more (a GitHub token of 30 characters): drop that word.
            const kept = trimCutToken(text.slice(i));
            if (kept.length < n - i) replace(i, n, kept);
          }
          if (end === -1 || value === undefined) {
            recover(i);
            continue;
          }
          i = end;
          valueDone(start, end, value);
          state = State.AfterValue;
          continue;
        }
        LITERAL.lastIndex = i;
        if (!LITERAL.test(text)) {
          recover(i);
          continue;
        }
        i = LITERAL.lastIndex;
        valueDone(start, i, undefined);
        state = State.AfterValue;
        continue;
      }
      case State.KeyOrClose:
      case State.Key: {
        if (frame === undefined) {
          recover(i);
          continue;
        }
        if (c === CLOSE_BRACE && state === State.KeyOrClose) {
          stack.pop();
          i++;
          valueDone(frame.start, i, undefined);
          state = State.AfterValue;
          continue;
        }
        const end = c === QUOTE ? stringEnd(text, i) : -1;
        const key = end === -1 ? undefined : redactString(i, end);
        if (end === -1 || key === undefined) {
          recover(i);
          continue;
        }
        frame.key = key;
        frame.secretKey = isSecretName(key);
        frame.valueStart = -1;
        i = end;
        state = State.Colon;
        continue;
      }
      case State.Colon:
        if (c !== COLON || frame === undefined) {
          recover(i);
          continue;
        }
        i = skipSpace(text, i + 1);
        frame.valueStart = i;
        state = State.Value;
        continue;
      case State.AfterValue: {
        if (frame === undefined) {
          // A top-level value ended: another one may follow (JSON lines, or concatenated JSON).
          state = State.Value;
          continue;
        }
        if (c === COMMA) {
          i++;
          if (frame.object) {
            frame.secretKey = false;
            frame.key = undefined;
            state = State.Key;
          } else state = State.Value;
          continue;
        }
        if ((c === CLOSE_BRACE && frame.object) || (c === CLOSE_BRACKET && !frame.object)) {
          stack.pop();
          i++;
          if (frame.object) closeObject(frame);
          valueDone(frame.start, i, undefined);
          continue;
        }
        recover(i);
        continue;
      }
    }
  }
  const redacted = replacements.length === 0 ? text : applyReplacements(text, 0, n, replacements);
  return redacted === original ? original : redacted;
}

/**
 * True when a field called `name` holds a secret by its name: the redactor's key list (`Authorization`, `api_key`,
 * `SKEIN_REDACT_KEYS`…) or a name the text patterns read as one (`db_password`, `X-Auth-Token`). A "name" that is
 * itself a secret value, or not a name at all (binary, very long), is not a secret name: its value is not redacted
 * for it (the name itself is redacted as a value).
 */
export function isSecretFieldName(name: string, redactor: TextRedactor): boolean {
  if (name.length === 0 || name.length > 128) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x20 || c === QUOTE) return false;
  }
  if (redactor.isSecretKey(name)) return true;
  if (redactor.redactText(name) !== name) return false;
  const probe = `"${name}":0`;
  return redactor.redactText(probe) !== probe;
}

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;

/** Marks where a word cut short was dropped. Tokens, keys and encoded credentials are letters, digits and `_-+/=.~`. */
export const CUT_MARK = '…';

/**
 * `text` without the word it ends in, when it ends in one (marked `…`): for text cut short (a truncated stream, a
 * string cut by the end of a record), whose last word may be the first part of a secret — too short for its pattern
 * to recognise, long enough to matter.
 */
export function trimCutToken(text: string): string {
  // Backwards from the end: an anchored regex would be tried from every position of a long text.
  let start = text.length;
  while (start > 0 && isTokenChar(text.charCodeAt(start - 1))) start--;
  return start === text.length ? text : `${text.slice(0, start)}${CUT_MARK}`;
}

function isTokenChar(c: number): boolean {
  return (
    (c >= 0x30 && c <= 0x39) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    c === 0x5f || // _
    c === 0x2d || // -
    c === 0x2b || // +
    c === 0x2f || // /
    c === 0x3d || // =
    c === 0x2e || // .
    c === 0x7e // ~
  );
}

function looksLikeJson(s: string): boolean {
  const at = skipSpace(s, 0);
  const c = s.charCodeAt(at);
  return c === OPEN_BRACE || c === OPEN_BRACKET;
}

function skipSpace(text: string, i: number): number {
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    i++;
  }
  return i;
}

/** Index after the closing quote of the string literal at `start`, or -1 when it does not end on its line. */
function stringEnd(text: string, start: number): number {
  const n = text.length;
  let j = start + 1;
  while (j < n) {
    const c = text.charCodeAt(j);
    if (c === QUOTE) return j + 1;
    if (c === BACKSLASH) j += 2;
    else if (c < 0x20) return -1;
    else j++;
  }
  return -1;
}

function lineEndOf(text: string, at: number): number {
  const end = text.indexOf('\n', at);
  return end === -1 ? text.length : end;
}

function hasReplacementIn(replacements: readonly Replacement[], from: number): boolean {
  return replacements.some((r) => r.start >= from);
}

/** `text[from, to)` with the replacements inside that range applied (they are sorted and do not overlap). */
function applyReplacements(text: string, from: number, to: number, replacements: readonly Replacement[]): string {
  let out = '';
  let at = from;
  for (const r of replacements) {
    if (r.start < from || r.end > to) continue;
    out += text.slice(at, r.start) + r.text;
    at = r.end;
  }
  return out + text.slice(at, to);
}
