import { describe, expect, it } from 'vitest';
import { memoryLogger } from '../../functions/core/logger.ts';
import { memoryObjectStore } from '../../functions/core/object-store.ts';
import { createRedactor } from '../../functions/core/redact.ts';
import { loadIngestConfig } from '../../functions/ingest/config.ts';
import { decodeRecord } from '../../functions/ingest/decode-record.ts';
import { newSink } from '../../functions/ingest/decoded.ts';
import { ingest } from '../../functions/ingest/ingest-batch.ts';
import { isStackOverflow, nestingDepth } from '../../functions/ingest/nesting.ts';
import { aRecordContext } from '../builders/decode.ts';
import { aKinesisEvent } from '../builders/kinesis.ts';
import { aLogLine } from '../builders/telemetry.ts';
import { hostileRecord } from '../reliability/hostile-records.ts';

const options = { maxRecordBytes: 10 * 1024 * 1024, redactor: createRedactor([]) };
const deepArray = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

describe('nestingDepth', () => {
  it('counts objects and arrays, not brackets inside strings or escaped quotes', () => {
    expect(nestingDepth('{"a":[{"b":1}]}')).toBe(3);
    expect(nestingDepth('{"a":"[[[[{{{{\\"[[["}')).toBe(1);
    expect(nestingDepth(deepArray(10_000))).toBe(10_000);
    expect(nestingDepth('"plain"')).toBe(0);
  });
});

describe('isStackOverflow', () => {
  it('recognises only the stack overflow RangeError', () => {
    const overflow = (() => {
      const recurse = (n: number): number => recurse(n + 1) + 1;
      try {
        return recurse(0);
      } catch (error) {
        return error;
      }
    })();
    expect(isStackOverflow(overflow)).toBe(true);
    expect(isStackOverflow(new RangeError('Invalid array length'))).toBe(false);
    expect(isStackOverflow(new Error('Maximum call stack size exceeded'))).toBe(false);
  });
});

describe('decoding records nested 10,000 deep', () => {
  it('quarantines the deep line as too_deep with its line and depth, and keeps the other lines of the record', () => {
    // Prepare
    const record = [
      aLogLine({ msg: 'before' }),
      `{"msg":"deep","nested":${deepArray(10_000)}}`,
      aLogLine({ msg: 'after' }),
    ].join('\n');
    const sink = newSink();

    // Act
    const failures = decodeRecord(Buffer.from(record), aRecordContext(), sink, options);

    // Assess
    expect(sink.logs.map((r) => r.body)).toEqual(['before', 'after']);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ reason: 'too_deep', line: 2, decoder: 'json-lines' });
    expect(failures[0]?.message).toContain('10001 levels');
  });

  it('quarantines a deep OTLP/JSON request whole as too_deep, with no partial rows', () => {
    // Prepare
    const sink = newSink();

    // Act
    const failures = decodeRecord(hostileRecord('deep-nesting-otlp', 'x', Date.now()), aRecordContext(), sink, options);

    // Assess
    expect(failures.map((f) => f.reason)).toEqual(['too_deep']);
    expect(sink.logs.length + sink.spans.length).toBe(0);
  });

  it('logs nothing at error level when a batch holds deep records', async () => {
    // Prepare
    const logger = memoryLogger();
    const records = [
      hostileRecord('deep-nesting', 'a', Date.UTC(2026, 10, 25, 21, 30)),
      hostileRecord('deep-nesting-otlp', 'b', Date.UTC(2026, 10, 25, 21, 30)),
      Buffer.from(aLogLine({ msg: 'good' })),
    ];
    const event = aKinesisEvent(records);
    const config = loadIngestConfig({ SKEIN_BUCKET: 'skein-test' });

    // Act
    const { summary } = await ingest(event.Records, {
      store: memoryObjectStore(),
      config,
      clock: () => Date.UTC(2026, 10, 25, 21, 31),
      logger,
    });

    // Assess
    expect(summary.quarantinedByReason).toEqual({ too_deep: 2 });
    expect(summary.logRows).toBe(1);
    expect(logger.lines.filter((l) => l.includes('"level":"error"'))).toEqual([]);
  });
});
