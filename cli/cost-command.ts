import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { describeIssue, UsageError } from '../schemas/errors.ts';
import {
  COST_SYSTEMS,
  type CostEstimate,
  type CostInput,
  DEFAULT_COST_INPUT,
  estimateCost,
  SYSTEM_TITLES,
} from './cost-model.ts';
import { PRICES_AS_OF, type PriceList, US_EAST_1 } from './cost-prices.ts';
import { type CliIo, EXIT, parseFlags, runGuarded, usageHint } from './io.ts';

export const COST_USAGE = `Usage: skein cost --rate <records/s> --size <bytes> [--retention 30d] [--lookups-per-day N]
                  [--region us-east-1] [--prices <file.json>] [--span-share 0.5] [--spans-per-trace 10] [--json]

Prints the monthly cost of Skein on AWS by part (Kinesis on-demand, or provisioned with KPL aggregation; Lambda;
S3 requests and storage; compaction; evaluator; notifier; Athena per lookup) next to the same traffic in CloudWatch
Logs + X-Ray, and in Firehose writing Parquet to S3 queried by Athena. The formulas and assumptions are in
docs/cost.md; prices are built-in us-east-1 list prices (${PRICES_AS_OF}), no free tier.

Options:
  --rate <n>              records per second, average (required)
  --size <bytes>          bytes per record as produced (required)
  --retention <days>      how long data stays queryable, e.g. 30d or 30 (default 30d)
  --lookups-per-day <n>   trace/request lookups per day (default 100)
  --region <region>       only us-east-1 prices are built in; for another region pass --prices
  --prices <file.json>    a JSON object overriding any built-in price (keys as in 'skein cost --json')
  --span-share <0..1>     share of records that are spans, the rest log lines (default 0.5)
  --spans-per-trace <n>   spans per trace, for X-Ray's per-trace price (default 10)
  --batch-size <n>        records per Lambda batch, skein:batchSize (default 1000)
  --json                  the estimate as one JSON object (lines, totals, prices)
  -h, --help              show this help

Examples:
  skein cost --rate 1000 --size 440
  skein cost --rate 20000 --size 300 --retention 14d --lookups-per-day 500
`;

const DEFAULTS = DEFAULT_COST_INPUT;

const PriceOverrides = z.strictObject(
  Object.fromEntries(Object.keys(US_EAST_1).map((k) => [k, z.number().nonnegative().optional()])) as Record<
    keyof PriceList,
    z.ZodOptional<z.ZodNumber>
  >,
);

/** `skein cost`: the monthly cost of a traffic profile, by part, against the alternatives. */
export function costCommand(args: string[], io: CliIo): Promise<number> {
  return runGuarded(io, usageHint(COST_USAGE, 'skein cost'), async () => {
    const values = parseFlags(
      args,
      {
        rate: { type: 'string' },
        size: { type: 'string' },
        retention: { type: 'string' },
        'lookups-per-day': { type: 'string' },
        region: { type: 'string' },
        prices: { type: 'string' },
        'span-share': { type: 'string' },
        'spans-per-trace': { type: 'string' },
        'batch-size': { type: 'string' },
        json: { type: 'boolean' },
      },
      COST_USAGE,
      io,
    );
    if (values === undefined) return EXIT.ok;
    if (values.rate === undefined) throw new UsageError('missing --rate <records/s>');
    if (values.size === undefined) throw new UsageError('missing --size <bytes per record>');
    const region = values.region ?? 'us-east-1';
    if (region !== 'us-east-1' && values.prices === undefined)
      throw new UsageError(
        `no built-in prices for ${region}: pass --prices <file.json> with that region's prices (see docs/cost.md)`,
      );
    const input: CostInput = {
      ...DEFAULTS,
      ratePerSecond: positive(values.rate, '--rate'),
      recordBytes: positive(values.size, '--size'),
      retentionDays: values.retention === undefined ? DEFAULTS.retentionDays : days(values.retention, '--retention'),
      lookupsPerDay:
        values['lookups-per-day'] === undefined
          ? DEFAULTS.lookupsPerDay
          : nonNegative(values['lookups-per-day'], '--lookups-per-day'),
      spanShare: values['span-share'] === undefined ? DEFAULTS.spanShare : share(values['span-share']),
      spansPerTrace:
        values['spans-per-trace'] === undefined
          ? DEFAULTS.spansPerTrace
          : positive(values['spans-per-trace'], '--spans-per-trace'),
      batchSize: values['batch-size'] === undefined ? DEFAULTS.batchSize : batchSize(values['batch-size']),
    };
    const prices = values.prices === undefined ? US_EAST_1 : await loadPrices(values.prices);
    const estimate = estimateCost(input, prices);
    if (values.json) {
      io.stdout.write(`${JSON.stringify({ input, region, pricesAsOf: PRICES_AS_OF, prices, ...estimate })}\n`);
      return EXIT.ok;
    }
    io.stdout.write(formatEstimate(input, region, estimate));
    return EXIT.ok;
  });
}

/** The estimate as aligned text: one block per system, its parts, its total; then the bottom line. */
export function formatEstimate(input: CostInput, region: string, estimate: CostEstimate): string {
  const rows: string[][] = [];
  for (const system of COST_SYSTEMS) {
    rows.push([SYSTEM_TITLES[system], '', '']);
    for (const line of estimate.lines.filter((l) => l.system === system))
      rows.push([`  ${line.part}`, usd(line.monthlyUsd), line.detail]);
    rows.push(['  total', usd(estimate.totals[system]), '']);
  }
  const w0 = Math.max(...rows.map((r) => (r[0] ?? '').length));
  const w1 = Math.max(...rows.map((r) => (r[1] ?? '').length));
  const body = rows
    .map((r) => `${(r[0] ?? '').padEnd(w0)}  ${(r[1] ?? '').padStart(w1)}  ${r[2] ?? ''}`.trimEnd())
    .join('\n');
  const t = estimate.totals;
  const header =
    `${input.ratePerSecond.toLocaleString('en-US')} records/s × ${input.recordBytes} B ` +
    `= ${Math.round(estimate.gbPerMonth).toLocaleString('en-US')} GiB/month, ${input.retentionDays} d retention, ` +
    `${input.lookupsPerDay} lookups/day, ${region} list prices (${PRICES_AS_OF}), per month:\n\n`;
  const bottom =
    `\nBottom line: Skein ${usd(t['skein-provisioned'])}/month with a provisioned stream and KPL aggregation ` +
    `(${usd(t.skein)} on-demand), against CloudWatch Logs + X-Ray ${usd(t.cloudwatch)} ` +
    `(${ratio(t.cloudwatch, t['skein-provisioned'])}) and Firehose + Athena ${usd(t.firehose)} ` +
    `(${ratio(t.firehose, t['skein-provisioned'])}).\n`;
  return `${header}${body}\n${bottom}`;
}

async function loadPrices(path: string): Promise<PriceList> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new UsageError(`cannot read --prices file '${path}'`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new UsageError(`--prices file '${path}' is not JSON`);
  }
  const parsed = PriceOverrides.safeParse(json);
  if (!parsed.success) {
    throw new UsageError(`--prices file '${path}': ${describeIssue(parsed.error)}`);
  }
  const merged: Record<string, number> = { ...US_EAST_1 };
  for (const [k, v] of Object.entries(parsed.data)) if (v !== undefined) merged[k] = v;
  return merged as PriceList;
}

function usd(n: number): string {
  if (n >= 1000) return `$${Math.round(n).toLocaleString('en-US')}`;
  if (n >= 10) return `$${n.toFixed(0)}`;
  return `$${n.toFixed(2)}`;
}

function ratio(other: number, skein: number): string {
  if (skein <= 0) return 'n/a';
  const r = other / skein;
  return r >= 1 ? `${r.toFixed(1)}× Skein` : `${(1 / r).toFixed(1)}× cheaper than Skein`;
}

function number(text: string, flag: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n)) throw new UsageError(`${flag} must be a number, got '${text}'`);
  return n;
}

function positive(text: string, flag: string): number {
  const n = number(text, flag);
  if (n <= 0) throw new UsageError(`${flag} must be greater than 0, got '${text}'`);
  return n;
}

function nonNegative(text: string, flag: string): number {
  const n = number(text, flag);
  if (n < 0) throw new UsageError(`${flag} must be 0 or more, got '${text}'`);
  return n;
}

function share(text: string): number {
  const n = number(text, '--span-share');
  if (n < 0 || n > 1) throw new UsageError(`--span-share must be between 0 and 1, got '${text}'`);
  return n;
}

function batchSize(text: string): number {
  const n = positive(text, '--batch-size');
  if (!Number.isInteger(n) || n > 10_000) throw new UsageError(`--batch-size must be a whole number 1–10000`);
  return n;
}

function days(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)d?$/.exec(text.trim());
  if (m === null || m[1] === undefined) throw new UsageError(`${flag} must be days, e.g. 30d, got '${text}'`);
  const n = Number(m[1]);
  if (n <= 0) throw new UsageError(`${flag} must be at least 1 day`);
  return n;
}
