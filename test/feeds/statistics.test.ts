/**
 * normal_push_statistics end to end against the simulator: push_stats equals the simulator's truth
 * after partial and final data and after faults; both APIs share the app's rate slot; a
 * statistics-only backfill reaches 20 days back where loss is refused; renormalize rebuilds
 * statistics from the archive.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { manualClock } from '../helpers/clock.ts';
import { planBackfill, RangeRefusedError, runBackfill } from '../../src/collect/backfill.ts';
import { createCollector } from '../../src/collect/collector.ts';
import type { Config } from '../../src/config/config.ts';
import type { Window } from '../../src/tencent/loss.ts';
import { isDataRefusal } from '../../src/warehouse/archive.ts';
import { statisticsFeed } from '../../src/feeds/statistics/index.ts';
import { renormalize } from '../../src/warehouse/renormalize.ts';
import { startSimulator, type Simulator } from '../../src/simulator/index.ts';
import { defaultStatsData, finishedPart } from '../helpers/simulator.ts';
import { simulatorApps, simulatorConfig } from '../helpers/config.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { capturedLogger } from '../helpers/logs.ts';
import { clearCollected } from '../helpers/warehouse.ts';

const APPS = [1400000501, 1400000502];
// 2026-11-26 12:00 Beijing time.
const NOW = Date.UTC(2026, 10, 26, 4);
const DAY = 86_400;
/** The Beijing day that starts `offset` days after 2026-11-26 (negative: before). */
const beijingDay = (offset: number): Window => {
  const start = Date.UTC(2026, 10, 25, 16) / 1000 + offset * DAY;
  return { start, end: start + DAY };
};

let t: TestDatabase;
let sim: Simulator;
let config: Config;
const clock = manualClock(NOW);

beforeAll(async () => {
  t = await createTestDatabase();
  sim = await startSimulator({ apps: simulatorApps(APPS), clock, minIntervalMs: 25 });
  config = simulatorConfig(sim.url, APPS);
});
afterAll(async () => {
  await sim?.close();
  await t?.close();
});
beforeEach(async () => {
  clock.set(NOW);
  sim.reset();
  sim.setStatsData();
  await clearCollected(t.db);
});

const collector = (cfg: Config = config) =>
  createCollector({ db: t.db, config: cfg, logger: capturedLogger().logger, clock });

/** push_stats as the BI user sees it. */
async function view(sdkappid: number) {
  const rows = await t.db
    .selectFrom('push_stats')
    .selectAll()
    .where('sdkappid', '=', sdkappid)
    .orderBy('bucket_start')
    .orderBy('platform', (ob) => ob.nullsFirst())
    .execute();
  return rows.map((r) => ({
    start: r.bucket_start.getTime() / 1000,
    end: r.bucket_end.getTime() / 1000,
    platform: r.platform,
    total: r.total_count,
    sent: r.sent_count,
    delivered: r.delivered_count,
    click: r.click_count,
  }));
}

/** What the simulator serves for these buckets at `nowMs`, in the view's shape. */
function truth(sdkappid: number, buckets: Window[], nowMs: number) {
  return buckets.flatMap((bucket) => {
    const stats = defaultStatsData(sdkappid, finishedPart(bucket, nowMs));
    return [{ platform: null, ...stats.overall }, ...stats.platforms].map((line) => ({
      start: bucket.start,
      end: bucket.end,
      platform: line.platform,
      total: line.total,
      sent: line.sent,
      delivered: line.delivered,
      click: line.click,
    }));
  });
}

const days = (from: number, to: number) => [...Array(to - from + 1).keys()].map((i) => beijingDay(from + i));

describe('collecting statistics', () => {
  it('a new app fetches the last 30 days of statistics and 7 of loss; push_stats equals the truth', async () => {
    // 150 ms between calls against the simulator's 25 ms rule: the simulator stamps arrivals on
    // this process's event loop, which an embedded database's load can hold for tens of
    // milliseconds, so a tighter margin measures the stall, not the gate. Two APIs at separate
    // slots would still send calls side by side.
    const pass = await collector(simulatorConfig(sim.url, APPS, { MIN_CALL_INTERVAL: '150ms' })).runPass();
    for (const sdkappid of APPS) {
      // 30 days of statistics (the first reachable day is today - 29) and 7 of loss.
      expect(pass.apps.get(sdkappid)).toMatchObject({ status: 'collected', fetched: 30 + 7, failed: 0, lost: 0 });
      expect(await view(sdkappid)).toEqual(truth(sdkappid, days(-29, 0), NOW));
    }
    // The overall row is the API's top-level counts, not the channels' sum (online pushes).
    const [overall, ...channels] = await view(APPS[0]!);
    expect(overall!.sent).toBeGreaterThan(
      channels.filter((c) => c.start === overall!.start).reduce((s, c) => s + c.sent!, 0),
    );
    // Every call is archived in its API's table; statistics windows went to the statistics path.
    const statsCalls = sim.calls.filter((c) => c.path.endsWith('/normal_push_statistics'));
    expect(await t.db.selectFrom('stats_call').select('id').execute()).toHaveLength(statsCalls.length);
    expect(await t.db.selectFrom('tim_call').select('id').execute()).toHaveLength(sim.calls.length - statsCalls.length);
    // Both APIs of one app went through its one slot: never two calls closer than the interval.
    for (const sdkappid of APPS) {
      const arrivals = sim.calls.filter((c) => c.sdkappid === sdkappid).map((c) => c.receivedAtMono);
      for (let i = 1; i < arrivals.length; i++) expect(arrivals[i]! - arrivals[i - 1]!).toBeGreaterThanOrEqual(25); // the simulator's rule
    }
    expect(sim.calls.every((c) => c.errorCode === 0)).toBe(true);
  });

  it('partial data is replaced by the complete data; final only in the final window before the 30-day horizon', async () => {
    await collector().runPass();
    const today = beijingDay(0);
    const partial = (await view(APPS[0]!)).filter((r) => r.start === today.start);
    expect(partial).toEqual(truth(APPS[0]!, [today], NOW));
    const stateOf = () =>
      t.db
        .selectFrom('stats_bucket_state')
        .selectAll()
        .where('sdkappid', '=', APPS[0]!)
        .where('bucket_start', '=', new Date(today.start * 1000))
        .executeTakeFirstOrThrow();

    // Three days later: today's bucket has all its hours, and is still pending (counts may move).
    const later = NOW + 3 * DAY * 1000;
    clock.set(later);
    sim.reset();
    const pass = await collector().runPass();
    expect(pass.apps.get(APPS[0]!)).toMatchObject({ status: 'collected', failed: 0 });
    const complete = (await view(APPS[0]!)).filter((r) => r.start === today.start);
    expect(complete).toEqual(truth(APPS[0]!, [today], later));
    expect(complete).not.toEqual(partial);
    expect(await stateOf()).toMatchObject({ final: false, fetch_count: 2 });
    // Only buckets due on the schedule were asked: day -12 (ages 5 d and 20 d fall outside these
    // three days) was not, day -9 (10 d old at midnight on day 3) was.
    const asked = () =>
      sim.calls
        .filter((c) => c.sdkappid === APPS[0] && c.path.endsWith('/normal_push_statistics'))
        .map((c) => (JSON.parse(c.body) as { StartTime: number }).StartTime);
    expect(asked()).not.toContain(beijingDay(-12).start);
    expect(asked()).toContain(beijingDay(-9).start);

    // In its final window (the last 6 h before the 30-day horizon): fetched once more, final.
    clock.set((today.start + 30 * DAY) * 1000 - 3 * 3_600_000);
    sim.reset();
    await collector().runPass();
    expect(asked()).toContain(today.start);
    expect(await stateOf()).toMatchObject({ final: true, fetch_count: 3 });
    sim.reset();
    await collector().runPass();
    expect(asked()).not.toContain(today.start);
  });

  it('faults: a gateway error is retried, an unreadable answer is archived and the bucket fetched next pass', async () => {
    sim.fail({ kind: 'http', status: 502 }, { api: 'statistics', sdkappid: APPS[0]! });
    sim.fail(
      { kind: 'body', body: '{"ActionStatus":"OK","ErrorCode":0,"TotalCount":-5}' },
      { api: 'statistics', sdkappid: APPS[1]! },
    );
    const first = await collector().runPass();
    expect(first.apps.get(APPS[0]!)).toMatchObject({ status: 'collected', failed: 0 });
    expect(first.apps.get(APPS[1]!)).toMatchObject({ status: 'collected', failed: 1 });
    const refused = await t.db
      .selectFrom('stats_call')
      .selectAll()
      .where('sdkappid', '=', APPS[1]!)
      .where('outcome', '=', 'invalid_response')
      .execute();
    expect(refused).toHaveLength(1);
    expect(refused[0]!.body).toContain('"TotalCount":-5'); // the raw body is kept
    expect(await view(APPS[0]!)).toEqual(truth(APPS[0]!, days(-29, 0), NOW));

    const second = await collector().runPass();
    expect(second.apps.get(APPS[1]!)).toMatchObject({ status: 'collected', failed: 0 });
    expect(await view(APPS[1]!)).toEqual(truth(APPS[1]!, days(-29, 0), NOW));
  });

  it('a fatal statistics error stops statistics for the app, not its loss', async () => {
    sim.fail({ kind: 'error', code: 90009, info: 'no permission' }, { api: 'statistics', sdkappid: APPS[0]! });
    const pass = await collector().runPass();
    expect(pass.apps.get(APPS[0]!)).toMatchObject({ status: 'collected', fetched: 7, failed: 1 });
    expect(await view(APPS[0]!)).toEqual([]);
    expect(
      (await t.db.selectFrom('loss_fact').select('sdkappid').where('sdkappid', '=', APPS[0]!).execute()).length,
    ).toBeGreaterThan(0);
    const state = await t.db
      .selectFrom('stats_app_state')
      .selectAll()
      .where('sdkappid', '=', APPS[0]!)
      .executeTakeFirstOrThrow();
    expect(state.fatal_at).not.toBeNull();
  });

  it('a statistics bucket fetched while pending and then past the horizon is marked lost; passes go on', async () => {
    await collector().runPass();
    const today = beijingDay(0);
    // 31 days later today's bucket, fetched once while pending, is out of the API's reach. The
    // upsert that marks it lost once named the loss table in its update (issue 16) and failed
    // every pass from then on.
    const later = NOW + 31 * DAY * 1000;
    clock.set(later);
    sim.reset();
    const pass = await collector().runPass();
    const result = pass.apps.get(APPS[0]!);
    expect(result).toMatchObject({ status: 'collected', failed: 0 });
    expect(result?.status === 'collected' ? result.lost : 0).toBeGreaterThanOrEqual(1);
    const state = await t.db
      .selectFrom('stats_bucket_state')
      .selectAll()
      .where('sdkappid', '=', APPS[0]!)
      .where('bucket_start', '=', new Date(today.start * 1000))
      .executeTakeFirstOrThrow();
    expect(state).toMatchObject({ final: false, fetch_count: 1 });
    expect(state.lost_at).not.toBeNull();
    // Marking again keeps the first time.
    clock.set(later + 3_600_000);
    await collector().runPass();
    const again = await t.db
      .selectFrom('stats_bucket_state')
      .select('lost_at')
      .where('sdkappid', '=', APPS[0]!)
      .where('bucket_start', '=', new Date(today.start * 1000))
      .executeTakeFirstOrThrow();
    expect(again.lost_at).toEqual(state.lost_at);
  });

  it('renormalize rebuilds statistics from the archive without calling the API', async () => {
    await collector().runPass();
    const before = await view(APPS[0]!);
    await t.db.deleteFrom('stats_fact').where('sdkappid', '=', APPS[0]!).execute();
    const calls = sim.calls.length;
    const report = await renormalize(t.db, statisticsFeed, { sdkappid: APPS[0]! });
    expect(report).toMatchObject({ buckets: 30, rebuilt: 30, failed: [], skipped: 0 });
    expect(await view(APPS[0]!)).toEqual(before);
    expect(sim.calls.length).toBe(calls);
  });
});

describe('an answer listing many channels', () => {
  /** Statistics whose answer for `bucket` of APPS[0] lists `count` channels; the truth elsewhere. */
  const manyChannels = (bucket: Window, count: number) =>
    sim.setStatsData((sdkappid, window) =>
      sdkappid === APPS[0] && window.start === bucket.start
        ? {
            overall: { total: count, sent: count, delivered: count, click: 0 },
            platforms: Array.from({ length: count }, (_, platform) => ({
              platform,
              total: 1,
              sent: 1,
              delivered: 1,
              click: 0,
            })),
          }
        : defaultStatsData(sdkappid, window),
    );

  it('loads every channel of a valid answer (6,000 channels: 66,000 bind parameters as rows)', async () => {
    const bucket = beijingDay(-1);
    manyChannels(bucket, 6_000);
    const result = await collector().collectBucket(config.apps[0]!, 'statistics', bucket);
    expect(result.facts).toBe(6_001);
    const rows = (await view(APPS[0]!)).filter((r) => r.start === bucket.start);
    expect(rows).toHaveLength(6_001);
    expect(rows.filter((r) => r.platform !== null).reduce((sum, r) => sum + r.sent!, 0)).toBe(6_000);
  });

  it("a statement over the protocol's 65,535 bind parameters (SQLSTATE 08P01) counts as a refused answer", async () => {
    const values = Array.from({ length: 70_000 }, (_, i) => sql`${i}`);
    const error: unknown = await sql`select array[${sql.join(values)}]`
      .execute(t.db)
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: '08P01' });
    expect(isDataRefusal(error)).toBe(true);
  });

  it('refuses more channels than the cap: archived, last_error set, the other buckets loaded', async () => {
    const bucket = beijingDay(-1);
    manyChannels(bucket, 20_001);
    const pass = await collector().runPass();
    expect(pass.apps.get(APPS[0]!)).toMatchObject({ status: 'collected', failed: 1 });
    const refused = await t.db
      .selectFrom('stats_call')
      .selectAll()
      .where('sdkappid', '=', APPS[0]!)
      .where('outcome', '=', 'invalid_response')
      .execute();
    expect(refused).toHaveLength(1);
    expect(refused[0]!.window_start).toEqual(new Date(bucket.start * 1000));
    const state = await t.db
      .selectFrom('stats_app_state')
      .selectAll()
      .where('sdkappid', '=', APPS[0]!)
      .executeTakeFirstOrThrow();
    expect(state.last_error).toMatch(/lists 20001 channels, more than the 20000 pushloss accepts/);
    expect(state.fatal_at).toBeNull();
    const loaded = new Set((await view(APPS[0]!)).map((r) => r.start));
    expect(loaded.size).toBe(29);
    expect(loaded.has(bucket.start)).toBe(false);
  });
});

describe('backfilling statistics', () => {
  it('a range from 20 days ago is refused for loss with a clear message, and loads for statistics alone', async () => {
    const from = beijingDay(-20).start * 1000;
    const to = beijingDay(-18).end * 1000;
    expect(() => planBackfill(config, from, to, NOW, 'loss')).toThrow(RangeRefusedError);
    expect(() => planBackfill(config, from, to, NOW, 'loss')).toThrow(
      /older than the loss API \(normal_push_loss\)'s 7-day horizon.*add --api statistics/,
    );
    const plan = planBackfill(config, from, to, NOW, 'statistics');
    expect(plan.buckets).toEqual(days(-20, -18));
    const lines: string[] = [];
    const summary = await runBackfill(collector(), [config.apps[0]!], plan, (line) => lines.push(line));
    expect(summary).toMatchObject({ loaded: 3, final: 0, failed: 0 }); // final only near the 30-day horizon
    expect(lines[0]).toMatch(/^statistics app 1400000501 bucket 1\/3 /);
    expect(await view(APPS[0]!)).toEqual(truth(APPS[0]!, days(-20, -18), NOW));
    // Only the statistics API was called.
    expect(sim.calls.every((c) => c.path.endsWith('/normal_push_statistics'))).toBe(true);
    // 31 days back is out of reach for statistics too.
    expect(() => planBackfill(config, beijingDay(-31).start * 1000, to, NOW, 'statistics')).toThrow(
      /statistics API \(normal_push_statistics\)'s 30-day horizon/,
    );
  });
});

describe('rate slots', () => {
  it('RATE_SLOTS=per-feed gives statistics calls slots of their own (the simulator then counts per API)', async () => {
    const perApi = await startSimulator({ apps: simulatorApps(APPS), clock, minIntervalMs: 25, ratePerApi: true });
    afterAll(() => perApi.close());
    const own = simulatorConfig(perApi.url, APPS, { RATE_SLOTS: 'per-feed', MIN_CALL_INTERVAL: '1000ms' });
    const shared = simulatorConfig(perApi.url, APPS, { MIN_CALL_INTERVAL: '1000ms' });
    expect(own.rateSlots).toMatchObject({ loss: 'loss', statistics: 'statistics' });
    expect(shared.rateSlots).toMatchObject({ loss: 'loss', statistics: 'loss' });
    // Two buckets of each API for one app, concurrently: with its own slot, a statistics call may
    // start right beside a loss call; with the shared slot it never does.
    const gaps = async (cfg: Config) => {
      perApi.reset();
      const c = collector(cfg);
      const app = cfg.apps[0]!;
      await Promise.all([
        (async () => {
          for (const d of [-1, -2]) await c.collectBucket(app, 'loss', beijingDay(d));
        })(),
        (async () => {
          for (const d of [-1, -2]) await c.collectBucket(app, 'statistics', beijingDay(d));
        })(),
      ]);
      expect(perApi.calls.every((call) => call.errorCode === 0)).toBe(true);
      const arrivals = perApi.calls.map((call) => call.receivedAtMono).sort((a, b) => a - b);
      return Math.min(...arrivals.slice(1).map((at, i) => at - arrivals[i]!));
    };
    // Wide margins: on the embedded database, loads and reservations share one connection.
    expect(await gaps(shared)).toBeGreaterThanOrEqual(800);
    expect(await gaps(own)).toBeLessThan(500);
  });
});
