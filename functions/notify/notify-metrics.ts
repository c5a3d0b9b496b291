import { emfDocument, type MetricWriter } from '../core/metrics.ts';

/**
 * Metric names the notifier writes (namespace Skein). A module of its own so `lib/monitoring.ts` can name them in
 * its alarms without pulling the notifier in.
 */
export const NOTIFY_METRICS = {
  delivered: 'NotificationsDelivered',
  deadLettered: 'DeadLettered',
  endpointDisabled: 'EndpointDisabled',
  pending: 'NotificationsPending',
} as const;

/** What one pass reports: totals without dimensions, then dead letters per endpoint (`Endpoint` dimension). */
export interface PassCounts {
  readonly delivered: number;
  readonly pending: number;
  readonly deadByEndpoint: ReadonlyMap<string, number>;
}

/** Writes the pass's EMF lines at `nowMs`. */
export function writePassMetrics(write: MetricWriter, nowMs: number, counts: PassCounts): void {
  let dead = 0;
  for (const count of counts.deadByEndpoint.values()) dead += count;
  write(
    emfDocument(nowMs, {}, {}, [
      { name: NOTIFY_METRICS.delivered, unit: 'Count', value: counts.delivered },
      { name: NOTIFY_METRICS.deadLettered, unit: 'Count', value: dead },
      { name: NOTIFY_METRICS.pending, unit: 'Count', value: counts.pending },
    ]),
  );
  for (const [endpoint, count] of counts.deadByEndpoint)
    write(
      emfDocument(nowMs, { Endpoint: endpoint }, {}, [
        { name: NOTIFY_METRICS.deadLettered, unit: 'Count', value: count },
      ]),
    );
}

/** Writes the one EMF line that reports `endpointId` disabled. */
export function writeEndpointDisabled(write: MetricWriter, nowMs: number, endpointId: string): void {
  write(
    emfDocument(nowMs, { Endpoint: endpointId }, {}, [
      { name: NOTIFY_METRICS.endpointDisabled, unit: 'Count', value: 1 },
    ]),
  );
}
