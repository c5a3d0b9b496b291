import {
  BrokenCircuitError,
  type CircuitBreakerPolicy,
  CircuitState,
  ConsecutiveBreaker,
  circuitBreaker,
  handleType,
} from 'cockatiel';
import type { DeliveryConfig } from '../../schemas/notify-config.ts';
import { type HttpResponse, HttpSendError } from './http-sender.ts';

/**
 * What one delivery attempt came to:
 * - `delivered`: 2xx;
 * - `retry`: a timeout, a connection failure, 408, 429 or 5xx — worth trying again, after `retryAfterMs` when the
 *   receiver said so (`Retry-After`);
 * - `reject`: any other status (400, 401, 403, 422, …): the same request would fail again, so it is dead-lettered;
 * - `disable`: 404 or 410: the endpoint is gone, so it is disabled and reported instead of retried.
 */
export type AttemptOutcome =
  | { readonly kind: 'delivered'; readonly status: number }
  | { readonly kind: 'retry'; readonly error: string; readonly retryAfterMs?: number }
  | { readonly kind: 'reject'; readonly error: string }
  | { readonly kind: 'disable'; readonly error: string };

/** The outcome of an HTTP response at `nowMs` (for `Retry-After` dates). */
export function classifyResponse(response: HttpResponse, nowMs: number): AttemptOutcome {
  const s = response.status;
  if (s >= 200 && s < 300) return { kind: 'delivered', status: s };
  const error = `HTTP ${s}`;
  if (s === 429 || s === 408 || s >= 500) {
    const after = parseRetryAfter(response.headers['retry-after'], nowMs);
    return after === undefined ? { kind: 'retry', error } : { kind: 'retry', error, retryAfterMs: after };
  }
  if (s === 404 || s === 410) return { kind: 'disable', error };
  return { kind: 'reject', error };
}

/** The outcome of a thrown send error: timeouts and connection failures are retried, anything else is not. */
export function classifyError(error: unknown): AttemptOutcome {
  if (error instanceof HttpSendError) return { kind: 'retry', error: error.message };
  return { kind: 'reject', error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
}

/**
 * Milliseconds to wait from a `Retry-After` header (RFC 9110 §10.2.3): delay-seconds or an HTTP-date; `undefined`
 * when absent or unreadable. A date in the past means 0.
 */
export function parseRetryAfter(header: string | undefined, nowMs: number): number | undefined {
  if (header === undefined) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - nowMs);
}

/**
 * Delay before attempt `attempt + 1` (attempt ≥ 1 failed so far): "full jitter" exponential backoff — uniform in
 * [0, min(maxDelay, base × 2^(attempt−1))) — so many notifiers retrying one endpoint spread out; never shorter than
 * the receiver's `Retry-After`.
 */
export function retryDelayMs(
  attempt: number,
  delivery: Pick<DeliveryConfig, 'baseDelayMs' | 'maxDelayMs'>,
  random: () => number,
  retryAfterMs?: number,
): number {
  const ceiling = Math.min(delivery.maxDelayMs, delivery.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  const jittered = Math.floor(random() * ceiling);
  return Math.max(jittered, retryAfterMs ?? 0);
}

/** Thrown inside the breaker for a retryable outcome, so only those count as endpoint failures. */
class RetryableFailure extends Error {
  readonly outcome: AttemptOutcome;
  constructor(outcome: AttemptOutcome) {
    super('retryable');
    this.outcome = outcome;
  }
}

/**
 * A circuit breaker per endpoint (cockatiel): after `breakerThreshold` consecutive retryable failures the endpoint is
 * not called for `breakerHalfOpenAfterMs`; then one call is let through (half-open) and its outcome closes or re-opens
 * it. Rejections (4xx) do not count: the endpoint answered. State lives in the process (a warm Lambda keeps it across
 * invocations); cockatiel reads `Date.now()` for the open period.
 */
export interface EndpointBreakers {
  /** True when calls to the endpoint are blocked right now. */
  isOpen(endpointId: string): boolean;
  /** Runs one attempt through the endpoint's breaker; `undefined` when the breaker refused to run it. */
  run(endpointId: string, attempt: () => Promise<AttemptOutcome>): Promise<AttemptOutcome | undefined>;
  state(endpointId: string): 'closed' | 'open' | 'half-open';
}

export function endpointBreakers(
  delivery: Pick<DeliveryConfig, 'breakerThreshold' | 'breakerHalfOpenAfterMs'>,
): EndpointBreakers {
  const policies = new Map<string, { policy: CircuitBreakerPolicy; openedAt: number }>();
  const entry = (id: string) => {
    let e = policies.get(id);
    if (!e) {
      const policy = circuitBreaker(handleType(RetryableFailure), {
        halfOpenAfter: delivery.breakerHalfOpenAfterMs,
        breaker: new ConsecutiveBreaker(delivery.breakerThreshold),
      });
      const created = { policy, openedAt: 0 };
      policy.onBreak(() => {
        created.openedAt = Date.now();
      });
      policies.set(id, created);
      e = created;
    }
    return e;
  };
  const breakers: EndpointBreakers = {
    isOpen(id) {
      const e = policies.get(id);
      if (!e) return false;
      const s = e.policy.state;
      // cockatiel moves from open to half-open lazily, on the next call: the open period decides.
      if (s === CircuitState.Open) return Date.now() - e.openedAt < delivery.breakerHalfOpenAfterMs;
      return s === CircuitState.HalfOpen || s === CircuitState.Isolated;
    },
    async run(id, attempt) {
      try {
        return await entry(id).policy.execute(async () => {
          const outcome = await attempt();
          if (outcome.kind === 'retry') throw new RetryableFailure(outcome);
          return outcome;
        });
      } catch (error) {
        if (error instanceof RetryableFailure) return error.outcome;
        if (error instanceof BrokenCircuitError) return undefined;
        throw error;
      }
    },
    state(id) {
      const s = policies.get(id)?.policy.state;
      if (s === CircuitState.Open) return breakers.isOpen(id) ? 'open' : 'half-open';
      if (s === CircuitState.HalfOpen) return 'half-open';
      return 'closed';
    },
  };
  return breakers;
}
