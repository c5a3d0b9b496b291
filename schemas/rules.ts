import { z } from 'zod';
import { DURATION_HINT, parseDuration } from './durations.ts';

/**
 * Alert rule files (docs/rules.md): YAML of groups of rules, close to Prometheus alerting rules. The `expr` of a
 * rule is checked by the expression parser (functions/shared/rules/expr-parser.ts), annotations by the template
 * parser, uniqueness across files by the loader; this schema checks the shape.
 */

/** Alert name, also the `alertname` label: a Prometheus metric name. */
export const ALERT_NAME = /^[A-Za-z_][A-Za-z0-9_:]*$/;
/** Names of rule labels and annotations: Prometheus label names (Alertmanager rejects others). */
export const LABEL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const RuleSeverity = z.enum(['critical', 'error', 'warning', 'info']);
export type RuleSeverity = z.infer<typeof RuleSeverity>;

/** What a series without data counts as: `ok` (not active, as in Prometheus), `keep_state`, `alerting`. */
export const NoData = z.enum(['ok', 'keep_state', 'alerting']);
export type NoData = z.infer<typeof NoData>;

/** `30s`, `5m`, `1h30m`; YAML `0` is accepted as `0s`. */
export const RuleDuration = z.union([
  z.string().refine((s) => parseDuration(s) !== undefined, { message: DURATION_HINT }),
  z.literal(0).transform(() => '0s'),
]);

const LabelName = z.string().regex(LABEL_NAME, { message: 'label names are letters, digits and _ (not first)' });

export const RuleLabels = z
  .object({ severity: RuleSeverity })
  .catchall(z.string())
  .superRefine((labels, ctx) => {
    for (const name of Object.keys(labels)) {
      if (!LABEL_NAME.test(name))
        ctx.addIssue({ code: 'custom', path: [name], message: `invalid label name '${name}': ${LABEL_NAME.source}` });
      else if (name === 'alertname')
        ctx.addIssue({ code: 'custom', path: [name], message: "'alertname' is set from the rule name" });
    }
  });

export const AlertRule = z.strictObject({
  name: z.string().regex(ALERT_NAME, { message: `alert names match ${ALERT_NAME.source}` }),
  expr: z.string().min(1),
  for: RuleDuration.default('0s'),
  keep_firing_for: RuleDuration.default('0s'),
  labels: RuleLabels,
  annotations: z.record(LabelName, z.string()).default({}),
  route: z.string().min(1).optional(),
  no_data: NoData.default('ok'),
});
export type AlertRule = z.output<typeof AlertRule>;

export const RuleGroup = z.strictObject({
  name: z.string().min(1),
  /** How often the group is evaluated: whole minutes (rollups are per minute). */
  interval: RuleDuration.default('1m').refine((d) => isWholeMinutes(parseDuration(d)), {
    message: 'interval must be whole minutes (1m, 5m, …): rollups are per minute',
  }),
  rules: z.array(AlertRule),
});
export type RuleGroup = z.output<typeof RuleGroup>;

export const RuleFile = z.strictObject({ groups: z.array(RuleGroup) });
export type RuleFile = z.output<typeof RuleFile>;

function isWholeMinutes(ms: number | undefined): boolean {
  return ms !== undefined && ms > 0 && ms % 60_000 === 0;
}
