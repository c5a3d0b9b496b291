import { describe, expect, it } from 'vitest';
import { costCommand } from '../../cli/cost-command.ts';
import { type CostInput, estimateCost } from '../../cli/cost-model.ts';
import { US_EAST_1 } from '../../cli/cost-prices.ts';
import { captureIo } from '../builders/cli-io.ts';

const GIB = 1024 ** 3;
const EXAMPLE: CostInput = {
  ratePerSecond: 1000,
  recordBytes: 440,
  retentionDays: 30,
  lookupsPerDay: 100,
  spanShare: 0.5,
  spansPerTrace: 10,
  batchSize: 1000,
  batchWindowSeconds: 5,
  streamRetentionDays: 7,
};

function line(estimate: ReturnType<typeof estimateCost>, system: string, part: string): number {
  const found = estimate.lines.find((l) => l.system === system && l.part === part);
  if (found === undefined) throw new Error(`no line ${system} / ${part}`);
  return found.monthlyUsd;
}

describe('cost model: the worked example of docs/cost.md (1,000 records/s of 440 bytes, us-east-1)', () => {
  // Prepare
  const estimate = estimateCost(EXAMPLE, US_EAST_1);
  const records = 1000 * 730 * 3600; // 2.628 billion a month
  const gib = (records * 440) / GIB; // 1,076.9 GiB a month
  const gibPerDay = gib / (730 / 24);

  it('bills on-demand Kinesis per stream-hour, per KiB-rounded GiB in and out, and retention past 24 h', () => {
    const billed = (records * 1024) / GIB; // 440 B rounds up to 1 KiB: 2,506 GiB
    const expected = 730 * 0.04 + billed * (0.08 + 0.04) + gibPerDay * 6 * 0.1;
    expect(line(estimate, 'skein', 'Kinesis on-demand')).toBeCloseTo(expected, 6);
    expect(expected).toBeCloseTo(351.2, 1);
  });

  it('sizes a provisioned stream for twice the average and bills KPL aggregates as 25 KiB payload units', () => {
    // 440 kB/s × 2 < 1 MiB/s: one shard; 8.59 aggregates of 50 KiB a second, 2 payload units each.
    const units = (440_000 / 51_200) * 2 * 730 * 3600;
    const expected = 1 * 730 * (0.015 + 0.02) + (units / 1e6) * 0.014;
    expect(line(estimate, 'skein-provisioned', 'Kinesis provisioned + KPL')).toBeCloseTo(expected, 6);
    expect(expected).toBeCloseTo(26.18, 2);
  });

  it('bills the compactor a run a minute: the index merge reads every batch index object once (D24)', () => {
    // 1 batch/s: per hour 3 × 3,600 batch objects read (2 data + 1 index), 60 merged objects folded, 256 buckets.
    const gets = (3 * 3600 + 60 + 256) * 730;
    // Per hour 265 compaction PUTs and 2 per merge run; 20 LIST pages per run.
    const puts = (265 + 2 * 60) * 730 + 20 * 60 * 730;
    const gbSeconds = ((records * 20) / 1e6 / (3008 / 1769)) * (3008 / 1024); // 3,008 MB: 1.7 vCPU
    const expected =
      gbSeconds * 0.0000133334 + (gets / 1000) * 0.0004 + (puts / 1000) * 0.005 + ((60 * 730) / 1e6) * 0.2;
    expect(line(estimate, 'skein', 'Compaction (Lambda + S3)')).toBeCloseTo(expected, 6);
  });

  it('counts four PUTs per ingest batch, one batch a second at this rate', () => {
    expect(line(estimate, 'skein', 'S3 requests: ingest')).toBeCloseTo(((4 * 730 * 3600) / 1000) * 0.005, 6);
  });

  it('bills CloudWatch Logs ingestion for the log half of the bytes, and X-Ray per trace', () => {
    expect(line(estimate, 'cloudwatch', 'CloudWatch Logs ingestion')).toBeCloseTo(gib * 0.5 * 0.5, 6);
    const traces = (records * 0.5) / 10;
    expect(line(estimate, 'cloudwatch', 'X-Ray traces')).toBeCloseTo(
      (traces / 1e6) * 5 + ((100 * 730) / 24 / 1e6) * 0.5,
      6,
    );
  });

  it('sums every system from its own lines', () => {
    for (const system of ['skein', 'skein-provisioned', 'cloudwatch', 'firehose'] as const) {
      const sum = estimate.lines.filter((l) => l.system === system).reduce((s, l) => s + l.monthlyUsd, 0);
      expect(estimate.totals[system]).toBeCloseTo(sum, 9);
    }
    expect(estimate.totals['skein-provisioned']).toBeLessThan(estimate.totals.cloudwatch);
  });
});

describe('skein cost', () => {
  it('prints the table and the bottom line', async () => {
    const io = captureIo();
    const code = await costCommand(['--rate', '1000', '--size', '440'], io);
    expect(code).toBe(0);
    expect(io.out()).toMatch(/^Skein \(Kinesis on-demand\)$/m);
    expect(io.out()).toMatch(/^CloudWatch Logs \+ X-Ray$/m);
    expect(io.out()).toMatch(/^Bottom line: Skein \$\d+\/month/m);
  });

  it('refuses a region without prices and a missing rate, with one line each', async () => {
    const region = captureIo();
    expect(await costCommand(['--rate', '1', '--size', '1', '--region', 'eu-west-1'], region)).toBe(2);
    expect(region.err()).toMatch(/no built-in prices for eu-west-1: pass --prices/);
    const missing = captureIo();
    expect(await costCommand(['--size', '1'], missing)).toBe(2);
    expect(missing.err()).toMatch(/missing --rate/);
  });
});
