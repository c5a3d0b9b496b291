import { describe, expect, it } from 'vitest';
import { heartbeatKey, readHeartbeat, withHeartbeat } from '../../functions/core/heartbeat.ts';
import { memoryObjectStore } from '../../functions/core/object-store.ts';

describe('last-run markers', () => {
  it('are written after a run that succeeds, with the time it finished', async () => {
    const store = memoryObjectStore();

    const result = await withHeartbeat(
      store,
      'compact',
      () => Date.parse('2026-12-03T08:00:05Z'),
      async () => 42,
    );

    expect(result).toBe(42);
    expect(await readHeartbeat(store, 'compact')).toEqual({
      ok: true,
      value: { version: 1, function: 'compact', at: '2026-12-03T08:00:05.000Z' },
    });
    expect([...store.objects.keys()]).toEqual(['status/compact/last-run.json']);
  });

  it('are not written when the run fails, and the failure propagates', async () => {
    const store = memoryObjectStore();

    await expect(
      withHeartbeat(store, 'evaluate', Date.now, async () => {
        throw new Error('rollups unreadable');
      }),
    ).rejects.toThrow('rollups unreadable');

    expect(await readHeartbeat(store, 'evaluate')).toEqual({ ok: true, value: undefined });
  });

  it('do not fail a run whose marker cannot be written', async () => {
    const store = { ...memoryObjectStore(), put: async () => Promise.reject(new Error('AccessDenied')) };
    const heard: unknown[] = [];

    const result = await withHeartbeat(
      store,
      'compact',
      Date.now,
      async () => 'done',
      (e) => heard.push(e),
    );

    expect(result).toBe('done');
    expect(heard).toHaveLength(1);
  });

  it('say so when the marker is not one', async () => {
    const store = memoryObjectStore();
    await store.put(heartbeatKey('evaluate'), new TextEncoder().encode('{"at":1}'), 'application/json');

    expect(await readHeartbeat(store, 'evaluate')).toEqual({
      ok: false,
      reason: 'status/evaluate/last-run.json is not a last-run marker',
    });
  });
});
