import { KinesisClient } from '@aws-sdk/client-kinesis';
import { S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';

/** Where to reach the services: omit `endpoint` for real AWS (region and credentials from the environment). */
export interface ClientTarget {
  readonly endpoint?: string | undefined;
  readonly region?: string | undefined;
  /**
   * Local endpoints only: give up on a request unanswered this long (the SDK then retries it); default
   * {@link LOCAL_REQUEST_TIMEOUT_MS}. On AWS the Lambda timeout bounds a hung call; locally only this does.
   */
  readonly requestTimeoutMs?: number | undefined;
}

const LOCAL_REGION = 'us-east-1';
/**
 * How long a request to a local emulator may go unanswered (until its response headers) before the SDK gives up and
 * retries it: far above any answer the emulators give (a 100 MB upload to s3rver takes a few seconds), so it only
 * ends a request an emulator will never answer, which would otherwise stall its caller for good.
 */
export const LOCAL_REQUEST_TIMEOUT_MS = 60_000;

/** The HTTP/1.1 handler for a local endpoint; without throwOnRequestTimeout @smithy/node-http-handler 4 only warns. */
function localRequestHandler(target: ClientTarget): NodeHttpHandler {
  return new NodeHttpHandler({
    requestTimeout: target.requestTimeoutMs ?? LOCAL_REQUEST_TIMEOUT_MS,
    throwOnRequestTimeout: true,
  });
}

/**
 * A Kinesis client. Against kinesalite it needs the HTTP/1.1 handler (the default HTTP/2 one fails) and fixed
 * credentials; address streams by `StreamName`.
 */
export function kinesisClient(target: ClientTarget = {}): KinesisClient {
  if (!target.endpoint) return new KinesisClient(target.region ? { region: target.region } : {});
  return new KinesisClient({
    endpoint: target.endpoint,
    region: target.region ?? LOCAL_REGION,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    requestHandler: localRequestHandler(target),
  });
}

/**
 * An S3 client. Against s3rver it needs path-style addressing and checksums only when required: otherwise uploads
 * are sent aws-chunked and s3rver stores the chunk framing inside the object.
 */
export function s3Client(target: ClientTarget = {}): S3Client {
  if (!target.endpoint) return new S3Client(target.region ? { region: target.region } : {});
  return new S3Client({
    endpoint: target.endpoint,
    region: target.region ?? LOCAL_REGION,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: localRequestHandler(target),
  });
}
