/**
 * Redaction of secrets from anything Skein writes (logs, errors, Parquet, notifications). Keys are matched
 * case-insensitively with separators ignored, so `Authorization`, `x-api-key` and `api_key` are all caught; free text
 * is searched for secret-looking values and for `key=value` / `"key": "value"` pairs whose key is a secret name.
 */
export const REDACTED = '[REDACTED]';

const SECRET_KEYS = new Set([
  'authorization',
  'proxyauthorization',
  'cookie',
  'setcookie',
  'password',
  'passwd',
  'secret',
  'clientsecret',
  'token',
  'accesstoken',
  'refreshtoken',
  'idtoken',
  'apikey',
  'xapikey',
  'routingkey',
  'webhookurl',
  'privatekey',
  'secretaccesskey',
  'awssecretaccesskey',
  'sessiontoken',
  'awssessiontoken',
]);

/** True when a field called `key` holds a secret by its name. */
export function isSecretKey(key: string): boolean {
  return SECRET_KEYS.has(normaliseKey(key));
}

/**
 * A shallow copy of `fields` with secret-named values replaced (nested plain objects too) and secret-looking string
 * values redacted (an error message quoting a token): what the logger writes.
 */
export function redactFields(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(fields)) {
    const value = fields[key];
    if (isSecretKey(key)) out[key] = REDACTED;
    else if (typeof value === 'string') out[key] = builtIn().redactText(value);
    else if (value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Error))
      out[key] = redactFields(value as Record<string, unknown>);
    else out[key] = value;
  }
  return out;
}

let builtInRedactor: TextRedactor | undefined;
/** The redactor over the built-in lists, made on first use (it compiles the pattern). */
function builtIn(): TextRedactor {
  builtInRedactor ??= createRedactor();
  return builtInRedactor;
}

/** The redaction every Skein component applies: secret-named keys (memoised) and secret-looking values. */
export interface TextRedactor {
  isSecretKey(key: string): boolean;
  redactText(text: string): string;
  /** A cheap over-approximation: true for every text `redactText` could change or that names a secret field. */
  mayHoldSecret?(text: string): boolean;
}

const KEY_CACHE_LIMIT = 10_000;
/**
 * Bounds on what one match may span, so a text full of unterminated quotes costs linear time, not quadratic: a quoted
 * secret value up to 4 KiB, a PEM body up to 16 KiB (a 4096-bit RSA key is about 3.3 KB).
 */
const MAX_QUOTED = 4096;
const MAX_PEM = 16_384;

/**
 * Secret names as they appear in text, words separated by `-`: each separator matches `-`, `_`, `.` or nothing.
 * A name matches after any non-alphanumeric character, so `db_password=` and `X-Auth-Token:` are caught too; the
 * compound names are listed where their last word alone is not a secret (`secret_access_key`, `routing_key`).
 */
const TEXT_KEYS = [
  'proxy-authorization',
  'authorization',
  'cookie',
  'password',
  'passwd',
  'secret-access-key',
  'secret',
  'token',
  'api-key',
  'routing-key',
  'integration-key',
  'private-key',
  'webhook-url',
];

/**
 * The default value patterns, one alternation so a text is scanned once (the `i` flag is on for the key names;
 * case-sensitive patterns are re-checked in {@link replaceMatch}). Each pattern leaves JSON string escapes whole:
 * values stop at `"` and `\`, so redacting inside a JSON text replaces characters of one string literal only.
 */
function secretPattern(extraKeys: readonly string[]): RegExp {
  // A word starts after a non-alphanumeric character, or after a JSON escape such as `\n`.
  const start = String.raw`(?:(?<![A-Za-z0-9])|(?<=\\[nrt]))`;
  const keys = [...TEXT_KEYS, ...extraKeys]
    .map((key) =>
      key
        .split(/[-_.\s]+/)
        .map(escapeRegExp)
        .join('[-_.]?'),
    )
    .sort((a, b) => b.length - a.length)
    .join('|');
  const patterns = [
    // `key=value`, `key: value`, `"key": "value"`, `\"key\":\"value\"` (JSON inside a JSON string), a quoted value
    // cut short by the end of the text too; an authorization scheme before the value is kept
    // (`Authorization: Bearer [REDACTED]`).
    String.raw`(?<kv>${start}(?:${keys})(?<kq>\\?["'])?[ \t]*[=:][ \t]*(?:(?:bearer|basic|token|digest)[ \t]+)?)` +
      String.raw`(?:\\"(?<ev>(?:[^"\\]|\\[^"]){0,${MAX_QUOTED}})(?:\\"|$)|"(?<dv>(?:[^"\\]|\\.){0,${MAX_QUOTED}})(?:"|$)|'(?<sv>[^'\\]{0,${MAX_QUOTED}})(?:'|$)|(?<uv>[^\s"'\\,;&{}[\]<>]+))`,
    // AWS access key ids (AKIA long-term, ASIA temporary).
    `(?<aws>${start}A[KS]IA[A-Z0-9]{16})(?![A-Za-z0-9])`,
    // Authorization values without their header name.
    String.raw`(?<auth>${start}(?:bearer|basic)[ \t]+)(?<cred>[A-Za-z0-9\-._~+/]{8,${MAX_QUOTED}}=*)`,
    // JWTs: base64url JSON header and payload, both starting `{"`.
    String.raw`(?<jwt>eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*)`,
    // PEM private keys, up to their END line (or as far as the text goes when it was cut); line breaks may be
    // escaped, once or more (a PEM in JSON inside a JSON string).
    String.raw`(?<pem>-----BEGIN[A-Z ]{0,30} PRIVATE KEY-----(?:[A-Za-z0-9+/=\s:,.]|-(?!----)|\\+[nrt]){0,${MAX_PEM}}(?:-----END[A-Z ]{0,30} PRIVATE KEY-----)?)`,
    // Slack incoming webhooks and workflow triggers: the path is the credential.
    String.raw`(?<slack>hooks\.slack\.com\\?/(?:services|workflows|triggers)\\?/)(?<slackpath>(?:[A-Za-z0-9_-]|\\?/)+)`,
    // Slack tokens.
    `(?<xox>${start}xox[abprse]-[A-Za-z0-9-]{10,})`,
    // GitHub tokens: classic (ghp_, gho_, ghu_, ghs_, ghr_) and fine-grained.
    `(?<gh>${start}(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255}))`,
  ];
  return new RegExp(patterns.join('|'), 'gi');
}

const CASE_SENSITIVE: Record<string, RegExp> = {
  aws: /A[KS]IA[A-Z0-9]{16}$/,
  jwt: /^eyJ[A-Za-z0-9_-]+\.eyJ/,
  pem: /-----BEGIN[A-Z ]* PRIVATE KEY-----/,
  xox: /xox[abprse]-/,
  gh: /gh[pousr]_|github_pat_/,
};
/** Base64/opaque credentials look like tokens, not words: "Bearer authentication" is prose. */
const TOKEN_LIKE = /[A-Z0-9+/=_~.-]/;

type Groups = Record<string, string | undefined>;

function replaceMatch(match: string, groups: Groups): string {
  const kv = groups.kv;
  if (kv !== undefined) {
    if (groups.ev !== undefined) return `${kv}\\"${REDACTED}\\"`;
    if (groups.dv !== undefined) return `${kv}"${REDACTED}"`;
    if (groups.sv !== undefined) return `${kv}'${REDACTED}'`;
    // An unquoted value after a quoted key is a JSON literal (number, true, null): quote the replacement so a
    // JSON text stays JSON.
    const kq = groups.kq;
    if (kq === '"') return `${kv}"${REDACTED}"`;
    if (kq === '\\"') return `${kv}\\"${REDACTED}\\"`;
    return kv + REDACTED;
  }
  if (groups.auth !== undefined) {
    const cred = groups.cred ?? '';
    return TOKEN_LIKE.test(cred.slice(1)) ? groups.auth + REDACTED : match;
  }
  if (groups.slack !== undefined) return groups.slack + REDACTED;
  for (const name in CASE_SENSITIVE) {
    if (groups[name] !== undefined) return CASE_SENSITIVE[name]?.test(match) ? REDACTED : match;
  }
  return REDACTED;
}

/** A redactor over the built-in key list plus `extraKeys` (matched like the built-in ones). */
export function createRedactor(extraKeys: readonly string[] = []): TextRedactor {
  const extra = new Set(extraKeys.map(normaliseKey));
  const cache = new Map<string, boolean>();
  const textKeys = extraKeys.filter((k) => /[A-Za-z0-9]/.test(k));
  const pattern = secretPattern(textKeys);
  const keyNames = keyNamesOf([...TEXT_KEYS, ...textKeys]);
  const replacer = (match: string, ...rest: unknown[]): string => replaceMatch(match, rest.at(-1) as Groups);
  return {
    isSecretKey(key) {
      let secret = cache.get(key);
      if (secret === undefined) {
        secret = isSecretKey(key) || extra.has(normaliseKey(key));
        if (cache.size < KEY_CACHE_LIMIT) cache.set(key, secret);
      }
      return secret;
    },
    /**
     * `text` with secret values replaced by `[REDACTED]`: values of secret-named `key=value`/`key: value`/JSON pairs,
     * AWS access key ids, bearer/basic credentials, JWTs, PEM private keys, Slack webhook paths and tokens, GitHub
     * tokens. The same string when nothing matched. A JSON text stays valid JSON in all but contrived cases (a
     * secret name ending one string literal just before another one starts); callers that need a guarantee parse
     * the result.
     */
    mayHoldSecret(text) {
      return mayHoldSecret(text, keyNames);
    },
    redactText(text) {
      // The full pattern costs ~50 ns a character in V8; the gate ~1, and it lets through every text the pattern
      // could change.
      if (!mayHoldSecret(text, keyNames)) return text;
      return text.replace(pattern, replacer);
    },
  };
}

const MAX_KEY_CHARS = 64;

/**
 * What every alternative of the secret pattern but `key=value` needs, without the lookbehinds that make the full
 * pattern slow: ~1 ns a character in V8 instead of ~50.
 */
const GATE = /A[KS]IA|eyJ|-----B|xox|gh[pousr]_|github_pat_|hooks\.|(?:earer|asic)[ \t]/i;
const COLON = 0x3a;
const EQUALS = 0x3d;

/** A quick over-approximation of the secret pattern: true for every text the pattern could change. */
function mayHoldSecret(text: string, keys: KeyNames): boolean {
  return GATE.test(text) || secretPairIn(text, COLON, keys) || secretPairIn(text, EQUALS, keys);
}

/** True when some `separator` in `text` follows a secret name (found with `indexOf`, which V8 runs at memchr speed). */
function secretPairIn(text: string, separator: number, keys: KeyNames): boolean {
  const char = separator === COLON ? ':' : '=';
  for (let at = text.indexOf(char); at !== -1; at = text.indexOf(char, at + 1)) {
    if (secretKeyBefore(text, at, keys)) return true;
  }
  return false;
}

/** The secret names, normalised, and what a candidate name must end with to be worth a closer look. */
interface KeyNames {
  readonly names: ReadonlySet<string>;
  /** The last three characters of every name, lowercase, packed into one number (see {@link packEnding}). */
  readonly endings: ReadonlySet<number>;
}

function keyNamesOf(keys: readonly string[]): KeyNames {
  const names = new Set(keys.map(normaliseKey).filter((k) => k.length > 0));
  const endings = new Set<number>();
  for (const name of names) {
    // Names shorter than three characters are padded with a separator-free, impossible code: checked exactly.
    const n = name.length;
    endings.add(
      n >= 3 ? packEnding(name.charCodeAt(n - 3), name.charCodeAt(n - 2), name.charCodeAt(n - 1)) : SHORT_NAME,
    );
  }
  return { names, endings };
}

const SHORT_NAME = -1;

/** Three characters, ASCII letters lowercased, as one number: compared without building a string. */
function packEnding(a: number, b: number, c: number): number {
  return (lower(a) << 16) | (lower(b) << 8) | lower(c);
}

function lower(c: number): number {
  return c >= 0x41 && c <= 0x5a ? c | 0x20 : c & 0xff;
}

/** Letters, digits, `_`, `.`, `-`: what a key name in text is made of. */
function isKeyChar(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x30 && c <= 0x39) ||
    c === 0x5f ||
    c === 0x2e ||
    c === 0x2d
  );
}

function isSeparator(c: number): boolean {
  return c === 0x5f || c === 0x2e || c === 0x2d;
}

/**
 * True when the `=` or `:` at `at` follows a secret name as the pattern reads it: `name`, `"name"` or `\"name\"`,
 * then spaces; the name is a secret when one of its trailing runs of words (`x-api-key` → `key`, `api-key`, …)
 * is, separators ignored.
 */
function secretKeyBefore(text: string, at: number, keys: KeyNames): boolean {
  let end = at;
  while (end > 0 && (text.charCodeAt(end - 1) === 0x20 || text.charCodeAt(end - 1) === 0x09)) end--;
  const quote = text.charCodeAt(end - 1);
  if (quote === 0x22 || quote === 0x27) {
    end--;
    if (text.charCodeAt(end - 1) === 0x5c) end--;
  }
  if (
    !keys.endings.has(SHORT_NAME) &&
    (end < 3 ||
      !keys.endings.has(packEnding(text.charCodeAt(end - 3), text.charCodeAt(end - 2), text.charCodeAt(end - 1))))
  ) {
    return false;
  }
  let start = end;
  while (start > 0 && end - start < MAX_KEY_CHARS && isKeyChar(text.charCodeAt(start - 1))) start--;
  // Trailing runs of words, from the last word back: each run starts after a separator (or where the name starts).
  const escaped = text.charCodeAt(start - 1) === 0x5c; // `\npassword=`: the name follows a JSON escape's letter
  let run = '';
  let wordEnd = end;
  for (let i = end - 1; i >= start - 1; i--) {
    if (i === start - 1 || isSeparator(text.charCodeAt(i))) {
      run = text.slice(i + 1, wordEnd).toLowerCase() + run;
      if (keys.names.has(run)) return true;
      if (escaped && i === start - 1 && keys.names.has(run.slice(1))) return true;
      wordEnd = i;
    }
  }
  return false;
}

function normaliseKey(key: string): string {
  return key.toLowerCase().replace(/[-_.\s]/g, '');
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
