/** The evaluator's EMF metrics (namespace `Skein`, no dimensions); lib/monitoring.ts alarms on them. */
export const EVALUATE_METRICS = {
  /** Minutes evaluated before every shard was ingested past them (their maximum wait ran out). */
  incompleteMinutes: 'MinutesEvaluatedIncomplete',
  /** Shards not ingested past the last due minute when the run decided what to evaluate. */
  shardsBehind: 'ShardsBehind',
} as const;
