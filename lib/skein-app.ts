import { App, type Environment, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { type SkeinSettings, settingsFromContext } from './settings.ts';
import { SkeinStack } from './skein-stack.ts';

export const STACK_NAME = 'Skein';

export interface SkeinAppOptions {
  /** CDK context (tests pass the `context` of cdk.json; the CLI passes it through the environment). */
  readonly context?: Record<string, unknown>;
  /** Settings that win over the context. */
  readonly settings?: Partial<SkeinSettings>;
  /** Account and region; omit for an environment-agnostic stack. */
  readonly env?: Environment;
  /** Run the cdk-nag AwsSolutions checks at synthesis (default true). */
  readonly nag?: boolean;
  /**
   * Run CDK's built-in CloudFormation schema and rule validation at synthesis (default true). Loading the schemas
   * takes about 10 s, so assertion tests that only read the template turn it off.
   */
  readonly cfnValidation?: boolean;
}

/**
 * The Skein CDK app: one stack, `Skein`, checked by cdk-nag's AwsSolutions pack. Synthesis fails on any
 * unacknowledged cdk-nag error.
 */
export function createSkeinApp(options: SkeinAppOptions = {}): { app: App; stack: SkeinStack } {
  const app = new App({
    ...(options.context ? { context: options.context } : {}),
    builtinCloudFormationValidation: options.cfnValidation ?? true,
  });
  const settings = settingsFromContext(app, options.settings);
  const stack = new SkeinStack(app, STACK_NAME, {
    settings,
    description: 'Skein: serverless telemetry pipeline (Kinesis → Lambda → Parquet in S3 → Athena)',
    ...(options.env ? { env: options.env } : {}),
  });
  if (options.nag ?? true) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}

/**
 * The deployment environment from CDK_DEFAULT_ACCOUNT and CDK_DEFAULT_REGION, or `undefined` (environment-agnostic).
 * Both or nothing: without credentials the CLI still sets a default region (us-east-1), and a template pinned to it
 * would be wrong everywhere else.
 */
export function environmentFrom(env: Readonly<Record<string, string | undefined>>): Environment | undefined {
  const account = env.CDK_DEFAULT_ACCOUNT;
  const region = env.CDK_DEFAULT_REGION;
  return account && region ? { account, region } : undefined;
}
