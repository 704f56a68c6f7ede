import { lossFeed } from '../../src/feeds/loss/index.ts';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { manualClock } from '../helpers/clock.ts';
import { planBackfill, runBackfill, RangeRefusedError } from '../../src/collect/backfill.ts';
import { createCollector } from '../../src/collect/collector.ts';
import type { Config } from '../../src/config/config.ts';
import type { LossEntry, Window } from '../../src/tencent/loss.ts';
import { parsePushLossBody } from '../../src/tencent/response.ts';
import { parseRange } from '../../src/cli/range.ts';
import { renormalize } from '../../src/warehouse/renormalize.ts';
import { startSimulator, type Simulator } from '../../src/simulator/index.ts';
import { defaultLossData, finishedPart, sumLossEntries } from '../helpers/simulator.ts';
import { simulatorApps, simulatorConfig } from '../helpers/config.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { capturedLogger } from '../helpers/logs.ts';
import { clearCollected } from '../helpers/warehouse.ts';

const APPS = [1400000101, 1400000102];
// 2026-11-26 12:00 Beijing time.
const NOW = Date.UTC(2026, 10, 26, 4);
const DAY = 86_400;

let t: TestDatabase;
let sim: Simulator;
let config: Config;
const clock = manualClock(NOW);

beforeAll(async () => {
  t = await createTestDatabase();
  sim = await startSimulator({ apps: simulatorApps(APPS), clock, minIntervalMs: 25 });
  // These tests are about loss alone; statistics have their own (statistics.collect.test.ts).
  config = simulatorConfig(sim.url, APPS, { COLLECT_APIS: 'loss' });
});
afterAll(async () => {
  await sim?.close();
  await t?.close();
});
beforeEach(async () => {
  clock.set(NOW);
  sim.reset();
  sim.setLossData();
  await clearCollected(t.db);
});

const collector = (leaseGraceMs = 0) =>
  createCollector({ db: t.db, config, logger: capturedLogger().logger, clock, leaseGraceMs });

/** The push_loss view as the BI user sees it, summed per app, bucket, stage, platform, code. */
async function view(sdkappid: number) {
  const rows = await t.db
    .selectFrom('push_loss')
    .selectAll()
    .where('sdkappid', '=', sdkappid)
    .orderBy(['bucket_start', 'stage', 'platform', 'err_code'])
    .execute();
  return rows.map((r) => ({
    start: r.bucket_start.getTime() / 1000,
    stage: r.stage,
    platform: r.platform,
    code: r.err_code,
    count: r.err_count,
  }));
}

function expectedRows(sdkappid: number, buckets: Window[], nowMs: number) {
  return buckets.flatMap((bucket) =>
    sumLossEntries(defaultLossData(sdkappid, finishedPart(bucket, nowMs))).map((e: LossEntry) => ({
      start: bucket.start,
      stage: e.stage,
      platform: e.platform,
      code: e.errCode,
      count: e.errCount,
    })),
  );
}
const sortRows = <T extends { start: number; stage: string; platform: number | null; code: string }>(rows: T[]) =>
  [...rows].sort(
    (a, b) =>
      a.start - b.start ||
      a.stage.localeCompare(b.stage) ||
      (a.platform ?? -1) - (b.platform ?? -1) ||
      (a.code < b.code ? -1 : a.code > b.code ? 1 : 0),
  );

describe('a pass stopped before it begins an app', () => {
  // At 10,000 apps, `collect` stopped by SIGTERM went on visiting every app not begun yet (lease,
  // state, plan, bookkeeping) for minutes; apps not begun must not be touched at all.
  it('touches no app once its signal is aborted: no call, no lease, no state', async () => {
    const stopped = new AbortController();
    stopped.abort(new Error('stopped by SIGTERM'));
    const pass = await collector().runPass(stopped.signal);
    expect(pass.apps.size).toBe(0);
    expect(sim.calls).toHaveLength(0);
    expect(await t.db.selectFrom('app_lease').select('sdkappid').execute()).toEqual([]);
    expect(await t.db.selectFrom('app_state').select('sdkappid').execute()).toEqual([]);
  });
});

describe('a collection pass', () => {
  it('loads exactly what the API answered for every bucket in the horizon, for every app', async () => {
    const pass = await collector().runPass();
    for (const sdkappid of APPS) {
      const result = pass.apps.get(sdkappid);
      expect(result).toMatchObject({ status: 'collected', fetched: 7, failed: 0, lost: 0 });
      const buckets = [...Array(7).keys()].map((i) => ({
        start: Date.UTC(2026, 10, 19, 16) / 1000 + i * DAY,
        end: Date.UTC(2026, 10, 20, 16) / 1000 + i * DAY,
      }));
      expect(sortRows(await view(sdkappid))).toEqual(sortRows(expectedRows(sdkappid, buckets, NOW)));
    }
    // Overall and per-platform rows are both there and add up per stage, never mixed.
    const totals = await t.db
      .selectFrom('push_loss')
      .select((eb) => [
        'stage',
        eb.fn.sum<string>('err_count').as('n'),
        eb.case().when('platform', 'is', null).then('overall').else('channels').end().as('scope'),
      ])
      .where('sdkappid', '=', APPS[0]!)
      .groupBy(['stage', 'scope'])
      .execute();
    const byStage = Object.groupBy(totals, (row) => row.stage);
    for (const rows of Object.values(byStage)) expect(new Set(rows!.map((r) => r.n)).size).toBe(1);
    // One raw archive row per call, none holding a secret.
    const calls = await t.db.selectFrom('tim_call').selectAll().execute();
    expect(calls.filter((c) => c.outcome === 'ok')).toHaveLength(14);
    expect(calls).toHaveLength(sim.calls.length);
    expect(JSON.stringify(calls)).not.toMatch(/test-secret-key|usersig/i);
  });

  it('replaces a re-fetched bucket exactly: changed counts replaced, a vanished code removed, nothing doubled', async () => {
    const daemon = collector();
    await daemon.runPass();
    const before = await view(APPS[0]!);
    const today = { start: Date.UTC(2026, 10, 25, 16) / 1000, end: Date.UTC(2026, 10, 26, 16) / 1000 };
    const todaysRows = before.filter((r) => r.start === today.start);
    const vanishing = todaysRows[0]!;
    // Later data: every count +1 and one code gone.
    sim.setLossData((sdkappid, window) =>
      sumLossEntries(defaultLossData(sdkappid, window))
        .filter(
          (e) => !(e.stage === vanishing.stage && e.platform === vanishing.platform && e.errCode === vanishing.code),
        )
        .map((e) => ({ ...e, errCount: e.errCount + 1 })),
    );
    clock.advance(30 * 60_000);
    const pass = await daemon.runPass();
    // Today's bucket, in progress, is fetched on every pass; the ended days wait for their next age.
    expect(pass.apps.get(APPS[0]!)).toMatchObject({ status: 'collected', fetched: 1 });
    const after = await view(APPS[0]!);
    const todayAfter = after.filter((r) => r.start === today.start);
    expect(
      todayAfter.find(
        (r) => r.stage === vanishing.stage && r.platform === vanishing.platform && r.code === vanishing.code,
      ),
    ).toBeUndefined();
    expect(todayAfter).toHaveLength(todaysRows.length - 1);
    for (const row of todayAfter)
      expect(row.count).toBe(
        todaysRows.find((r) => r.stage === row.stage && r.platform === row.platform && r.code === row.code)!.count + 1,
      );
    // Final buckets were not fetched again and kept their facts.
    expect(after.filter((r) => r.start < today.start - 2 * DAY)).toEqual(
      before.filter((r) => r.start < today.start - 2 * DAY),
    );
  });

  it('records a fatal app error, stops that app only, and pauses it', async () => {
    sim.fail({ kind: 'error', code: 90045, info: 'push not enabled' }, { sdkappid: APPS[0]!, times: 1 });
    const daemon = collector();
    const pass = await daemon.runPass();
    expect(pass.apps.get(APPS[0]!)).toMatchObject({ status: 'fatal', fetched: 0 });
    expect(pass.apps.get(APPS[1]!)).toMatchObject({ status: 'collected', fetched: 7 });
    const state = await t.db
      .selectFrom('app_state')
      .selectAll()
      .where('sdkappid', '=', APPS[0]!)
      .executeTakeFirstOrThrow();
    expect(state).toMatchObject({ last_error_code: 'TIM_90045', fatal_at: new Date(NOW) });
    expect(state.last_error).toMatch(/enable Push/);
    clock.advance(30 * 60_000);
    expect((await daemon.runPass()).apps.get(APPS[0]!)).toMatchObject({ status: 'paused' });
    clock.advance(31 * 60_000); // an hour after the fatal error it is tried again, and recovers
    expect((await daemon.runPass()).apps.get(APPS[0]!)).toMatchObject({ status: 'collected', fetched: 7 });
    expect(
      await t.db.selectFrom('app_state').select('fatal_at').where('sdkappid', '=', APPS[0]!).executeTakeFirstOrThrow(),
    ).toEqual({ fatal_at: null });
  });

  it('keeps going after a bucket that fails, and archives the failed calls', async () => {
    sim.fail({ kind: 'malformed' }, { sdkappid: APPS[1]! });
    const pass = await collector().runPass();
    expect(pass.apps.get(APPS[1]!)).toMatchObject({ status: 'collected', fetched: 6, failed: 1 });
    const invalid = await t.db.selectFrom('tim_call').selectAll().where('outcome', '=', 'invalid_response').execute();
    expect(invalid).toHaveLength(1);
    expect(invalid[0]!.body).toContain('<html');
  });
});

describe('replicas', () => {
  it('a second replica skips an app another collected moments ago, and takes it over once the lease ran out', async () => {
    const first = collector(60_000);
    const second = collector(60_000);
    expect((await first.runPass()).apps.get(APPS[0]!)).toMatchObject({ status: 'collected' });
    expect((await second.runPass()).apps.get(APPS[0]!)).toMatchObject({ status: 'leased_elsewhere' });
    expect(new Set(sim.calls.map((c) => `${c.sdkappid} ${c.body}`)).size).toBe(14); // each window once
    await t.db
      .updateTable('app_lease')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .execute(); // the grace period is over
    expect((await second.runPass()).apps.get(APPS[0]!)).toMatchObject({ status: 'collected', fetched: 1 }); // today's
  });
});

describe('an answer the warehouse refuses', () => {
  it('is archived, reported for its bucket, and the app goes on', async () => {
    // Yesterday stored with other edges, as after a change of BUCKET_TZ: loading it would overlap.
    const yesterday = Date.UTC(2026, 10, 24, 16);
    await t.db
      .insertInto('feed_bucket_state')
      .values({
        sdkappid: APPS[0]!,
        feed: 'loss',
        bucket_start: new Date(yesterday),
        bucket_size: '1d',
        bucket_end: new Date(yesterday + 23 * 3_600_000),
      })
      .execute();
    const pass = await collector().runPass();
    expect(pass.apps.get(APPS[0]!)).toMatchObject({
      status: 'collected',
      fetched: 6,
      failed: 1,
      error: expect.stringMatching(/archived but not loaded: .*time zone/),
    });
    const refused = await t.db
      .selectFrom('tim_call')
      .selectAll()
      .where('sdkappid', '=', APPS[0]!)
      .where('outcome', '=', 'invalid_response')
      .execute();
    expect(refused).toHaveLength(1);
    expect(refused[0]!.window_start).toEqual(new Date(yesterday));
    expect(JSON.parse(refused[0]!.body!)).toHaveProperty('ReadyToSendLoss');
  });
});

describe('backfill', () => {
  it('covers both ends of a date range, and running it twice changes nothing', async () => {
    const range = parseRange('2026-11-20', '2026-11-25', config.bucketTz);
    const plan = planBackfill(config, range.fromMs, range.toMs, NOW, 'loss');
    expect(plan.buckets).toHaveLength(6);
    expect(plan.buckets[0]!.start).toBe(Date.UTC(2026, 10, 19, 16) / 1000);
    const lines: string[] = [];
    const first = await runBackfill(collector(), config.apps.slice(0, 1), plan, (l) => lines.push(l));
    // None is in its final window (the last 6 h before the horizon): all stay pending.
    expect(first).toMatchObject({ loaded: 6, failed: 0, final: 0 });
    expect(lines).toHaveLength(6);
    expect(lines[0]).toMatch(
      /^loss app 1400000101 bucket 1\/6 2026-11-19T16:00:00Z \.\. 2026-11-20T16:00:00Z: \d+ rows$/,
    );
    const once = await view(APPS[0]!);
    clock.advance(60_000);
    const second = await runBackfill(collector(), config.apps.slice(0, 1), plan, () => {});
    expect(second).toEqual(first);
    expect(await view(APPS[0]!)).toEqual(once);
    const states = await t.db
      .selectFrom('bucket_state')
      .select(['fetch_count'])
      .where('sdkappid', '=', APPS[0]!)
      .execute();
    expect(states.map((s) => s.fetch_count)).toEqual([2, 2, 2, 2, 2, 2]);
  });

  it('refuses ranges the API can no longer answer, before any call', () => {
    const range = parseRange('2026-11-18', '2026-11-25', config.bucketTz);
    expect(() => planBackfill(config, range.fromMs, range.toMs, NOW, 'loss')).toThrow(RangeRefusedError);
    expect(() => planBackfill(config, range.fromMs, range.toMs, NOW, 'loss')).toThrow(
      /older than the loss API \(normal_push_loss\)'s 7-day horizon .* the earliest bucket that can is 2026-11-19T16:00:00Z/,
    );
    expect(sim.calls).toHaveLength(0);
  });
});

describe('renormalize', () => {
  it('rebuilds the same facts from the archive alone', async () => {
    await collector().runPass();
    const before = await view(APPS[0]!);
    await t.db.deleteFrom('loss_fact').execute();
    sim.reset();
    const report = await renormalize(t.db, {
      ...lossFeed,
      parseArchived: (body: string) => {
        const parsed = parsePushLossBody(body);
        return parsed.kind === 'ok' ? parsed.entries : new Error('unreadable');
      },
    });
    expect(report).toMatchObject({ buckets: 14, rebuilt: 14, failed: [] });
    expect(await view(APPS[0]!)).toEqual(before);
    expect(sim.calls).toHaveLength(0);
  });
});
