import { defineConfig } from 'vitest/config';
import { sourceResolution } from './vitest.config.js';

const unitTier = ['{libs,services,cli}/*/src/**/*.unit.spec.ts', 'cli/src/**/*.unit.spec.ts'];

// What `pnpm mutation` runs for each mutant: the unit tier (the pure cores' tests), resolving
// packages as vitest.config.ts does. VIGIL_MUTATION_TESTS (comma-separated globs; default: the
// whole unit tier) narrows it to some specs: with the forest's hot loops instrumented, the anomaly
// detector's seeded tests, which fit forests too, took 4 min for one pass; the forest's own spec 48 s.
const only = process.env['VIGIL_MUTATION_TESTS']
  ?.split(',')
  .map((glob) => glob.trim())
  .filter((glob) => glob !== '');

export default defineConfig({
  ...sourceResolution,
  test: {
    // Stryker's per-test coverage instrumentation slows the seeded detector and forest tests past
    // vitest's 5 s default; a mutant that hangs is still cut off by Stryker's own timeout.
    testTimeout: 60_000,
    include: only && only.length > 0 ? only : unitTier,
  },
});
