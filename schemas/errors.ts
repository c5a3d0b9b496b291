/** Base of every error Skein raises on purpose. `code` is stable and machine-readable; messages never hold secrets. */
export class SkeinError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Configuration is missing or invalid: the message names the setting and what to do. */
export class ConfigError extends SkeinError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('config_invalid', message, options);
  }
}

/** The object store refused or failed a request. */
export class StoreError extends SkeinError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('store_failed', message, options);
  }
}

/** Bad input from a user of the CLI (exit code 2). */
export class UsageError extends SkeinError {
  constructor(message: string) {
    super('usage', message);
  }
}

/** A short, secret-free description of any thrown value. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/** The first problem zod found, as `path: message` (`(root)` when the value itself is wrong): for one-line errors. */
export function describeIssue(error: {
  readonly issues: readonly { readonly path: readonly PropertyKey[]; readonly message: string }[];
}): string {
  const issue = error.issues[0];
  return issue ? `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}` : 'invalid';
}
