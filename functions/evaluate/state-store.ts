import { AlertGroupState, alertStateKey, emptyGroupState } from '../../schemas/alert-state.ts';
import { type AlertTransition, outboxKey } from '../../schemas/alerts.ts';
import { describeIssue, StoreError } from '../../schemas/errors.ts';
import type { ObjectStore, VersionedObject } from '../core/object-store.ts';

/** Conditional-write attempts per group and run before giving up (another evaluator keeps winning). */
export const MAX_STATE_ATTEMPTS = 5;

/** Outbox writes in flight at once (S3 PUT latency is ~20–50 ms; 1,000 transitions take a few seconds). */
const OUTBOX_CONCURRENCY = 16;
const JSON_TYPE = 'application/json';
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A group state as read, with the ETag to compare-and-set against (`undefined`: no object yet). */
export interface VersionedGroupState {
  readonly state: AlertGroupState;
  readonly etag: string | undefined;
}

/**
 * Computes the next state of a group for evaluation minute `minute` from the current one (a fresh parsed copy the
 * function may change), appending the transitions it makes to `unflushed`. Called again on each retry.
 */
export type AdvanceGroup = (state: AlertGroupState) => AlertGroupState;

export interface GroupUpdateResult {
  /** False when the state was already at (or past) the minute: another run did it, only a flush happened. */
  readonly advanced: boolean;
  /** Transitions this call committed with the state (0 when not advanced). */
  readonly committed: readonly AlertTransition[];
  /** Outbox entries this call created (entries that already existed are not counted). */
  readonly written: number;
  /** Conditional state writes that lost to another writer. */
  readonly conflicts: number;
  /** The state as committed (or as found). */
  readonly state: AlertGroupState;
}

/** Reads and validates `alerts/state/<group>.json`; an empty state with no ETag when it does not exist yet. */
export async function readGroupState(store: ObjectStore, group: string): Promise<VersionedGroupState> {
  const key = alertStateKey(group);
  const found = await store.getVersioned(key);
  if (found === undefined) return { state: emptyGroupState(group), etag: undefined };
  return { state: parseGroupState(key, found), etag: found.etag };
}

/** Parses a stored group state; a `StoreError` naming the key when it is not valid. */
export function parseGroupState(key: string, found: Pick<VersionedObject, 'body'>): AlertGroupState {
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(found.body));
  } catch {
    throw new StoreError(`${key} is not valid JSON: delete it to restart this group's alert state`);
  }
  const parsed = AlertGroupState.safeParse(json);
  if (!parsed.success) throw new StoreError(`${key} is not a valid alert state: ${describeIssue(parsed.error)}`);
  return parsed.data;
}

/**
 * Advances one rule group's state to evaluation minute `minute` and delivers its transitions to the outbox, so
 * that any number of evaluators running at once (a retried Lambda, an overlapping schedule, the local timer)
 * together write every transition exactly once.
 *
 * 1. Read the state and its ETag (`first`, when the caller already read it, saves one GET on the first attempt).
 * 2. If `last_evaluated_minute >= minute`, someone already evaluated this minute: only flush (5–6) and stop.
 * 3. Compute the next state with `advance`; its new transitions are appended to `unflushed`.
 * 4. Write it with `If-Match: <etag>` (`If-None-Match: *` when there was none). If that fails, another evaluator
 *    committed first: start again at 1 (at most {@link MAX_STATE_ATTEMPTS} times).
 * 5. Write every `unflushed` transition to `outboxKey(t)` with `If-None-Match: *`; "already exists" is success.
 * 6. Write the state again with `unflushed` emptied, `If-Match` the ETag from 4. Failing is harmless.
 *
 * Why no transition is ever duplicated: a transition exists only inside a state that won the compare-and-set of
 * step 4, and states form one chain (each write names the ETag it replaces), so the transitions for a minute are
 * computed once, by the one writer that advanced the chain past it; a loser re-reads, finds the minute done, and
 * computes nothing. Its outbox key is a function of (minute, fingerprint, seq) and is created with
 * `If-None-Match: *`, so flushing the same transition again (step 2, or a retried run) finds the entry and writes
 * nothing.
 *
 * Why none is ever lost: the transition is durable in `unflushed` (step 4) before any outbox write, and it leaves
 * `unflushed` only through step 6, after every outbox write of step 5 succeeded, and only if the state is still
 * the one written in 4 (`If-Match`). A crash or a failed write between 4 and 6 leaves it in `unflushed`, and the
 * next run of any evaluator flushes it in step 2 or 5.
 */
export async function updateGroupState(
  store: ObjectStore,
  group: string,
  minute: number,
  advance: AdvanceGroup,
  first?: VersionedGroupState,
): Promise<GroupUpdateResult> {
  const key = alertStateKey(group);
  let conflicts = 0;
  let current = first ?? (await readGroupState(store, group));
  for (let attempt = 1; ; attempt++) {
    const last = current.state.last_evaluated_minute;
    if (last !== null && last >= minute) {
      const written = await flush(store, key, current);
      return { advanced: false, committed: [], written, conflicts, state: current.state };
    }
    const before = current.state.unflushed.length;
    const next = advance(current.state);
    const body = encoder.encode(JSON.stringify(next));
    const etag = await store.putIf(
      key,
      body,
      JSON_TYPE,
      current.etag === undefined ? { ifNoneMatch: '*' } : { ifMatch: current.etag },
    );
    if (etag !== undefined) {
      const committed = next.unflushed.slice(before);
      const written = await flush(store, key, { state: next, etag });
      return { advanced: true, committed, written, conflicts, state: next };
    }
    conflicts++;
    if (attempt >= MAX_STATE_ATTEMPTS)
      throw new StoreError(
        `${key}: lost ${conflicts} conditional writes in a row to other evaluators; the next scheduled run retries`,
      );
    current = await readGroupState(store, group);
  }
}

/** Steps 5 and 6: outbox entries for `unflushed`, then the state without them (if it is still current). */
async function flush(store: ObjectStore, key: string, current: VersionedGroupState): Promise<number> {
  const { state, etag } = current;
  if (state.unflushed.length === 0) return 0;
  // In waves: the n-th transition of every fingerprint before any (n + 1)-th, so a notifier listing the outbox
  // never sees a fingerprint's seq n + 1 without its seq n; within a wave, writes run in parallel.
  const waves: AlertTransition[][] = [];
  const depth = new Map<string, number>();
  for (const t of state.unflushed) {
    const n = depth.get(t.fingerprint) ?? 0;
    depth.set(t.fingerprint, n + 1);
    let wave = waves[n];
    if (wave === undefined) {
      wave = [];
      waves[n] = wave;
    }
    wave.push(t);
  }
  let written = 0;
  for (const wave of waves) {
    for (let i = 0; i < wave.length; i += OUTBOX_CONCURRENCY) {
      const created = await Promise.all(
        wave
          .slice(i, i + OUTBOX_CONCURRENCY)
          .map((t) => store.putIf(outboxKey(t), encoder.encode(JSON.stringify(t)), JSON_TYPE, { ifNoneMatch: '*' })),
      );
      for (const tag of created) if (tag !== undefined) written++;
    }
  }
  if (etag !== undefined) {
    const cleared: AlertGroupState = { ...state, unflushed: [] };
    await store.putIf(key, encoder.encode(JSON.stringify(cleared)), JSON_TYPE, { ifMatch: etag });
  }
  return written;
}
