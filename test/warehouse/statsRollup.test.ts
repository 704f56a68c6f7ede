/**
 * The statistics daily rollup (`stats_day`, migration 0008) equals its facts, always: after loads,
 * re-fetches with new counts, a vanished channel, unknown counts, hours hidden by a day bucket, a
 * late older answer, renormalize, concurrent loads of one day, a change of zone, and after
 * migrating statistics loaded before the rollup existed.
 *
 * The reference is 0005's definition over the facts, kept by 0008 as `push_stats_daily_by_fact`.
 */
import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.ts';
import { syncDayZone } from '../../src/warehouse/dayZone.ts';
import { migrateDown, migrateToLatest } from '../../src/db/migrate.ts';
import { toStatsResponseBody } from '../../src/simulator/statsData.ts';
import type { PushStatistics } from '../../src/tencent/statistics.ts';
import type { Window } from '../../src/tencent/loss.ts';
import { loadBucket } from '../../src/warehouse/load.ts';
import { statisticsFeed } from '../../src/feeds/statistics/index.ts';
import { renormalize } from '../../src/warehouse/renormalize.ts';
import { createTestDatabase, openSecondConnection, type TestDatabase } from '../helpers/database.ts';
import { dayBucket, hourBucket, loadStats, okCall } from '../helpers/fixtures.ts';

const A = 1400000801;
const B = 1400000802;

const COLUMNS = sql`sdkappid, day::text, day_start, total_count, sent_count, delivered_count, click_count, bucket_size`;

/** `stats_day` against 0005's view over the facts, row for row; and push_stats_daily reads it. */
async function expectStatsRollupExact(db: Kysely<Database>): Promise<void> {
  const q = async (query: ReturnType<typeof sql>) => (await query.execute(db)).rows;
  const byFact = await q(
    sql`select ${COLUMNS}, coalesce(platform, -1) as platform from push_stats_daily_by_fact order by 1, 2, 9`,
  );
  expect(await q(sql`select ${COLUMNS}, platform from stats_day order by 1, 2, 9`)).toEqual(byFact);
  expect(
    await q(sql`select ${COLUMNS}, coalesce(platform, -1) as platform from push_stats_daily order by 1, 2, 9`),
  ).toEqual(byFact);
}

async function rollupRows(db: Kysely<Database>): Promise<number> {
  const { rows } = await sql<{ n: number }>`select count(*)::int8 as n from stats_day`.execute(db);
  return rows[0]!.n;
}

/** Loads statistics whose archived body says `archived` (what renormalize will read back). */
async function loadWithBody(
  db: Kysely<Database>,
  sdkappid: number,
  bucket: Window,
  answer: PushStatistics,
  archived: PushStatistics,
): Promise<void> {
  await loadBucket(db, statisticsFeed, {
    sdkappid,
    bucket,
    bucketSize: '1d',
    call: okCall(sdkappid, bucket, { body: toStatsResponseBody(archived) }),
    answer,
  });
}

const counts = (total: number, sent: number, delivered: number, click: number) => ({ total, sent, delivered, click });

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(() => t?.close());

describe('stats_day equals its facts', () => {
  it('after loads, re-fetches with new counts, a vanished channel and unknown counts', async () => {
    await loadStats(t.db, A, dayBucket('2025-04-07'), '1d', [100, 90, 80, 5], {
      3: [60, 55, 50, 3],
      7: [40, 35, null, null],
    });
    await loadStats(t.db, B, dayBucket('2025-04-07'), '1d', [10, 10, 10, 1]);
    expect(await rollupRows(t.db)).toBe(4);
    await expectStatsRollupExact(t.db);

    // Late data raises the counts; channel 7 vanishes, channel 4 appears.
    await loadStats(t.db, A, dayBucket('2025-04-07'), '1d', [120, 100, 90, 6], {
      3: [70, 60, 55, 4],
      4: [50, 40, 0, 0],
    });
    await expectStatsRollupExact(t.db);
    const { rows } = await sql<{ platform: number }>`
      select platform from stats_day where sdkappid = ${A} order by 1`.execute(t.db);
    expect(rows.map((r) => r.platform)).toEqual([-1, 3, 4]);
  });

  it('when hours are summed (one without ClickCount), then a day bucket hides them', async () => {
    await loadStats(t.db, B, hourBucket('2025-04-09', 0), '1h', [5, 5, 5, null], { 3: [2, 2, 2, 1] });
    await loadStats(t.db, B, hourBucket('2025-04-09', 1), '1h', [7, 6, 6, 2], { 3: [3, 3, 3, 1] });
    await expectStatsRollupExact(t.db);
    const hours = await sql`
      select total_count, click_count, bucket_size from push_stats_daily
       where sdkappid = ${B} and day = '2025-04-09' and platform is null`.execute(t.db);
    expect(hours.rows).toEqual([{ total_count: 12, click_count: null, bucket_size: '1h' }]);

    // Fetched the next morning, when the day was over.
    const nextMorning = Date.parse('2025-04-10T09:00:00+08:00');
    await loadStats(t.db, B, dayBucket('2025-04-09'), '1d', [50, 40, 30, 20], {}, { startedAt: nextMorning });
    await expectStatsRollupExact(t.db);
    // Hours keep coming for the day (BUCKET_SIZE back to 1h), fresher but not covering the whole
    // day as the day bucket does: the day bucket still wins.
    await loadStats(t.db, B, hourBucket('2025-04-09', 2), '1h', [9, 9, 9, 9], {}, { startedAt: nextMorning + 60_000 });
    await expectStatsRollupExact(t.db);
    const day = await sql`
      select total_count, bucket_size from push_stats_daily
       where sdkappid = ${B} and day = '2025-04-09' and platform is null`.execute(t.db);
    expect(day.rows).toEqual([{ total_count: 50, bucket_size: '1d' }]);
  });

  it('a bucket-size switch: the freshest answers covering the day win, 1d to 1h and back (issue 17)', async () => {
    const D = 1400000704;
    const day = '2025-07-01';
    const at = (time: string) => Date.parse(`${day}T${time}+08:00`);
    const daily = async () =>
      (
        await sql<{ sent_count: number; bucket_size: string }>`
          select sent_count, bucket_size from push_stats_daily
           where sdkappid = ${D} and day = ${day} and platform is null`.execute(t.db)
      ).rows;
    await loadStats(t.db, D, dayBucket(day), '1d', [395, 395, 395, 0], {}, { startedAt: at('12:00:00') });
    expect(await daily()).toEqual([{ sent_count: 395, bucket_size: '1d' }]);
    for (let hour = 0; hour <= 13; hour++) {
      await loadStats(
        t.db,
        D,
        hourBucket(day, hour),
        '1h',
        [30, 30, 30, 0],
        {},
        {
          startedAt: at('13:30:00') + hour * 1000,
        },
      );
      if (hour < 12) expect(await daily()).toEqual([{ sent_count: 395, bucket_size: '1d' }]);
    }
    expect(await daily()).toEqual([{ sent_count: 420, bucket_size: '1h' }]);
    await expectStatsRollupExact(t.db);
    await loadStats(t.db, D, dayBucket(day), '1d', [450, 450, 450, 0], {}, { startedAt: at('15:00:00') });
    expect(await daily()).toEqual([{ sent_count: 450, bucket_size: '1d' }]);
    await expectStatsRollupExact(t.db);
  });

  it('when an older answer arrives late (kept facts, kept rollup)', async () => {
    const bucket = dayBucket('2025-04-10');
    const newer = okCall(A, bucket);
    const older = okCall(A, bucket, { startedAt: newer.startedAt - 60_000 });
    const stats = (n: number): PushStatistics => ({ overall: counts(n, n, n, n), platforms: [] });
    await loadBucket(t.db, statisticsFeed, { sdkappid: A, bucket, bucketSize: '1d', call: newer, answer: stats(2) });
    await loadBucket(t.db, statisticsFeed, { sdkappid: A, bucket, bucketSize: '1d', call: older, answer: stats(9) });
    await expectStatsRollupExact(t.db);
  });

  it('after renormalize rebuilds buckets from archived bodies that differ from their facts', async () => {
    await loadWithBody(
      t.db,
      A,
      dayBucket('2025-04-21'),
      { overall: counts(10, 9, 8, 7), platforms: [{ platform: 3, ...counts(5, 5, 5, 5) }] },
      { overall: counts(20, 18, 16, 14), platforms: [{ platform: 5, ...counts(1, 1, 1, 1) }] },
    );
    await expectStatsRollupExact(t.db);
    const report = await renormalize(t.db, statisticsFeed, { sdkappid: A });
    expect(report.rebuilt).toBeGreaterThan(0);
    const { rows } = await sql<{ platform: number; total_count: number }>`
      select platform, total_count from stats_day where sdkappid = ${A} and day = '2025-04-21' order by 1`.execute(
      t.db,
    );
    expect(rows).toEqual([
      { platform: -1, total_count: 20 },
      { platform: 5, total_count: 1 },
    ]);
    await expectStatsRollupExact(t.db);
  });

  it('when hours of one day are loaded at the same time by two connections', async (ctx) => {
    const second = await openSecondConnection(t);
    if (!second) ctx.skip(); // PGlite: one connection, loads cannot overlap
    try {
      for (let round = 0; round < 5; round++) {
        await Promise.all(
          Array.from({ length: 8 }, (_, hour) =>
            loadStats(hour % 2 ? second!.db : t.db, A, hourBucket('2025-05-06', hour), '1h', [
              round * 10 + hour,
              hour,
              hour,
              0,
            ]),
          ),
        );
      }
      await expectStatsRollupExact(t.db);
    } finally {
      await second?.close();
    }
  });

  it('in another zone: the view answers from the facts until the rollup is rebuilt in it', async () => {
    // One connection: the zone is a session setting (syncDayZone also sets it for new sessions).
    await t.db.connection().execute(async (conn) => {
      await sql`select set_config('pushloss.bucket_tz', 'America/New_York', false)`.execute(conn);
      try {
        // The rollup is still in Asia/Shanghai: push_stats_daily takes the facts' branch, exactly.
        await expectViewEqualsFacts(conn);
        expect(await syncDayZone(conn, 'America/New_York')).toBe(true);
        const { rows } = await sql<{ zone: string }>`select zone from stats_rollup_zone`.execute(conn);
        expect(rows).toEqual([{ zone: 'America/New_York' }]);
        await expectStatsRollupExact(conn);
      } finally {
        expect(await syncDayZone(conn, 'Asia/Shanghai')).toBe(true);
      }
      await expectStatsRollupExact(conn);
    });
  });
});

/** push_stats_daily against the facts, whichever branch answers. */
async function expectViewEqualsFacts(db: Kysely<Database>): Promise<void> {
  const q = async (query: ReturnType<typeof sql>) => (await query.execute(db)).rows;
  expect(await q(sql`select ${COLUMNS}, platform from push_stats_daily order by 1, 2, 9 nulls first`)).toEqual(
    await q(sql`select ${COLUMNS}, platform from push_stats_daily_by_fact order by 1, 2, 9 nulls first`),
  );
}

describe('migration 0008 builds the rollup for statistics already there', () => {
  it('statistics loaded, the migration undone, the facts changed, migrated again: the rollup equals the facts', async () => {
    const own = await createTestDatabase();
    try {
      await loadStats(own.db, A, dayBucket('2025-06-02'), '1d', [3, 2, 1, 0], { 3: [1, 1, 1, 0] });
      await loadStats(own.db, A, hourBucket('2025-06-03', 4), '1h', [1, 1, 1, 1]);
      await loadStats(own.db, B, dayBucket('2025-06-09'), '1d', [8, 8, 8, 8]);
      // Down through 0008 (later migrations go first).
      let step;
      do step = await migrateDown(own.db);
      while (step.migrated[0]?.name !== '0008_stats_rollup' && step.migrated.length > 0);
      expect(step).toEqual({ migrated: [{ name: '0008_stats_rollup', direction: 'Down' }] });
      // At 0007 the facts change, with no rollup to maintain.
      await sql`delete from stats_fact where sdkappid = ${B}`.execute(own.db);
      await migrateToLatest(own.db);
      expect(await rollupRows(own.db)).toBe(3);
      await expectStatsRollupExact(own.db);
    } finally {
      await own.close();
    }
  });
});
