import { defineConfig } from 'vitest/config';
import { sourceResolution } from './vitest.config.js';

// What `pnpm mutation` runs for each mutant: the unit tier alone (the pure cores' tests),
// resolving packages as vitest.config.ts does.
export default defineConfig({
  ...sourceResolution,
  test: {
    include: ['{libs,services,cli}/*/src/**/*.unit.spec.ts', 'cli/src/**/*.unit.spec.ts'],
  },
});
