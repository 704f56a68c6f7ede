/**
 * The statistics contract and the rate views of migration 0005 on hand-made data: push_stats's
 * exact columns, overall counts never summed from channels, zero and unknown denominators, FCM,
 * channels present in one API only, days known to one API only, hours summed with unknown counts.
 */
import { readFileSync } from 'node:fs';
import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.ts';
import type { LossStage } from '../../src/tencent/loss.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { expandMacros, interpolateVariables, type Variable } from '../helpers/grafana.ts';
import { dayBucket, hourBucket, load, loadStats, loss } from '../helpers/fixtures.ts';

const A = 1400000601;
const R: LossStage = 'ready_to_send';
const P: LossStage = 'post_send_delivered';

async function seed(db: Kysely<Database>): Promise<void> {
  // 2025-03-11: both APIs. Channel 9 only in loss; channels 2 (all zero) and 7 (counts unknown) only
  // in statistics; FCM (4) with delivered 0 as FCM reports it.
  await load(db, A, dayBucket('2025-03-11'), '1d', [
    loss(R, null, '-1', 30, 'x'),
    loss(P, null, '1', 10, 'y'),
    loss(R, 3, '-1', 12, 'x'),
    loss(P, 4, '404', 5, 'z'),
    loss(P, 9, '1', 2, 'y'),
  ]);
  await loadStats(db, A, dayBucket('2025-03-11'), '1d', [1000, 960, 900, 50], {
    2: [0, 0, 0, 0],
    3: [500, 488, 480, 40],
    4: [300, 290, 0, 0],
    7: [100, null, null, null],
  });
  // 2025-03-12: statistics only (the loss API was never asked about it).
  await loadStats(db, A, dayBucket('2025-03-12'), '1d', [10, 10, 10, 1]);
  // 2025-03-13: two hours, no day bucket; one hour lacks ClickCount.
  await loadStats(db, A, hourBucket('2025-03-13', 0), '1h', [5, 5, 5, null]);
  await loadStats(db, A, hourBucket('2025-03-13', 1), '1h', [5, 4, 4, 1]);
}

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
  await seed(t.db);
});
afterAll(() => t?.close());

async function rows<T>(query: ReturnType<typeof sql<T>>): Promise<T[]> {
  return (await query.execute(t.db)).rows;
}

describe('push_stats', () => {
  it('has exactly the promised columns, in order, with their types', async () => {
    const columns = await rows<{ name: string; type: string }>(sql`
      select column_name as name, data_type as type from information_schema.columns
       where table_schema = current_schema() and table_name = 'push_stats' order by ordinal_position`);
    expect(columns).toEqual([
      { name: 'sdkappid', type: 'bigint' },
      { name: 'bucket_start', type: 'timestamp with time zone' },
      { name: 'bucket_end', type: 'timestamp with time zone' },
      { name: 'platform', type: 'smallint' },
      { name: 'platform_name', type: 'text' },
      { name: 'total_count', type: 'bigint' },
      { name: 'sent_count', type: 'bigint' },
      { name: 'delivered_count', type: 'bigint' },
      { name: 'click_count', type: 'bigint' },
      { name: 'fetched_at', type: 'timestamp with time zone' },
    ]);
  });

  it('holds the top-level counts on the overall row (never the channels summed), NULL for unknown', async () => {
    const day = await rows<{ platform: number | null; platform_name: string | null; total_count: number | null }>(sql`
      select platform, platform_name, total_count, sent_count, delivered_count, click_count from push_stats
       where sdkappid = ${A} and bucket_start = ${new Date(dayBucket('2025-03-11').start * 1000)}
       order by platform nulls first`);
    expect(day).toEqual([
      {
        platform: null,
        platform_name: null,
        total_count: 1000,
        sent_count: 960,
        delivered_count: 900,
        click_count: 50,
      },
      { platform: 2, platform_name: 'Xiaomi', total_count: 0, sent_count: 0, delivered_count: 0, click_count: 0 },
      {
        platform: 3,
        platform_name: 'Huawei',
        total_count: 500,
        sent_count: 488,
        delivered_count: 480,
        click_count: 40,
      },
      { platform: 4, platform_name: 'FCM', total_count: 300, sent_count: 290, delivered_count: 0, click_count: 0 },
      {
        platform: 7,
        platform_name: 'vivo',
        total_count: 100,
        sent_count: null,
        delivered_count: null,
        click_count: null,
      },
    ]);
  });
});

describe('push_stats_daily', () => {
  it('sums hours of a day without a day bucket; a count unknown in one hour is unknown for the day', async () => {
    const [day] = await rows(sql`
      select total_count, sent_count, delivered_count, click_count, bucket_size from push_stats_daily
       where sdkappid = ${A} and day = '2025-03-13' and platform is null`);
    expect(day).toEqual({ total_count: 10, sent_count: 9, delivered_count: 9, click_count: null, bucket_size: '1h' });
  });
});

describe('push_loss_rate', () => {
  type Rate = {
    stage: string;
    platform: number | null;
    statistics_incomplete: boolean;
    loss_count: number | null;
    denominator: number | null;
    loss_rate: number | null;
    delivery_rate: number | null;
    click_rate: number | null;
    has_stats: boolean;
  };
  const rates = (day: string) =>
    rows<Rate>(sql`
      select stage, platform, statistics_incomplete, loss_count, denominator, loss_rate, delivery_rate, click_rate, has_stats
        from push_loss_rate where sdkappid = ${A} and day = ${day}
       order by platform nulls first, stage desc`);

  it('divides loss by TotalCount (ready to send) or SentCount (post send); NULL for 0 or unknown; FCM flagged', async () => {
    const r = (
      stage: string,
      platform: number | null,
      loss_count: number | null,
      denominator: number | null,
      extra: Partial<Rate> = {},
    ): Rate => ({
      stage,
      platform,
      statistics_incomplete: false,
      loss_count,
      denominator,
      loss_rate: loss_count !== null && denominator ? loss_count / denominator : null,
      delivery_rate: null,
      click_rate: null,
      has_stats: true,
      ...extra,
    });
    const overallRates = { delivery_rate: 900 / 960, click_rate: 50 / 900 };
    expect(await rates('2025-03-11')).toEqual([
      r(R, null, 30, 1000, overallRates),
      r(P, null, 10, 960, overallRates),
      // Zero denominators: no rate, not 0 % and not a division error.
      r(R, 2, 0, 0),
      r(P, 2, 0, 0),
      r(R, 3, 12, 500, { delivery_rate: 480 / 488, click_rate: 40 / 480 }),
      r(P, 3, 0, 488, { delivery_rate: 480 / 488, click_rate: 40 / 480 }),
      // FCM: flagged; delivered 0 is not shown as a 0 % delivery rate (100 % loss).
      r(R, 4, 0, 300, { statistics_incomplete: true }),
      r(P, 4, 5, 290, { statistics_incomplete: true }),
      // Statistics without SentCount: the post-send rate is unknown.
      r(R, 7, 0, 100),
      r(P, 7, 0, null),
      // A channel only the loss API knows: counted, no denominator, no rate.
      r(P, 9, 2, null, { has_stats: false }),
    ]);
  });

  it('a day the loss API was never asked about has unknown loss, not 0', async () => {
    expect(await rates('2025-03-12')).toEqual([
      expect.objectContaining({ stage: R, platform: null, loss_count: null, denominator: 10, loss_rate: null }),
      expect.objectContaining({ stage: P, platform: null, loss_count: null, denominator: 10, loss_rate: null }),
    ]);
  });
});

describe('push_loss_reconciliation', () => {
  it('sets the loss API against TotalCount - SentCount and SentCount - DeliveredCount, except FCM after sending', async () => {
    const result = await rows(sql`
      select stage, platform, loss_count, implied_loss, difference from push_loss_reconciliation
       where sdkappid = ${A} and day = '2025-03-11' order by platform nulls first, stage desc`);
    expect(result).toEqual([
      { stage: R, platform: null, loss_count: 30, implied_loss: 40, difference: -10 },
      { stage: P, platform: null, loss_count: 10, implied_loss: 60, difference: -50 },
      { stage: R, platform: 2, loss_count: 0, implied_loss: 0, difference: 0 },
      { stage: P, platform: 2, loss_count: 0, implied_loss: 0, difference: 0 },
      { stage: R, platform: 3, loss_count: 12, implied_loss: 12, difference: 0 },
      { stage: P, platform: 3, loss_count: 0, implied_loss: 8, difference: -8 },
      { stage: R, platform: 4, loss_count: 0, implied_loss: 10, difference: -10 },
      { stage: P, platform: 4, loss_count: 5, implied_loss: null, difference: null },
      { stage: R, platform: 7, loss_count: 0, implied_loss: null, difference: null },
      { stage: P, platform: 7, loss_count: 0, implied_loss: null, difference: null },
      { stage: P, platform: 9, loss_count: 2, implied_loss: null, difference: null },
    ]);
  });

  it('is readable by pushloss_reader, like the other BI views', async () => {
    const granted = await rows<{ object: string }>(sql`
      select c.relname as object from pg_class c, aclexplode(c.relacl) a
       where c.relnamespace = current_schema()::regnamespace and a.grantee = 'pushloss_reader'::regrole
         and c.relname in ('push_stats', 'push_stats_daily', 'push_loss_rate', 'push_loss_reconciliation')
       order by 1`);
    expect(granted.map((g) => g.object)).toEqual([
      'push_loss_rate',
      'push_loss_reconciliation',
      'push_stats',
      'push_stats_daily',
    ]);
  });
});

describe('the rates dashboard (grafana/dashboards/pushloss-rates.json)', () => {
  const dashboard = JSON.parse(
    readFileSync(new URL('../../grafana/dashboards/pushloss-rates.json', import.meta.url), 'utf8'),
  ) as { panels: Array<{ title: string; targets: Array<{ rawSql: string }> }>; templating: { list: Variable[] } };
  /** The panel's SQL for app A, both stages, 2025-03-11 .. 2025-03-14 Beijing time, expanded as Grafana does. */
  const panelSql = (title: string) =>
    expandMacros(
      interpolateVariables(
        dashboard.panels.find((p) => p.title.startsWith(title))!.targets[0]!.rawSql,
        dashboard.templating.list,
        { sdkappid: { values: [String(A)] }, stage: { values: ['ready_to_send', 'post_send_delivered'] } },
      ),
      { from: new Date('2025-03-10T16:00:00Z'), to: new Date('2025-03-13T16:00:00Z') },
    );

  it('has the three panels: funnel, loss rate over time, top codes with their share of sent', () => {
    expect(dashboard.panels.map((p) => p.title)).toEqual([
      'Funnel per channel: total → sent → delivered → clicked',
      'Loss rate per stage and channel ($stage)',
      'Top error codes and their share of sent pushes ($stage)',
    ]);
  });

  it('funnel: per channel over the range, the overall row first (the API totals)', async () => {
    const funnel = await rows(sql.raw(panelSql('Funnel')));
    expect(funnel[0]).toEqual({ channel: 'all channels', total: 1020, sent: 979, delivered: 919, clicked: 51 });
    expect(funnel).toContainEqual({ channel: 'FCM', total: 300, sent: 290, delivered: 0, clicked: 0 });
  });

  it('loss rate: one point per day, stage and channel with a known denominator', async () => {
    const points = await rows<{ time: Date; metric: string; value: number | null }>(sql.raw(panelSql('Loss rate')));
    const on11 = points.filter((p) => p.time.toISOString() === '2025-03-10T16:00:00.000Z');
    expect(on11).toContainEqual({ time: on11[0]!.time, metric: 'all channels · Ready to send', value: 30 / 1000 });
    expect(on11).toContainEqual({ time: on11[0]!.time, metric: 'FCM · Sent, not delivered', value: 5 / 290 });
    expect(on11).toContainEqual({ time: on11[0]!.time, metric: 'Xiaomi · Ready to send', value: null });
    expect(points.some((p) => p.metric.startsWith('platform 9'))).toBe(false); // no statistics, no rate
  });

  it("top codes: each with its share of the channel's sent pushes", async () => {
    const codes = await rows<Record<string, unknown>>(sql.raw(panelSql('Top error codes')));
    expect(codes[0]).toEqual({
      Stage: 'Ready to send',
      Channel: 'all channels',
      Code: '-1',
      Description: 'x',
      Lost: 30,
      'Share of sent': 30 / 979,
      Title: 'Certificate ID not set',
      Fix: expect.stringMatching(/^Upload the vendor certificate/) as unknown,
    });
    expect(codes).toContainEqual(expect.objectContaining({ Channel: 'platform 9', Lost: 2, 'Share of sent': null }));
  });
});
