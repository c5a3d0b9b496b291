import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SkeinError } from '../../schemas/errors.ts';
import type { Clock } from '../core/clock.ts';

/** Where routing keys and webhook URLs come from: Secrets Manager on AWS, a fixed map locally and in tests. */
export interface SecretProvider {
  /** The secret's value. @throws SecretError naming the secret id, never its value. */
  get(secretId: string): Promise<string>;
}

/** A secret could not be read. The message names the secret id and the failure, never a value. */
export class SecretError extends SkeinError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('secret_unavailable', message, options);
  }
}

/** Secrets Manager values are cached this long (5 min): a rotation is picked up within it. */
export const SECRET_CACHE_MS = 5 * 60_000;

/**
 * A `SecretProvider` over AWS Secrets Manager, caching each value for {@link SECRET_CACHE_MS}. The value is the
 * secret's string; a JSON object with a single string field (the console's "key/value" form) yields that field.
 */
export function awsSecretProvider(client: SecretsManagerClient, clock: Clock): SecretProvider {
  const cache = new Map<string, { value: string; until: number }>();
  return {
    async get(secretId) {
      const now = clock();
      const hit = cache.get(secretId);
      if (hit && hit.until > now) return hit.value;
      let raw: string | undefined;
      try {
        raw = (await client.send(new GetSecretValueCommand({ SecretId: secretId }))).SecretString;
      } catch (error) {
        const name = error instanceof Error ? error.name : 'UnknownError';
        throw new SecretError(`reading secret ${secretId} failed: ${name}`, { cause: error });
      }
      if (raw === undefined || raw.trim() === '') throw new SecretError(`secret ${secretId} has no string value`);
      const value = unwrap(raw.trim());
      cache.set(secretId, { value, until: now + SECRET_CACHE_MS });
      return value;
    },
  };
}

function unwrap(raw: string): string {
  if (!raw.startsWith('{')) return raw;
  try {
    const parsed: unknown = JSON.parse(raw);
    if (parsed !== null && typeof parsed === 'object') {
      const values = Object.values(parsed);
      if (values.length === 1 && typeof values[0] === 'string') return values[0];
    }
  } catch {
    // Not JSON: the string itself is the value.
  }
  return raw;
}

/** A `SecretProvider` over a fixed map (local stack, tests). */
export function staticSecretProvider(values: Readonly<Record<string, string>>): SecretProvider {
  return {
    async get(secretId) {
      const value = Object.hasOwn(values, secretId) ? values[secretId] : undefined;
      if (value === undefined) throw new SecretError(`secret ${secretId} is not defined`);
      return value;
    },
  };
}
