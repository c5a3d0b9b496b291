import type { AlertTransition } from '../../schemas/alerts.ts';
import { SkeinError } from '../../schemas/errors.ts';
import { endpointUrlProblem } from '../../schemas/notify-config.ts';
import { alertmanagerAlert } from './alertmanager-payload.ts';
import { type AttemptOutcome, classifyError, classifyResponse } from './delivery-policy.ts';
import type { Endpoint, EndpointKind } from './endpoints.ts';
import type { HttpRequest, HttpResponse } from './http-sender.ts';
import { type Pass, readSecret } from './notify-pass.ts';
import { pagerDutyEvent } from './pagerduty-payload.ts';
import { SecretError } from './secrets.ts';
import { slackMessage } from './slack-payload.ts';

/** What one call of a sender carries; `repeat` marks a re-notification of a still-firing group. */
interface SendInput {
  readonly pass: Pass;
  readonly endpoint: Endpoint;
  readonly transitions: readonly AlertTransition[];
  readonly repeat: boolean;
}

/** Builds one receiver's HTTP request (reading its secret when it has one); throws when it cannot be built. */
type RequestBuilder = (input: SendInput) => Promise<HttpRequest>;

const HEADERS = { 'content-type': 'application/json', 'user-agent': 'skein-notifier' } as const;

function post(pass: Pass, url: string, body: unknown): HttpRequest {
  return {
    method: 'POST',
    timeoutMs: pass.deps.config.delivery.timeoutMs,
    url,
    headers: HEADERS,
    body: JSON.stringify(body),
  };
}

/** Alertmanager v2: every transition of the call as one alert of the array, `endsAt` one resend interval ahead. */
const alertmanagerRequest: RequestBuilder = async ({ pass, endpoint, transitions }) => {
  const { config } = pass.deps;
  const alerts = transitions.map((t) =>
    alertmanagerAlert(t, {
      nowMs: pass.now,
      resendIntervalMs: config.delivery.resendIntervalMs,
      queryUrlTemplate: config.queryUrlTemplate,
      consoleUrl: config.consoleUrl,
      redactor: pass.redactor,
    }),
  );
  return post(pass, alertsUrl(endpoint.url ?? ''), alerts);
};

/** PagerDuty Events v2: one event per call, with the routing key from its secret. */
const pagerDutyRequest: RequestBuilder = async ({ pass, endpoint, transitions }) => {
  const pd = endpoint.receiver.pagerduty;
  const t = transitions[0];
  if (!pd || !t || transitions.length !== 1) throw new Error('one PagerDuty event per call');
  const routingKey = await readSecret(pass, pd.routingKeySecret);
  const event = pagerDutyEvent(t, {
    routingKey,
    severityMap: pd.severityMap,
    queryUrlTemplate: pass.deps.config.queryUrlTemplate,
    consoleUrl: pass.deps.config.consoleUrl,
    redactor: pass.redactor,
  });
  return post(pass, pd.url, event);
};

/** Slack incoming webhook: one message per group, to the URL from its secret once the allowlist accepts it. */
const slackRequest: RequestBuilder = async ({ pass, endpoint, transitions, repeat }) => {
  const { config } = pass.deps;
  const slack = endpoint.receiver.slack;
  if (!slack) throw new Error('no slack settings');
  const url = await readSecret(pass, slack.webhookUrlSecret);
  const problem = endpointUrlProblem(url, config.allowedHosts, config.allowLoopbackHttp);
  if (problem) throw refused(slack.webhookUrlSecret, problem);
  const message = slackMessage(transitions, {
    channel: slack.channel,
    queryUrlTemplate: config.queryUrlTemplate,
    consoleUrl: config.consoleUrl,
    redactor: pass.redactor,
    repeat,
  });
  return post(pass, url, message);
};

/** One request builder per receiver kind: adding an integration means adding one entry here. */
const REQUESTS: Readonly<Record<EndpointKind, RequestBuilder>> = {
  alertmanager: alertmanagerRequest,
  pagerduty: pagerDutyRequest,
  slack: slackRequest,
};

/** What one attempt came to: `outcome` is `undefined` when the endpoint's breaker was open. */
export interface Attempt {
  readonly outcome: AttemptOutcome | undefined;
  readonly response: HttpResponse | undefined;
}

/**
 * One HTTP call carrying `transitions` to `endpoint`, through its circuit breaker, classified. A secret that cannot
 * be read is worth a retry (it may be rotated in); other errors are classified as the policy says.
 */
export async function attemptSend(
  pass: Pass,
  endpoint: Endpoint,
  transitions: readonly AlertTransition[],
  repeat = false,
): Promise<Attempt> {
  let response: HttpResponse | undefined;
  const outcome = await pass.breakers.run(endpoint.id, async () => {
    try {
      const request = await REQUESTS[endpoint.kind]({ pass, endpoint, transitions, repeat });
      response = await pass.deps.http.send(request);
      return classifyResponse(response, pass.deps.clock());
    } catch (error) {
      return error instanceof SecretError ? { kind: 'retry', error: error.message } : classifyError(error);
    }
  });
  return { outcome, response };
}

/** A webhook URL from a secret that the allowlist or the https rule refuses: permanent, so dead-lettered. */
function refused(secretId: string, problem: string): SkeinError {
  return new SkeinError('endpoint_refused', `webhook URL in secret ${secretId} refused: ${problem}`);
}

function alertsUrl(base: string): string {
  return `${base.replace(/\/+$/, '')}/api/v2/alerts`;
}
