/**
 * SIGTERM during each phase of a real daemon's life (`pushloss daemon` as a child process, the
 * simulator on 127.0.0.1, PostgreSQL): still loading, start-up migrations, waiting for an app's
 * rate slot, an HTTP call in flight, a load transaction, idle between passes, and a call that
 * will not end (the 9.5 s hard exit). Each phase is held open on purpose (a lock the test holds, a reserved rate
 * slot, a slow or hanging answer), never by timing luck. After each: the exit code and time the
 * README promises, no call started after the signal, nothing half-written, the leases released
 * (or, after a hard exit, taken over at once), and a restart right after heals every bucket.
 */
import { fileURLToPath } from 'node:url';
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import type { Database } from '../../src/db/database.ts';
import { createMigrator } from '../../src/db/migrate.ts';
import { startSimulator, type Simulator } from '../../src/simulator/index.ts';
import { simulatorApps, simulatorEnv } from '../helpers/config.ts';
import { createTestDatabase, openSecondConnection, type TestDatabase } from '../helpers/database.ts';
import { eventually, freePort, spawnCli, type CliProcess } from '../helpers/process.ts';
import { clearCollected, expectFactsMatchArchive } from '../helpers/warehouse.ts';

const APP = 1400000901;
/** Kysely's PostgreSQL migration lock (kysely/dist/dialect/postgres/postgres-adapter.js). */
const KYSELY_MIGRATION_LOCK = '3853314791062309107';
/** The daemon's hard exit (src/cli/commands/daemon.ts) and a busy machine's margin. */
const HARD_EXIT_MS = 9_500;

// Several real processes share one PostgreSQL database with a test that holds its locks.
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
beforeEach(async () => {
  if (!serverMode) return;
  sim.reset();
  await clearCollected(t.db);
});

function env(url: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...simulatorEnv(sim.url, [APP], {
      MIN_CALL_INTERVAL: '150ms',
      LOG_LEVEL: 'info',
      // Every pending bucket is due every pass (SETTLE_SCHEDULE=every-pass), so every pass fetches all 7 days; one pass at start-up, then none.
      SETTLE_SCHEDULE: 'every-pass',
      COLLECT_CRON: '0 0 1 1 *',
      COLLECT_APIS: 'loss',
      ...extra,
    }),
    DATABASE_URL: url,
  };
}

async function daemon(e: Record<string, string>): Promise<CliProcess> {
  return spawnCli(['daemon'], { ...e, HTTP_PORT: String(await freePort()) });
}

const stdoutHas = (proc: CliProcess, text: string) => (proc.stdout().includes(text) ? true : undefined);

/** SIGTERM now; resolves with the exit code and how long it took. */
async function terminate(proc: CliProcess): Promise<{ code: number | string; ms: number; callsAtSignal: number }> {
  const callsAtSignal = sim.calls.length;
  const sentAt = Date.now();
  proc.child.kill('SIGTERM');
  const code = await proc.exited;
  return { code, ms: Date.now() - sentAt, callsAtSignal };
}

/** Backends of this database (not ours) waiting for a lock, e.g. behind one the test holds. */
async function lockWaiters(db: Kysely<Database>, query: RegExp): Promise<true | undefined> {
  const { rows } = await sql<{ query: string }>`
    select wait_event || ' ' || query as query from pg_stat_activity
     where datname = current_database() and pid <> pg_backend_pid() and wait_event_type = 'Lock'`.execute(db);
  return rows.some((r) => query.test(r.query)) ? true : undefined;
}

/** Holds a transaction open on a second connection after `statement`, until `release()`. */
async function holdInTransaction(target: TestDatabase, statement: string) {
  const second = (await openSecondConnection(target))!;
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let locked!: () => void;
  const holding = new Promise<void>((resolve) => (locked = resolve));
  const done = second.db.transaction().execute(async (trx) => {
    await sql.raw(statement).execute(trx);
    locked();
    await released;
  });
  await holding;
  return {
    async release() {
      release();
      await done;
      await second.close();
    },
  };
}

/**
 * Starts a daemon while the test holds `statement` in a transaction, waits until the daemon waits
 * behind it (`waiting` matches its query), sends SIGTERM, and releases the lock: after the signal
 * is seen (`release: 'after-signal'`), or only once the daemon has exited (`'after-exit'`).
 */
async function stopWhileLocked(
  target: TestDatabase,
  statement: string,
  waiting: RegExp,
  release: 'after-signal' | 'after-exit',
) {
  const hold = await holdInTransaction(target, statement);
  const proc = await daemon(env(target.url!));
  try {
    await eventually(() => lockWaiters(target.db, waiting), 60_000, `a query waiting: ${waiting}`);
    const stopping = terminate(proc);
    if (release === 'after-signal') {
      await eventually(() => stdoutHas(proc, 'stopping: finishing the call in flight'), 10_000, 'the signal');
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      await hold.release();
    }
    return { proc, ended: await stopping };
  } finally {
    if (release === 'after-exit' || proc.child.exitCode === null) await hold.release().catch(() => {});
  }
}

/** The promise of a clean stop: exit 0 before the hard exit, and no call started after the signal. */
function expectCleanStop(ended: { code: number | string; ms: number; callsAtSignal: number }) {
  expect(ended.code).toBe(0);
  expect(ended.ms).toBeLessThan(HARD_EXIT_MS);
  expect(sim.calls.slice(ended.callsAtSignal)).toHaveLength(0);
}

/** The hard exit: exit 1 at 9.5 s after the signal, said in one line, no call after the signal. */
function expectHardExit(proc: CliProcess, ended: { code: number | string; ms: number; callsAtSignal: number }) {
  expect(ended.code).toBe(1);
  expect(ended.ms).toBeGreaterThanOrEqual(HARD_EXIT_MS - 200);
  expect(ended.ms).toBeLessThan(HARD_EXIT_MS + 5_000);
  expect(proc.stdout()).toContain('shutdown took too long; exiting');
  expect(sim.calls.slice(ended.callsAtSignal)).toHaveLength(0);
}

async function liveLeases(db: Kysely<Database>): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    select count(*)::int as n from app_lease where expires_at > clock_timestamp()`.execute(db);
  return rows[0]!.n;
}

/** Every answered call is archived (the one in flight at the signal included). */
async function expectEveryAnswerArchived(db: Kysely<Database>) {
  const archived = await db
    .selectFrom('tim_call')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  expect(Number(archived.n)).toBe(sim.calls.filter((c) => c.httpStatus !== null).length);
}

/** A restart right after: its first pass collects the app, and every reachable day is stored whole. */
async function expectRestartHeals(db: Kysely<Database>, e: Record<string, string>, tookOver = false) {
  const next = await daemon(e);
  try {
    const line = await eventually(
      () =>
        next
          .stdout()
          .split('\n')
          .find((l) => l.includes('collection pass finished')),
      120_000,
      "the restarted daemon's first pass",
    );
    expect((JSON.parse(line) as { apps: unknown }).apps).toEqual({ collected: 1 });
    if (tookOver) expect(next.stdout()).toContain('took over the lease of a process that is gone');
  } finally {
    next.child.kill('SIGTERM');
    expect(await next.exited).toBe(0);
  }
  const states = await db
    .selectFrom('bucket_state')
    .select(['final', 'last_fetched_at', 'lost_at'])
    .where('sdkappid', '=', APP)
    .execute();
  expect(states).toHaveLength(7);
  for (const state of states) {
    expect(state.lost_at).toBeNull();
    expect(state.last_fetched_at).not.toBeNull(); // final, or pending with its latest answer
  }
  await expectFactsMatchArchive(db);
  expect(await liveLeases(db)).toBe(0);
}

describe.skipIf(!serverMode)('SIGTERM during each phase of a real daemon', () => {
  it('while pushloss is still loading (a container stopped as it starts): exit 0 before any pass, no call', async () => {
    // The process sends itself the SIGTERM from a module-loading hook, so it lands while pushloss
    // loads every time. It used to find no handler yet: death by signal, exit 143.
    const preload = fileURLToPath(new URL('../helpers/signalWhileLoading.ts', import.meta.url));
    const proc = await daemon({ ...env(t.url!), NODE_OPTIONS: `--import=${preload}` });
    expect(await proc.exited).toBe(0);
    expect(proc.stderr()).toBe('');
    expect(proc.stdout()).toContain('"signal":"SIGTERM","msg":"stopping: finishing the call in flight"');
    expect(proc.stdout()).toContain('daemon stopped before its first pass');
    expect(sim.calls).toHaveLength(0);
  }, 60_000);

  it('during start-up migrations: the migration in progress commits, no pass starts, exit 0', async () => {
    const fresh = await createTestDatabase({ migrate: false });
    try {
      await createMigrator(fresh.db).migrateTo('0005_push_statistics');
      // 0006 alters tim_call: it waits behind the test's lock, in the middle of migrating.
      const { proc, ended } = await stopWhileLocked(
        fresh,
        'lock table tim_call in access share mode',
        /alter table/i,
        'after-signal',
      );
      expectCleanStop(ended);
      expect(proc.stdout()).toContain('daemon stopped before its first pass');
      expect(sim.calls).toHaveLength(0);
      const applied = await createMigrator(fresh.db).getMigrations();
      expect(applied.every((m) => m.executedAt)).toBe(true);
      await expectRestartHeals(fresh.db, env(fresh.url!));
    } finally {
      await fresh.close();
    }
  }, 300_000);

  it('while a migration waits for a lock that is never released: hard exit 1 at 9.5 s, nothing half-migrated', async () => {
    const fresh = await createTestDatabase({ migrate: false });
    try {
      const { proc, ended } = await stopWhileLocked(
        fresh,
        `select pg_advisory_xact_lock(${KYSELY_MIGRATION_LOCK})`,
        /^advisory .*pg_advisory_lock/s,
        'after-exit',
      );
      expectHardExit(proc, ended);
      expect(sim.calls).toHaveLength(0);
      // The migrator had taken no step: the schema is as empty as before (each step is a transaction).
      const { rows } = await sql<{ n: number }>`
        select count(*)::int as n from information_schema.tables where table_name = 'tim_call'`.execute(fresh.db);
      expect(rows[0]!.n).toBe(0);
      await expectRestartHeals(fresh.db, env(fresh.url!));
    } finally {
      await fresh.close();
    }
  }, 300_000);

  it("while waiting for the app's rate slot: no call is made, exit 0 at once", async () => {
    // Another process holds the app's next slot an hour ahead.
    const { rows: held } = await sql<{ next_at: Date }>`
      insert into rate_slot (sdkappid, slot, next_at) values (${APP}, 'loss', clock_timestamp() + interval '1 hour')
      returning next_at`.execute(t.db);
    // The daemon reserves the slot after it, and waits for it.
    const reserved = async () => {
      const row = await t.db.selectFrom('rate_slot').select('next_at').where('sdkappid', '=', APP).executeTakeFirst();
      return row && row.next_at.getTime() > held[0]!.next_at.getTime() ? true : undefined;
    };
    const e = env(t.url!);
    const proc = await daemon(e);
    await eventually(reserved, 60_000, 'the daemon reserving the slot after the held one');
    expectCleanStop(await terminate(proc));
    expect(proc.stdout()).toContain('daemon stopped');
    expect(sim.calls).toHaveLength(0);
    expect(await liveLeases(t.db)).toBe(0);
    await t.db.deleteFrom('rate_slot').execute();
    await expectRestartHeals(t.db, e);
  }, 300_000);

  it('with an HTTP call in flight: that call finishes and commits, no other call, exit 0', async () => {
    sim.fail({ kind: 'slow', ms: 4_000 }, { sdkappid: APP });
    const e = env(t.url!);
    const proc = await daemon(e);
    await sim.waitForCalls(1);
    expectCleanStop(await terminate(proc));
    expect(sim.calls).toHaveLength(1);
    expect(sim.calls[0]!.httpStatus).toBe(200);
    // The answer that came after the signal is archived, and its bucket loaded from it.
    await expectEveryAnswerArchived(t.db);
    const states = await t.db.selectFrom('bucket_state').selectAll().execute();
    expect(states).toHaveLength(1);
    expect(states[0]!.last_call_id).not.toBeNull();
    await expectFactsMatchArchive(t.db);
    expect(await liveLeases(t.db)).toBe(0);
    await expectRestartHeals(t.db, e);
  }, 300_000);

  it('during a load transaction: the load commits once it can, no other call, exit 0', async () => {
    // The load's statement (archive + bookkeeping) waits behind the test's lock, in its transaction.
    const { ended } = await stopWhileLocked(
      t,
      'lock table bucket_state in share mode',
      /insert into feed_call/,
      'after-signal',
    );
    expectCleanStop(ended);
    await expectEveryAnswerArchived(t.db);
    const loaded = await t.db.selectFrom('bucket_state').select('last_call_id').execute();
    expect(loaded).toHaveLength(sim.calls.length);
    await expectFactsMatchArchive(t.db);
    expect(await liveLeases(t.db)).toBe(0);
    await expectRestartHeals(t.db, env(t.url!));
  }, 300_000);

  it('idle between passes: exit 0 at once, leases released', async () => {
    const e = env(t.url!);
    const proc = await daemon(e);
    await eventually(() => stdoutHas(proc, 'collection pass finished'), 120_000, 'the first pass');
    expectCleanStop(await terminate(proc));
    expect(await liveLeases(t.db)).toBe(0);
    await expectEveryAnswerArchived(t.db);
    await expectFactsMatchArchive(t.db);
    await expectRestartHeals(t.db, e);
  }, 300_000);

  it('with a call that does not answer: REQUEST_TIMEOUT (8 s at most) ends it before the hard exit, exit 0', async () => {
    sim.fail({ kind: 'timeout' }, { sdkappid: APP });
    const e = env(t.url!, { REQUEST_TIMEOUT: '8s' });
    const proc = await daemon(e);
    await sim.waitForCalls(1);
    expectCleanStop(await terminate(proc)); // and not retried
    // The call that got no answer is archived as such; no bucket was written from it.
    const archived = await t.db.selectFrom('tim_call').select(['http_status', 'outcome']).execute();
    expect(archived).toEqual([{ http_status: null, outcome: expect.not.stringMatching(/^ok$/) }]);
    expect(await t.db.selectFrom('bucket_state').select('sdkappid').execute()).toHaveLength(0);
    expect(await liveLeases(t.db)).toBe(0);
    await expectRestartHeals(t.db, e);
  }, 300_000);

  it('with a load that will not end: hard exit 1 at 9.5 s, the load rolled back whole, the restart takes over', async () => {
    const { proc, ended } = await stopWhileLocked(
      t,
      'lock table bucket_state in share mode',
      /insert into feed_call/,
      'after-exit',
    );
    expectHardExit(proc, ended);
    // The answer, its archive row and its bookkeeping were one transaction: none of them stayed.
    expect(sim.calls).toHaveLength(1);
    expect(await t.db.selectFrom('tim_call').select('id').execute()).toHaveLength(0);
    expect(await t.db.selectFrom('bucket_state').select('sdkappid').execute()).toHaveLength(0);
    expect(await t.db.selectFrom('loss_fact').select('sdkappid').execute()).toHaveLength(0);
    // Its lease was left behind by a process that is gone: the restart takes it over at once.
    expect(await liveLeases(t.db)).toBe(1);
    await expectRestartHeals(t.db, env(t.url!), true);
  }, 300_000);
});
