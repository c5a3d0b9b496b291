import type { IncompleteMinute } from '../../schemas/watermarks.ts';

/**
 * `minute 2026-12-03 12:04 evaluated without shardId-000000000000 (95 s behind)`: one minute the evaluator evaluated
 * before every shard was ingested past it, as `skein alerts` and `skein rules test --data` show it.
 */
export function formatIncompleteMinute(i: IncompleteMinute): string {
  const when = new Date(i.minute * 60_000).toISOString().slice(0, 16).replace('T', ' ');
  const shards = i.shards
    .map((s) => `${s.shard_id} (${s.behind_ms === null ? 'never seen' : `${Math.round(s.behind_ms / 1000)} s behind`})`)
    .join(', ');
  return `minute ${when} evaluated without ${shards}`;
}
