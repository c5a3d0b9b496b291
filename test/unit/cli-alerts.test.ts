import { describe, expect, it } from 'vitest';
import { alertsCommand } from '../../cli/alerts-command.ts';
import { memoryObjectStore } from '../../functions/core/object-store.ts';
import { stepRule } from '../../functions/evaluate/alert-state.ts';
import { alertStateKey, emptyGroupState } from '../../schemas/alert-state.ts';
import { captureIo } from '../builders/cli-io.ts';

const M = 29_000_000;

/** A store with one group: `checkout` firing (since M) and `cart` pending. */
async function storeWithAlerts() {
  const store = memoryObjectStore();
  const state = emptyGroupState('shop');
  const rule = {
    group: 'shop',
    name: 'Errors',
    expr: 'x',
    forMs: 60_000,
    keepFiringForMs: 0,
    labels: { severity: 'critical' },
    noData: 'ok' as const,
  };
  const sample = (service: string) => ({ labels: { service }, value: 7, active: true });
  stepRule(rule, state, [sample('checkout')], M, () => ({}));
  stepRule(rule, state, [sample('checkout'), sample('cart')], M + 1, () => ({}));
  state.last_evaluated_minute = M + 1;
  await store.put(alertStateKey('shop'), new TextEncoder().encode(JSON.stringify(state)), 'application/json');
  return store;
}

describe('skein alerts', () => {
  it('lists firing alerts before pending ones with their labels', async () => {
    // Prepare
    const store = await storeWithAlerts();
    const io = captureIo();
    // Act
    const code = await alertsCommand([], io, { store });
    // Assess
    expect(code).toBe(0);
    const lines = io.out().trim().split('\n');
    expect(lines[0]).toMatch(/^STATE\s+ALERT\s+GROUP\s+VALUE\s+SINCE\s+LABELS$/);
    expect(lines[1]).toMatch(/^FIRING\s+Errors\s+shop\s+7\s+.*service="checkout"/);
    expect(lines[2]).toMatch(/^PENDING\s+Errors\s+shop\s+7\s+.*service="cart"/);
  });

  it('filters by state and prints JSON lines with --json', async () => {
    // Prepare
    const store = await storeWithAlerts();
    const io = captureIo();
    // Act
    const code = await alertsCommand(['--state', 'pending', '--json'], io, { store });
    // Assess
    expect(code).toBe(0);
    const rows = io
      .out()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ group: 'shop', rule: 'Errors', state: 'pending', labels: { service: 'cart' } });
  });

  it('rejects an unknown --state with a usage error', async () => {
    // Prepare
    const io = captureIo();
    // Act
    const code = await alertsCommand(['--state', 'sleeping'], io, { store: memoryObjectStore() });
    // Assess
    expect(code).toBe(2);
    expect(io.err()).toContain("unknown --state 'sleeping'");
  });
});
