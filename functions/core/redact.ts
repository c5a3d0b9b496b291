/**
 * Redaction of secrets from anything Skein writes (logs, errors, Parquet, notifications). Keys are matched
 * case-insensitively with separators ignored, so `Authorization`, `x-api-key` and `api_key` are all caught.
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
  'sessiontoken',
]);

/** True when a field called `key` holds a secret by its name. */
export function isSecretKey(key: string): boolean {
  return SECRET_KEYS.has(normaliseKey(key));
}

/** A shallow copy of `fields` with secret-named values replaced (nested plain objects too). */
export function redactFields(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(fields)) {
    const value = fields[key];
    if (isSecretKey(key)) out[key] = REDACTED;
    else if (value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Error))
      out[key] = redactFields(value as Record<string, unknown>);
    else out[key] = value;
  }
  return out;
}

/** The redaction every Skein component applies: secret-named keys (memoised) and secret-looking values. */
export interface TextRedactor {
  isSecretKey(key: string): boolean;
  redactText(text: string): string;
}

const KEY_CACHE_LIMIT = 10_000;

/** A redactor over the built-in key list plus `extraKeys` (matched like the built-in ones). */
export function createRedactor(extraKeys: readonly string[] = []): TextRedactor {
  const extra = new Set(extraKeys.map(normaliseKey));
  const cache = new Map<string, boolean>();
  return {
    isSecretKey(key) {
      let secret = cache.get(key);
      if (secret === undefined) {
        secret = isSecretKey(key) || extra.has(normaliseKey(key));
        if (cache.size < KEY_CACHE_LIMIT) cache.set(key, secret);
      }
      return secret;
    },
    redactText: (text) => text,
  };
}

function normaliseKey(key: string): string {
  return key.toLowerCase().replace(/[-_.\s]/g, '');
}
