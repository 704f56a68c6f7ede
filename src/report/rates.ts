/**
 * The rates section of the loss report: loss as a share of pushes, from `push_loss_rate` (which
 * joins the loss rollup with the statistics API's counts).
 */
import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { LossStage } from '../tencent/loss.ts';

/**
 * Loss as a share of pushes over the period, per app, stage and channel (platform null: overall),
 * from `push_loss_rate`: days where the loss or the denominator is unknown are left out of both.
 */
export interface RateLine {
  sdkappid: number;
  stage: LossStage;
  stageName: string;
  platform: number | null;
  platformName: string | null;
  /** FCM: it reports no push statistics, so its delivery and click rates are null. */
  statisticsIncomplete: boolean;
  lossCount: number | null;
  /** TotalCount (ready to send) or SentCount (post send), summed. */
  denominator: number | null;
  /** lossCount / denominator; null when the denominator is 0 or unknown. */
  lossRate: number | null;
  deliveryRate: number | null;
  clickRate: number | null;
}

/** Rates per app, stage and channel over the days `inPeriod` selects, for the apps `app` selects. */
export async function rateLines(
  db: Kysely<any>,
  inPeriod: RawBuilder<unknown>,
  app: RawBuilder<unknown>,
): Promise<RateLine[]> {
  const { rows } = await sql<{
    sdkappid: number;
    stage: LossStage;
    stage_name: string;
    platform: number | null;
    platform_name: string | null;
    statistics_incomplete: boolean;
    loss_count: number | null;
    denominator: number | null;
    loss_rate: number | null;
    delivery_rate: number | null;
    click_rate: number | null;
  }>`
    select r.sdkappid, r.stage, s.name as stage_name, r.platform, r.platform_name,
           bool_or(r.statistics_incomplete) as statistics_incomplete,
           sum(r.loss_count) filter (where r.denominator is not null)::int8 as loss_count,
           sum(r.denominator) filter (where r.loss_count is not null)::int8 as denominator,
           (sum(r.loss_count) filter (where r.denominator is not null)
             / nullif(sum(r.denominator) filter (where r.loss_count is not null), 0))::float8 as loss_rate,
           case when not bool_or(r.statistics_incomplete) then
             (sum(r.delivered_count) filter (where r.sent_count is not null)
               / nullif(sum(r.sent_count) filter (where r.delivered_count is not null), 0))::float8 end as delivery_rate,
           case when not bool_or(r.statistics_incomplete) then
             (sum(r.click_count) filter (where r.delivered_count is not null)
               / nullif(sum(r.delivered_count) filter (where r.click_count is not null), 0))::float8 end as click_rate
      from push_loss_rate r
      join stage s on s.stage = r.stage
     where r.has_stats and ${inPeriod} and ${app}
     group by r.sdkappid, r.stage, s.name, s.sort_order, r.platform, r.platform_name
     order by r.sdkappid, r.platform nulls first, s.sort_order`.execute(db);

  return rows.map((r) => ({
    sdkappid: r.sdkappid,
    stage: r.stage,
    stageName: r.stage_name,
    platform: r.platform,
    platformName: r.platform_name,
    statisticsIncomplete: r.statistics_incomplete,
    lossCount: r.loss_count,
    denominator: r.denominator,
    lossRate: r.loss_rate,
    deliveryRate: r.delivery_rate,
    clickRate: r.click_rate,
  }));
}

/** A share as a percentage, empty when unknown. */
export function percent(share: number | null, digits = 1): string {
  return share === null ? '' : `${(share * 100).toFixed(digits)}%`;
}

/** The cells every report format shows for a rate line, after its channel and stage. */
export function rateCells(r: RateLine): string[] {
  return [
    r.lossCount === null ? '' : String(r.lossCount),
    r.denominator === null ? '' : String(r.denominator),
    percent(r.lossRate, 2),
    percent(r.deliveryRate),
    percent(r.clickRate),
    r.statisticsIncomplete ? 'FCM reports no delivery or click statistics' : '',
  ];
}
