export interface ProcessSignals {
  readonly signal: AbortSignal;
  dispose(): void;
}

/**
 * A signal this soon after the first is the same Ctrl-C relayed by a wrapper: a terminal sends SIGINT to the whole
 * process group, and `tsx` (under `npm start`) re-sends it to its child when the child has not acknowledged it within
 * 30 ms — a busy or starved process then got two SIGINTs for one keypress and exited without stopping cleanly.
 */
const RELAYED_SIGNAL_MS = 1_000;

/** Aborts on the first SIGINT or SIGTERM; another one, a second or more later (while stopping), exits at once. */
export function processSignals(): ProcessSignals {
  const abort = new AbortController();
  let firstAt = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (abort.signal.aborted) {
      if (Date.now() - firstAt < RELAYED_SIGNAL_MS) return;
      process.stderr.write(`skein: ${signal} again: exiting without finishing the stop\n`);
      process.exit(signal === 'SIGINT' ? 130 : 143);
    }
    firstAt = Date.now();
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: abort.signal,
    dispose() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}
