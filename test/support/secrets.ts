import { constants, gunzipSync, inflateSync } from 'node:zlib';
import fc from 'fast-check';

/**
 * Secrets to plant in telemetry, and a scanner that finds them in anything Skein wrote: as text, JSON-escaped,
 * base64-encoded at any alignment, and inside every gzip/zlib stream and base64 run it can find (recursively), so a
 * secret hidden in a compressed Parquet page, a base64 quarantine entry or a gzip inside a KPL aggregate is found.
 */

/** One planted secret: how it is written into a record, and the part that must never be written anywhere. */
export interface Secret {
  readonly kind: SecretKind;
  /** The text to put in a value (`Bearer <token>`, a whole PEM block, a webhook URL…). */
  readonly text: string;
  /** The part that is secret (the token, the key body, the webhook path…): what the scanner looks for. */
  readonly needle: string;
}

export type SecretKind =
  | 'aws-access-key'
  | 'bearer'
  | 'jwt'
  | 'pem'
  | 'slack-webhook'
  | 'slack-token'
  | 'github-token'
  | 'named';

const upperDigits = (n: number) => fc.stringMatching(new RegExp(`^[A-Z0-9]{${n}}$`));
const alnum = (min: number, max: number) => fc.stringMatching(new RegExp(`^[A-Za-z0-9]{${min},${max}}$`));
const b64url = (min: number, max: number) => fc.stringMatching(new RegExp(`^[A-Za-z0-9_-]{${min},${max}}$`));
/** At least one digit and one upper-case letter: distinctive, never a word that occurs by chance. */
const distinct = (s: string) => /\d/.test(s) && /[A-Z]/.test(s);

/** An arbitrary secret of each kind the redaction promises to catch by value. */
export const aValueSecret: fc.Arbitrary<Secret> = fc.oneof(
  upperDigits(16)
    .filter(distinct)
    .map((tail) => ({ kind: 'aws-access-key' as const, text: `AKIA${tail}`, needle: `AKIA${tail}` })),
  alnum(24, 40)
    .filter(distinct)
    .map((token) => ({ kind: 'bearer' as const, text: `Bearer ${token}`, needle: token })),
  fc.tuple(b64url(10, 30), b64url(20, 43)).map(([payload, signature]) => {
    const body = `eyJ${payload}.${signature}`;
    return { kind: 'jwt' as const, text: `eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.${body}`, needle: body };
  }),
  fc.stringMatching(/^[A-Za-z0-9+/]{48,64}$/).map((body) => ({
    kind: 'pem' as const,
    text: `-----BEGIN RSA PRIVATE KEY-----\n${body}\n${body.slice(8)}\n-----END RSA PRIVATE KEY-----`,
    needle: body,
  })),
  fc.tuple(upperDigits(9), upperDigits(11), alnum(24, 24)).map(([team, bot, key]) => {
    const path = `T${team}/B${bot}/${key}`;
    return { kind: 'slack-webhook' as const, text: `https://hooks.slack.com/services/${path}`, needle: path };
  }),
  fc.tuple(fc.stringMatching(/^\d{10,13}$/), alnum(24, 24)).map(([id, key]) => {
    const token = `xoxb-${id}-${key}`;
    return { kind: 'slack-token' as const, text: token, needle: token };
  }),
  alnum(36, 36).map((tail) => ({ kind: 'github-token' as const, text: `ghp_${tail}`, needle: `ghp_${tail}` })),
);

/** A value that is secret only by the name of its field (`password`, `client_secret`, `Authorization`…). */
export const aNamedSecret: fc.Arbitrary<Secret & { readonly key: string }> = fc
  .tuple(
    fc.constantFrom(
      'password',
      'db_password',
      'secret',
      'client_secret',
      'authorization',
      'Authorization',
      'x-api-key',
      'api_key',
      'token',
      'access_token',
      'cookie',
    ),
    alnum(16, 28).filter(distinct),
  )
  .map(([key, value]) => ({ kind: 'named' as const, key, text: `pw${value}`, needle: `pw${value}` }));

/** Every form a needle may take in written bytes: itself, JSON-escaped, and base64 at each of the 3 alignments. */
export function needleForms(needle: string): string[] {
  const forms = new Set([needle, JSON.stringify(needle).slice(1, -1)]);
  for (let offset = 0; offset < 3; offset++) {
    const encoded = Buffer.concat([Buffer.alloc(offset), Buffer.from(needle, 'utf8')]).toString('base64');
    // Drop the characters the padding or the neighbouring bytes decide.
    const core = encoded.slice(offset === 0 ? 0 : 4, -4);
    if (core.length >= 8) forms.add(core);
  }
  return [...forms];
}

const MAX_DEPTH = 4;
const BASE64_RUN = /[A-Za-z0-9+/]{24,}={0,2}/g;

/**
 * The needles found in `bytes` in any form (see {@link needleForms}), looking inside every gzip/zlib stream and
 * base64 run too. Returns what was found with where (`gzip@123 > base64@4`), empty when clean.
 */
export function findSecrets(bytes: Uint8Array | string, needles: readonly string[]): string[] {
  const forms = needles.map((needle) => ({ needle, forms: needleForms(needle) }));
  const found: string[] = [];
  scan(typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : Buffer.from(bytes), forms, 'object', 0, found);
  return found;
}

function scan(
  bytes: Buffer,
  needles: readonly { needle: string; forms: string[] }[],
  where: string,
  depth: number,
  found: string[],
): void {
  const text = bytes.toString('latin1');
  for (const { needle, forms } of needles) {
    if (forms.some((form) => text.includes(form))) found.push(`${needle} in ${where}`);
  }
  if (depth >= MAX_DEPTH) return;
  for (let at = 0; at < bytes.length - 2; at++) {
    const kind = streamAt(bytes, at);
    if (kind === undefined) continue;
    const inflated = inflatePrefix(bytes.subarray(at), kind);
    if (inflated.length > 0) scan(inflated, needles, `${where} > ${kind}@${at}`, depth + 1, found);
  }
  for (const match of text.matchAll(BASE64_RUN)) {
    const decoded = Buffer.from(match[0], 'base64');
    scan(decoded, needles, `${where} > base64@${match.index}`, depth + 1, found);
  }
}

function streamAt(b: Buffer, at: number): 'gzip' | 'zlib' | undefined {
  if (b[at] === 0x1f && b[at + 1] === 0x8b && b[at + 2] === 0x08) return 'gzip';
  const flg = b[at + 1];
  if (b[at] === 0x78 && flg !== undefined && (flg === 0x01 || flg === 0x5e || flg === 0x9c || flg === 0xda)) {
    return 'zlib';
  }
  return undefined;
}

/** What a (possibly damaged or truncated) stream inflates to: as much as can be read. */
function inflatePrefix(b: Buffer, kind: 'gzip' | 'zlib'): Buffer {
  const options = { finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: 64 * 1024 * 1024 };
  try {
    return kind === 'gzip' ? gunzipSync(b, options) : inflateSync(b, options);
  } catch {
    // Damaged further on: the scanner's own bisection, so nothing readable goes unscanned.
    let low = 1;
    let high = b.length - 1;
    let best = Buffer.alloc(0);
    while (low <= high) {
      const mid = Math.floor((low + high) / 2);
      try {
        best = kind === 'gzip' ? gunzipSync(b.subarray(0, mid), options) : inflateSync(b.subarray(0, mid), options);
        low = mid + 1;
      } catch {
        high = mid - 1;
      }
    }
    return best;
  }
}
