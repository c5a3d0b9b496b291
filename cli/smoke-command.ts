import { createRedactor } from '../functions/core/redact.ts';
import { parseSettingDuration } from '../schemas/durations.ts';
import { UsageError } from '../schemas/errors.ts';
import { type CostInput, DEFAULT_COST_INPUT, recentLookupBytes } from './cost-model.ts';
import { type CliIo, EXIT, parseFlags, runGuarded, usageHint } from './io.ts';
import { LOCAL_DIR_OPTIONS, localDir } from './local-dir.ts';
import type { AwsSmokePorts } from './smoke/aws-ports.ts';
import type { AwsTargetOptions } from './smoke/aws-target.ts';
import type { CheckResult, ScanBound } from './smoke/checks.ts';
import type { SmokeTarget } from './smoke/target.ts';

export const SMOKE_USAGE = `Usage: skein smoke [--local <dir> | --stack <name> [--region <region>]] [--notify] [--wait <duration>]
                   [--rate <records/s>] [--size <bytes>] [--retention <days>]

Checks a running Skein end to end, one line per check with its time, and exits 1 if any check fails:
  - one probe record per producer family (JSON lines, OTLP/JSON, OTLP protobuf gzip, KPL aggregate) reaches S3 as rows
  - the trace and request lookups find them, without and with a time range, within the bytes docs/cost.md predicts
    (on AWS: the workgroup's named queries through Athena; locally: DuckDB over the same objects)
  - the views return each probe row exactly once
  - conditional writes hold on the bucket (two concurrent If-None-Match creates, exactly one wins; key removed)
  - the compactor and the evaluator ran recently (their last-run markers under status/)
  - the ingest iterator age is low and the failed-batch queue is empty
  - with --notify: one test alert ("SkeinSmokeTest", marked as a test) through the notifier to each receiver its
    routes pick, and its resolve; one line per receiver endpoint with its answer
The probe rows stay behind, marked skein.smoke=true; the last line says how to leave them out of queries.

Options:
  --stack <name>       a deployed stack: reads its CloudFormation outputs (AWS credentials from the environment)
  --region <region>    AWS region of the stack (default: AWS_REGION or your AWS profile)
  --local <dir>        the local stack in <dir> (default .skein; reads <dir>/endpoints.json); --dir is the same
  --notify             also send the test notification
  --wait <duration>    how long to wait for the probes and for each notification (default 3m on AWS, 60s locally)
  --rate <records/s>   the traffic the bytes-scanned bound is computed for (default 1000, as docs/cost.md)
  --size <bytes>       bytes per record for that bound (default 440)
  --retention <days>   retention for that bound (default 30)
  -h, --help           show this help

Examples:
  npx skein smoke --stack Skein
  npx skein smoke --stack Skein --region eu-west-1 --notify
  npx skein smoke --local .skein --notify
`;

/** Traffic the bytes-scanned bound assumes unless told: the worked example of docs/cost.md. */
export const SMOKE_COST_DEFAULTS: CostInput = DEFAULT_COST_INPUT;

/** Replaceable parts: the AWS ports and clients (unit tests), the clock and sleep. */
export interface SmokeCommandDeps {
  readonly ports?: AwsSmokePorts;
  readonly clients?: AwsTargetOptions['clients'];
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** `skein smoke`: see {@link SMOKE_USAGE}. */
export function smokeCommand(args: string[], io: CliIo, deps: SmokeCommandDeps = {}): Promise<number> {
  return runGuarded(io, usageHint(SMOKE_USAGE, 'skein smoke'), async () => {
    const values = parseFlags(
      args,
      {
        stack: { type: 'string' },
        region: { type: 'string' },
        ...LOCAL_DIR_OPTIONS,
        notify: { type: 'boolean' },
        wait: { type: 'string' },
        rate: { type: 'string' },
        size: { type: 'string' },
        retention: { type: 'string' },
      },
      SMOKE_USAGE,
      io,
    );
    if (values === undefined) return EXIT.ok;
    const local = localDir(values, { flag: '--stack <name>', value: values.stack });
    if (values.stack !== undefined && values.stack.trim() === '') throw new UsageError('--stack needs a stack name');
    if (values.region !== undefined && values.stack === undefined)
      throw new UsageError('--region applies to --stack only');
    let waitMs: number | undefined;
    if (values.wait !== undefined) {
      waitMs = parseSettingDuration(values.wait);
      if (waitMs === undefined || waitMs < 1_000)
        throw new UsageError(`--wait must be a duration such as 90s or 3m (at least 1s), got '${values.wait}'`);
    }
    const cost: CostInput = {
      ...SMOKE_COST_DEFAULTS,
      ratePerSecond: positive(values.rate, '--rate', SMOKE_COST_DEFAULTS.ratePerSecond),
      recordBytes: positive(values.size, '--size', SMOKE_COST_DEFAULTS.recordBytes),
      retentionDays: positive(values.retention, '--retention', SMOKE_COST_DEFAULTS.retentionDays),
    };
    const scanBound: ScanBound = {
      bytes: recentLookupBytes(cost),
      basis: `docs/cost.md, a lookup of the last hour at ${cost.ratePerSecond} records/s of ${cost.recordBytes} B, ${cost.retentionDays} d`,
    };

    const now = deps.now ?? Date.now;
    const target = await openTarget(values.stack, values.region, local, deps, now);
    const redactor = createRedactor();
    const say = (line: string) => io.stdout.write(`${redactor.redactText(line)}\n`);
    const started = now();
    let results: CheckResult[];
    try {
      say(`skein smoke: ${target.description}`);
      const { runSmoke } = await import('./smoke/checks.ts');
      results = await runSmoke(target, {
        scanBound,
        notify: values.notify === true,
        ...(waitMs !== undefined ? { waitMs } : {}),
        clock: now,
        ...(deps.sleep ? { sleep: deps.sleep } : {}),
        onResult: (r) => say(formatResult(r)),
      });
    } finally {
      await target.close();
    }
    const failed = results.filter((r) => r.status === 'fail').length;
    const skipped = results.filter((r) => r.status === 'skip').length;
    const passed = results.length - failed - skipped;
    const { EXCLUDE_PROBES_SQL } = await import('./smoke/probes.ts');
    say(
      `${passed} passed, ${failed} failed, ${skipped} skipped in ${((now() - started) / 1000).toFixed(1)} s. ` +
        `The probe rows stay in the tables (service skein-smoke, attribute skein.smoke=true); leave them out with: WHERE ${EXCLUDE_PROBES_SQL}`,
    );
    if (failed > 0) say('What to do for each failed check: docs/runbook.md, "skein smoke".');
    return failed > 0 ? EXIT.failure : EXIT.ok;
  });
}

/** `PASS  name (1.2 s): detail` / `FAIL  name (1.2 s): detail — hint` */
export function formatResult(r: CheckResult): string {
  const tag = r.status === 'pass' ? 'PASS' : r.status === 'fail' ? 'FAIL' : 'SKIP';
  const hint = r.status === 'fail' && r.hint ? ` — ${r.hint}` : '';
  return `  ${tag}  ${r.name} (${(r.ms / 1000).toFixed(1)} s): ${r.detail}${hint}`;
}

async function openTarget(
  stack: string | undefined,
  region: string | undefined,
  local: string | undefined,
  deps: SmokeCommandDeps,
  now: () => number,
): Promise<SmokeTarget> {
  if (local !== undefined) {
    const { localSmokeTarget } = await import('./smoke/local-target.ts');
    return localSmokeTarget(local);
  }
  const [{ awsSmokeTarget }, { sdkPorts }] = await Promise.all([
    import('./smoke/aws-target.ts'),
    import('./smoke/aws-ports.ts'),
  ]);
  return awsSmokeTarget({
    stackName: stack ?? '',
    region,
    ports: deps.ports ?? sdkPorts(region),
    now,
    ...(deps.clients ? { clients: deps.clients } : {}),
    ...(deps.sleep ? { sleep: deps.sleep } : {}),
  });
}

function positive(raw: string | undefined, flag: string, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw.replace(/d$/, ''));
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} must be a positive number, got '${raw}'`);
  return n;
}
