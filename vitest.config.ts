import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Chooses the test database once per run (TEST_DATABASE_URL, Docker, or PGlite) and prints it.
    globalSetup: ['./test/globalSetup.ts'],
    // Opening PGlite takes 3-5 s (an on-disk one ~6 s), and a migration run a few more.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
  },
});
