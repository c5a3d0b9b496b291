/**
 * Nesting the decoders cannot follow. JSON.parse reads any depth, but everything after it that walks a value (the
 * OTLP schema checks, attribute serialisation, protobuf decoding) recurses, and a 10,000-deep array exhausts the
 * stack. Such a record is quarantined as `too_deep` instead of failing as a decoder bug: the check costs nothing on
 * the hot path, since it runs only once the stack has overflowed.
 */

/** True for V8's "Maximum call stack size exceeded". */
export function isStackOverflow(error: unknown): boolean {
  return error instanceof RangeError && /call stack/i.test(error.message);
}

const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** The deepest nesting of objects and arrays in JSON text (brackets inside strings do not count). */
export function nestingDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      depth++;
      if (depth > max) max = depth;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth--;
  }
  return max;
}

/** The quarantine message of a too-deep unit: its depth when it is JSON text, and why it was refused. */
export function tooDeepMessage(what: string, text: string | undefined): string {
  const depth = text === undefined ? 'deeply' : `${nestingDepth(text)} levels`;
  return `${what} is nested ${depth} deep, deeper than the decoders follow`;
}
