import { defineConfig } from 'vitest/config';

/**
 * The system tests: real processes started, killed and restarted, outages, a disk filling up,
 * containers, the soak, long end-to-end runs of the CLI and a browser. They run with
 * `npm run test:system` (CI runs both suites); `npm test` runs the rest, in about two minutes.
 */
const SYSTEM_TESTS = [
  'test/cli.test.ts',
  'test/processes.test.ts',
  'test/faults.*.test.ts',
  'test/db.connectionLoss.test.ts',
  'test/soak.test.ts',
  'test/container.image.test.ts',
  'test/container.compose.test.ts',
  'test/report.html.test.ts',
];

export default defineConfig({
  test: {
    // Chooses the test database once per run (TEST_DATABASE_URL, Docker, or PGlite) and prints it.
    globalSetup: ['./test/globalSetup.ts'],
    // Opening PGlite takes 3-5 s (an on-disk one ~6 s), and a migration run a few more.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
    projects: [
      { extends: true, test: { name: 'fast', include: ['test/**/*.test.ts'], exclude: SYSTEM_TESTS } },
      { extends: true, test: { name: 'system', include: SYSTEM_TESTS } },
    ],
  },
});
