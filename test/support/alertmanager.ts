import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findAlertmanager, type RunningAlertmanager, SETUP_HINT, startAlertmanager } from '../../local/alertmanager.ts';
import { type Sink, startSink } from '../../local/sinks.ts';

/** A real Alertmanager in a temporary folder, whose webhook receiver is a local sink. */
export interface AlertmanagerWithSink {
  /** The temporary folder holding `alertmanager.yml` and Alertmanager's data. */
  readonly dir: string;
  readonly sink: Sink;
  readonly am: RunningAlertmanager;
  /** Stops Alertmanager and the sink, then removes the folder. */
  stop(): Promise<void>;
}

/**
 * Starts a webhook sink and the real Alertmanager routing to it, in a new temporary folder named `dirPrefix…`.
 * Fails (never skips) when the binary is missing: CI installs it with scripts/setup-alertmanager.sh. On a failed
 * start, what was already started is stopped and the folder removed.
 */
export async function startAlertmanagerWithSink(dirPrefix: string): Promise<AlertmanagerWithSink> {
  if (!findAlertmanager()) throw new Error(`prometheus-alertmanager is not installed: ${SETUP_HINT}`);
  const dir = await mkdtemp(join(tmpdir(), dirPrefix));
  let sink: Sink | undefined;
  try {
    sink = await startSink({ kind: 'webhook' });
    const am = await startAlertmanager({ dir, webhookUrl: sink.url });
    const started = sink;
    return {
      dir,
      sink: started,
      am,
      async stop() {
        await am.stop();
        await started.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await sink?.stop();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
