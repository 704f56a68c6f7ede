/**
 * Real daemons killed for real: after kill -9 in the middle of a pass, or a clean stop inside the
 * lease grace period, the restarted daemon's first pass collects every app at once instead of
 * skipping them as "leased elsewhere" for up to 10 minutes.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/connect.ts';
import type { Database } from '../../src/db/database.ts';
import { startSimulator, type Simulator } from '../../src/simulator/index.ts';
import { simulatorApps, simulatorEnv } from '../helpers/config.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { eventually, freePort, spawnCli, type CliProcess } from '../helpers/process.ts';

const APPS = [1400000821, 1400000822];
let t: TestDatabase;
let sim: Simulator;
beforeAll(async () => {
  t = await createTestDatabase();
  sim = await startSimulator({ apps: simulatorApps(APPS), minIntervalMs: 20 });
});
afterAll(async () => {
  await sim?.close();
  await t?.close();
});

function env(): Record<string, string> {
  const db: Record<string, string> = t.url
    ? { DATABASE_URL: t.url }
    : { PUSHLOSS_DATA_DIR: mkdtempSync(join(tmpdir(), 'pushloss-restart-')) };
  // Every pending bucket is due every pass (SETTLE_SCHEDULE=every-pass), so every pass fetches all 7 days of both apps: there is a pass to cut short.
  return {
    ...simulatorEnv(sim.url, APPS, { MIN_CALL_INTERVAL: '150ms', LOG_LEVEL: 'info', SETTLE_SCHEDULE: 'every-pass' }),
    ...db,
  };
}

/** The `apps` counts of the daemon's first finished pass. */
async function firstPass(daemon: CliProcess): Promise<Record<string, number>> {
  const line = await eventually(
    () =>
      daemon
        .stdout()
        .split('\n')
        .find((l) => l.includes('collection pass finished')),
    150_000, // a busy CI machine: starting PGlite alone can take many seconds
    'a finished pass',
  );
  return (JSON.parse(line) as { apps: Record<string, number> }).apps;
}

async function withDb(e: Record<string, string>, fn: (db: Kysely<Database>) => Promise<void>): Promise<void> {
  if (e.DATABASE_URL) return fn(t.db);
  const opened = await openDatabase({ dataDir: e.PUSHLOSS_DATA_DIR! });
  try {
    await fn(opened.db);
  } finally {
    await opened.close();
  }
}

async function healthz(port: number): Promise<{ status: number; text: string }> {
  const response = await fetch(`http://127.0.0.1:${port}/healthz`);
  return { status: response.status, text: await response.text() };
}

describe('a restarted daemon', () => {
  it('after kill -9 mid-pass, takes over the dead process leases and collects every app at once', async () => {
    sim.reset();
    const e = env();
    const first = spawnCli(['daemon'], { ...e, HTTP_PORT: String(await freePort()) });
    const okCalls = () =>
      first
        .stdout()
        .split('\n')
        .filter((l) => l.includes('"outcome":"ok"')).length;
    await eventually(() => (okCalls() >= 6 ? true : undefined), 150_000, 'six answered calls');
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    // Every bucket committed before the kill survived it (the last answer of each of the two apps
    // may not have been committed yet), whole: its facts are those of its archived answer.
    const answered = okCalls();
    await withDb(e, async (db) => {
      const stored = await db
        .selectFrom('bucket_state')
        .select('last_call_id')
        .where('last_call_id', 'is not', null)
        .execute();
      expect(stored.length).toBeGreaterThanOrEqual(answered - APPS.length);
      for (const { last_call_id } of stored) {
        const facts = await db.selectFrom('loss_fact').select('call_id').where('call_id', '=', last_call_id!).execute();
        expect(facts.length).toBeGreaterThan(0);
      }
    });

    const port = await freePort();
    const second = spawnCli(['daemon'], { ...e, HTTP_PORT: String(port) });
    try {
      expect(await firstPass(second)).toEqual({ collected: 2 });
      expect(second.stdout()).toContain('took over the lease of a process that is gone');
      expect(await healthz(port)).toEqual({ status: 200, text: 'ok\n' });
    } finally {
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
    }
  }, 400_000);

  it('after a clean stop, restarted within the 60 s grace period, does not skip its first pass', async () => {
    sim.reset();
    const e = env();
    const first = spawnCli(['daemon'], { ...e, HTTP_PORT: String(await freePort()) });
    expect(await firstPass(first)).toEqual({ collected: 2 });
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);

    const second = spawnCli(['daemon'], { ...e, HTTP_PORT: String(await freePort()) });
    try {
      expect(await firstPass(second)).toEqual({ collected: 2 });
    } finally {
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
    }
  }, 400_000);
});
