import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { s3Client } from '../core/aws-clients.ts';
import { systemClock } from '../core/clock.ts';
import { createLogger } from '../core/logger.ts';
import { s3ObjectStore } from '../core/object-store.ts';
import { loadNotifyFunctionConfig } from './config.ts';
import { endpointBreakers } from './delivery-policy.ts';
import { nodeHttpSender } from './http-sender.ts';
import { outboxKeysOfEvent } from './notify-event.ts';
import { type NotifySummary, notifyOnce } from './notify-once.ts';
import { awsSecretProvider } from './secrets.ts';

// Wiring only: configuration, clients, breakers and the secret cache live as long as the execution environment.
const config = loadNotifyFunctionConfig(process.env);
const store = s3ObjectStore(s3Client({ region: process.env.AWS_REGION }), config.bucket);
const logger = createLogger({ service: 'skein-notify', level: config.logLevel });
const secrets = awsSecretProvider(
  new SecretsManagerClient(process.env.AWS_REGION ? { region: process.env.AWS_REGION } : {}),
  systemClock,
);
const breakers = endpointBreakers(config.notify.delivery);
const http = nodeHttpSender();
const metrics = (line: string) => process.stdout.write(`${line}\n`);

/** S3 `ObjectCreated` on `alerts/outbox/` delivers those keys; the 1-minute schedule scans and re-sends. */
export const handler = (event: unknown, context: { awsRequestId: string }): Promise<NotifySummary> => {
  const keys = outboxKeysOfEvent(event);
  return notifyOnce(
    {
      store,
      config: config.notify,
      secrets,
      http,
      clock: systemClock,
      logger: logger.child({ request_id: context.awsRequestId }),
      random: Math.random,
      metrics,
      breakers,
    },
    keys === undefined ? {} : { keys },
  );
};
