import { z } from 'zod';

/**
 * Rule test files (`*.test.yaml`, docs/alerting.md), run by `skein rules test`: like `promtool test rules`, each
 * case feeds per-minute synthetic rows through the real rollup and evaluator and compares the alerts that fire.
 */

/** `7m`, `90m`, `1h30m` or a bare number of minutes: an offset from the start of the case, whole minutes. */
export const MinuteOffset = z.union([z.number().int().nonnegative(), z.string().regex(/^(\d+h)?(\d+m)?$/)]);

/**
 * One input series: a selector naming the table and the label values of its rows, and per-minute sequences
 * (`0x5 30x10 _ 3+1x4`, see `expandSeries`): `values` (or its alias `count`) is the number of rows in each minute;
 * every other key is a numeric field each of those rows carries: `duration_ms` (spans), `attr.<key>`, `resource.<key>`.
 */
export const TestSeries = z
  .object({
    series: z.string().min(1),
    values: z.string().optional(),
    count: z.string().optional(),
    duration_ms: z.string().optional(),
  })
  .catchall(z.string())
  .superRefine((s, ctx) => {
    if ((s.values === undefined) === (s.count === undefined))
      ctx.addIssue({ code: 'custom', message: 'give the rows per minute as `values` or `count` (one of them)' });
    for (const key of Object.keys(s)) {
      if (['series', 'values', 'count', 'duration_ms'].includes(key)) continue;
      if (!/^(attr|resource)\..+/.test(key))
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: `unknown field '${key}': use values/count, duration_ms, attr.<key> or resource.<key>`,
        });
    }
  });
export type TestSeries = z.infer<typeof TestSeries>;

/** An alert the case expects, matched by `alertname` and the labels given (other labels are not compared). */
export const ExpectedAlert = z
  .strictObject({
    alertname: z.string().min(1),
    labels: z.record(z.string(), z.string()).default({}),
    fires_at: MinuteOffset.optional(),
    resolves_at: MinuteOffset.optional(),
    never: z.literal(true).optional(),
  })
  .superRefine((a, ctx) => {
    if (a.never === true && (a.fires_at !== undefined || a.resolves_at !== undefined))
      ctx.addIssue({ code: 'custom', message: '`never: true` takes no fires_at/resolves_at' });
    if (a.never === undefined && a.fires_at === undefined)
      ctx.addIssue({ code: 'custom', message: 'give `fires_at` (and `resolves_at` if it resolves) or `never: true`' });
    if (a.fires_at === undefined && a.resolves_at !== undefined)
      ctx.addIssue({ code: 'custom', message: '`resolves_at` needs `fires_at`' });
  });
export type ExpectedAlert = z.infer<typeof ExpectedAlert>;

export const RuleTestCase = z.strictObject({
  name: z.string().min(1),
  /** ISO time of minute 0 (default 2024-01-01T00:00:00Z); whole minutes. */
  start: z.iso.datetime().optional(),
  /** Minutes to evaluate (default: the longest series). */
  minutes: z.number().int().positive().max(10_080).optional(),
  series: z.array(TestSeries).min(1),
  alerts: z.array(ExpectedAlert).min(1),
});
export type RuleTestCase = z.infer<typeof RuleTestCase>;

export const RuleTestFile = z.strictObject({
  /** Rule files under test, relative to the test file. */
  rule_files: z.array(z.string().min(1)).min(1),
  tests: z.array(RuleTestCase).min(1),
});
export type RuleTestFile = z.infer<typeof RuleTestFile>;
