import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRedactor, isSecretKey, REDACTED, redactFields } from '../../functions/core/redact.ts';

const redactor = createRedactor();
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const JWT =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';

describe('redactText', () => {
  it.each([
    ['an AWS access key id', 'using key AKIAIOSFODNN7EXAMPLE now', `using key ${REDACTED} now`],
    ['a temporary AWS access key id', 'ASIAY34FZKBOKMUTVV7A', REDACTED],
    [
      'an AWS secret key',
      'aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      `aws_secret_access_key=${REDACTED}`,
    ],
    ['a bearer token after its header', `Authorization: Bearer ${JWT}`, `Authorization: Bearer ${REDACTED}`],
    ['a bearer token alone', 'sent Bearer abc123DEF456ghi to upstream', `sent Bearer ${REDACTED} to upstream`],
    ['basic credentials', 'Basic YWxhZGRpbjpvcGVuc2VzYW1l', `Basic ${REDACTED}`],
    ['a JWT', `token=${JWT}`, `token=${REDACTED}`],
    ['a bare JWT', `session ${JWT} expired`, `session ${REDACTED} expired`],
    [
      'a PEM private key',
      '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy\n-----END RSA PRIVATE KEY-----\ndone',
      `${REDACTED}\ndone`,
    ],
    [
      'a PEM private key JSON-escaped',
      '{"k":"-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBg\\n-----END PRIVATE KEY-----\\n"}',
      `{"k":"${REDACTED}\\n"}`,
    ],
    [
      'a Slack webhook URL',
      'posting to https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX',
      `posting to https://hooks.slack.com/services/${REDACTED}`,
    ],
    ['a Slack bot token', 'xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy', REDACTED],
    ['a GitHub token', 'ghp_16C7e42F292c6912E7710c838347Ae178B4a ok', `${REDACTED} ok`],
    ['a fine-grained GitHub token', 'github_pat_11ABCDEFG0123456789_abcdefghijklmnop', REDACTED],
    ['a PagerDuty routing key', `routing_key=${TRACE.replace('4', 'f')}`, `routing_key=${REDACTED}`],
    ['a PagerDuty routing key in JSON', `{"routing_key":"${TRACE}"}`, `{"routing_key":"${REDACTED}"}`],
    ['password=', 'login password=hunter2 user=bob', `login password=${REDACTED} user=bob`],
    ['a quoted password', 'password="hunter 2"', `password="${REDACTED}"`],
    ['a prefixed secret name', 'db_password: s3cr3t', `db_password: ${REDACTED}`],
    ['a header form', 'X-Api-Key: 12345abcde', `X-Api-Key: ${REDACTED}`],
    ['a cookie header', 'Cookie: session=abc123; theme=dark', `Cookie: ${REDACTED}; theme=dark`],
    ['a number value in JSON, quoted to stay JSON', '{"db_password":12345}', `{"db_password":"${REDACTED}"}`],
    [
      'JSON inside a JSON string',
      '{"msg":"{\\"password\\":\\"hunter2\\"}"}',
      `{"msg":"{\\"password\\":\\"${REDACTED}\\"}"}`,
    ],
    ['a secret name after a JSON escape', '{"m":"line\\npassword=x"}', `{"m":"line\\npassword=${REDACTED}"}`],
  ])('redacts %s', (_name, text, expected) => {
    expect(redactor.redactText(text)).toBe(expected);
  });

  it.each([
    ['a trace id (32 hex)', `trace ${TRACE} failed`],
    ['32 hex after another name', `{"trace_id":"${TRACE}"}`],
    ['a lowercase look-alike of an access key', 'akiaiosfodnn7example'],
    ['prose about bearer tokens', 'Bearer authentication failed: token expired'],
    ['names that only contain a secret word', 'max_tokens=5 token_count=3 passwords_reset=2'],
    ['a URL path', '/api/v1/orders/:id?page=2'],
    ['a JSON log line without secrets', '{"http_route":"/orders/:id","status":200,"host":"ip-10-0-1-2"}'],
    ['an empty string', ''],
  ])('leaves %s alone', (_name, text) => {
    expect(redactor.redactText(text)).toBe(text);
  });

  it('returns its input when nothing matches (the fast path allocates nothing)', () => {
    // Prepare: a string built at run time, so equality is not interning
    const text = ['request', 'completed', 'in', String(Date.now() % 1000), 'ms'].join(' ');

    // Act
    const out = redactor.redactText(text);

    // Assess: strings have no identity in JS; equality plus the gate test below is what can be checked
    expect(out).toBe(text);
  });

  it('redacts values of the configured extra keys in text too', () => {
    const custom = createRedactor(['x-session', 'ssn']);
    expect(custom.redactText('x-session: abc ssn=123-45-6789')).toBe(`x-session: ${REDACTED} ssn=${REDACTED}`);
    expect(custom.isSecretKey('X_Session')).toBe(true);
  });

  it('keeps every JSON object text without contrived names valid JSON', () => {
    const secretish = fc.constantFrom('password', 'token', 'api_key', 'note', 'msg', 'Authorization');
    const value = fc.oneof(
      fc.string(),
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.constantFrom(`Bearer ${JWT}`, 'AKIAIOSFODNN7EXAMPLE', 'password=x y', 'a"b\\c'),
    );
    fc.assert(
      fc.property(fc.dictionary(secretish, value), (object) => {
        const json = JSON.stringify(object);
        expect(() => JSON.parse(redactor.redactText(json))).not.toThrow();
      }),
    );
  });

  it('never throws, whatever the text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (text) => {
        const out = redactor.redactText(text);
        expect(typeof out).toBe('string');
      }),
    );
  });
});

describe('isSecretKey', () => {
  it.each([
    'authorization',
    'Authorization',
    'cookie',
    'Set-Cookie',
    'password',
    'passwd',
    'secret',
    'client_secret',
    'token',
    'access_token',
    'api_key',
    'apikey',
    'x-api-key',
    'routing_key',
    'aws_secret_access_key',
  ])('treats %s as secret', (key) => {
    expect(isSecretKey(key)).toBe(true);
    expect(redactor.isSecretKey(key)).toBe(true);
  });

  it.each(['trace_id', 'request_id', 'tokens', 'author', 'key'])('does not treat %s as secret', (key) => {
    expect(redactor.isSecretKey(key)).toBe(false);
  });
});

describe('redactFields (what the logger writes)', () => {
  it('redacts secret-named fields, nested ones too, and secret-looking values in strings', () => {
    const fields = {
      authorization: 'Bearer abcdefghijklmnop',
      error: 'SyntaxError: token AKIAZN9E9C2E15Z37825 is not valid',
      nested: { password: 'hunter2hunter2', note: 'call with ghp_aaaaBBBBccccDDDDeeeeFFFFgggg0000hhhh1111' },
      count: 3,
    };

    expect(redactFields(fields)).toEqual({
      authorization: REDACTED,
      error: `SyntaxError: token ${REDACTED} is not valid`,
      nested: { password: REDACTED, note: `call with ${REDACTED}` },
      count: 3,
    });
  });
});
