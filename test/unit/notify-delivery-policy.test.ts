import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  classifyError,
  classifyResponse,
  endpointBreakers,
  parseRetryAfter,
  retryDelayMs,
} from '../../functions/notify/delivery-policy.ts';
import { HttpSendError } from '../../functions/notify/http-sender.ts';
import { NOTIFY_T0 } from '../builders/notify.ts';

const response = (status: number, headers: Record<string, string> = {}) => ({ status, headers, body: '' });

describe('retry classification', () => {
  it('delivers on 2xx', () => {
    expect(classifyResponse(response(202), NOTIFY_T0)).toEqual({ kind: 'delivered', status: 202 });
  });

  it('retries 429 honouring Retry-After in seconds and as an HTTP-date', () => {
    expect(classifyResponse(response(429, { 'retry-after': '7' }), NOTIFY_T0)).toEqual({
      kind: 'retry',
      error: 'HTTP 429',
      retryAfterMs: 7000,
    });
    const date = new Date(NOTIFY_T0 + 12_000).toUTCString();
    expect(classifyResponse(response(429, { 'retry-after': date }), NOTIFY_T0)).toMatchObject({ retryAfterMs: 12_000 });
  });

  it.each([500, 502, 503, 504, 408])('retries HTTP %i', (status) => {
    expect(classifyResponse(response(status), NOTIFY_T0).kind).toBe('retry');
  });

  it.each([400, 401, 403, 422])('does not retry HTTP %i', (status) => {
    expect(classifyResponse(response(status), NOTIFY_T0).kind).toBe('reject');
  });

  it.each([404, 410])('disables the endpoint on HTTP %i', (status) => {
    expect(classifyResponse(response(status), NOTIFY_T0).kind).toBe('disable');
  });

  it('retries timeouts and connection resets, not other errors', () => {
    expect(classifyError(new HttpSendError('timeout', 'no response within 200 ms')).kind).toBe('retry');
    expect(classifyError(new HttpSendError('connection', 'connection failed: ECONNRESET')).kind).toBe('retry');
    expect(classifyError(new TypeError('bad')).kind).toBe('reject');
  });

  it('reads Retry-After dates in the past as 0 and ignores garbage', () => {
    expect(parseRetryAfter(new Date(NOTIFY_T0 - 5000).toUTCString(), NOTIFY_T0)).toBe(0);
    expect(parseRetryAfter('soon', NOTIFY_T0)).toBeUndefined();
    expect(parseRetryAfter(undefined, NOTIFY_T0)).toBeUndefined();
  });
});

describe('retryDelayMs', () => {
  const delivery = { baseDelayMs: 1000, maxDelayMs: 10_000 };

  it('draws uniformly below base × 2^(n−1), capped at max_delay (full jitter)', () => {
    expect(retryDelayMs(1, delivery, () => 0.999)).toBe(999);
    expect(retryDelayMs(3, delivery, () => 0.5)).toBe(2000);
    expect(retryDelayMs(10, delivery, () => 0.999)).toBe(9990);
    expect(retryDelayMs(3, delivery, () => 0)).toBe(0);
  });

  it('never waits less than Retry-After', () => {
    expect(retryDelayMs(1, delivery, () => 0.1, 30_000)).toBe(30_000);
  });
});

describe('endpoint circuit breaker', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(NOTIFY_T0);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('opens after consecutive retryable failures, half-opens after the wait and closes on success', async () => {
    // Prepare
    const breakers = endpointBreakers({ breakerThreshold: 3, breakerHalfOpenAfterMs: 30_000 });
    const failing = async () => ({ kind: 'retry' as const, error: 'HTTP 503' });
    let calls = 0;
    const ok = async () => {
      calls++;
      return { kind: 'delivered' as const, status: 200 };
    };

    // Act
    for (let i = 0; i < 3; i++) await breakers.run('am.0', failing);
    const whileOpen = await breakers.run('am.0', ok);
    const stateOpen = breakers.state('am.0');
    vi.setSystemTime(NOTIFY_T0 + 30_001);
    const stateAfterWait = breakers.state('am.0');
    const probe = await breakers.run('am.0', ok);

    // Assess
    expect(whileOpen).toBeUndefined();
    expect(stateOpen).toBe('open');
    expect(breakers.isOpen('am.0')).toBe(false);
    expect(stateAfterWait).toBe('half-open');
    expect(probe).toEqual({ kind: 'delivered', status: 200 });
    expect(calls).toBe(1);
    expect(breakers.state('am.0')).toBe('closed');
    expect(breakers.isOpen('other')).toBe(false);
  });

  it('re-opens when the half-open probe fails, and rejections do not count as failures', async () => {
    const breakers = endpointBreakers({ breakerThreshold: 2, breakerHalfOpenAfterMs: 1000 });
    const failing = async () => ({ kind: 'retry' as const, error: 'timeout' });
    const rejected = async () => ({ kind: 'reject' as const, error: 'HTTP 400' });

    await breakers.run('pd', rejected);
    await breakers.run('pd', rejected);
    await breakers.run('pd', rejected);
    expect(breakers.state('pd')).toBe('closed');
    await breakers.run('pd', failing);
    await breakers.run('pd', failing);
    expect(breakers.isOpen('pd')).toBe(true);
    vi.setSystemTime(NOTIFY_T0 + 1001);
    expect(await breakers.run('pd', failing)).toEqual({ kind: 'retry', error: 'timeout' });

    expect(breakers.isOpen('pd')).toBe(true);
  });
});
