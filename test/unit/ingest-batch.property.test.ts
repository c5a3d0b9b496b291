import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { memoryLogger } from '../../functions/core/logger.ts';
import { memoryObjectStore } from '../../functions/core/object-store.ts';
import { loadIngestConfig } from '../../functions/ingest/config.ts';
import { ingest } from '../../functions/ingest/ingest-batch.ts';
import { aKinesisEvent } from '../builders/kinesis.ts';

const FIXTURES = [
  'otlp/traces.pb.gz',
  'otlp/logs.pb',
  'otlp/traces.json',
  'kpl/json-lines.bin',
  'cloudwatch/lambda-data-message.json.gz',
  'json-lines/pino.ndjson',
  'json-lines/tracing-subscriber.ndjson',
].map((path) => new Uint8Array(readFileSync(new URL(`../fixtures/${path}`, import.meta.url))));

/** A valid record of some format with a few bytes overwritten, cut short or extended. */
const mutatedRecord = fc
  .tuple(
    fc.constantFrom(...FIXTURES),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
    fc.option(fc.nat()),
  )
  .map(([base, edits, cut]) => {
    const bytes = new Uint8Array(base);
    for (const [at, value] of edits) bytes[at % bytes.length] = value;
    return cut === null ? bytes : bytes.subarray(0, cut % (bytes.length + 1));
  });

const anyRecord = fc.oneof(fc.uint8Array({ maxLength: 300 }), mutatedRecord, fc.constantFrom(...FIXTURES));

describe('ingest over arbitrary input', () => {
  it('never throws and accounts for every record as rows, quarantine or a dropped control message', async () => {
    const config = loadIngestConfig({ SKEIN_BUCKET: 'skein-test' });
    await fc.assert(
      fc.asyncProperty(fc.array(anyRecord, { minLength: 1, maxLength: 12 }), async (records) => {
        const event = aKinesisEvent(records);
        const { response, summary } = await ingest(event.Records, {
          store: memoryObjectStore(),
          config,
          clock: Date.now,
          logger: memoryLogger(),
        });
        expect(response.batchItemFailures).toEqual([]);
        expect(summary.recordsWithRows + summary.recordsQuarantined + summary.controlMessages).toBe(records.length);
      }),
      { numRuns: 60 },
    );
  });
});
