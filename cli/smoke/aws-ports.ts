import { z } from 'zod';
import { describeError, SkeinError } from '../../schemas/errors.ts';

/**
 * The three AWS reads `skein smoke --stack` needs beyond S3, Kinesis and Athena, behind small ports: the stack's
 * outputs (CloudFormation), the stream's iterator age (CloudWatch) and the failed-batch queue's depth (SQS). Their
 * SDK clients are loaded on first use by package name ({@link SDK_PACKAGES}); without them the command says which
 * package to install instead of failing to start.
 */
export interface AwsSmokePorts {
  /** Output key → value of a CloudFormation stack. */
  stackOutputs(stackName: string): Promise<Record<string, string>>;
  /** `GetRecords.IteratorAgeMilliseconds` (AWS/Kinesis, Maximum) of the latest minute that has a data point. */
  iteratorAgeMs(streamName: string, sinceMs: number, untilMs: number): Promise<number | undefined>;
  /** Visible plus in-flight messages of an SQS queue. */
  queueDepth(queueUrl: string): Promise<number>;
  close(): void;
}

export const SDK_PACKAGES = {
  cloudformation: '@aws-sdk/client-cloudformation',
  cloudwatch: '@aws-sdk/client-cloudwatch',
  sqs: '@aws-sdk/client-sqs',
} as const;

/** A v3 SDK client, as far as these ports use it. */
export interface SdkClient {
  send(command: unknown): Promise<unknown>;
  destroy(): void;
}
type Constructor = new (input: unknown) => unknown;

const isConstructor = (v: unknown): v is Constructor => typeof v === 'function';
const ctor = z.custom<Constructor>(isConstructor, 'not a class');
const isClient = (v: unknown): v is SdkClient =>
  typeof v === 'object' &&
  v !== null &&
  typeof Reflect.get(v, 'send') === 'function' &&
  typeof Reflect.get(v, 'destroy') === 'function';

/** Loads a module by name (injected in tests). */
export type ModuleLoader = (name: string) => Promise<unknown>;
const importByName: ModuleLoader = (name) => import(name);

const CloudFormationModule = z.object({ CloudFormationClient: ctor, DescribeStacksCommand: ctor });
const CloudWatchModule = z.object({ CloudWatchClient: ctor, GetMetricStatisticsCommand: ctor });
const SqsModule = z.object({ SQSClient: ctor, GetQueueAttributesCommand: ctor });

const DescribeStacksOutput = z.object({
  Stacks: z
    .array(
      z.object({
        StackStatus: z.string().optional(),
        Outputs: z.array(z.object({ OutputKey: z.string().optional(), OutputValue: z.string().optional() })).optional(),
      }),
    )
    .optional(),
});
const MetricStatisticsOutput = z.object({
  Datapoints: z
    .array(z.object({ Timestamp: z.union([z.date(), z.string()]).optional(), Maximum: z.number().optional() }))
    .optional(),
});
const QueueAttributesOutput = z.object({ Attributes: z.record(z.string(), z.string()).optional() });

/**
 * The ports over the AWS SDK v3 clients of {@link SDK_PACKAGES}, in `region` (the SDK's default chain when absent).
 */
export function sdkPorts(region: string | undefined, load: ModuleLoader = importByName): AwsSmokePorts {
  const clients: SdkClient[] = [];
  const open = async <M extends Record<string, Constructor>>(
    pkg: string,
    schema: z.ZodType<M>,
    clientName: keyof M,
  ): Promise<{ module: M; client: SdkClient }> => {
    let loaded: unknown;
    try {
      loaded = await load(pkg);
    } catch {
      throw new SkeinError(
        'smoke_dependency',
        `${pkg} is not installed: npm install ${pkg} (skein smoke --stack needs it)`,
      );
    }
    const parsed = schema.safeParse(loaded);
    if (!parsed.success) throw new SkeinError('smoke_dependency', `${pkg} does not look like an AWS SDK v3 client`);
    const Client = parsed.data[clientName];
    const client: unknown = Client ? new Client(region ? { region } : {}) : undefined;
    if (!isClient(client)) throw new SkeinError('smoke_dependency', `${pkg} gave no client`);
    clients.push(client);
    return { module: parsed.data, client };
  };
  const call = async <T>(what: string, client: SdkClient, command: unknown, schema: z.ZodType<T>): Promise<T> => {
    let raw: unknown;
    try {
      raw = await client.send(command);
    } catch (error) {
      throw new SkeinError('smoke_aws', `${what} failed: ${describeError(error)}`, { cause: error });
    }
    const parsed = schema.safeParse(raw);
    if (!parsed.success) throw new SkeinError('smoke_aws', `${what} answered something unexpected`);
    return parsed.data;
  };

  return {
    async stackOutputs(stackName) {
      const { module, client } = await open(SDK_PACKAGES.cloudformation, CloudFormationModule, 'CloudFormationClient');
      const out = await call(
        `DescribeStacks ${stackName}`,
        client,
        new module.DescribeStacksCommand({ StackName: stackName }),
        DescribeStacksOutput,
      );
      const stack = out.Stacks?.[0];
      if (stack === undefined) throw new SkeinError('smoke_aws', `no stack named ${stackName}`);
      const outputs: Record<string, string> = {};
      for (const o of stack.Outputs ?? []) if (o.OutputKey && o.OutputValue) outputs[o.OutputKey] = o.OutputValue;
      return outputs;
    },
    async iteratorAgeMs(streamName, sinceMs, untilMs) {
      const { module, client } = await open(SDK_PACKAGES.cloudwatch, CloudWatchModule, 'CloudWatchClient');
      const out = await call(
        'CloudWatch GetMetricStatistics',
        client,
        new module.GetMetricStatisticsCommand({
          Namespace: 'AWS/Kinesis',
          MetricName: 'GetRecords.IteratorAgeMilliseconds',
          Dimensions: [{ Name: 'StreamName', Value: streamName }],
          StartTime: new Date(sinceMs),
          EndTime: new Date(untilMs),
          Period: 60,
          Statistics: ['Maximum'],
        }),
        MetricStatisticsOutput,
      );
      const points = (out.Datapoints ?? [])
        .filter((p) => p.Maximum !== undefined)
        .sort((a, b) => new Date(a.Timestamp ?? 0).getTime() - new Date(b.Timestamp ?? 0).getTime());
      return points.at(-1)?.Maximum;
    },
    async queueDepth(queueUrl) {
      const { module, client } = await open(SDK_PACKAGES.sqs, SqsModule, 'SQSClient');
      const out = await call(
        'SQS GetQueueAttributes',
        client,
        new module.GetQueueAttributesCommand({
          QueueUrl: queueUrl,
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
        }),
        QueueAttributesOutput,
      );
      const a = out.Attributes ?? {};
      return Number(a.ApproximateNumberOfMessages ?? 0) + Number(a.ApproximateNumberOfMessagesNotVisible ?? 0);
    },
    close() {
      for (const c of clients) c.destroy();
    },
  };
}
