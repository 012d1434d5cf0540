import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

// What `pnpm mutation` runs for each mutant: the unit tier alone (the pure cores' tests), with the
// same source conditions as vitest.config.ts.
const conditions = ['vigil-source', ...defaultServerConditions];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['vigil-source'] } },
  test: {
    include: ['{libs,services,cli}/*/src/**/*.unit.spec.ts', 'cli/src/**/*.unit.spec.ts'],
  },
});
