import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/connect.ts';
import type { Database } from '../../src/db/database.ts';
import { startSimulator, type Simulator } from '../../src/simulator/index.ts';
import { defaultLossData, finishedPart, startTimeOf, sumLossEntries } from '../helpers/simulator.ts';
import type { LossEntry, Window } from '../../src/tencent/loss.ts';
import { beijingDay, simulatorApps, simulatorEnv } from '../helpers/config.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { eventually, freePort, runCli, spawnCli } from '../helpers/process.ts';
import { clearCollected, expectFactsMatchArchive } from '../helpers/warehouse.ts';

/**
 * Real processes against the loopback simulator at Tencent's real 1 call/second, judged by the
 * simulator's own call log and by the rows in the database.
 */

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(() => t?.close());

/** How a child process reaches this file's database: the server, or an embedded data dir. */
function databaseEnv(): Record<string, string> {
  return t.url ? { DATABASE_URL: t.url } : { PUSHLOSS_DATA_DIR: mkdtempSync(join(tmpdir(), 'pushloss-proc-')) };
}
async function withProcessDb<T>(env: Record<string, string>, fn: (db: Kysely<Database>) => Promise<T>): Promise<T> {
  if (env.DATABASE_URL) return fn(t.db);
  const opened = await openDatabase({ dataDir: env.PUSHLOSS_DATA_DIR! });
  try {
    return await fn(opened.db);
  } finally {
    await opened.close();
  }
}

/** Start gaps per app, from the simulator's arrival times. */
function minGapPerApp(sim: Simulator): Map<number, number> {
  const gaps = new Map<number, number>();
  const byApp = Map.groupBy(sim.calls, (c) => c.sdkappid!);
  for (const [app, calls] of byApp) {
    const times = calls.map((c) => c.receivedAtMono).sort((a, b) => a - b);
    gaps.set(app, Math.min(...times.slice(1).map((time, i) => time - times[i]!)));
  }
  return gaps;
}

const day = beijingDay;

describe('processes sharing one rate cap', () => {
  const APPS = [1400000501, 1400000502];
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startSimulator({ apps: simulatorApps(APPS), minIntervalMs: 1000 });
  });
  afterAll(() => sim?.close());

  /** Processes at the production call interval, collecting loss only (a first statistics pass is
   * 30 more calls per app at the real rate; both APIs through one slot is statistics.collect's subject). */
  const realRateEnv = () => ({
    ...simulatorEnv(sim.url, APPS, {
      MIN_CALL_INTERVAL: '' /* the production default */,
      LOG_LEVEL: 'info',
      COLLECT_APIS: 'loss',
    }),
    ...databaseEnv(),
  });

  // Several processes need a PostgreSQL server: the embedded database is one process's alone.
  it('a daemon and a backfill started beside it never start two calls for one app less than 1 s apart, and the facts are exact', async ({
    skip,
  }) => {
    if (!t.url) skip('needs a PostgreSQL server (TEST_DATABASE_URL or Docker)');
    await clearCollected(t.db);
    const env = realRateEnv();
    const daemon = spawnCli(['daemon'], { ...env, HTTP_PORT: String(await freePort()) });
    try {
      const backfill = await runCli(['backfill', '--from', day(-3), '--to', day(0), '--app', String(APPS[0])], env);
      expect(backfill.stderr).toBe('');
      expect(backfill.code).toBe(0);
      // The daemon's start-up pass: 7 buckets per app.
      await eventually(
        () => (daemon.stdout().includes('collection pass finished') ? true : undefined),
        40_000,
        'daemon pass',
      );
      // Every reachable day fetched; the backfill's settled day may have spared the daemon a call.
      for (const app of APPS)
        expect(new Set(sim.calls.filter((c) => c.sdkappid === app).map((c) => startTimeOf(c))).size).toBe(7);
      expect(sim.calls.filter((c) => c.sdkappid === APPS[0]).length).toBeGreaterThanOrEqual(7 + 4 - 1);
      expect(sim.calls.every((c) => c.errorCode === 0)).toBe(true);
      for (const [app, gap] of minGapPerApp(sim)) expect(gap, `app ${app}`).toBeGreaterThanOrEqual(1000);
      await expectFactsMatchArchive(t.db);
    } finally {
      daemon.child.kill('SIGTERM');
      expect(await daemon.exited).toBe(0);
    }
  }, 90_000);

  it('two daemon replicas never collect the same bucket in the same pass', async ({ skip }) => {
    if (!t.url) skip('needs a PostgreSQL server (TEST_DATABASE_URL or Docker)');
    sim.reset();
    await clearCollected(t.db);
    const env = realRateEnv();
    const replicas = [
      spawnCli(['daemon'], { ...env, HTTP_PORT: String(await freePort()) }),
      spawnCli(['daemon'], { ...env, HTTP_PORT: String(await freePort()) }),
    ];
    try {
      await eventually(
        () => (replicas.every((r) => r.stdout().includes('collection pass finished')) ? true : undefined),
        40_000,
        'both passes',
      );
      // Answered calls: a call refused or cut short by a busy machine is retried by the same replica.
      const answered = sim.calls.filter((c) => c.errorCode === 0);
      const perWindow = Map.groupBy(answered, (c) => `${c.sdkappid} ${startTimeOf(c)}`);
      expect(perWindow.size).toBe(14);
      for (const [window, calls] of perWindow) expect(calls.length, window).toBe(1);
      for (const gap of minGapPerApp(sim).values()) expect(gap).toBeGreaterThanOrEqual(1000);
    } finally {
      for (const replica of replicas) replica.child.kill('SIGTERM');
      expect(await Promise.all(replicas.map((r) => r.exited))).toEqual([0, 0]);
    }
  }, 90_000);
});

describe('SIGTERM in the middle of a pass', () => {
  const APP = 1400000601;
  let sim: Simulator;
  beforeAll(async () => {
    // A cap well below the daemon's 150 ms: this test is about shutdown, not about the rate.
    sim = await startSimulator({ apps: simulatorApps([APP]), minIntervalMs: 20 });
  });
  afterAll(() => sim?.close());

  // The newer answer: every count times 10 plus 1, so old and new versions cannot be confused.
  const newer = (sdkappid: number, window: Window): LossEntry[] =>
    sumLossEntries(defaultLossData(sdkappid, window)).map((e) => ({ ...e, errCount: e.errCount * 10 + 1 }));

  it('exits 0 within 10 s, and leaves every bucket fully old or fully new', async () => {
    await clearCollected(t.db);
    // Every pending bucket is due every pass (SETTLE_SCHEDULE=every-pass), so the daemon's pass re-fetches all 7 days: there is a pass to cut short.
    const env = {
      ...simulatorEnv(sim.url, [APP], {
        MIN_CALL_INTERVAL: '150ms',
        LOG_LEVEL: 'info',
        SETTLE_SCHEDULE: 'every-pass',
        COLLECT_APIS: 'loss', // about loss's buckets; statistics go through the same loader rules
      }),
      ...databaseEnv(),
    };
    expect((await runCli(['collect'], env)).code).toBe(0);

    sim.setLossData(newer);
    // The 4th call is in flight, answering slowly (5 s), when SIGTERM arrives: it must still commit.
    sim.fail({ kind: 'slow', ms: 300 }, { times: 3 });
    sim.fail({ kind: 'slow', ms: 5_000 });
    sim.fail({ kind: 'slow', ms: 300 }, { times: 100 });
    const before = sim.calls.length;
    const daemon = spawnCli(['daemon'], { ...env, HTTP_PORT: String(await freePort()) });
    await sim.waitForCalls(before + 4);
    const sentAt = Date.now();
    daemon.child.kill('SIGTERM');
    expect(await daemon.exited).toBe(0);
    expect(Date.now() - sentAt).toBeLessThan(10_000);
    expect(daemon.stdout()).toContain('daemon stopped');

    await withProcessDb(env, async (db) => {
      await expectFactsMatchArchive(db);
      const versions = new Map<string, number>();
      const states = await db
        .selectFrom('bucket_state')
        .innerJoin('tim_call', (j) =>
          j
            .onRef('tim_call.sdkappid', '=', 'bucket_state.sdkappid')
            .onRef('tim_call.id', '=', 'bucket_state.last_call_id'),
        )
        .select(['bucket_state.bucket_start', 'bucket_state.bucket_end', 'tim_call.started_at'])
        .execute();
      for (const state of states) {
        const window = { start: state.bucket_start.getTime() / 1000, end: state.bucket_end.getTime() / 1000 };
        const truncated = finishedPart(window, state.started_at.getTime());
        const rows = await db
          .selectFrom('push_loss')
          .select(['stage', 'platform', 'err_code', 'err_count'])
          .where('sdkappid', '=', APP)
          .where('bucket_start', '=', state.bucket_start)
          .execute();
        const got = rows.map((r) => `${r.stage}|${r.platform}|${r.err_code}|${r.err_count}`).sort();
        const asOld = sumLossEntries(defaultLossData(APP, truncated))
          .map((e) => `${e.stage}|${e.platform}|${e.errCode}|${e.errCount}`)
          .sort();
        const asNew = newer(APP, truncated)
          .map((e) => `${e.stage}|${e.platform}|${e.errCode}|${e.errCount}`)
          .sort();
        // A window without a finished hour (just after midnight) is empty in both versions.
        const version =
          asOld.length === 0 && got.length === 0
            ? 'empty'
            : JSON.stringify(got) === JSON.stringify(asNew)
              ? 'new'
              : JSON.stringify(got) === JSON.stringify(asOld)
                ? 'old'
                : 'mixed';
        versions.set(version, (versions.get(version) ?? 0) + 1);
      }
      expect(versions.get('mixed')).toBeUndefined();
      // Every window the simulator answered after the first pass is new, the slow one in flight
      // at SIGTERM included; the rest are old, so the pass was really cut short.
      const answered = new Set(
        sim.calls
          .slice(before)
          .filter((c) => c.errorCode === 0)
          .map((c) => startTimeOf(c)),
      );
      expect(answered.size).toBeGreaterThanOrEqual(4);
      const [fresh, old, empty] = ['new', 'old', 'empty'].map((v) => versions.get(v) ?? 0) as [number, number, number];
      expect(fresh + old + empty).toBe(7);
      expect(fresh + empty).toBeGreaterThanOrEqual(answered.size);
      expect(fresh).toBeGreaterThanOrEqual(answered.size - empty);
      expect(old).toBeGreaterThanOrEqual(1);
      // Every answered call is archived, the one in flight at SIGTERM included.
      const archived = await db
        .selectFrom('tim_call')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      expect(Number(archived.n)).toBe(sim.calls.filter((c) => c.httpStatus !== null).length);
    });
  }, 60_000);
});
