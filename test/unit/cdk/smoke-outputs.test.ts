import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, it } from 'vitest';
import { synthTemplate } from '../../support/cdk.ts';
import { functionDescribed } from './template-helpers.ts';

describe('stack outputs skein smoke reads', () => {
  let template: Template;

  beforeAll(() => {
    template = synthTemplate();
  });

  it('name the failed-batch queue and each function, so its hints can name their log groups', () => {
    template.hasOutput('FailedBatchQueueUrl', {});
    for (const [output, description] of [
      ['CompactFunctionName', 'Skein compact'],
      ['EvaluateFunctionName', 'Skein evaluate'],
    ] as const)
      template.hasOutput(output, { Value: { Ref: functionDescribed(template, description).id } });
    template.hasOutput('IngestFunctionName', {});
  });
});
