/**
 * The task-push feeds (all-member-loss, all-member-statistics) end to end against the simulator,
 * through the one pipeline every feed shares: the contract views equal the simulator's truth for
 * the overall numbers, a re-fetch replaces a bucket exactly, renormalize rebuilds them from the
 * archive, and an error that concerns one feed (90045 for an app that sends no task pushes)
 * stops that feed only.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createCollector } from '../../src/collect/collector.ts';
import type { Config } from '../../src/config/config.ts';
import { FEEDS } from '../../src/feeds/index.ts';
import { startSimulator, type Simulator } from '../../src/simulator/index.ts';
import type { Window } from '../../src/tencent/loss.ts';
import { renormalize } from '../../src/warehouse/renormalize.ts';
import { manualClock } from '../helpers/clock.ts';
import { simulatorApps, simulatorConfig } from '../helpers/config.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { capturedLogger } from '../helpers/logs.ts';
import { allMemberLossData, allMemberStatsData, defaultTaskIds, finishedPart } from '../helpers/simulator.ts';
import { clearCollected } from '../helpers/warehouse.ts';

const APPS = [1400000601, 1400000602];
// 2026-11-26 12:00 Beijing time.
const NOW = Date.UTC(2026, 10, 26, 4);
const DAY = 86_400;
const beijingDay = (offset: number): Window => {
  const start = Date.UTC(2026, 10, 25, 16) / 1000 + offset * DAY;
  return { start, end: start + DAY };
};
const days = (from: number, to: number) => [...Array(to - from + 1).keys()].map((i) => beijingDay(from + i));

let t: TestDatabase;
let sim: Simulator;
let config: Config;
const clock = manualClock(NOW);

beforeAll(async () => {
  t = await createTestDatabase();
  sim = await startSimulator({ apps: simulatorApps(APPS), clock, minIntervalMs: 25 });
  config = simulatorConfig(sim.url, APPS, { COLLECT_APIS: 'loss,all-member-loss,all-member-statistics' });
});
afterAll(async () => {
  await sim?.close();
  await t?.close();
});
beforeEach(async () => {
  clock.set(NOW);
  sim.reset();
  await clearCollected(t.db);
});

const collector = () => createCollector({ db: t.db, config, logger: capturedLogger().logger, clock });

/** The contract view's rows of one app, in a fixed order, times as unix seconds. */
async function lossView(sdkappid: number) {
  const { rows } = await sql<Record<string, unknown>>`
    select * from all_member_push_loss where sdkappid = ${sdkappid}
     order by bucket_start, stage, platform nulls first, event_type nulls first, err_code`.execute(t.db);
  return rows.map((r) => ({
    start: (r.bucket_start as Date).getTime() / 1000,
    taskId: r.task_id,
    stage: r.stage,
    eventType: r.event_type,
    platform: r.platform,
    errCode: r.err_code,
    errCount: Number(r.err_count),
  }));
}

/** What the simulator serves as the overall numbers of these buckets, in the view's shape and order. */
function lossTruth(sdkappid: number, buckets: Window[]) {
  return buckets.flatMap((bucket) =>
    allMemberLossData(sdkappid, defaultTaskIds(sdkappid), finishedPart(bucket, NOW))
      .map((e) => ({
        start: bucket.start,
        taskId: null,
        stage: e.stage,
        eventType: e.eventType,
        platform: e.platform,
        errCode: e.errCode,
        errCount: e.errCount,
      }))
      .sort(
        (a, b) =>
          a.stage.localeCompare(b.stage) ||
          (a.platform ?? -1) - (b.platform ?? -1) ||
          (a.eventType ?? -1) - (b.eventType ?? -1) ||
          (a.errCode < b.errCode ? -1 : a.errCode > b.errCode ? 1 : 0),
      ),
  );
}

async function statsView(sdkappid: number) {
  const { rows } = await sql<Record<string, unknown>>`
    select * from all_member_push_stats where sdkappid = ${sdkappid}
     order by bucket_start, platform nulls first, event_type nulls first`.execute(t.db);
  return rows.map((r) => ({
    start: (r.bucket_start as Date).getTime() / 1000,
    taskId: r.task_id,
    eventType: r.event_type,
    platform: r.platform,
    counts: [r.total_count, r.sent_count, r.delivered_count, r.click_count].map(Number),
  }));
}

function statsTruth(sdkappid: number, buckets: Window[]) {
  return buckets.flatMap((bucket) => {
    const stats = allMemberStatsData(sdkappid, defaultTaskIds(sdkappid), finishedPart(bucket, NOW));
    return [{ platform: null, eventType: null, ...stats.overall }, ...stats.platforms].map((line) => ({
      start: bucket.start,
      taskId: null,
      eventType: line.eventType,
      platform: line.platform,
      counts: [line.total, line.sent, line.delivered, line.click],
    }));
  });
}

describe('the task-push feeds', () => {
  it('collect the overall numbers of every day in their horizons; the contract views equal the truth', async () => {
    const pass = await collector().runPass();
    for (const sdkappid of APPS) {
      // loss 7 days, all-member-loss 7, all-member-statistics 30.
      expect(pass.apps.get(sdkappid)).toMatchObject({ status: 'collected', fetched: 7 + 7 + 30, failed: 0 });
      expect(await lossView(sdkappid)).toEqual(lossTruth(sdkappid, days(-6, 0)));
      expect(await statsView(sdkappid)).toEqual(statsTruth(sdkappid, days(-29, 0)));
    }
    // Every call asked for the overall numbers (an empty TaskID list), and is archived under its feed.
    const taskCalls = sim.calls.filter((c) => c.path.includes('/all_member_push_'));
    expect(taskCalls).toHaveLength(2 * (7 + 30));
    expect(taskCalls.every((c) => (JSON.parse(c.body) as { TaskID: unknown }).TaskID instanceof Array)).toBe(true);
    const { rows } = await sql<{ feed: string; n: number }>`
      select feed, count(*)::int as n from feed_call group by feed order by feed`.execute(t.db);
    expect(rows).toEqual([
      { feed: 'all-member-loss', n: 14 },
      { feed: 'all-member-statistics', n: 60 },
      { feed: 'loss', n: 14 },
    ]);
  });

  it('keep the contract columns in their order', async () => {
    const columns = async (view: string) => {
      const { rows } = await sql<{ column_name: string; data_type: string }>`
        select column_name, data_type from information_schema.columns
         where table_schema = current_schema() and table_name = ${view} order by ordinal_position`.execute(t.db);
      return rows.map((r) => `${r.column_name} ${r.data_type}`);
    };
    expect(await columns('all_member_push_loss')).toEqual([
      'sdkappid bigint',
      'bucket_start timestamp with time zone',
      'bucket_end timestamp with time zone',
      'task_id text',
      'stage text',
      'event_type smallint',
      'platform smallint',
      'platform_name text',
      'err_code text',
      'err_info text',
      'err_count bigint',
      'fetched_at timestamp with time zone',
    ]);
    expect(await columns('all_member_push_stats')).toEqual([
      'sdkappid bigint',
      'bucket_start timestamp with time zone',
      'bucket_end timestamp with time zone',
      'task_id text',
      'event_type smallint',
      'platform smallint',
      'platform_name text',
      'total_count bigint',
      'sent_count bigint',
      'delivered_count bigint',
      'click_count bigint',
      'fetched_at timestamp with time zone',
    ]);
  });

  it('replace a re-fetched bucket exactly, and renormalize rebuilds the facts from the archive alone', async () => {
    const [app] = config.apps;
    const bucket = beijingDay(-1);
    const c = collector();
    await c.collectBucket(app!, 'all-member-loss', bucket);
    await c.collectBucket(app!, 'all-member-loss', bucket);
    const once = await lossView(app!.sdkappid);
    expect(once).toEqual(lossTruth(app!.sdkappid, [bucket]));
    await sql`delete from all_member_loss_fact`.execute(t.db);
    sim.reset();
    const report = await renormalize(t.db, FEEDS['all-member-loss']);
    expect(report).toMatchObject({ buckets: 1, rebuilt: 1, failed: [] });
    expect(await lossView(app!.sdkappid)).toEqual(once);
    expect(sim.calls).toHaveLength(0);
  });

  it('an error of one feed (90045: the app sends no task pushes) stops that feed only', async () => {
    const [quiet, busy] = APPS as [number, number];
    sim.fail(
      { kind: 'error', code: 90045, info: 'push not enabled' },
      { sdkappid: quiet, api: ['all_member_loss', 'all_member_statistics'], times: Infinity },
    );
    const pass = await collector().runPass();
    expect(pass.apps.get(quiet)).toMatchObject({ status: 'collected', fetched: 7, failed: 2 });
    expect(pass.apps.get(busy)).toMatchObject({ status: 'collected', fetched: 44 });
    const { rows } = await sql<{ feed: string; fatal: boolean; error: string | null }>`
      select feed, fatal_at is not null as fatal, last_error as error from feed_app_state
       where sdkappid = ${quiet} order by feed`.execute(t.db);
    expect(rows.map((r) => [r.feed, r.fatal])).toEqual([
      ['all-member-loss', true],
      ['all-member-statistics', true],
      ['loss', false],
    ]);
    expect(rows[0]!.error).toMatch(/all_member_push_loss failed .*90045/);
    // The next pass within the hour leaves the stopped feeds alone and goes on with loss.
    sim.reset();
    clock.advance(60_000);
    await collector().runPass();
    expect(sim.calls.filter((c) => c.path.includes('/all_member_push_') && c.sdkappid === quiet)).toHaveLength(0);
  });
});
