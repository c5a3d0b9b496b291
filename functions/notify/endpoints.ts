import type { NotifyConfig, ReceiverConfig } from '../../schemas/notify-config.ts';

export type EndpointKind = 'alertmanager' | 'pagerduty' | 'slack';

/**
 * One place a notification is delivered to: each Alertmanager URL of a receiver (an HA pair gets every alert), its
 * PagerDuty integration, its Slack webhook. The id (`oncall.pagerduty`, `ops.alertmanager.1`) names it in S3 keys,
 * logs, metrics and dead letters; its URL or key never appears there.
 */
export interface Endpoint {
  readonly id: string;
  readonly kind: EndpointKind;
  readonly receiver: ReceiverConfig;
  /** Alertmanager base URL (not secret); PagerDuty and Slack endpoints resolve theirs at send time. */
  readonly url?: string;
}

/** The endpoints of one receiver, in a stable order. */
export function receiverEndpoints(receiver: ReceiverConfig): Endpoint[] {
  const out: Endpoint[] = [];
  receiver.alertmanager?.urls.forEach((url, i) => {
    out.push({ id: `${receiver.name}.alertmanager.${i}`, kind: 'alertmanager', receiver, url });
  });
  if (receiver.pagerduty) out.push({ id: `${receiver.name}.pagerduty`, kind: 'pagerduty', receiver });
  if (receiver.slack) out.push({ id: `${receiver.name}.slack`, kind: 'slack', receiver });
  return out;
}

/** Every endpoint of the configuration, by id. */
export function allEndpoints(config: NotifyConfig): Map<string, Endpoint> {
  const out = new Map<string, Endpoint>();
  for (const receiver of config.receivers.values()) for (const e of receiverEndpoints(receiver)) out.set(e.id, e);
  return out;
}
