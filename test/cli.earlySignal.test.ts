/**
 * A SIGTERM that reaches `pushloss daemon` while it is still loading (a container stopped right
 * after it started) is a clean stop: exit 0, no pass, no call; not Node's death by signal (143).
 * The signal is sent by the process itself, from a module-loading hook, so it lands while
 * pushloss loads every time, not by a race against a timer.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { startSimulator, type Simulator } from '../src/simulator/index.ts';
import { simulatorApps, simulatorEnv } from './helpers/config.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { freePort, runCli } from './helpers/process.ts';

const APP = 1400000902;
const PRELOAD = fileURLToPath(new URL('./helpers/signalWhileLoading.ts', import.meta.url));
// A real PostgreSQL: an embedded database's first open takes seconds on a busy machine.
const serverMode = inject('pushlossTestDb').mode === 'server';

let t: TestDatabase;
let sim: Simulator;
beforeAll(async () => {
  if (!serverMode) return;
  t = await createTestDatabase();
  sim = await startSimulator({ apps: simulatorApps([APP]), minIntervalMs: 20 });
});
afterAll(async () => {
  await sim?.close();
  await t?.close();
});

it.runIf(serverMode)(
  'a SIGTERM while pushloss loads: exit 0 before the first pass, no call made',
  async () => {
    const result = await runCli(['daemon'], {
      ...simulatorEnv(sim.url, [APP], { LOG_LEVEL: 'info', HTTP_PORT: String(await freePort()) }),
      DATABASE_URL: t.url!,
      NODE_OPTIONS: `--import=${PRELOAD}`,
    });
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain('"signal":"SIGTERM","msg":"stopping: finishing the call in flight"');
    expect(result.stdout).toContain('daemon stopped before its first pass');
    expect(sim.calls).toHaveLength(0);
  },
  30_000,
);
