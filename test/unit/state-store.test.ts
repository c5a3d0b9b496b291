import { describe, expect, it } from 'vitest';
import { memoryObjectStore, type ObjectStore } from '../../functions/core/object-store.ts';
import { minuteIso } from '../../functions/evaluate/alert-state.ts';
import {
  type AdvanceGroup,
  MAX_STATE_ATTEMPTS,
  readGroupState,
  updateGroupState,
} from '../../functions/evaluate/state-store.ts';
import { alertStateKey } from '../../schemas/alert-state.ts';
import { AlertTransition, OUTBOX_PREFIX } from '../../schemas/alerts.ts';
import { StoreError } from '../../schemas/errors.ts';

const MINUTE = 29_000_000;
const GROUP = 'checkout';

function aTransition(fingerprint: string, seq: number, value: number): AlertTransition {
  return {
    version: 1,
    fingerprint,
    seq,
    status: seq % 2 === 1 ? 'firing' : 'resolved',
    group: GROUP,
    rule: 'HighErrorRate',
    labels: { alertname: 'HighErrorRate' },
    annotations: {},
    value,
    active_at: minuteIso(MINUTE),
    starts_at: minuteIso(MINUTE),
    evaluated_at: minuteIso(MINUTE),
    expr: 'x > 1',
  };
}

/** An evaluation of `minute` that makes `transitions` (tagged with `value` so each evaluator's are told apart). */
function advanceMaking(minute: number, value: number, fingerprints: readonly string[]): AdvanceGroup {
  return (state) => {
    state.last_evaluated_minute = minute;
    for (const fp of fingerprints) state.unflushed.push(aTransition(fp, 1, value));
    return state;
  };
}

async function outbox(store: ObjectStore & { objects: Map<string, Uint8Array> }): Promise<AlertTransition[]> {
  const keys = await store.list(OUTBOX_PREFIX);
  return keys.map((k) => AlertTransition.parse(JSON.parse(new TextDecoder().decode(store.objects.get(k)))));
}

/** A store whose state reads wait until `parties` readers have read: every evaluator sees the same old state. */
function interleavingStore(parties: number) {
  const inner = memoryObjectStore();
  let waiting = 0;
  let release: () => void = () => {};
  const barrier = new Promise<void>((resolve) => {
    release = resolve;
  });
  const store: ObjectStore & { objects: Map<string, Uint8Array> } = {
    ...inner,
    objects: inner.objects,
    async getVersioned(key) {
      const found = await inner.getVersioned(key);
      if (key === alertStateKey(GROUP) && waiting < parties) {
        waiting++;
        if (waiting === parties) release();
        await barrier;
      }
      return found;
    },
  };
  return store;
}

/** A store that fails the `n`-th conditional write whose key passes `match`, as a crash at that point would. */
function failingStore(match: (key: string) => boolean, n: number) {
  const inner = memoryObjectStore();
  let seen = 0;
  const store: ObjectStore & { objects: Map<string, Uint8Array> } = {
    ...inner,
    objects: inner.objects,
    async putIf(key, body, type, condition) {
      if (match(key) && ++seen === n) throw new StoreError(`injected failure writing ${key}`);
      return inner.putIf(key, body, type, condition);
    },
  };
  return store;
}

describe('updateGroupState', () => {
  it('writes exactly one set of transitions when two evaluators race on the same minute', async () => {
    // Prepare
    const store = interleavingStore(2);
    // Act
    const [a, b] = await Promise.all([
      updateGroupState(store, GROUP, MINUTE, advanceMaking(MINUTE, 1, ['aaaaaaaaaaaaaaaa', 'bbbbbbbbbbbbbbbb'])),
      updateGroupState(store, GROUP, MINUTE, advanceMaking(MINUTE, 2, ['aaaaaaaaaaaaaaaa', 'bbbbbbbbbbbbbbbb'])),
    ]);
    // Assess
    const entries = await outbox(store);
    expect(entries).toHaveLength(2);
    expect(new Set(entries.map((e) => e.value)).size).toBe(1);
    expect([a.advanced, b.advanced].sort()).toEqual([false, true]);
    expect(a.conflicts + b.conflicts).toBe(1);
    const { state } = await readGroupState(store, GROUP);
    expect(state.last_evaluated_minute).toBe(MINUTE);
    expect(state.unflushed).toEqual([]);
  });

  it('flushes transitions left unwritten by a crash between the state write and the outbox on the next run', async () => {
    // Prepare
    const store = failingStore((k) => k.startsWith(OUTBOX_PREFIX), 1);
    const crashed = updateGroupState(store, GROUP, MINUTE, advanceMaking(MINUTE, 1, ['aaaaaaaaaaaaaaaa']));
    await expect(crashed).rejects.toThrow(StoreError);
    const afterCrash = (await readGroupState(store, GROUP)).state.unflushed.length;
    // Act
    const next = await updateGroupState(store, GROUP, MINUTE, advanceMaking(MINUTE, 9, ['cccccccccccccccc']));
    // Assess
    expect(afterCrash).toBe(1);
    expect(next).toMatchObject({ advanced: false, written: 1 });
    expect((await outbox(store)).map((e) => [e.fingerprint, e.value])).toEqual([['aaaaaaaaaaaaaaaa', 1]]);
    expect((await readGroupState(store, GROUP)).state.unflushed).toEqual([]);
  });

  it('writes no duplicate when a crash came after the outbox write and before the state was cleared', async () => {
    // Prepare: the second conditional write of the state (clearing `unflushed`) fails.
    const store = failingStore((k) => k === alertStateKey(GROUP), 2);
    await expect(
      updateGroupState(store, GROUP, MINUTE, advanceMaking(MINUTE, 1, ['aaaaaaaaaaaaaaaa'])),
    ).rejects.toThrow(StoreError);
    const afterCrash = await outbox(store);
    // Act
    const next = await updateGroupState(store, GROUP, MINUTE + 1, advanceMaking(MINUTE + 1, 2, []));
    // Assess
    expect(afterCrash).toHaveLength(1);
    expect(next).toMatchObject({ advanced: true, written: 0 });
    expect(await outbox(store)).toHaveLength(1);
    expect((await readGroupState(store, GROUP)).state).toMatchObject({
      last_evaluated_minute: MINUTE + 1,
      unflushed: [],
    });
  });

  it('evaluates nothing for a minute the state has already passed', async () => {
    // Prepare
    const store = memoryObjectStore();
    await updateGroupState(store, GROUP, MINUTE + 5, advanceMaking(MINUTE + 5, 1, []));
    let called = false;
    // Act
    const result = await updateGroupState(store, GROUP, MINUTE, (s) => {
      called = true;
      return s;
    });
    // Assess
    expect(called).toBe(false);
    expect(result.advanced).toBe(false);
  });

  it(`gives up with a StoreError after ${MAX_STATE_ATTEMPTS} lost conditional writes`, async () => {
    // Prepare
    const inner = memoryObjectStore();
    const store: ObjectStore = { ...inner, putIf: async () => undefined };
    // Act
    const result = updateGroupState(store, GROUP, MINUTE, advanceMaking(MINUTE, 1, []));
    // Assess
    await expect(result).rejects.toThrow(/lost 5 conditional writes/);
  });

  it('rejects a stored state that does not match the schema, naming the key', async () => {
    // Prepare
    const store = memoryObjectStore();
    await store.put(alertStateKey(GROUP), new TextEncoder().encode('{"version":2}'), 'application/json');
    // Act
    const result = readGroupState(store, GROUP);
    // Assess
    await expect(result).rejects.toThrow(/alerts\/state\/checkout\.json is not a valid alert state/);
  });
});
