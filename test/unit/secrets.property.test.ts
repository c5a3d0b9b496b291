import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { quarantineCommand } from '../../cli/quarantine-command.ts';
import { replayCommand } from '../../cli/replay-command.ts';
import { createLogger } from '../../functions/core/logger.ts';
import { memoryObjectStore } from '../../functions/core/object-store.ts';
import { loadIngestConfig } from '../../functions/ingest/config.ts';
import { ingest } from '../../functions/ingest/ingest-batch.ts';
import type { MeasureSpec } from '../../schemas/measures.ts';
import { captureIo } from '../builders/cli-io.ts';
import { aKinesisEvent, T0 } from '../builders/kinesis.ts';
import { aSecretfulBatch } from '../builders/secret-payloads.ts';
import { aNamedSecret, aValueSecret, findSecrets } from '../support/secrets.ts';

/**
 * "No secret anywhere" (decision D17): secrets planted in good and bad records of every input format never reach
 * anything ingest writes (data Parquet, index, rollups, quarantine), its log lines and metrics, or what
 * `skein quarantine ls` and `skein replay` print — in no form: as text, JSON-escaped, base64, or inside a gzip/zlib
 * stream (a Parquet page, a quarantined KPL aggregate's user record).
 */

const config = loadIngestConfig({ SKEIN_BUCKET: 'skein-test', SKEIN_ROW_GROUP_ROWS: '100' });

/** Measures whose group keys are drawn from the data: rollups hold label values of rows. */
const MEASURES: MeasureSpec[] = [
  { id: '00000000000000a1', selector: { table: 'logs', matchers: [] }, by: ['attr.user', 'body'], kind: 'count' },
  { id: '00000000000000a2', selector: { table: 'spans', matchers: [] }, by: ['name', 'resource.env'], kind: 'count' },
  { id: '00000000000000a3', selector: { table: 'logs', matchers: [] }, by: ['attr.note'], kind: 'count' },
];

const secrets = fc.record({
  value: fc.array(aValueSecret, { minLength: 6, maxLength: 6 }),
  named: fc.array(aNamedSecret, { minLength: 3, maxLength: 3 }),
});

describe('no secret anywhere', () => {
  it('keeps planted secrets out of every object, log line and CLI output of ingest, quarantine and replay', async () => {
    await fc.assert(
      fc.asyncProperty(secrets, fc.nat(), async ({ value, named }, cutSeed) => {
        // Prepare
        const batch = aSecretfulBatch({ value, named, timeMs: T0 - 1000, cutSeed });
        const store = memoryObjectStore();
        const logLines: string[] = [];
        const logger = createLogger({ service: 'ingest', level: 'debug', write: (l) => logLines.push(l) });

        // Act
        const { response, summary } = await ingest(aKinesisEvent(batch.records, { arrivalMs: T0 }).Records, {
          store,
          config,
          clock: () => T0 + 5_000,
          logger,
          metrics: (line) => logLines.push(line),
          measures: MEASURES,
        });
        const ls = captureIo();
        await quarantineCommand(['ls', '--bucket', 'skein-test', '--all', '--json'], ls, { store, now: () => T0 });
        const table = captureIo();
        await quarantineCommand(['ls', '--bucket', 'skein-test', '--all'], table, { store, now: () => T0 });
        const replay = captureIo();
        await replayCommand(['--bucket', 'skein-test'], replay, { store, now: () => T0 + 60_000 });

        // Assess
        expect(response.batchItemFailures).toEqual([]);
        // The batch really did hold good and bad records of every format.
        for (const format of batch.formats) expect(summary.rowsByFormat[format], format).toBeGreaterThan(0);
        expect(Object.keys(summary.quarantinedByReason)).toEqual(expect.arrayContaining([...batch.reasons]));
        const needles = [...value, ...named].map((s) => s.needle);
        const leaks: string[] = [];
        for (const [key, body] of store.objects) leaks.push(...findSecrets(body, needles).map((f) => `${key}: ${f}`));
        for (const line of logLines) leaks.push(...findSecrets(line, needles).map((f) => `log line: ${f}`));
        for (const [name, io] of Object.entries({ ls, table, replay })) {
          leaks.push(...findSecrets(io.out() + io.err(), needles).map((f) => `skein ${name} output: ${f}`));
        }
        expect(leaks).toEqual([]);
      }),
      // No shrinking: a run is ~1 s, and the leak list already names the secret, the object and the path to it.
      { numRuns: 20, endOnFailure: true },
    );
  });
});
