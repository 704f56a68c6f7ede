/**
 * Leases left behind by a process that is gone (kill -9, or a clean stop within the grace
 * period) are taken over at once; a live holder is still respected.
 */
import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createCollector } from '../../src/collect/collector.ts';
import { holderIsGone } from '../../src/collect/leases.ts';
import type { Config } from '../../src/config/config.ts';
import { startSimulator, type Simulator } from '../../src/simulator/index.ts';
import { manualClock } from '../helpers/clock.ts';
import { simulatorApps, simulatorConfig } from '../helpers/config.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { capturedLogger } from '../helpers/logs.ts';
import { clearCollected } from '../helpers/warehouse.ts';

const APP = 1400000811;
const NOW = Date.UTC(2026, 10, 26, 4);

let t: TestDatabase;
let sim: Simulator;
let config: Config;
const clock = manualClock(NOW);

/** The pid of a process that has exited (and so is not alive). */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(child.stdout);
}

beforeAll(async () => {
  t = await createTestDatabase();
  sim = await startSimulator({ apps: simulatorApps([APP]), clock, minIntervalMs: 25 });
  config = simulatorConfig(sim.url, [APP], { COLLECT_APIS: 'loss' }); // counts loss's 7 buckets
});
afterAll(async () => {
  await sim?.close();
  await t?.close();
});
beforeEach(async () => {
  sim.reset();
  await clearCollected(t.db);
});

async function leaseHeldBy(holder: string) {
  await t.db
    .insertInto('app_lease')
    .values({ sdkappid: APP, holder, expires_at: new Date(Date.now() + 10 * 60_000) })
    .execute();
  const log = capturedLogger();
  const result = await createCollector({ db: t.db, config, logger: log.logger, clock }).collectApp(config.apps[0]!);
  return { result, log: log.text() };
}

describe('a lease left by a process that is gone', () => {
  it('same host, dead pid: taken over at once', async () => {
    const holder = `${hostname()}:${deadPid()}:a1b2c3`;
    expect(holderIsGone(holder)).toBe(true);
    const { result, log } = await leaseHeldBy(holder);
    expect(result).toMatchObject({ status: 'collected', fetched: 7 });
    expect(log).toContain('took over the lease of a process that is gone');
  });

  it("same host, this process's pid but not one of its holders (a restarted container): taken over", async () => {
    const { result } = await leaseHeldBy(`${hostname()}:${process.pid}:ffffff`);
    expect(result).toMatchObject({ status: 'collected', fetched: 7 });
  });

  it('a live holder, or one on another host, is respected', async () => {
    const live = `${hostname()}:${process.ppid}:a1b2c3`;
    expect(holderIsGone(live)).toBe(false);
    expect((await leaseHeldBy(live)).result).toEqual({ status: 'leased_elsewhere', heldBy: live });
    await t.db.deleteFrom('app_lease').execute();
    const remote = `some-other-host:${deadPid()}:a1b2c3`;
    expect((await leaseHeldBy(remote)).result).toEqual({ status: 'leased_elsewhere', heldBy: remote });
    expect(sim.calls).toHaveLength(0);
  });
});
