import { setTimeout as delay } from 'node:timers/promises';
import { type KinesisClient, PutRecordsCommand, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import { type Clock, systemClock } from '../functions/core/clock.ts';
import { DEMO_FAILURE_RATE, generateRequest, seededRng } from './demo-requests.ts';

export {
  DEMO_FAILURE_RATE,
  DEMO_SERVICES,
  type DemoRecord,
  type DemoRequest,
  type DemoService,
  generateRequest,
  type Rng,
  seededRng,
} from './demo-requests.ts';

// The running workload: requests from demo-requests.ts, put to the local stream on a timer. The generator and its
// encodings are re-exported here for the tests and benchmarks that replay a workload.

export interface DemoWorkloadOptions {
  readonly kinesis: KinesisClient;
  readonly streamName: string;
  readonly clock?: Clock;
  /** Requests per second (default 5); each is 4–8 records. */
  readonly ratePerSecond?: number;
  /** Seed for a reproducible workload (default: random). */
  readonly seed?: number;
  /** How often requests are generated and sent (default 250 ms). */
  readonly tickMs?: number;
  /** A failed `PutRecords`; the workload keeps going. */
  readonly onError?: (error: unknown) => void;
  /**
   * Recurring incidents, so the demo's alert rules fire and resolve: every `everyMs` (from the start), for
   * `durationMs`, requests fail at `failureRate` instead of {@link DEMO_FAILURE_RATE}. None by default.
   */
  readonly incidents?: { readonly everyMs: number; readonly durationMs: number; readonly failureRate: number };
}

export interface DemoWorkloadStats {
  readonly requests: number;
  readonly failedRequests: number;
  /** Records accepted by the stream. */
  readonly records: number;
  /** Records the stream refused (after one retry). */
  readonly rejectedRecords: number;
  readonly lastTraceId: string | undefined;
  readonly lastFailedTraceId: string | undefined;
  readonly lastRequestId: string | undefined;
}

export interface DemoWorkload {
  stats(): DemoWorkloadStats;
  /**
   * Overrides the failure rate from now on (an error burst on demand, for tests and demos); `undefined` returns to
   * the default and the incident schedule. Returns the time of the change.
   */
  setFailureRate(rate: number | undefined): number;
  /** Stops generating and waits for the `PutRecords` in flight. */
  stop(): Promise<void>;
}

/** PutRecords takes at most 500 records per call. */
const PUT_RECORDS_MAX = 500;

/** Sends {@link generateRequest} traffic to the stream at `ratePerSecond` until stopped. */
export function startDemoWorkload(options: DemoWorkloadOptions): DemoWorkload {
  const clock = options.clock ?? systemClock;
  const rate = options.ratePerSecond ?? 5;
  const tickMs = options.tickMs ?? 250;
  const rng = seededRng(options.seed ?? Math.floor(Math.random() * 2 ** 32));
  const abort = new AbortController();
  const startedAt = clock();
  let override: number | undefined;
  const failureRateAt = (timeMs: number): number => {
    if (override !== undefined) return override;
    const incidents = options.incidents;
    if (incidents && (timeMs - startedAt) % incidents.everyMs < incidents.durationMs) return incidents.failureRate;
    return DEMO_FAILURE_RATE;
  };
  const stats = {
    requests: 0,
    failedRequests: 0,
    records: 0,
    rejectedRecords: 0,
    lastTraceId: undefined as string | undefined,
    lastFailedTraceId: undefined as string | undefined,
    lastRequestId: undefined as string | undefined,
  };

  const send = async (entries: PutRecordsRequestEntry[]) => {
    for (let i = 0; i < entries.length; i += PUT_RECORDS_MAX) {
      let chunk = entries.slice(i, i + PUT_RECORDS_MAX);
      for (let attempt = 0; attempt < 2 && chunk.length; attempt++) {
        const out = await options.kinesis.send(
          new PutRecordsCommand({ StreamName: options.streamName, Records: chunk }),
        );
        const failed = chunk.filter((_, j) => out.Records?.[j]?.ErrorCode);
        stats.records += chunk.length - failed.length;
        chunk = failed;
      }
      stats.rejectedRecords += chunk.length;
    }
  };

  const loop = async () => {
    let due = 1; // the first request goes out at once
    let last = clock();
    while (!abort.signal.aborted) {
      const now = clock();
      due += ((now - last) / 1000) * rate;
      last = now;
      const entries: PutRecordsRequestEntry[] = [];
      for (; due >= 1; due--) {
        const at = now - Math.floor(rng() * tickMs);
        const request = generateRequest(rng, at, failureRateAt(at));
        stats.requests++;
        stats.lastTraceId = request.traceId;
        stats.lastRequestId = request.requestId;
        if (request.failed) {
          stats.failedRequests++;
          stats.lastFailedTraceId = request.traceId;
        }
        for (const r of request.records) entries.push({ PartitionKey: r.partitionKey, Data: r.data });
      }
      try {
        if (entries.length) await send(entries);
      } catch (error) {
        options.onError?.(error);
      }
      await delay(tickMs, undefined, { signal: abort.signal }).catch(() => undefined);
    }
  };
  const running = loop();

  return {
    stats: () => ({ ...stats }),
    setFailureRate(rate) {
      override = rate;
      return clock();
    },
    async stop() {
      abort.abort();
      await running;
    },
  };
}
