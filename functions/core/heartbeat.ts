import { z } from 'zod';
import type { ObjectStore } from './object-store.ts';

/**
 * Last-run markers of the scheduled functions: after each successful run a function writes one tiny object,
 * `status/<function>/last-run.json`, so `skein smoke` (and an operator with `aws s3 cp`) can tell that it ran
 * recently, the same way on AWS and on the local stack (decision D20). One PUT a minute per function.
 */
export const STATUS_PREFIX = 'status/';

export const HEARTBEAT_FUNCTIONS = ['compact', 'evaluate', 'local-poller'] as const;
export type HeartbeatFunction = (typeof HEARTBEAT_FUNCTIONS)[number];

export const Heartbeat = z.object({
  version: z.literal(1),
  function: z.enum(HEARTBEAT_FUNCTIONS),
  /** ISO time the run finished. */
  at: z.string(),
  /** A few counters of the run (never text from the data, never a secret). */
  counts: z.record(z.string(), z.number()).optional(),
});
export type Heartbeat = z.infer<typeof Heartbeat>;

/** The IAM prefix a function needs to write its marker: `status/<function>/`. */
export function heartbeatPrefix(fn: HeartbeatFunction): string {
  return `${STATUS_PREFIX}${fn}/`;
}

export function heartbeatKey(fn: HeartbeatFunction): string {
  return `${heartbeatPrefix(fn)}last-run.json`;
}

/** Writes the marker of a run that just finished. */
export async function writeHeartbeat(
  store: ObjectStore,
  fn: HeartbeatFunction,
  at: number,
  counts?: Readonly<Record<string, number>>,
): Promise<void> {
  const body: Heartbeat = { version: 1, function: fn, at: new Date(at).toISOString(), ...(counts ? { counts } : {}) };
  await store.put(heartbeatKey(fn), new TextEncoder().encode(JSON.stringify(body)), 'application/json');
}

/** The marker of `fn`, or `undefined` when it never ran (or wrote something unreadable: a reason is returned). */
export async function readHeartbeat(
  store: ObjectStore,
  fn: HeartbeatFunction,
): Promise<{ ok: true; value: Heartbeat | undefined } | { ok: false; reason: string }> {
  const body = await store.get(heartbeatKey(fn));
  if (body === undefined) return { ok: true, value: undefined };
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(body));
  } catch {
    return { ok: false, reason: `${heartbeatKey(fn)} is not JSON` };
  }
  const parsed = Heartbeat.safeParse(json);
  return parsed.success
    ? { ok: true, value: parsed.data }
    : { ok: false, reason: `${heartbeatKey(fn)} is not a last-run marker` };
}

/**
 * Runs a scheduled job and, when it succeeds, writes its marker. A failed marker write does not fail the run (the
 * work is done; the next run writes it again): `onMarkerError` hears about it.
 */
export async function withHeartbeat<T>(
  store: ObjectStore,
  fn: HeartbeatFunction,
  clock: () => number,
  run: () => Promise<T>,
  onMarkerError: (error: unknown) => void = () => {},
): Promise<T> {
  const result = await run();
  await writeHeartbeat(store, fn, clock()).catch(onMarkerError);
  return result;
}
