/**
 * The daily rollup under the BI views (migration 0004) equals its facts, always: after loads,
 * re-fetches, vanished codes, late answers, renormalize, a change of bucket size, a failed load,
 * concurrent loads of one day, a kill -9 in the middle of a load, and after migrating data that
 * was loaded before the rollup existed.
 *
 * The reference is the 0003 definition over the facts, kept by 0004 as the `*_by_fact` views.
 */
import { lossFeed } from '../../src/feeds/loss/index.ts';
import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.ts';
import { migrateDown, migrateToLatest } from '../../src/db/migrate.ts';
import { startSimulator, type Simulator } from '../../src/simulator/index.ts';
import type { LossEntry, LossStage } from '../../src/tencent/loss.ts';
import { loadBucket } from '../../src/warehouse/load.ts';
import { renormalize } from '../../src/warehouse/renormalize.ts';
import { rebuildRollups } from '../../src/warehouse/rollup.ts';
import { refreshAllApps } from '../../src/feeds/loss/rollup.ts';
import { simulatorApps, simulatorEnv } from '../helpers/config.ts';
import { createTestDatabase, openSecondConnection, type TestDatabase } from '../helpers/database.ts';
import { dayBucket, hourBucket, load, loss, okCall } from '../helpers/fixtures.ts';
import { eventually, runCli, spawnCli } from '../helpers/process.ts';

const A = 1400000701;
const B = 1400000702;
const R: LossStage = 'ready_to_send';
const P: LossStage = 'post_send_delivered';

/** The rollup tables against the 0003 views over the facts, row for row. */
async function expectRollupExact(db: Kysely<Database>): Promise<void> {
  const q = async (query: ReturnType<typeof sql>) => (await query.execute(db)).rows;
  expect(
    await q(sql`select sdkappid, day::text, day_start, stage, coalesce(platform, -1) as platform, err_code, rank,
                       err_count, err_info, bucket_size
                  from push_loss_top_codes order by 1, 2, 4, 5, 6`),
  ).toEqual(
    await q(sql`select sdkappid, day::text, day_start, stage, coalesce(platform, -1) as platform, err_code, rank,
                       err_count, err_info, bucket_size
                  from push_loss_top_codes_by_fact order by 1, 2, 4, 5, 6`),
  );
  expect(
    await q(sql`select sdkappid, day::text, day_start, stage, platform, err_count, bucket_size
                  from loss_day_total order by 1, 2, 4, 5`),
  ).toEqual(
    await q(sql`select sdkappid, day::text, day_start, stage, coalesce(platform, -1) as platform, err_count, bucket_size
                  from push_loss_daily_by_fact order by 1, 2, 4, 5`),
  );
  // Per-code weeks (0006): sums of the days, and the day that counted the most (the latest on a tie).
  expect(
    await q(sql`select sdkappid, week_start::text, week_day_start, stage, platform, err_code, err_count,
                       best_count, best_day::text, err_info
                  from loss_code_week order by 1, 2, 4, 5, 6`),
  ).toEqual(
    await q(sql`select distinct on (f.sdkappid, f.week_start, f.stage, f.pf, f.err_code)
                       sdkappid, week_start::text, (week_start::timestamp at time zone push_loss_day_zone()) as week_day_start,
                       stage, pf as platform, err_code, (sum(err_count) over w)::int8 as err_count,
                       err_count as best_count, day::text as best_day, err_info
                  from (select *, coalesce(platform, -1) as pf, date_trunc('week', day::timestamp)::date as week_start
                          from push_loss_top_codes_by_fact) f
                window w as (partition by sdkappid, week_start, stage, pf, err_code)
                order by f.sdkappid, f.week_start, f.stage, f.pf, f.err_code, f.err_count desc, f.day desc`),
  );
  expect(
    await q(sql`select sdkappid, week_start::text, stage, err_code, err_info, err_count, prev_err_count
                  from loss_week where week_start <= (now() at time zone push_loss_day_zone())::date
                 order by 1, 2, 3, 4`),
  ).toEqual(
    await q(sql`select sdkappid, week_start::text, stage, err_code, err_info, err_count, prev_err_count
                  from push_loss_wow_by_fact order by 1, 2, 3, 4`),
  );
  await expectAllAppsExact(db);
}

/**
 * The days summed over all apps (0010) against the facts summed over apps: first as loads left
 * them (the changed days summed when read), then summed by a refresh.
 */
async function expectAllAppsExact(db: Kysely<Database>): Promise<void> {
  const q = async (query: ReturnType<typeof sql>) => (await query.execute(db)).rows;
  const reference = sql`
    select day::text, stage, coalesce(platform, -1) as platform, err_code, sum(err_count)::int8 as err_count,
           max(err_count)::int8 as best_count,
           (array_agg(err_info order by err_count desc, err_info collate "C" desc))[1] as err_info
      from push_loss_top_codes_by_fact group by 1, 2, 3, 4 order by 1, 2, 3, 4`;
  const allApps = sql`
    select day::text, stage, coalesce(platform, -1) as platform, err_code, err_count, best_count, err_info
      from push_loss_codes_all_apps order by 1, 2, 3, 4`;
  expect(await q(allApps)).toEqual(await q(reference));
  await refreshAllApps(db);
  expect(await q(sql`select count(*)::int8 as n from loss_all_stale`)).toEqual([{ n: 0 }]);
  expect(await q(allApps)).toEqual(await q(reference));
}

async function countRows(
  db: Kysely<Database>,
  table: 'loss_day' | 'loss_day_override',
  sdkappid: number,
): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    select count(*)::int8 as n from ${sql.table(table)} where sdkappid = ${sdkappid}`.execute(db);
  return rows[0]!.n;
}

async function rollupRows(db: Kysely<Database>): Promise<number> {
  const { rows } = await sql<{ n: number }>`select count(*)::int8 as n from loss_day_total`.execute(db);
  return rows[0]!.n;
}

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(() => t?.close());

describe('the rollup equals its facts', () => {
  it('after loads, re-fetches with new counts, vanished codes and empty answers', async () => {
    await load(t.db, A, dayBucket('2025-04-07'), '1d', [
      loss(R, null, '-1', 10, 'unknown error'),
      loss(R, null, '410', 5, 'token invalid'),
      loss(R, 3, '-1', 6, 'unknown error'),
      loss(P, null, '1001', 7, 'device offline'),
    ]);
    await load(t.db, A, dayBucket('2025-04-14'), '1d', [loss(R, null, '-1', 3, 'unknown error')]);
    await load(t.db, B, dayBucket('2025-04-14'), '1d', [loss(P, 4, '1001', 0, 'device offline')]);
    expect(await rollupRows(t.db)).toBeGreaterThan(0);
    await expectRollupExact(t.db);

    // Late data raises a count, a code vanishes, a new one appears.
    await load(t.db, A, dayBucket('2025-04-07'), '1d', [
      loss(R, null, '-1', 12, 'unknown error (later)'),
      loss(R, null, '20001', 1, 'quota exceeded'),
      loss(P, null, '1001', 7, 'device offline'),
    ]);
    await expectRollupExact(t.db);
    // An empty answer empties the day.
    await load(t.db, A, dayBucket('2025-04-14'), '1d', []);
    await expectRollupExact(t.db);
  });

  it('when an older answer arrives late (kept facts, kept rollup)', async () => {
    const bucket = dayBucket('2025-04-08');
    const newer = okCall(A, bucket);
    const older = okCall(A, bucket, { startedAt: newer.startedAt - 60_000 });
    await loadBucket(t.db, lossFeed, {
      sdkappid: A,
      bucket,
      bucketSize: '1d',
      call: newer,
      answer: [loss(R, null, '-1', 2, 'x')],
    });
    await loadBucket(t.db, lossFeed, {
      sdkappid: A,
      bucket,
      bucketSize: '1d',
      call: older,
      answer: [loss(R, null, '-1', 9, 'y')],
    });
    await expectRollupExact(t.db);
  });

  it('when hours are summed, a day bucket arrives over them, and the bucket size changes back', async () => {
    await load(t.db, B, hourBucket('2025-04-09', 0), '1h', [loss(R, null, '-1', 1, 'first hour')]);
    await load(t.db, B, hourBucket('2025-04-09', 1), '1h', [
      loss(R, null, '-1', 4, 'second hour'),
      loss(R, 3, '-1', 4, 'second hour'),
    ]);
    await expectRollupExact(t.db);
    // The day bucket hides its hours, even when it is empty.
    await load(t.db, B, dayBucket('2025-04-09'), '1d', []);
    await expectRollupExact(t.db);
    await load(t.db, B, dayBucket('2025-04-09'), '1d', [loss(R, null, '-1', 50, 'whole day')]);
    // Hours keep coming for the day (BUCKET_SIZE back to 1h): the day bucket still wins.
    await load(t.db, B, hourBucket('2025-04-09', 2), '1h', [loss(R, null, '-1', 7, 'third hour')]);
    await expectRollupExact(t.db);
    // Hours of a later day, with no day bucket: summed.
    await load(t.db, B, hourBucket('2025-04-10', 5), '1h', [loss(R, null, '-1', 7, 'an hour')]);
    await expectRollupExact(t.db);
  });

  it('a bucket-size switch: the freshest answers covering the day win, 1d to 1h and back (issue 17)', async () => {
    const D = 1400000704;
    const day = '2025-07-01';
    const at = (time: string) => Date.parse(`${day}T${time}+08:00`);
    const daily = async () =>
      (
        await sql<{ err_count: number; bucket_size: string }>`
          select err_count, bucket_size from push_loss_daily
           where sdkappid = ${D} and day = ${day} and stage = ${R} and platform is null`.execute(t.db)
      ).rows;
    // BUCKET_SIZE=1d: the day's bucket, fetched at noon, holds the morning.
    await load(t.db, D, dayBucket(day), '1d', [loss(R, null, '-1', 395, 'day')], { startedAt: at('12:00:00') });
    expect(await daily()).toEqual([{ err_count: 395, bucket_size: '1d' }]);
    // BUCKET_SIZE=1h from 13:30: the hours come one by one. Until they cover what the day bucket
    // did (midnight to its noon fetch), it stays; then the fresher hours are the day.
    for (let hour = 0; hour <= 13; hour++) {
      await load(t.db, D, hourBucket(day, hour), '1h', [loss(R, null, '-1', 30, `hour ${hour}`)], {
        startedAt: at('13:30:00') + hour * 1000,
      });
      if (hour < 12) expect(await daily()).toEqual([{ err_count: 395, bucket_size: '1d' }]);
    }
    expect(await daily()).toEqual([{ err_count: 420, bucket_size: '1h' }]);
    await expectRollupExact(t.db);
    // Back to BUCKET_SIZE=1d: its next fetch is the freshest.
    await load(t.db, D, dayBucket(day), '1d', [loss(R, null, '-1', 450, 'day')], { startedAt: at('15:00:00') });
    expect(await daily()).toEqual([{ err_count: 450, bucket_size: '1d' }]);
    await expectRollupExact(t.db);
  });

  it('day buckets are their own rollup; those of another zone are summed into the days they start in', async () => {
    const C = 1400000703;
    await load(t.db, C, dayBucket('2025-05-05'), '1d', [
      loss(R, null, '-1', 9, 'monday'),
      loss(R, 3, '-1', 9, 'monday'),
    ]);
    await load(t.db, C, dayBucket('2025-05-06'), '1d', [loss(P, null, '1001', 2, 'tuesday')]);
    await expectRollupExact(t.db);
    // The facts are the days: nothing is copied for them.
    expect(await countRows(t.db, 'loss_day', C)).toBe(0);
    expect(await countRows(t.db, 'loss_day_override', C)).toBe(0);

    // BUCKET_TZ becomes UTC: the Shanghai day buckets start at 16:00 UTC, inside UTC days, and
    // a UTC day bucket fetched since lands on a day that already holds one of them.
    await rebuildRollups(t.db, 'UTC');
    await load(
      t.db,
      C,
      { start: Date.parse('2025-05-05T00:00:00Z') / 1000, end: Date.parse('2025-05-06T00:00:00Z') / 1000 },
      '1d',
      [loss(R, null, '-1', 1, 'utc day')],
    );
    await t.db.transaction().execute(async (trx) => {
      await sql`set local pushloss.bucket_tz = 'UTC'`.execute(trx);
      await expectRollupExact(trx);
    });
    expect(await countRows(t.db, 'loss_day', C)).toBeGreaterThan(0);
    expect(await countRows(t.db, 'loss_day_override', C)).toBeGreaterThan(0);

    await rebuildRollups(t.db, 'Asia/Shanghai');
    // The rebuild sums every day over all apps itself: nothing is left marked after it.
    expect((await sql<{ n: number }>`select count(*)::int8 as n from loss_all_stale`.execute(t.db)).rows).toEqual([
      { n: 0 },
    ]);
    await expectRollupExact(t.db);
  });

  it('after renormalize changes every bucket', async () => {
    // Every archived body is read as if the parser had doubled the counts and dropped code 410.
    const body = (entries: LossEntry[]) => JSON.stringify(entries);
    await load(t.db, A, dayBucket('2025-04-21'), '1d', [loss(R, null, '410', 3, 'token invalid')], {
      body: body([loss(R, null, '-1', 4, 'rebuilt'), loss(R, 2, '-1', 4, 'rebuilt')]),
    });
    const report = await renormalize(t.db, {
      ...lossFeed,
      parseArchived: (text: string) => {
        try {
          return (JSON.parse(text) as LossEntry[]).map((e) => ({ ...e, errCount: e.errCount * 2 }));
        } catch {
          return []; // the fixtures' '{}' bodies: the bucket becomes empty
        }
      },
    });
    expect(report.failed).toEqual([]);
    expect(report.rebuilt).toBeGreaterThan(5);
    const { rows } = await sql<{ err_count: number }>`
      select err_count from push_loss_daily where sdkappid = ${A} and day = '2025-04-21' and platform is null`.execute(
      t.db,
    );
    expect(rows).toEqual([{ err_count: 8 }]);
    await expectRollupExact(t.db);
  });

  it('after a load that fails half-way (the previous facts and rollup stay)', async () => {
    await load(t.db, A, dayBucket('2025-04-22'), '1d', [loss(R, null, '-1', 5, 'before')]);
    await sql
      .raw(
        `create function pushloss_test_boom() returns trigger language plpgsql as $$
         begin raise exception 'simulated crash mid-load'; end $$`,
      )
      .execute(t.db);
    // Facts are written, then the rollup refresh fails: both must roll back together.
    await sql
      .raw(
        `create trigger pushloss_test_boom before insert on loss_day_total for each row execute function pushloss_test_boom()`,
      )
      .execute(t.db);
    try {
      await expect(load(t.db, A, dayBucket('2025-04-22'), '1d', [loss(R, null, '-1', 99, 'after')])).rejects.toThrow(
        /simulated crash/,
      );
    } finally {
      await sql.raw('drop trigger pushloss_test_boom on loss_day_total').execute(t.db);
      await sql.raw('drop function pushloss_test_boom()').execute(t.db);
    }
    const { rows } = await sql<{ err_count: number }>`
      select err_count from loss_fact where sdkappid = ${A} and bucket_start = ${new Date(dayBucket('2025-04-22').start * 1000)}`.execute(
      t.db,
    );
    expect(rows).toEqual([{ err_count: 5 }]);
    await expectRollupExact(t.db);
  });

  it('when two hours of one day are loaded at the same time by two connections', async (ctx) => {
    const second = await openSecondConnection(t);
    if (!second) ctx.skip(); // PGlite: one connection, loads cannot overlap
    try {
      for (let round = 0; round < 5; round++) {
        await Promise.all(
          Array.from({ length: 8 }, (_, hour) =>
            load(hour % 2 ? second!.db : t.db, A, hourBucket('2025-05-06', hour), '1h', [
              loss(R, null, '-1', round * 10 + hour, `hour ${hour}`),
              loss(R, 2, String(hour), 1, 'per hour'),
            ]),
          ),
        );
      }
      await expectRollupExact(t.db);
    } finally {
      await second?.close();
    }
  });
});

describe('migration 0004 builds the rollup for data already there', () => {
  it('data loaded before 0004, then migrated: the rollup equals the facts', async () => {
    const own = await createTestDatabase();
    try {
      await load(own.db, A, dayBucket('2025-06-02'), '1d', [loss(R, null, '-1', 3, 'a'), loss(P, 1, '410', 2, 'b')]);
      await load(own.db, A, hourBucket('2025-06-03', 4), '1h', [loss(R, null, '-1', 1, 'c')]);
      await load(own.db, B, dayBucket('2025-06-09'), '1d', [loss(R, null, '-2', 8, 'd')]);
      // Down through 0004 (later migrations go first).
      let step;
      do step = await migrateDown(own.db);
      while (step.migrated[0]?.name !== '0004_daily_rollup' && step.migrated.length > 0);
      expect(step).toEqual({ migrated: [{ name: '0004_daily_rollup', direction: 'Down' }] });
      // At 0003 the facts change, with no rollup to maintain.
      await sql`delete from loss_fact where sdkappid = ${B}`.execute(own.db);
      await migrateToLatest(own.db);
      expect(await rollupRows(own.db)).toBe(3);
      await expectRollupExact(own.db);
    } finally {
      await own.close();
    }
    // Every migration down to 0003 and up again: on the embedded database, under load, slow.
  }, 120_000);
});

describe('the days summed over all apps (0010)', () => {
  const staleMarks = async (db: Kysely<Database>) =>
    (
      await sql<{
        sdkappid: number;
        day: string;
      }>`select sdkappid, day::text from loss_all_stale order by 1, 2`.execute(db)
    ).rows;

  it('keep the mark of a load still in flight while they are summed, new or re-marked, and stay exact', async (ctx) => {
    const second = await openSecondConnection(t);
    if (!second) ctx.skip(); // PGlite: one connection, a load and a refresh cannot overlap
    try {
      await load(t.db, B, dayBucket('2025-06-02'), '1d', [loss(R, null, '-1', 1, 'first')]);
      await refreshAllApps(t.db);
      // The same day again (its mark re-made: the refresh must skip the locked row) and a new
      // day (its mark not visible yet), each in a transaction still open while the refresh runs.
      for (const [day, count] of [
        ['2025-06-02', 2],
        ['2025-06-03', 3],
      ] as const) {
        await load(t.db, B, dayBucket(day), '1d', [loss(R, null, '-1', count, 'earlier')]);
        await t.db.transaction().execute(async (trx) => {
          await load(trx, B, dayBucket(day), '1d', [loss(R, null, '-1', count * 10, 'in flight')]);
          await refreshAllApps(second!.db); // does not wait for the load
        });
        expect(await staleMarks(t.db)).toEqual([{ sdkappid: B, day }]);
        await expectAllAppsExact(t.db);
      }
      // The other order: a refresh has taken the day's mark and not committed; a load of that day
      // waits for it, then marks the day again.
      await load(t.db, B, dayBucket('2025-06-04'), '1d', [loss(R, null, '-1', 4, 'before')]);
      let loading: Promise<void> | undefined;
      await second!.db.transaction().execute(async (trx) => {
        expect(await refreshAllApps(trx)).toBe(1);
        loading = load(t.db, B, dayBucket('2025-06-04'), '1d', [loss(R, null, '-1', 40, 'after')]);
        await eventually(async () => {
          const { rows } = await sql`
            select 1 from pg_stat_activity
             where datname = current_database() and wait_event_type = 'Lock' and query like '%push_loss_rollup_refresh%'`.execute(
            t.db,
          );
          return rows.length > 0 ? true : undefined;
        });
      });
      await loading;
      expect(await staleMarks(t.db)).toEqual([{ sdkappid: B, day: '2025-06-04' }]);
      await expectAllAppsExact(t.db);
    } finally {
      await second?.close();
    }
  });

  it('go stale if a load does not mark its day (the exactness check catches it)', async () => {
    await load(t.db, B, dayBucket('2025-06-09'), '1d', [loss(R, null, '-1', 5, 'summed')]);
    await refreshAllApps(t.db);
    await t.db
      .transaction()
      .execute(async (trx) => {
        await sql`drop trigger loss_all_stale_on_insert on loss_day_total`.execute(trx);
        await sql`drop trigger loss_all_stale_on_delete on loss_day_total`.execute(trx);
        await load(trx, B, dayBucket('2025-06-09'), '1d', [loss(R, null, '-1', 50, 'not marked')]);
        await expect(expectAllAppsExact(trx)).rejects.toThrow();
        throw new Error('roll back');
      })
      .catch((error: Error) => expect(error.message).toBe('roll back'));
    await expectAllAppsExact(t.db);
  });
});

describe('kill -9 in the middle of a load', () => {
  const APP = 1400000711;
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startSimulator({ apps: simulatorApps([APP]), minIntervalMs: 20 });
  });
  afterAll(() => sim?.close());

  it('leaves the facts and the rollup of the previous version, exact; the next pass makes them new', async (ctx) => {
    if (!t.url) ctx.skip(); // the process and the test share the database: needs a server
    const env = {
      ...simulatorEnv(sim.url, [APP], { MIN_CALL_INTERVAL: '60ms', SETTLE_SCHEDULE: 'every-pass' }),
      DATABASE_URL: t.url!,
    };
    expect((await runCli(['collect'], env)).code).toBe(0);
    await expectRollupExact(t.db);
    const before = await sql`select * from loss_fact where sdkappid = ${APP} order by 2, 4, 5, 6, 7`.execute(t.db);

    sim.setLossData((_, window) => [loss(R, null, '-1', window.start % 1000, 'newer answer')]);
    // Hold the app's rollup lock (its coordination_lock row): the collector's first load writes its
    // facts, then waits in push_loss_rollup_refresh, inside its transaction, until we kill it there.
    await t.db.connection().execute(async (conn) => {
      await sql`begin`.execute(conn);
      await sql`select coordination_lock(array[${`loss rollup ${APP}`}])`.execute(conn);
      const child = spawnCli(['collect'], env);
      try {
        await eventually(
          async () => {
            const { rows } = await sql`
            select 1 from pg_stat_activity
             where datname = current_database() and wait_event_type = 'Lock'
               and query like '%push_loss_rollup_refresh%'`.execute(t.db); // not conn: its transaction sees a snapshot
            return rows.length > 0 ? true : undefined;
          },
          30_000,
          'a load waiting on the rollup lock',
        );
        child.child.kill('SIGKILL');
        expect(await child.exited).toBe('SIGKILL');
      } finally {
        await sql`rollback`.execute(conn);
      }
    });
    // The server rolls the dead client's transaction back once its backend notices.
    await eventually(
      async () => {
        const { rows } = await sql`
        select 1 from pg_stat_activity where datname = current_database() and application_name like 'pushloss%'
           and pid <> pg_backend_pid() and state <> 'idle'`.execute(t.db);
        return rows.length === 0 ? true : undefined;
      },
      30_000,
      'the killed process to be gone',
    );
    expect(
      (await sql`select * from loss_fact where sdkappid = ${APP} order by 2, 4, 5, 6, 7`.execute(t.db)).rows,
    ).toEqual(before.rows);
    await expectRollupExact(t.db);

    // The killed process still holds the app's lease (it expires by itself after 10 minutes).
    await sql`delete from app_lease where sdkappid = ${APP}`.execute(t.db);
    expect((await runCli(['collect'], env)).code).toBe(0);
    const { rows } = await sql<{ err_info: string }>`
      select distinct err_info from loss_fact where sdkappid = ${APP}`.execute(t.db);
    expect(rows).toEqual([{ err_info: 'newer answer' }]);
    await expectRollupExact(t.db);
  }, 90_000);
});
