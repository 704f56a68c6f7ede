/**
 * PostgreSQL stopped for a minute in the middle of a pass, on a throwaway cluster of its own
 * (pg_createcluster on a free port; never the shared server): the daemon keeps running, /healthz
 * turns 503 and back to 200, and the next pass heals everything. Needs root and the Debian
 * PostgreSQL tools; skipped elsewhere. FAULT_PG_STOP_SECONDS shortens the outage (default 60).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../src/simulator/index.ts';
import { simulatorApps, simulatorEnv } from '../helpers/config.ts';
import { eventually, freePort, spawnCli } from '../helpers/process.ts';

const APPS = [1400000841, 1400000842];
const VERSION = '15';
const CLUSTER = `fault${process.pid}`;
const STOP_SECONDS = Number(process.env.FAULT_PG_STOP_SECONDS ?? 60);
const available = process.getuid?.() === 0 && existsSync('/usr/bin/pg_createcluster');
let port = 0;
let sim: Simulator;

const ctl = (action: 'start' | 'stop') => execFileSync('pg_ctlcluster', [VERSION, CLUSTER, action, '-m', 'fast']);

beforeAll(async () => {
  sim = await startSimulator({ apps: simulatorApps(APPS), minIntervalMs: 20 });
  if (!available) return;
  port = await freePort();
  execFileSync('pg_createcluster', [VERSION, CLUSTER, '--port', String(port), '--start', '--', '--auth=trust'], {
    stdio: 'ignore',
  });
  const admin = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
  await admin.connect();
  await admin.query('create database pushloss');
  await admin.end();
}, 120_000);
afterAll(async () => {
  await sim?.close();
  if (available) execFileSync('pg_dropcluster', [VERSION, CLUSTER, '--stop'], { stdio: 'ignore' });
});

async function healthz(httpPort: number): Promise<number> {
  return (await fetch(`http://127.0.0.1:${httpPort}/healthz`).catch(() => ({ status: 0 }))).status;
}

describe('PostgreSQL stopped in the middle of a pass', () => {
  it('the daemon keeps running, /healthz goes 503 and back to 200, and the next pass heals everything', async ({
    skip,
  }) => {
    if (!available) skip('needs root and pg_createcluster');
    const httpPort = await freePort();
    const daemon = spawnCli(['daemon'], {
      ...simulatorEnv(sim.url, APPS, {
        MIN_CALL_INTERVAL: '300ms',
        LOG_LEVEL: 'info',
        SETTLE_SCHEDULE: 'every-pass',
        COLLECT_CRON: '*/10 * * * * *',
      }),
      DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/pushloss`,
      HTTP_PORT: String(httpPort),
    });
    try {
      await sim.waitForCalls(3); // the start-up pass is under way
      ctl('stop');
      const stoppedAt = Date.now();
      await eventually(async () => ((await healthz(httpPort)) === 503 ? true : undefined), 60_000, '503');
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, STOP_SECONDS * 1000 - (Date.now() - stoppedAt))));
      expect(daemon.child.exitCode).toBeNull(); // still running
      ctl('start');
      await eventually(async () => ((await healthz(httpPort)) === 200 ? true : undefined), 120_000, '200 again');

      // Every app has all 7 days of the horizon loaded, each with the facts of its last answer.
      const client = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/pushloss` });
      await client.connect();
      try {
        const { rows } = await client.query<{ sdkappid: string; buckets: string; without_facts: string }>(
          `select s.sdkappid, count(*) as buckets,
                  count(*) filter (where not exists (select 1 from loss_fact f where f.call_id = s.last_call_id)) as without_facts
             from bucket_state s where s.last_call_id is not null group by s.sdkappid order by 1`,
        );
        expect(rows.map((r) => [Number(r.sdkappid), Number(r.buckets), Number(r.without_facts)])).toEqual(
          APPS.map((app) => [app, 7, 0]),
        );
      } finally {
        await client.end();
      }
      expect(daemon.stdout()).toContain('collection pass failed');
    } finally {
      daemon.child.kill('SIGTERM');
      expect(await daemon.exited).toBe(0);
    }
  }, 400_000);
});
