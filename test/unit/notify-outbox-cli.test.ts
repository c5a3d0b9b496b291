import { describe, expect, it } from 'vitest';
import { outboxCommand } from '../../cli/outbox-command.ts';
import { memoryLogger } from '../../functions/core/logger.ts';
import { memoryObjectStore } from '../../functions/core/object-store.ts';
import { DEAD_LETTER_PREFIX } from '../../functions/notify/delivery-store.ts';
import { type NotifyDeps, notifyOnce } from '../../functions/notify/notify-once.ts';
import { staticSecretProvider } from '../../functions/notify/secrets.ts';
import { parseNotifyConfig } from '../../schemas/notify-config.ts';
import { captureIo } from '../builders/cli-io.ts';
import { aTransition, fakeHttp, NOTIFY_T0, notifyYaml, putOutbox } from '../builders/notify.ts';

const PD = 'https://pd.test/v2/enqueue';

async function deadLetteredStore() {
  const store = memoryObjectStore();
  const http = fakeHttp({ [PD]: [{ status: 400, body: 'invalid event' }, 503] });
  const deps: NotifyDeps = {
    store,
    config: parseNotifyConfig(notifyYaml({ am: ['https://am.test'], pd: PD })),
    secrets: staticSecretProvider({ 'pd-key': 'R0UTINGKEY0123456789' }),
    http,
    clock: () => NOTIFY_T0,
    logger: memoryLogger(),
    random: () => 0,
  };
  await putOutbox(store, [aTransition()]);
  await notifyOnce(deps, {});
  return { store, http, deps };
}

describe('skein outbox', () => {
  it('lists dead letters with endpoint, attempts and last error', async () => {
    const { store } = await deadLetteredStore();
    const io = captureIo();

    const code = await outboxCommand(['ls', '--dead', '--bucket', 'b'], io, { store });

    expect(code).toBe(0);
    expect(io.out()).toMatch(/HighErrorRate\s+firing\s+pd\.pagerduty\s+1\s+HTTP 400: invalid event/);
    expect(io.out()).toContain('1 dead letter in s3://b');
  });

  it('re-drives every dead letter so the next run delivers it, and lists it in flight meanwhile', async () => {
    // Prepare
    const { store, http, deps } = await deadLetteredStore();
    const io = captureIo();

    // Act
    const code = await outboxCommand(['retry', '--all-dead', '--bucket', 'b'], io, { store, now: () => NOTIFY_T0 });
    const listing = captureIo();
    await outboxCommand(['ls', '--bucket', 'b'], listing, { store });
    const first = await notifyOnce(deps, {});
    const second = await notifyOnce({ ...deps, clock: () => NOTIFY_T0 + 1000 }, {});

    // Assess
    expect(code).toBe(0);
    expect(io.out()).toContain('1 dead letter re-driven');
    expect(listing.out()).toMatch(/am\.alertmanager\.0=delivered pd\.pagerduty=pending\(0 attempts/);
    expect(first).toMatchObject({ pending: 1 });
    expect(second).toMatchObject({ delivered: 2, dead: 0 });
    expect(http.requests.filter((r) => r.url === PD)).toHaveLength(3);
    expect(await store.list(DEAD_LETTER_PREFIX)).toEqual([]);
  });

  it('lists delivered transitions with their labels by default, and only those in flight with --pending', async () => {
    // Prepare: one transition delivered to every endpoint.
    const store = memoryObjectStore();
    const deps: NotifyDeps = {
      store,
      config: parseNotifyConfig(notifyYaml({ am: ['https://am.test'], pd: PD })),
      secrets: staticSecretProvider({ 'pd-key': 'R0UTINGKEY0123456789' }),
      http: fakeHttp({}),
      clock: () => NOTIFY_T0,
      logger: memoryLogger(),
      random: () => 0,
    };
    await putOutbox(store, [aTransition()]);
    await notifyOnce(deps, {});
    const all = captureIo();
    const pending = captureIo();
    const json = captureIo();

    // Act
    await outboxCommand(['ls', '--bucket', 'b'], all, { store });
    await outboxCommand(['ls', '--pending', '--bucket', 'b'], pending, { store });
    await outboxCommand(['ls', '--json', '--bucket', 'b'], json, { store });

    // Assess
    expect(all.out()).toMatch(
      /HighErrorRate\s+firing\s+service=api,severity=critical\s+am\.alertmanager\.0=delivered pd\.pagerduty=delivered/,
    );
    expect(all.out()).toContain('1 transition (0 in flight, 1 finished) in s3://b');
    expect(pending.out()).toBe('0 transitions in flight in s3://b\n');
    expect(JSON.parse(json.out())).toMatchObject({
      done: true,
      labels: { alertname: 'HighErrorRate', service: 'api', severity: 'critical' },
    });
  });

  it('says so when a key matches no dead letter, and checks its arguments', async () => {
    const { store } = await deadLetteredStore();
    const missing = captureIo();
    const both = captureIo();

    expect(await outboxCommand(['retry', 'nope', '--bucket', 'b'], missing, { store })).toBe(2);
    expect(missing.err()).toContain("no dead letter matches 'nope'");
    expect(await outboxCommand(['retry', 'k', '--all-dead', '--bucket', 'b'], both, { store })).toBe(2);
    expect(await outboxCommand(['nope'], captureIo())).toBe(2);
    expect(await outboxCommand(['ls', '--pending', '--dead', '--bucket', 'b'], captureIo(), { store })).toBe(2);
  });
});
