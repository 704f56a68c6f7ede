import { defineConfig } from 'vitest/config';

/**
 * System tests whose checks hold on either engine: CI runs them on the local PostgreSQL with the
 * rest of the system suite and again on PGlite beside `npm test` (`.ci/run`). Prometheus,
 * Alertmanager and the daemon as processes (`alerts.e2e`); a month of collection passes against
 * the settling simulator (`bi.revisions`); `pushloss migrate down` as processes on a database
 * holding answers (`migrate.downGuard`: on PGlite each run opens the data directory).
 */
export const ON_BOTH_ENGINES = [
  'test/system/alerts.e2e.test.ts',
  'test/system/bi.revisions.test.ts',
  'test/system/migrate.downGuard.test.ts',
];

/**
 * The system tests, all of `test/system/`: real processes started, killed and restarted, outages,
 * a disk filling up, containers, the soak, the long end-to-end runs (the CLI, a browser, a month
 * of collection passes, alerting through Prometheus). They run with `npm run test:system` (CI
 * runs both suites); `npm test` runs the rest, whose files mirror `src/`.
 */
const SYSTEM_TESTS = ['test/system/**/*.test.ts'];

export default defineConfig({
  test: {
    // Chooses the test database once per run (TEST_DATABASE_URL, Docker, or PGlite) and prints it.
    globalSetup: ['./test/globalSetup.ts'],
    // Opening PGlite takes 3-5 s (an on-disk one ~6 s), and a migration run a few more; the
    // margin is for the shared 2-core machines, where a test may get half a core.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
    // Two files at a time on the 2-core machines (vitest's default is one fewer than the cores:
    // one). Most files wait on the simulator, a child process or the database for part of their
    // time, and each PGlite is single-threaded.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: {
          name: 'fast',
          include: ['test/**/*.test.ts'],
          exclude: SYSTEM_TESTS,
          // Each file in a fresh worker thread rather than a fresh process: V8 compiles PGlite's
          // WebAssembly once per process, not once per file (about 2 s of CPU per file saved).
          pool: 'threads',
        },
      },
      // One file at a time, each in a process of its own, as before: kills, outages and timed
      // recoveries should not compete with each other for the CPU. In one run with the fast
      // suite, they follow it.
      { extends: true, test: { name: 'system', include: SYSTEM_TESTS, fileParallelism: false } },
    ],
  },
});
