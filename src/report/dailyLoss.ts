/**
 * The over-time section of the loss report (the HTML report draws it): loss per local day, per
 * app, stage and channel (platform null: the stage's overall count), from `push_loss_daily`.
 */
import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { LossStage } from '../tencent/loss.ts';

export interface DailyLoss {
  /** Local day, `YYYY-MM-DD`. */
  day: string;
  sdkappid: number;
  stage: LossStage;
  stageName: string;
  platform: number | null;
  platformName: string | null;
  errCount: number;
}

/** Loss per day, app, stage and channel over the days `inPeriod` selects, for the apps `app` selects. */
export async function dailyLoss(
  db: Kysely<any>,
  inPeriod: RawBuilder<unknown>,
  app: RawBuilder<unknown>,
): Promise<DailyLoss[]> {
  const { rows } = await sql<{
    day: string;
    sdkappid: number;
    stage: LossStage;
    stage_name: string;
    platform: number | null;
    platform_name: string | null;
    err_count: number;
  }>`
    select d.day::text as day, d.sdkappid, d.stage, s.name as stage_name, d.platform, d.platform_name,
           sum(d.err_count)::int8 as err_count
      from push_loss_daily d
      join stage s on s.stage = d.stage
     where ${inPeriod} and ${app}
     group by d.day, d.sdkappid, d.stage, s.name, s.sort_order, d.platform, d.platform_name
     order by d.sdkappid, s.sort_order, d.platform nulls first, d.day`.execute(db);
  return rows.map((r) => ({
    day: r.day,
    sdkappid: r.sdkappid,
    stage: r.stage,
    stageName: r.stage_name,
    platform: r.platform,
    platformName: r.platform_name,
    errCount: r.err_count,
  }));
}
