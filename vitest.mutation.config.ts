import { defineConfig } from 'vitest/config';
import { sourceResolution } from './vitest.config.js';

// What `pnpm mutation` runs for each mutant: the unit tier alone (the pure cores' tests),
// resolving packages as vitest.config.ts does.
export default defineConfig({
  ...sourceResolution,
  test: {
    // Stryker's per-test coverage instrumentation slows the seeded detector and forest tests past
    // vitest's 5 s default; a mutant that hangs is still cut off by Stryker's own timeout.
    testTimeout: 60_000,
    include: ['{libs,services,cli}/*/src/**/*.unit.spec.ts', 'cli/src/**/*.unit.spec.ts'],
  },
});
