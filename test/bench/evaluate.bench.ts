/**
 * Benchmark: one evaluator run of 1,000 rules (50 groups) over 20,000 alert series, against rollups of a 10-minute
 * window in a memory store (4 ingest batches a minute, plus late partitions), next to the floor: JSON.parse of the
 * same rollup bytes. The time is split into reading + merging rollups, evaluating rules, and state/outbox writes.
 *
 * Run alone with `npx tsx test/bench/evaluate.bench.ts`.
 */
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { memoryLogger } from '../../functions/core/logger.ts';
import { memoryObjectStore } from '../../functions/core/object-store.ts';
import { evaluateOnce } from '../../functions/evaluate/evaluate.ts';
import { computeRollup, encodeRollup, ROLLUP_CONTENT_TYPE, rollupObjectKey } from '../../functions/shared/rollup.ts';
import { type CompiledRuleSet, compileRules } from '../../functions/shared/rules/compile-rules.ts';
import { loadRules } from '../../functions/shared/rules/load-rules.ts';
import {
  DEFAULT_ALLOWED_LATENESS_MS,
  DEFAULT_MAX_WAIT_MS,
  minuteDeadlineMs,
} from '../../functions/shared/watermark.ts';
import type { SpanRecord } from '../../schemas/records.ts';

const RULES = 1_000;
const GROUPS = 50;
const SERVICES = 20;
const OPERATIONS = 25;
const MINUTES = 10;
const BATCHES_PER_MINUTE = 4;
const SPANS_PER_BATCH = 2_000;
const T = 29_000_000;

function ruleText(): string {
  const lines = ['groups:'];
  for (let g = 0; g < GROUPS; g++) {
    lines.push(`  - name: group-${g}`, '    rules:');
    for (let r = 0; r < RULES / GROUPS; r++) {
      const i = g * (RULES / GROUPS) + r;
      const op = `op${i % OPERATIONS}`;
      const kind = i % 4;
      const expr =
        kind === 0
          ? `ratio(spans{name="${op}", status="error"}, spans{name="${op}"}) by (service) [5m] > ${(i % 10) / 100}`
          : kind === 1
            ? `count(spans{name="${op}"}) by (service) [1m] > ${i % 50}`
            : kind === 2
              ? `quantile(0.99, duration, spans{name="${op}"}) by (service) [5m] > ${100 + (i % 7) * 50}ms`
              : `max(duration, spans{name="${op}"}) by (service) [10m] > ${200 + (i % 5) * 100}ms`;
      lines.push(
        `      - name: Rule${i}`,
        `        expr: '${expr}'`,
        `        for: ${i % 3}m`,
        '        labels: { severity: warning }',
        `        annotations: { summary: "{{ $labels.service }} is at {{ $value }}" }`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

function rules(): CompiledRuleSet {
  const loaded = loadRules([{ path: 'bench.yaml', text: ruleText() }]);
  if (!loaded.ok) throw new Error(`bench rules invalid: ${loaded.errors[0]?.message}`);
  return compileRules(loaded.groups);
}

function spansFor(minute: number, batch: number): SpanRecord[] {
  const out: SpanRecord[] = [];
  for (let i = 0; i < SPANS_PER_BATCH; i++) {
    const start = minute * 60_000 + ((i * 29) % 60_000);
    const durationMs = 5 + ((i * 7919 + batch) % 900);
    const service = `svc-${Math.floor(i / OPERATIONS) % SERVICES}`;
    out.push({
      trace_id: '5b8efff798038103d269b633813fc60c',
      start_time: start,
      start_time_unix_nano: BigInt(start) * 1_000_000n,
      end_time_unix_nano: BigInt(start + durationMs) * 1_000_000n,
      duration_nano: BigInt(durationMs) * 1_000_000n,
      span_id: (i + 1).toString(16).padStart(16, '0'),
      request_id: null,
      parent_span_id: null,
      trace_state: null,
      name: `op${i % OPERATIONS}`,
      kind: 'SERVER',
      status_code: i % 17 === 0 ? 'ERROR' : 'OK',
      status_message: null,
      service_name: service,
      scope_name: null,
      resource_attributes: `{"service.name":"${service}"}`,
      attributes: '{}',
      events: '[]',
      links: '[]',
      source_format: 'otlp-json',
      shard_id: 'shardId-000000000000',
      sequence_number: String(minute * 10 + batch),
      sub_sequence_number: 0,
      record_ordinal: i,
      arrival_time: minute * 60_000 + 50_000,
      ingest_flags: null,
    });
  }
  return out;
}

export async function benchEvaluate(): Promise<string[]> {
  const compiled = rules();
  const store = memoryObjectStore();
  const bytes: Uint8Array[] = [];
  for (let m = T - MINUTES - 1; m <= T; m++) {
    for (let b = 0; b < BATCHES_PER_MINUTE; b++) {
      const arrival = m * 60_000 + 10_000 * (b + 1);
      const body = encodeRollup(computeRollup([], spansFor(m, b), compiled.measures, arrival));
      const key = rollupObjectKey({
        shardId: 'shardId-0',
        firstSequenceNumber: String(m * 10 + b),
        firstArrivalMs: arrival,
      });
      await store.put(key, body, ROLLUP_CONTENT_TYPE);
      if (m > T - MINUTES) bytes.push(body);
    }
  }
  const run = (minute: number) =>
    evaluateOnce({
      store,
      rules: compiled,
      // Past the minute's end + allowed lateness: the minute is due (the rollups carry no watermark: complete).
      clock: () => minuteDeadlineMs(minute, DEFAULT_ALLOWED_LATENESS_MS) + 5_000,
      logger: memoryLogger(),
      config: { latenessMs: DEFAULT_ALLOWED_LATENESS_MS, maxWaitMs: DEFAULT_MAX_WAIT_MS },
    });
  // Warm state: the previous minute evaluated, so this run is the steady state (one minute per group).
  await run(T - 1);
  const started = performance.now();
  const summary = await run(T);
  const total = performance.now() - started;

  const floorStarted = performance.now();
  let parsed = 0;
  const decoder = new TextDecoder();
  for (const b of bytes) parsed += Object.keys(JSON.parse(decoder.decode(b)) as object).length;
  const floor = performance.now() - floorStarted;
  const rollupBytes = bytes.reduce((n, b) => n + b.byteLength, 0);

  const { readMs, mergeMs, evaluateMs, writeMs } = summary.timings;
  return [
    `evaluate: ${summary.rules} rules in ${summary.groups} groups, ${compiled.measures.length} measures, ${summary.seriesEvaluated} series evaluated (${summary.series} pending/firing/resolved), ${summary.transitions} transitions`,
    `  rollups: ${summary.objectsRead} objects read (${(rollupBytes / 1024 / 1024).toFixed(1)} MiB over ${MINUTES} minutes)${parsed > 0 ? '' : ''}`,
    `  run            ${total.toFixed(0).padStart(6)} ms`,
    `    read         ${readMs.toFixed(0).padStart(6)} ms  (GET + JSON.parse + zod of each object)`,
    `    merge        ${mergeMs.toFixed(0).padStart(6)} ms  (each measure over each window, sketches merged)`,
    `    rules        ${evaluateMs.toFixed(0).padStart(6)} ms  (expressions + state machine)`,
    `    state+outbox ${writeMs.toFixed(0).padStart(6)} ms`,
    `  floor: JSON.parse of the same rollup bytes ${floor.toFixed(0).padStart(6)} ms`,
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const line of await benchEvaluate()) console.log(line);
}
