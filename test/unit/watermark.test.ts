import { describe, expect, it } from 'vitest';
import {
  CLOCK_MARGIN_MS,
  probeShard,
  SHARD_ENDED,
  type ShardProgress,
} from '../../functions/evaluate/shard-progress.ts';
import {
  assignedMinute,
  lastCompleteMinute,
  lastFinalMinute,
  MINUTE_MS,
  mergeMark,
  minuteDeadlineMs,
} from '../../functions/shared/watermark.ts';
import type { ShardMark } from '../../schemas/measures.ts';

const M = 29_000_000;
const L = 30_000;

describe('assignedMinute', () => {
  it.each([
    {
      what: 'a row of the minute before, arriving within L',
      event: M * MINUTE_MS - 5_000,
      arrival: M * MINUTE_MS + 20_000,
      minute: M - 1,
    },
    { what: 'a row arriving later than L', event: M * MINUTE_MS - 5_000, arrival: M * MINUTE_MS + 31_000, minute: M },
    { what: 'an hour-old row', event: (M - 60) * MINUTE_MS, arrival: M * MINUTE_MS + 10_000, minute: M - 1 },
    {
      what: 'a row dated ahead of its arrival',
      event: (M + 3) * MINUTE_MS,
      arrival: M * MINUTE_MS + 10_000,
      minute: M,
    },
    { what: 'a row without a usable time', event: Number.NaN, arrival: M * MINUTE_MS + 10_000, minute: M },
  ])('$what', ({ event, arrival, minute }) => {
    // Act + Assess
    expect(assignedMinute(event, arrival, L)).toBe(minute);
  });

  it('never counts a row in a minute that was final before the row arrived', () => {
    // Prepare: every arrival in a 5-minute span, every event time around it
    for (let arrival = M * MINUTE_MS; arrival < (M + 5) * MINUTE_MS; arrival += 7_001) {
      for (let event = arrival - 10 * MINUTE_MS; event < arrival + 3 * MINUTE_MS; event += 13_007) {
        // Act
        const minute = assignedMinute(event, arrival, L);
        // Assess: minute M is final once nothing unprocessed arrived before end(M) + L; this row arrived before
        // that instant for its own minute, so it never lands in a minute already final.
        expect(minuteDeadlineMs(minute, L)).toBeGreaterThan(arrival);
      }
    }
  });
});

describe('lastCompleteMinute', () => {
  const mark = (arrival_ms: number): ShardMark => ({ arrival_ms });

  it('is the last minute whose end + L every shard is past', () => {
    // Prepare
    const marks = new Map([
      ['shard-0', mark(minuteDeadlineMs(M, L) + 4_000)],
      ['shard-1', mark(minuteDeadlineMs(M + 1, L) - 1)],
    ]);
    // Act + Assess
    expect(lastCompleteMinute(['shard-0', 'shard-1'], marks, L)).toBe(M);
    expect(lastFinalMinute(minuteDeadlineMs(M, L), L)).toBe(M);
    expect(lastFinalMinute(minuteDeadlineMs(M, L) - 1, L)).toBe(M - 1);
  });

  it('is held back by a shard never seen, and unbounded without shards', () => {
    // Act + Assess
    expect(lastCompleteMinute(['shard-0'], new Map(), L)).toBe(Number.NEGATIVE_INFINITY);
    expect(lastCompleteMinute([], new Map(), L)).toBe(Number.POSITIVE_INFINITY);
  });

  it('keeps the mark furthest ahead per shard', () => {
    // Prepare
    const marks = new Map<string, ShardMark>();
    // Act
    mergeMark(marks, 's', { arrival_ms: 10, sequence_number: '5' });
    mergeMark(marks, 's', { arrival_ms: 9, sequence_number: '7' });
    mergeMark(marks, 's', { arrival_ms: 10, sequence_number: '6' });
    // Assess
    expect(marks.get('s')).toEqual({ arrival_ms: 10, sequence_number: '6' });
  });
});

/** A fake stream: each shard's records (arrival ms, sequence numbers increasing), never behind. */
function fakeStream(records: Record<string, number[]>, closed: string[] = []): ShardProgress & { reads: number } {
  const stream = {
    reads: 0,
    listShards: async () => Object.keys(records).map((shardId) => ({ shardId, closed: closed.includes(shardId) })),
    iterator: async (shardId: string, from: { after: string } | { atMs: number }) => {
      const all = records[shardId] ?? [];
      const start = 'after' in from ? Number(from.after) + 1 : all.findIndex((a) => a >= from.atMs);
      return `${shardId}|${start < 0 ? all.length : start}`;
    },
    read: async (iterator: string, limit: number) => {
      stream.reads++;
      const [shardId = '', at = '0'] = iterator.split('|');
      const all = records[shardId] ?? [];
      const start = Number(at);
      const slice = all.slice(start, start + limit);
      const end = start + slice.length;
      return {
        records: slice.map((arrivalMs, i) => ({ arrivalMs, sequenceNumber: String(start + i) })),
        nextIterator: closed.includes(shardId) && end >= all.length ? undefined : `${shardId}|${end}`,
        millisBehindLatest: 0,
      };
    },
  };
  return stream;
}

describe('probeShard', () => {
  const now = minuteDeadlineMs(M, L) + 10_000;

  it('proves an idle shard caught up to the clock (less the margin)', async () => {
    // Prepare: records 0 and 1 were processed, nothing follows
    const stream = fakeStream({ s: [1_000, 2_000] });
    // Act
    const result = await probeShard(
      stream,
      { shardId: 's', closed: false },
      { arrival_ms: 2_000, sequence_number: '1' },
      0,
      now,
    );
    // Assess
    expect(result).toEqual({ proven: true, mark: { arrival_ms: now - CLOCK_MARGIN_MS, sequence_number: '1' } });
  });

  it('bounds a shard with unprocessed records by the arrival of the first one', async () => {
    // Prepare
    const stream = fakeStream({ s: [1_000, 2_000, 5_000, 6_000] });
    // Act
    const result = await probeShard(
      stream,
      { shardId: 's', closed: false },
      { arrival_ms: 2_000, sequence_number: '1' },
      0,
      now,
    );
    // Assess
    expect(result).toEqual({ proven: true, mark: { arrival_ms: 5_000, sequence_number: '1' } });
  });

  it('without a known record, looks only at what arrived since the window began', async () => {
    // Prepare: an old record (before the window) and a new one
    const stream = fakeStream({ s: [1_000, 50_000] });
    // Act
    const result = await probeShard(stream, { shardId: 's', closed: false }, undefined, 10_000, now);
    // Assess
    expect(result).toEqual({ proven: true, mark: { arrival_ms: 50_000 } });
  });

  it('finds a closed shard read to its end done', async () => {
    // Prepare
    const stream = fakeStream({ s: [1_000] }, ['s']);
    // Act
    const result = await probeShard(
      stream,
      { shardId: 's', closed: true },
      { arrival_ms: 1_000, sequence_number: '0' },
      0,
      now,
    );
    // Assess
    expect(result).toEqual({ proven: true, mark: { arrival_ms: SHARD_ENDED, sequence_number: '0' } });
  });

  it('proves nothing when the stream stays behind without returning records, within a bounded number of reads', async () => {
    // Prepare
    let reads = 0;
    const behind: ShardProgress = {
      listShards: async () => [{ shardId: 's', closed: false }],
      iterator: async () => 'it',
      read: async () => {
        reads++;
        return { records: [], nextIterator: 'it', millisBehindLatest: 60_000 };
      },
    };
    // Act
    const result = await probeShard(
      behind,
      { shardId: 's', closed: false },
      { arrival_ms: 0, sequence_number: '1' },
      0,
      now,
    );
    // Assess
    expect(result).toEqual({ proven: false });
    expect(reads).toBe(5);
  });
});
