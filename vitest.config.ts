import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

// Packages export their TypeScript sources under the `vigil-source` condition, so tests run
// against the sources without a build; `node dist/...` uses the built JS.
const conditions = ['vigil-source', ...defaultServerConditions];

/** How every Vitest run here resolves packages (vitest.mutation.config.ts shares it). */
export const sourceResolution = {
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['vigil-source'] } },
};

export default defineConfig({
  ...sourceResolution,
  test: {
    reporters: ['default', './scripts/summary-reporter.ts'],
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['{libs,services,cli}/*/src/**/*.unit.spec.ts', 'cli/src/**/*.unit.spec.ts'] },
      },
      {
        extends: true,
        test: {
          name: 'int',
          include: ['{libs,services}/*/src/**/*.int.spec.ts', 'cli/src/**/*.int.spec.ts'],
          globalSetup: ['libs/testkit/src/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/**/*.e2e.spec.ts'],
          // Each file brings up a whole stack on the services' fixed ports: one at a time.
          fileParallelism: false,
          globalSetup: ['libs/testkit/src/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
