import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Duration, Stack, Validations } from 'aws-cdk-lib';
import { type IGrantable, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import {
  type ICommandHooks,
  NodejsFunction,
  type NodejsFunctionProps,
  OutputFormat,
} from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { type Bucket, CfnBucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { loadRules } from '../functions/shared/rules/load-rules.ts';
import { ConfigError } from '../schemas/errors.ts';

/** The repository root: entries, the lock file and the bundled rule files are found from here. */
export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Where Lambda unpacks the bundle (`LAMBDA_TASK_ROOT`): files copied next to `index.mjs` are under it. */
export const LAMBDA_TASK_ROOT = '/var/task';

/** The folder of rule files in the repository and in the bundle (`skein:rules` selects a file or folder in it). */
export const RULES_DIR = 'rules';
const RULE_FILE = /\.ya?ml$/;
const RULE_TEST_FILE = /\.test\.ya?ml$/;

/**
 * The ESM output needs `require` for CommonJS dependencies that esbuild bundles (they call `require('node:…')`),
 * and `__dirname`/`__filename` for those that locate files next to themselves. The names are prefixed so they cannot
 * clash with bundled code.
 */
export const ESM_CJS_SHIM = [
  "import { createRequire as __skeinCreateRequire } from 'node:module';",
  "import { fileURLToPath as __skeinFileURLToPath } from 'node:url';",
  "import { dirname as __skeinDirname } from 'node:path';",
  'const require = __skeinCreateRequire(import.meta.url);',
  'const __filename = __skeinFileURLToPath(import.meta.url);',
  'const __dirname = __skeinDirname(__filename);',
].join(' ');

/** A file copied into the bundle: repository path → path inside the bundle. */
export interface BundledFile {
  readonly from: string;
  readonly to: string;
}

/**
 * The rule files to deploy, repository-relative and sorted: `path` itself when it is a file, else every
 * `*.yaml`/`*.yml` under it except rule tests (`*.test.yaml`).
 */
export function ruleFiles(path: string = RULES_DIR, root: string = REPO_ROOT): string[] {
  const target = join(root, path);
  if (!existsSync(target)) throw new ConfigError(`skein:rules: ${path} does not exist`);
  if (statSync(target).isFile()) return [relative(root, target)];
  return readdirSync(target, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && RULE_FILE.test(e.name) && !RULE_TEST_FILE.test(e.name))
    .map((e) => relative(root, join(e.parentPath, e.name)))
    .sort();
}

/**
 * Loads every rule file the functions will bundle with the evaluator's own loader, synchronously (synthesis cannot
 * await): `cdk synth` fails on a rule file the evaluator would refuse at cold start.
 *
 * @throws ConfigError listing every problem as `file:line:column path: message`.
 */
export function validateRuleFiles(path: string = RULES_DIR, root: string = REPO_ROOT): BundledFile[] {
  const files = ruleFiles(path, root);
  const loaded = loadRules(files.map((path) => ({ path, text: readFileSync(join(root, path), 'utf8') })));
  if (!loaded.ok) {
    const list = loaded.errors.map((e) => `${e.file}:${e.line}:${e.column} ${e.path}: ${e.message}`).join('; ');
    throw new ConfigError(`rule files are invalid (${loaded.errors.length}), cdk synth stops: ${list}`);
  }
  return files.map((path) => ({ from: path, to: path }));
}

/** esbuild command hooks that copy files into the bundle after bundling (local esbuild or Docker alike). */
export function copyIntoBundle(files: readonly BundledFile[]): ICommandHooks {
  const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  return {
    beforeBundling: () => [],
    beforeInstall: () => [],
    afterBundling: (inputDir, outputDir) =>
      files.map((f) => {
        const target = `${outputDir}/${f.to}`;
        return `mkdir -p ${quote(target.slice(0, target.lastIndexOf('/')))} && cp ${quote(`${inputDir}/${f.from}`)} ${quote(target)}`;
      }),
  };
}

export interface SkeinFunctionProps {
  /** Repository-relative path of the handler module (exports `handler`). */
  readonly entry: string;
  readonly description: string;
  readonly memorySize: number;
  readonly timeout: Duration;
  readonly environment: Record<string, string>;
  /** Description of the function's role: what it may do. */
  readonly roleDescription: string;
  /** Files copied next to the bundle (rule files, the notifier configuration). */
  readonly files?: readonly BundledFile[];
  readonly reservedConcurrentExecutions?: number;
}

/**
 * A Skein Lambda function: an ESM bundle of `entry` on Node.js 24 / ARM64 with source maps, its own log group (one
 * month) and its own role, which may only write to that log group until the caller grants more. No managed
 * policies (AWSLambdaBasicExecutionRole would allow logs:* on every log group).
 */
export class SkeinFunction extends Construct {
  readonly function: NodejsFunction;
  readonly role: Role;
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: SkeinFunctionProps) {
    super(scope, id);
    this.logGroup = new LogGroup(this, 'Logs', { retention: RetentionDays.ONE_MONTH });
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: props.roleDescription,
    });
    this.logGroup.grantWrite(this.role);
    this.function = new NodejsFunction(this, 'Function', {
      ...skeinBundle(props.entry, props.files ?? []),
      description: props.description,
      memorySize: props.memorySize,
      timeout: props.timeout,
      role: this.role,
      logGroup: this.logGroup,
      ...(props.reservedConcurrentExecutions === undefined
        ? {}
        : { reservedConcurrentExecutions: props.reservedConcurrentExecutions }),
      environment: { ...props.environment, NODE_OPTIONS: '--enable-source-maps' },
    });
  }
}

/**
 * The `NodejsFunction` settings every Skein function shares: `entry` (repository-relative, exporting `handler`) bundled
 * by esbuild as minified ESM with source maps and our own AWS SDK, for Node.js 24 on ARM64, with `files` copied next
 * to the bundle. `SkeinFunction` uses it; so does the ingest function, which keeps its own construct ids.
 */
export function skeinBundle(
  entry: string,
  files: readonly BundledFile[],
): Pick<
  NodejsFunctionProps,
  'entry' | 'handler' | 'projectRoot' | 'depsLockFilePath' | 'runtime' | 'architecture' | 'bundling'
> {
  return {
    entry: `${REPO_ROOT}${entry}`,
    handler: 'handler',
    projectRoot: REPO_ROOT,
    depsLockFilePath: `${REPO_ROOT}package-lock.json`,
    runtime: Runtime.NODEJS_24_X,
    architecture: Architecture.ARM_64,
    bundling: {
      format: OutputFormat.ESM,
      mainFields: ['module', 'main'],
      banner: ESM_CJS_SHIM,
      minify: true,
      sourceMap: true,
      sourcesContent: false,
      // Bundle our own, tested AWS SDK version instead of the one the runtime ships (docs/decisions.md).
      bundleAwsSDK: true,
      forceDockerBundling: false,
      ...(files.length > 0 ? { commandHooks: copyIntoBundle(files) } : {}),
    },
  };
}

/** The CloudFormation resource of a bucket defined in this app (cdk-nag names findings by its logical id). */
export function bucketCfn(bucket: Bucket): CfnBucket {
  const child = bucket.node.defaultChild;
  if (!(child instanceof CfnBucket)) throw new Error(`bucket ${bucket.node.path} is not defined in this app`);
  return child;
}

/** S3 object actions a function may take under one prefix of the data bucket. */
export interface PrefixGrant {
  readonly prefix: string;
  readonly actions: readonly ('s3:GetObject' | 's3:PutObject' | 's3:DeleteObject')[];
  /** Also list keys under the prefix (ListBucket with an `s3:prefix` condition). */
  readonly list?: boolean;
}

/**
 * Grants object actions under prefixes of the data bucket, one statement per prefix, and acknowledges cdk-nag's
 * IAM5 finding on each `<prefix>*` resource with `reason`. Listing is granted on the bucket with an `s3:prefix`
 * condition. Listing matters beyond listing itself: without s3:ListBucket, S3 answers a GET of a missing key with
 * 403 instead of 404, and "no state yet" would look like a permission error.
 */
export function grantPrefixes(
  grantee: IGrantable & Construct,
  bucket: Bucket,
  grants: readonly PrefixGrant[],
  reason: (grant: PrefixGrant) => string,
): void {
  const bucketId = Stack.of(bucket).getLogicalId(bucketCfn(bucket));
  const listed = grants.filter((g) => g.list).map((g) => `${g.prefix}*`);
  if (listed.length > 0) {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'ListOwnPrefixes',
        actions: ['s3:ListBucket'],
        resources: [bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': listed } },
      }),
    );
  }
  for (const grant of grants) {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        actions: [...grant.actions],
        resources: [bucket.arnForObjects(`${grant.prefix}*`)],
      }),
    );
    Validations.of(grantee).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${grant.prefix}*]`,
      reason: reason(grant),
    });
  }
}
