import type { AlertTransition } from '../../schemas/alerts.ts';
import type { NotifyConfig, Route } from '../../schemas/notify-config.ts';
import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/logger.ts';
import type { MetricWriter } from '../core/metrics.ts';
import type { ObjectStore } from '../core/object-store.ts';
import { createRedactor, REDACTED, type TextRedactor } from '../core/redact.ts';
import { type EndpointBreakers, endpointBreakers } from './delivery-policy.ts';
import { type AlertState, type DeliveryRecord, disabledKey, type Versioned } from './delivery-store.ts';
import type { Endpoint } from './endpoints.ts';
import type { HttpSender } from './http-sender.ts';
import type { SecretProvider } from './secrets.ts';

/** What the notifier runs with: everything it touches is a parameter, so the same code runs on AWS, locally and in tests. */
export interface NotifyDeps {
  readonly store: ObjectStore;
  readonly config: NotifyConfig;
  readonly secrets: SecretProvider;
  readonly http: HttpSender;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Uniform in [0, 1): backoff jitter. */
  readonly random: () => number;
  /** EMF lines (stdout in Lambda); omitted: no metrics. */
  readonly metrics?: MetricWriter;
  /** Circuit breakers kept across invocations (module scope of the handler); omitted: fresh ones per call. */
  readonly breakers?: EndpointBreakers;
  readonly redactor?: TextRedactor;
}

/** Counts of one pass. `delivered + dead + disabled + pending` = `deliveries`. */
export interface NotifySummary {
  /** Outbox entries looked at. */
  transitions: number;
  /** (transition, endpoint) pairs they route to. */
  deliveries: number;
  delivered: number;
  dead: number;
  disabled: number;
  /** Not terminal yet: waiting for a retry, a group timer, an open breaker or another notifier's lease. */
  pending: number;
  /** Outbox entries that did not parse (dead-lettered as `_invalid`). */
  invalid: number;
  /** Alertmanager re-sends of firing alerts, and PagerDuty/Slack repeat notifications. */
  resent: number;
  repeated: number;
}

/** One routed endpoint of an outbox entry, and where its delivery stands in this pass. */
export interface Target {
  readonly endpoint: Endpoint;
  readonly route: Route;
  status: 'delivered' | 'dead' | 'disabled' | 'pending';
  record?: Versioned<DeliveryRecord>;
  /** The record exists but does not parse: overwritten conditionally on this ETag. */
  brokenEtag?: string;
}

/** An outbox entry read in this pass, with the endpoints its route matches. */
export interface Entry {
  readonly key: string;
  readonly stem: string;
  readonly transition: AlertTransition;
  readonly targets: Target[];
}

/** One (entry, endpoint) due for a send. */
export interface WorkItem {
  readonly entry: Entry;
  readonly target: Target;
}

/** The state of one pass, shared by its steps. */
export interface Pass {
  readonly deps: NotifyDeps;
  readonly now: number;
  readonly breakers: EndpointBreakers;
  readonly redactor: TextRedactor;
  /** Every secret value read in this pass: scrubbed from error text on top of the redactor's patterns. */
  readonly secretValues: Set<string>;
  readonly disabled: Map<string, boolean>;
  readonly alertStates: Map<string, AlertState | undefined>;
  readonly summary: NotifySummary;
  readonly deadByEndpoint: Map<string, number>;
}

/** Store reads and per-entry work run this many at a time. */
export const READ_CONCURRENCY = 16;

/** A fresh pass at the deps' clock. */
export function startPass(deps: NotifyDeps): Pass {
  return {
    deps,
    now: deps.clock(),
    breakers: deps.breakers ?? endpointBreakers(deps.config.delivery),
    redactor: deps.redactor ?? createRedactor(),
    secretValues: new Set(),
    disabled: new Map(),
    alertStates: new Map(),
    summary: {
      transitions: 0,
      deliveries: 0,
      delivered: 0,
      dead: 0,
      disabled: 0,
      pending: 0,
      invalid: 0,
      resent: 0,
      repeated: 0,
    },
    deadByEndpoint: new Map(),
  };
}

/** Secret-looking text and every secret value this pass read, replaced by `[REDACTED]`. */
export function scrub(pass: Pass, text: string): string {
  let out = pass.redactor.redactText(text);
  for (const value of pass.secretValues) out = out.replaceAll(value, REDACTED);
  return out;
}

/** A secret's value, remembered so {@link scrub} removes it from any error text of this pass. */
export async function readSecret(pass: Pass, id: string): Promise<string> {
  const value = await pass.deps.secrets.get(id);
  if (value.length >= 4) pass.secretValues.add(value);
  return value;
}

/** True when the endpoint has been disabled (it answered as gone); read once per pass. */
export async function isDisabled(pass: Pass, endpointId: string): Promise<boolean> {
  let disabled = pass.disabled.get(endpointId);
  if (disabled === undefined) {
    disabled = (await pass.deps.store.get(disabledKey(endpointId))) !== undefined;
    pass.disabled.set(endpointId, disabled);
  }
  return disabled;
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}
