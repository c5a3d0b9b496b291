import { readFileSync } from 'node:fs';
import { Template } from 'aws-cdk-lib/assertions';
import { createSkeinApp } from '../../lib/skein-app.ts';

/** The context of cdk.json (feature flags and settings), as `cdk synth` passes it to the app. */
export const CDK_CONTEXT: Record<string, unknown> = JSON.parse(
  readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8'),
).context;

/**
 * The Skein stack's template with `context` on top of cdk.json's. The template, not the bundle, is under test: esbuild
 * and the CloudFormation schema validation are skipped (nag.test.ts synthesises the app as `cdk synth` does, with both).
 */
export function synthTemplate(context: Record<string, unknown> = {}): Template {
  const { stack } = createSkeinApp({
    context: { ...CDK_CONTEXT, 'aws:cdk:bundling-stacks': [], ...context },
    nag: false,
    cfnValidation: false,
  });
  return Template.fromStack(stack);
}
