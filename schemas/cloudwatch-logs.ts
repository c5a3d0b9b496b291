import { z } from 'zod';

/**
 * What a CloudWatch Logs subscription filter puts on a Kinesis stream (gzip-compressed JSON), as documented in
 * "Real-time processing of log data with subscriptions" (CloudWatch Logs User Guide). Unknown fields are dropped,
 * not rejected, so a field AWS adds later does not quarantine good data.
 */

/** `DATA_MESSAGE` carries log events; `CONTROL_MESSAGE` is AWS checking that the destination is reachable. */
export const CloudWatchMessageType = z.enum(['DATA_MESSAGE', 'CONTROL_MESSAGE']);
export type CloudWatchMessageType = z.infer<typeof CloudWatchMessageType>;

/** One log event: `id` is CloudWatch's event id, `timestamp` the event time in epoch milliseconds. */
export const CloudWatchLogEvent = z.object({
  id: z.string(),
  // zod 4 `.int()` also bounds the value to safe integers, so converting it to nanoseconds cannot fail.
  timestamp: z.number().int(),
  message: z.string(),
});
export type CloudWatchLogEvent = z.infer<typeof CloudWatchLogEvent>;

/** The envelope of one subscription delivery (one Kinesis record). */
export const CloudWatchLogsEnvelope = z.object({
  messageType: CloudWatchMessageType,
  /** AWS account id of the log data (`CloudwatchLogs` in a control message). */
  owner: z.string(),
  logGroup: z.string(),
  logStream: z.string(),
  subscriptionFilters: z.array(z.string()),
  logEvents: z.array(CloudWatchLogEvent),
  /** `ACCOUNT_LEVEL_POLICY` or `LOG_GROUP_LEVEL_POLICY` on newer deliveries; kept open for values AWS may add. */
  policyLevel: z.string().optional(),
});
export type CloudWatchLogsEnvelope = z.infer<typeof CloudWatchLogsEnvelope>;
