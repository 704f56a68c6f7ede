import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.ts';
import type { AppPassResult } from '../../src/collect/collector.ts';
import { startDaemon } from '../../src/daemon/daemon.ts';
import { startSimulator, type Simulator } from '../../src/simulator/index.ts';
import { simulatorApps, simulatorConfig } from '../helpers/config.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { capturedLogger } from '../helpers/logs.ts';

const APPS = [1400000501];
let t: TestDatabase;
let sim: Simulator;

beforeAll(async () => {
  t = await createTestDatabase();
  sim = await startSimulator({ apps: simulatorApps(APPS), minIntervalMs: 25 });
});
afterAll(async () => {
  await sim?.close();
  await t?.close();
});

/** Starts a daemon whose passes the test runs; resolves with the start-up pass's app results. */
async function daemonWithStartUpPass() {
  const config = simulatorConfig(sim.url, APPS, { HTTP_PORT: '0' });
  const results = new Map<number, AppPassResult>();
  let run: (() => Promise<void>) | undefined;
  const daemon = await startDaemon({
    db: t.db,
    config,
    logger: capturedLogger('info').logger,
    clock: systemClock,
    schedule: (tick) => ((run = tick), { stop: () => {} }),
    observer: { appPassed: (sdkappid, result) => results.set(sdkappid, result) },
  });
  await run!(); // the start-up pass in progress
  return { daemon, results };
}

describe('a daemon restarted at once (found by the soak)', () => {
  it('collects in its first pass: a clean stop releases the leases its grace period would keep', async () => {
    const first = await daemonWithStartUpPass();
    expect(first.results.get(APPS[0]!)?.status).toBe('collected');
    await first.daemon.stop();
    const second = await daemonWithStartUpPass();
    try {
      expect(second.results.get(APPS[0]!)?.status).toBe('collected');
    } finally {
      await second.daemon.stop();
    }
  });
});
