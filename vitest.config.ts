import { defineConfig } from 'vitest/config';

/**
 * Tests that spend minutes waiting for real minutes to end (records arrive after their minute, the evaluator waits
 * for the watermark): little CPU, so `npm run test:integration` runs them beside the other integration files.
 */
const REAL_MINUTES = ['test/integration/watermark-local.test.ts'];

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          exclude: REAL_MINUTES,
          testTimeout: 180_000,
          hookTimeout: 120_000,
          // The emulators share two cores: run integration files one after another.
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'real-minutes',
          include: REAL_MINUTES,
          testTimeout: 420_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
