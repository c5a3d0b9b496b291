import { describe, expect, it } from 'vitest';
import { manifestPrefix } from '../../functions/compact/layout.ts';
import { runCompaction } from '../../functions/compact/run-compaction.ts';
import type { memoryObjectStore } from '../../functions/core/object-store.ts';
import { isCompactedKey } from '../../schemas/compaction.ts';
import {
  aBatch,
  anHour,
  type Batch,
  depsOf,
  expectIndexComplete,
  expectVisibleExactly,
  GRACE,
  MINUTE,
  P,
  putBatch,
  T1,
} from '../support/compact-fixtures.ts';
import { crashingStore } from '../support/crashing-store.ts';

// Crash safety: the process dies at the N-th write of a run, for every N; readers must see exactly the rows at
// every point, and a clean re-run must converge.

const T2 = T1 + 5 * MINUTE;
const T3 = T2 + GRACE + MINUTE;

type Stage = 'first compaction' | 'late data' | 'cleanup';

/** The store just before the run under test of `stage`, and the batches it holds. */
async function before(
  stage: Stage,
): Promise<{ store: ReturnType<typeof memoryObjectStore>; batches: Batch[]; at: number }> {
  const { store, batches } = await anHour(3);
  if (stage === 'first compaction') return { store, batches, at: T1 };
  await runCompaction(depsOf(store, T1));
  const late = [aBatch(4, 'shardId-000000000002-1.parquet'), aBatch(5, 'shardId-000000000001-7000.parquet')];
  for (const batch of late) await putBatch(store, batch);
  if (stage === 'late data') return { store, batches: [...batches, ...late], at: T2 };
  await runCompaction(depsOf(store, T2));
  return { store, batches: [...batches, ...late], at: T3 };
}

describe('crash safety', () => {
  for (const stage of ['first compaction', 'late data', 'cleanup'] as const) {
    for (const mode of ['before', 'after'] as const) {
      it(`keeps every row visible exactly once when the ${stage} run dies at any write (${mode} it applies)`, async () => {
        let crashes = 0;
        for (let failAt = 1; ; failAt++) {
          // Prepare
          const { store, batches, at } = await before(stage);
          const crashing = crashingStore(store, failAt, mode);

          // Act
          const crashed = await runCompaction(depsOf(crashing, at));

          // Assess: right after the crash, then after clean re-runs (same instant, then past the grace period).
          if (crashing.writes < failAt) {
            expect(crashed.failed).toBe(0);
            break;
          }
          crashes++;
          expect(crashed.failed).toBe(1);
          await expectVisibleExactly(store, batches);
          await expectIndexComplete(store, batches);
          const rerun = await runCompaction(depsOf(store, at));
          expect(rerun.failed).toBe(0);
          await expectVisibleExactly(store, batches);
          await expectIndexComplete(store, batches);
          await runCompaction(depsOf(store, at + GRACE + MINUTE));
          await expectVisibleExactly(store, batches);
          await expectIndexComplete(store, batches);
          const left = [...store.objects.keys()];
          expect(left.filter((k) => k.startsWith('tables/') && !k.startsWith('tables/_manifests/'))).toEqual(
            left.filter((k) => isCompactedKey(k) || k.startsWith('tables/trace_index/bucket=')),
          );
          for (const table of ['logs', 'spans', 'trace_index'] as const) {
            expect(await store.list(manifestPrefix(table, P))).toHaveLength(1);
          }
        }
        expect(crashes).toBeGreaterThanOrEqual(15);
      });
    }
  }
});
