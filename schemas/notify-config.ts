import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import { z } from 'zod';
import { parseSettingDuration } from './durations.ts';
import { ConfigError } from './errors.ts';

/**
 * The notifier's configuration (`config/notify.example.yaml`): receivers, an Alertmanager-style route tree, delivery
 * limits and the host allowlist. Parsed from YAML with {@link parseNotifyConfig}, which reports problems as
 * `file:line:column: path: message`.
 */

// Durations (`30s`, `5m`, `1h30m`, `250ms`, `1d`) are settings: schemas/durations.ts reads them.

const Duration = z.string().refine((s) => parseSettingDuration(s) !== undefined, {
  message: 'expected a duration such as 30s, 5m, 4h or 1h30m',
});

/** Receiver names become parts of S3 keys and endpoint ids, so they are kept to a safe alphabet. */
const Name = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, 'letters, digits, - and _ (at most 64), not starting with - or _');

/** `name="value"`, `name!="value"`, `name=~"regex"`, `name!~"regex"` (quotes optional), as in Alertmanager. */
const MATCHER = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|([^"\s]*))\s*$/;

/** A label matcher compiled for evaluation; regexes are anchored at both ends, as Alertmanager's are. */
export interface Matcher {
  readonly name: string;
  readonly op: '=' | '!=' | '=~' | '!~';
  readonly value: string;
  readonly regex?: RegExp;
}

/** The matcher in `text`, or a reason it is not one. */
export function parseMatcher(text: string): { ok: true; value: Matcher } | { ok: false; reason: string } {
  const m = MATCHER.exec(text);
  if (!m) return { ok: false, reason: `not a matcher: '${text}' (expected name="value", !=, =~ or !~)` };
  const name = m[1] ?? '';
  const op = (m[2] ?? '=') as Matcher['op'];
  const value = m[3] !== undefined ? m[3].replace(/\\(.)/g, '$1') : (m[4] ?? '');
  if (op === '=~' || op === '!~') {
    try {
      return { ok: true, value: { name, op, value, regex: new RegExp(`^(?:${value})$`) } };
    } catch (error) {
      return { ok: false, reason: `invalid regex in '${text}': ${error instanceof Error ? error.message : ''}` };
    }
  }
  return { ok: true, value: { name, op, value } };
}

const MatcherText = z.string().superRefine((s, ctx) => {
  const parsed = parseMatcher(s);
  if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.reason });
});

/** One node of the route tree as written in YAML. */
export interface RouteInput {
  receiver?: string | undefined;
  matchers?: string[] | undefined;
  continue?: boolean | undefined;
  group_by?: string[] | undefined;
  group_wait?: string | undefined;
  group_interval?: string | undefined;
  repeat_interval?: string | undefined;
  routes?: RouteInput[] | undefined;
}

const RouteSchema: z.ZodType<RouteInput> = z.strictObject({
  receiver: Name.optional(),
  matchers: z.array(MatcherText).optional(),
  continue: z.boolean().optional(),
  group_by: z.array(z.string().min(1)).optional(),
  group_wait: Duration.optional(),
  group_interval: Duration.optional(),
  repeat_interval: Duration.optional(),
  get routes() {
    return z.array(RouteSchema).optional();
  },
});

const PAGERDUTY_SEVERITIES = ['critical', 'error', 'warning', 'info'] as const;
export type PagerDutySeverity = (typeof PAGERDUTY_SEVERITIES)[number];

const Receiver = z
  .strictObject({
    name: Name,
    alertmanager: z.strictObject({ urls: z.array(z.string().url()).min(1) }).optional(),
    pagerduty: z
      .strictObject({
        /** Secrets Manager secret id (name or ARN) holding the integration's routing key. */
        routing_key_secret: z.string().min(1),
        /** Events API v2 endpoint; the default is PagerDuty's (`https://events.pagerduty.com/v2/enqueue`). */
        url: z.string().url().optional(),
        /** Label `severity` value → PagerDuty severity, on top of the identity mapping of the four PD values. */
        severity_map: z.record(z.string(), z.enum(PAGERDUTY_SEVERITIES)).optional(),
      })
      .optional(),
    slack: z
      .strictObject({
        /** Secrets Manager secret id holding the incoming-webhook URL (the URL is the credential). */
        webhook_url_secret: z.string().min(1),
        channel: z.string().optional(),
      })
      .optional(),
  })
  .refine((r) => r.alertmanager !== undefined || r.pagerduty !== undefined || r.slack !== undefined, {
    message: 'a receiver needs at least one of alertmanager, pagerduty, slack',
  });

export const NotifyConfigInput = z.strictObject({
  receivers: z.array(Receiver).min(1),
  route: RouteSchema,
  delivery: z
    .strictObject({
      /** Timeout of one HTTP call. */
      timeout: Duration.default('5s'),
      /** Attempts per transition and endpoint before it is dead-lettered. */
      max_attempts: z.number().int().min(1).max(100).default(8),
      /** Age (from the first attempt) after which a failing transition is dead-lettered. */
      max_age: Duration.default('1h'),
      base_delay: Duration.default('1s'),
      max_delay: Duration.default('5m'),
      /** Consecutive failures that open an endpoint's circuit breaker, and how long it stays open. */
      breaker_threshold: z.number().int().min(1).default(5),
      breaker_half_open_after: Duration.default('30s'),
      /** How often firing alerts are re-sent to Alertmanager (endsAt = now + 4 × this). */
      resend_interval: Duration.default('1m'),
    })
    .default({
      timeout: '5s',
      max_attempts: 8,
      max_age: '1h',
      base_delay: '1s',
      max_delay: '5m',
      breaker_threshold: 5,
      breaker_half_open_after: '30s',
      resend_interval: '1m',
    }),
  /** Hosts notifications may go to: exact names, or `*.example.com` for any subdomain. */
  allowed_hosts: z.array(z.string().min(1)).min(1),
  /** Link to the query for an alert: `{{fingerprint}}`, `{{rule}}`, `{{group}}`, `{{trace_id}}`, `{{labels.NAME}}`. */
  query_url_template: z.string().optional(),
  /**
   * Base URL of the Skein console (`skein console`): exemplar links become `<console_url>/trace/<trace id>` (or
   * `/request/<request id>` when a row has no trace id) in PagerDuty `links`, Slack and Alertmanager annotations.
   */
  console_url: z.url({ protocol: /^https?$/ }).optional(),
});
export type NotifyConfigInput = z.infer<typeof NotifyConfigInput>;

/** Alertmanager's defaults, documented in docs/notifications.md. */
export const GROUP_DEFAULTS = { groupWaitMs: 30_000, groupIntervalMs: 300_000, repeatIntervalMs: 14_400_000 } as const;

/** A route node with everything inherited from its parents resolved. */
export interface Route {
  /** `0.2.1`-style position in the tree, stable while the file does not change: part of group keys. */
  readonly path: string;
  readonly receiver: string;
  readonly matchers: readonly Matcher[];
  readonly continue: boolean;
  readonly groupBy: readonly string[];
  readonly groupWaitMs: number;
  readonly groupIntervalMs: number;
  readonly repeatIntervalMs: number;
  readonly routes: readonly Route[];
}

export interface ReceiverConfig {
  readonly name: string;
  readonly alertmanager?: { readonly urls: readonly string[] };
  readonly pagerduty?: {
    readonly routingKeySecret: string;
    readonly url: string;
    readonly severityMap: Readonly<Record<string, PagerDutySeverity>>;
  };
  readonly slack?: { readonly webhookUrlSecret: string; readonly channel?: string };
}

export interface DeliveryConfig {
  readonly timeoutMs: number;
  readonly maxAttempts: number;
  readonly maxAgeMs: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly breakerThreshold: number;
  readonly breakerHalfOpenAfterMs: number;
  readonly resendIntervalMs: number;
}

/** The validated configuration the notifier runs with. */
export interface NotifyConfig {
  readonly receivers: ReadonlyMap<string, ReceiverConfig>;
  readonly route: Route;
  readonly delivery: DeliveryConfig;
  readonly allowedHosts: readonly string[];
  readonly queryUrlTemplate?: string;
  /** `console_url` without a trailing slash: where exemplar links point (D22). */
  readonly consoleUrl?: string;
  /** `http://` to 127.0.0.1/localhost/[::1] is accepted: the local stack only, never set from the YAML file. */
  readonly allowLoopbackHttp: boolean;
}

export const PAGERDUTY_EVENTS_URL = 'https://events.pagerduty.com/v2/enqueue';

export interface ParseNotifyConfigOptions {
  /** Named in error messages (`config/notify.yaml:12:5: …`). */
  readonly source?: string;
  /** Accept `http://127.0.0.1…` endpoints (local stack). Off by default and on AWS. */
  readonly allowLoopbackHttp?: boolean;
}

/** A problem with the configuration, located in its file. */
export class NotifyConfigError extends ConfigError {}

/**
 * Parses and validates a notifier configuration file.
 * @throws NotifyConfigError `file:line:col: path: message` for the first problem (YAML syntax, schema, unknown
 * receiver, endpoint URL not allowed).
 * @example const config = parseNotifyConfig(await readFile(path, 'utf8'), { source: path });
 */
export function parseNotifyConfig(text: string, options: ParseNotifyConfigOptions = {}): NotifyConfig {
  const source = options.source ?? 'notify config';
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const where = (offset: number | undefined): string => {
    if (offset === undefined) return source;
    const pos = lines.linePos(offset);
    return `${source}:${pos.line}:${pos.col}`;
  };
  const yamlError = doc.errors[0];
  if (yamlError) throw new NotifyConfigError(`${where(yamlError.pos[0])}: ${yamlError.message.split('\n')[0]}`);
  const fail = (path: readonly PropertyKey[], message: string): never => {
    const label = path.map(String).join('.') || '(root)';
    throw new NotifyConfigError(`${where(offsetOf(doc.contents, path))}: ${label}: ${message}`);
  };

  const parsed = NotifyConfigInput.safeParse(doc.toJS());
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return fail(issue?.path ?? [], issue?.message ?? 'invalid');
  }
  const input = parsed.data;
  const allowLoopbackHttp = options.allowLoopbackHttp === true;

  const receivers = new Map<string, ReceiverConfig>();
  input.receivers.forEach((r, i) => {
    if (receivers.has(r.name)) fail(['receivers', i, 'name'], `duplicate receiver '${r.name}'`);
    r.alertmanager?.urls.forEach((url, j) => {
      const problem = endpointUrlProblem(url, input.allowed_hosts, allowLoopbackHttp);
      if (problem) fail(['receivers', i, 'alertmanager', 'urls', j], problem);
    });
    const pdUrl = r.pagerduty?.url ?? PAGERDUTY_EVENTS_URL;
    if (r.pagerduty) {
      const problem = endpointUrlProblem(pdUrl, input.allowed_hosts, allowLoopbackHttp);
      if (problem) fail(['receivers', i, 'pagerduty', r.pagerduty.url ? 'url' : 'routing_key_secret'], problem);
    }
    receivers.set(r.name, {
      name: r.name,
      ...(r.alertmanager ? { alertmanager: { urls: r.alertmanager.urls } } : {}),
      ...(r.pagerduty
        ? {
            pagerduty: {
              routingKeySecret: r.pagerduty.routing_key_secret,
              url: pdUrl,
              severityMap: r.pagerduty.severity_map ?? {},
            },
          }
        : {}),
      ...(r.slack
        ? {
            slack: {
              webhookUrlSecret: r.slack.webhook_url_secret,
              ...(r.slack.channel === undefined ? {} : { channel: r.slack.channel }),
            },
          }
        : {}),
    });
  });

  if (input.route.receiver === undefined) fail(['route'], 'the root route needs a receiver');
  if (input.route.matchers !== undefined && input.route.matchers.length > 0)
    fail(['route', 'matchers'], 'the root route matches every alert: it takes no matchers');
  const build = (node: RouteInput, path: (string | number)[], parent: Route | undefined, pos: string): Route => {
    const receiver = node.receiver ?? parent?.receiver ?? '';
    if (!receivers.has(receiver)) fail([...path, 'receiver'], `unknown receiver '${receiver}'`);
    const ms = (v: string | undefined, inherited: number) =>
      v === undefined ? inherited : (parseSettingDuration(v) ?? 0);
    const self = {
      path: pos,
      receiver,
      matchers: (node.matchers ?? []).map((m) => {
        const compiled = parseMatcher(m);
        if (!compiled.ok) throw new NotifyConfigError(compiled.reason);
        return compiled.value;
      }),
      continue: node.continue ?? false,
      groupBy: node.group_by ?? parent?.groupBy ?? [],
      groupWaitMs: ms(node.group_wait, parent?.groupWaitMs ?? GROUP_DEFAULTS.groupWaitMs),
      groupIntervalMs: ms(node.group_interval, parent?.groupIntervalMs ?? GROUP_DEFAULTS.groupIntervalMs),
      repeatIntervalMs: ms(node.repeat_interval, parent?.repeatIntervalMs ?? GROUP_DEFAULTS.repeatIntervalMs),
      routes: [] as Route[],
    };
    (node.routes ?? []).forEach((child, i) => {
      self.routes.push(build(child, [...path, 'routes', i], self, `${pos}.${i}`));
    });
    return self;
  };
  const route = build(input.route, ['route'], undefined, '0');

  const d = input.delivery;
  const ms = (s: string) => parseSettingDuration(s) ?? 0;
  return {
    receivers,
    route,
    delivery: {
      timeoutMs: ms(d.timeout),
      maxAttempts: d.max_attempts,
      maxAgeMs: ms(d.max_age),
      baseDelayMs: ms(d.base_delay),
      maxDelayMs: ms(d.max_delay),
      breakerThreshold: d.breaker_threshold,
      breakerHalfOpenAfterMs: ms(d.breaker_half_open_after),
      resendIntervalMs: ms(d.resend_interval),
    },
    allowedHosts: input.allowed_hosts,
    ...(input.query_url_template === undefined ? {} : { queryUrlTemplate: input.query_url_template }),
    ...(input.console_url === undefined ? {} : { consoleUrl: input.console_url.replace(/\/+$/, '') }),
    allowLoopbackHttp,
  };
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * Why `url` may not receive notifications, or `undefined` when it may: https only (http to a loopback host when
 * `allowLoopbackHttp`), host on the allowlist (`name` exactly or `*.suffix`), no credentials in the URL. Messages
 * name the host, never the URL (a Slack webhook URL is a credential).
 */
export function endpointUrlProblem(
  url: string,
  allowedHosts: readonly string[],
  allowLoopbackHttp: boolean,
): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'not a valid URL';
  }
  const host = parsed.hostname.toLowerCase();
  if (parsed.username !== '' || parsed.password !== '') return `credentials in the URL of host ${host} are not allowed`;
  if (parsed.protocol === 'http:') {
    if (!(allowLoopbackHttp && LOOPBACK.has(host)))
      return `host ${host}: only https endpoints are allowed (http only to 127.0.0.1 on the local stack)`;
  } else if (parsed.protocol !== 'https:') return `host ${host}: only https endpoints are allowed`;
  const allowed = allowedHosts.some((pattern) => {
    const p = pattern.toLowerCase();
    return p.startsWith('*.') ? host.endsWith(p.slice(1)) && host.length > p.length - 1 : host === p;
  });
  return allowed ? undefined : `host ${host} is not in allowed_hosts`;
}

/** Offset of the YAML node at `path`, or of its nearest existing ancestor. */
function offsetOf(root: unknown, path: readonly PropertyKey[]): number | undefined {
  let node: unknown = root;
  let best: number | undefined = rangeStart(node);
  for (const key of path) {
    let next: unknown;
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(key));
      next = pair?.value ?? undefined;
      if (pair && next === undefined && isScalar(pair.key)) best = rangeStart(pair.key);
    } else if (isSeq(node) && typeof key === 'number') next = node.items[key];
    if (next === undefined || next === null) break;
    node = next;
    best = rangeStart(node) ?? best;
  }
  return best;
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as Node | undefined)?.range;
  return range ? range[0] : undefined;
}
