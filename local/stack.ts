import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { kinesisClient } from '../functions/core/aws-clients.ts';
import { startEmulators } from './emulators.ts';
import { type Endpoints, writeEndpoints } from './endpoints.ts';
import { type KinesisBatchHandler, type Poller, type PollerOptions, startPoller } from './poller.ts';

export const DEFAULT_STREAM = 'skein-local';
export const DEFAULT_BUCKET = 'skein-local';

export interface LocalStackOptions extends Omit<PollerOptions, 'kinesis' | 'streamName' | 'handler'> {
  /** State folder (created): `endpoints.json` and s3rver's objects under `s3/`. */
  readonly dir: string;
  /** Shards of the stream (default 2). */
  readonly shards?: number;
  readonly streamName?: string;
  readonly bucket?: string;
  /** The function the poller invokes with each batch, like Lambda would invoke the ingest function. */
  readonly handler: KinesisBatchHandler;
  /** Fixed ports; free ones by default. */
  readonly kinesisPort?: number;
  readonly s3Port?: number;
}

export interface LocalStack {
  readonly endpoints: Endpoints;
  readonly poller: Poller;
  /** Stops the poller (waiting for the invocation in flight), then both emulators. `endpoints.json` stays. */
  stop(): Promise<void>;
}

/**
 * Starts kinesalite and s3rver, creates the stream and bucket, starts the event-source poller with `handler` and
 * writes `<dir>/endpoints.json`.
 *
 * @example
 * const stack = await startLocalStack({ dir: '.skein', handler: async (event) => ({ batchItemFailures: [] }) });
 * // producers put records to stack.endpoints.kinesis; objects appear under stack.endpoints.dataDir
 * await stack.stop();
 */
export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const { dir, shards, handler, kinesisPort, s3Port, ...pollerOptions } = options;
  const streamName = options.streamName ?? DEFAULT_STREAM;
  const bucket = options.bucket ?? DEFAULT_BUCKET;
  const absoluteDir = resolve(dir);
  await mkdir(absoluteDir, { recursive: true });
  const emulators = await startEmulators({
    dir: absoluteDir,
    streamName,
    bucket,
    ...(shards !== undefined ? { shards } : {}),
    ...(kinesisPort !== undefined ? { kinesisPort } : {}),
    ...(s3Port !== undefined ? { s3Port } : {}),
  });
  const kinesis = kinesisClient({ endpoint: emulators.kinesisEndpoint });
  let poller: Poller | undefined;
  const endpoints: Endpoints = {
    kinesis: emulators.kinesisEndpoint,
    s3: emulators.s3Endpoint,
    stream: streamName,
    bucket,
    dataDir: emulators.dataDir,
  };
  try {
    poller = await startPoller({ ...pollerOptions, kinesis, streamName, handler });
    await writeEndpoints(absoluteDir, endpoints);
  } catch (error) {
    await poller?.stop();
    kinesis.destroy();
    await emulators.stop();
    throw error;
  }
  const running = poller;
  let stopping: Promise<void> | undefined;
  return {
    endpoints,
    poller: running,
    stop() {
      stopping ??= (async () => {
        try {
          await running.stop();
        } finally {
          kinesis.destroy();
          await emulators.stop();
        }
      })();
      return stopping;
    },
  };
}
