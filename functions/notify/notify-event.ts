import { z } from 'zod';
import { OUTBOX_PREFIX } from '../../schemas/alerts.ts';

/** The parts of an S3 event notification the notifier reads; anything else (EventBridge schedule) is a scan. */
const S3Event = z.object({
  Records: z.array(z.object({ s3: z.object({ object: z.object({ key: z.string() }) }) })),
});

/**
 * The outbox keys of an S3 `ObjectCreated` event (keys arrive URL-encoded, spaces as `+`), or `undefined` for any
 * other event: a scheduled run that scans for pending work and re-sends.
 */
export function outboxKeysOfEvent(event: unknown): string[] | undefined {
  const parsed = S3Event.safeParse(event);
  if (!parsed.success) return undefined;
  return parsed.data.Records.map((r) => decodeURIComponent(r.s3.object.key.replace(/\+/g, ' '))).filter((k) =>
    k.startsWith(OUTBOX_PREFIX),
  );
}
