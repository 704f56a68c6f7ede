/**
 * The loss report without a BI tool: what the BI views say about the last few local days, as
 * structured rows. Reads the views only (never the base tables), so it shows exactly what a
 * dashboard shows, and runs as the read-only `pushloss_reader` role as well as the owner.
 */
import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import type { LossStage } from '../tencent/loss.ts';
import { dailyLoss, type DailyLoss } from './dailyLoss.ts';
import { currentAnomalies, type Anomaly } from './anomalies.ts';
import { rateLines, type RateLine } from './rates.ts';
import { revisionLines, type RevisionLine } from './revisions.ts';

export type { RateLine } from './rates.ts';
export type { RevisionLine } from './revisions.ts';

export interface LossReportOptions {
  /** One app; all apps found in the period when omitted. */
  sdkappid?: number | undefined;
  /** How many local days, ending with today (the day holding `nowMs`). */
  days: number;
  /** "Now", in milliseconds since the epoch: decides which day is today. */
  nowMs: number;
  /**
   * Time zone of the days (the collector's BUCKET_TZ). Omitted: the database's own choice,
   * `push_loss_day_zone()` (setting `pushloss.bucket_tz`, else Asia/Shanghai).
   */
  timeZone?: string | undefined;
  /** Error codes listed per stage and channel (default 5). */
  top?: number;
  /** Also the loss per day (the HTML report's charts over time). */
  daily?: boolean;
}

/** Loss of one stage over the period, from the overall arrays. */
export interface StageTotal {
  sdkappid: number;
  stage: LossStage;
  stageName: string;
  errCount: number;
}

/** Loss of one channel in one stage over the period, from the per-channel arrays. */
export interface ChannelTotal {
  sdkappid: number;
  stage: LossStage;
  stageName: string;
  platform: number;
  platformName: string;
  errCount: number;
  /** errCount / the stage's per-channel total (0..1); null when that total is 0. */
  share: number | null;
}

/** One of the most frequent error codes of a stage and channel (platform null: overall). */
export interface TopCode {
  sdkappid: number;
  stage: LossStage;
  stageName: string;
  platform: number | null;
  platformName: string | null;
  /** 1 = most losses; ties go to the lower error code (text order). */
  rank: number;
  errCode: string;
  /** The description the API gave with the code on the day it counted the most. */
  errInfo: string;
  errCount: number;
  /** The catalogue's title for the code on its channel ('unknown code' when not catalogued). */
  title: string;
  /** What to do about it, from the catalogue. */
  fix: string;
}

export interface LossReport {
  /** The app asked for, or null for all apps. */
  sdkappid: number | null;
  /** Zone the days are local to. */
  timeZone: string;
  /** First day of the period, `YYYY-MM-DD`. */
  from: string;
  /** Last day of the period (today), `YYYY-MM-DD`, inclusive. */
  to: string;
  days: number;
  top: number;
  /** What push_loss_anomalies finds now: failing channels, spikes, new codes (listed first). */
  anomalies: Anomaly[];
  /** Per app, every stage (0 when nothing was lost), in the stages' order. */
  stages: StageTotal[];
  /** Per app and stage, the channels that lost pushes, most first. */
  channels: ChannelTotal[];
  /** Per app, stage and channel (overall first, then by platform number), the top codes. */
  topCodes: TopCode[];
  /** Per app, channel (overall first) and stage, the loss rates (only where statistics exist). */
  rates: RateLine[];
  /** Per app, stage and channel (overall first), the loss of each day; only when asked for. */
  daily?: DailyLoss[];
  /** How counts settled with age (all apps, all time; `push_loss_revisions`). */
  revisions: RevisionLine[];
}

/**
 * Builds the loss report of the `days` local days ending today (the day holding `nowMs`), from
 * `push_loss_daily` and `push_loss_top_codes`. Throws a RangeError on a bad option.
 *
 * Runs in one read-only repeatable-read transaction, or in the caller's if `db` is one. With
 * `timeZone`, the days are counted in that zone for these queries only: a transaction-local
 * `pushloss.bucket_tz`, put back as it was before returning.
 */
export async function lossReport(db: Kysely<any>, options: LossReportOptions): Promise<LossReport> {
  const { sdkappid, days, nowMs } = options;
  const top = options.top ?? 5;
  if (sdkappid !== undefined && !(Number.isSafeInteger(sdkappid) && sdkappid > 0))
    throw new RangeError(`sdkappid ${sdkappid} is not a positive integer`);
  if (!(Number.isInteger(days) && days >= 1)) throw new RangeError(`days ${days} is not a whole number of at least 1`);
  if (!(Number.isInteger(top) && top >= 1)) throw new RangeError(`top ${top} is not a whole number of at least 1`);
  if (!Number.isFinite(nowMs)) throw new RangeError(`nowMs ${nowMs} is not a time`);

  const run = async (trx: Kysely<any>): Promise<LossReport> => {
    const previousZone = options.timeZone === undefined ? undefined : await setDayZone(trx, options.timeZone);
    try {
      return await buildReport(trx, { sdkappid, days, nowMs, top, daily: options.daily ?? false });
    } finally {
      // If a query failed, the transaction is aborted and its rollback restores the setting:
      // never hide that query's error behind this one's.
      if (previousZone !== undefined) await setDayZone(trx, previousZone).catch(() => {});
    }
  };
  if (db.isTransaction) return run(db);
  // One read-only snapshot, so the three sections agree with each other while the collector
  // replaces buckets; and the transaction bounds the zone setting.
  return db.transaction().setIsolationLevel('repeatable read').setAccessMode('read only').execute(run);
}

/** Sets `pushloss.bucket_tz` for the current transaction; returns the value it replaced ('' if unset). */
async function setDayZone(db: Kysely<any>, zone: string): Promise<string> {
  const { rows } = await sql<{ previous: string | null }>`
    select current_setting('pushloss.bucket_tz', true) as previous, set_config('pushloss.bucket_tz', ${zone}, true)`.execute(
    db,
  );
  return rows[0]?.previous ?? '';
}

async function buildReport(
  db: Kysely<any>,
  {
    sdkappid,
    days,
    nowMs,
    top,
    daily,
  }: { sdkappid: number | undefined; days: number; nowMs: number; top: number; daily: boolean },
): Promise<LossReport> {
  const period = await sql<{ time_zone: string; from: string; to: string }>`
    with today as (select (to_timestamp(${nowMs}::float8 / 1000) at time zone push_loss_day_zone())::date as day)
    select push_loss_day_zone() as time_zone,
           (day - ${days - 1}::int)::text as "from",
           day::text as "to"
      from today`.execute(db);
  const { time_zone: timeZone, from, to } = period.rows[0]!;
  const inPeriod = sql`day between ${from}::date and ${to}::date`;
  const app = sdkappid === undefined ? sql`true` : sql`sdkappid = ${sdkappid}::int8`;

  const stages = await sql<{ sdkappid: number; stage: LossStage; stage_name: string; err_count: number }>`
    with apps as (
      ${sdkappid === undefined ? sql`select distinct sdkappid from push_loss_daily where ${inPeriod}` : sql`select ${sdkappid}::int8 as sdkappid`}
    ),
    totals as (
      select sdkappid, stage, sum(err_count)::int8 as err_count
        from push_loss_daily
       where platform is null and ${inPeriod} and ${app}
       group by sdkappid, stage
    )
    select a.sdkappid, s.stage, s.name as stage_name, coalesce(t.err_count, 0)::int8 as err_count
      from apps a
     cross join stage s
      left join totals t on t.sdkappid = a.sdkappid and t.stage = s.stage
     order by a.sdkappid, s.sort_order`.execute(db);

  const channels = await sql<{
    sdkappid: number;
    stage: LossStage;
    stage_name: string;
    platform: number;
    platform_name: string;
    err_count: number;
    share: number | null;
  }>`
    select d.sdkappid, d.stage, s.name as stage_name, d.platform, d.platform_name,
           sum(d.err_count)::int8 as err_count,
           (sum(d.err_count) / nullif(sum(sum(d.err_count)) over (partition by d.sdkappid, d.stage), 0))::float8 as share
      from push_loss_daily d
      join stage s on s.stage = d.stage
     where d.platform is not null and ${inPeriod} and ${app}
     group by d.sdkappid, d.stage, s.name, s.sort_order, d.platform, d.platform_name
     order by d.sdkappid, s.sort_order, err_count desc, d.platform`.execute(db);

  // Ranked again over the period: a view's rank is per day.
  const topCodes = await sql<{
    sdkappid: number;
    stage: LossStage;
    stage_name: string;
    platform: number | null;
    platform_name: string | null;
    rank: number;
    err_code: string;
    err_info: string;
    err_count: number;
    title: string;
    fix: string;
  }>`
    select sdkappid, stage, stage_name, platform, platform_name, rank, err_code, err_info, err_count, x.title, x.fix
      from (select t.sdkappid, t.stage, s.name as stage_name, s.sort_order, t.platform, t.platform_name, t.err_code,
                   (array_agg(t.err_info order by t.err_count desc, t.day desc))[1] as err_info,
                   sum(t.err_count)::int8 as err_count,
                   row_number() over (partition by t.sdkappid, t.stage, t.platform
                                      order by sum(t.err_count) desc, t.err_code) as rank
              from push_loss_top_codes t
              join stage s on s.stage = t.stage
             where ${inPeriod} and ${app}
             group by t.sdkappid, t.stage, s.name, s.sort_order, t.platform, t.platform_name, t.err_code) ranked
     cross join lateral push_error_explain(ranked.platform, ranked.err_code) x
     where rank <= ${top}
     order by sdkappid, sort_order, platform nulls first, rank`.execute(db);

  const rates = await rateLines(db, inPeriod, app);
  const perDay = daily ? { daily: await dailyLoss(db, inPeriod, app) } : {};
  const anomalies = await currentAnomalies(db, nowMs, sdkappid);
  const revisions = await revisionLines(db);

  return {
    sdkappid: sdkappid ?? null,
    timeZone,
    from,
    to,
    days,
    top,
    anomalies,
    stages: stages.rows.map((r) => ({
      sdkappid: r.sdkappid,
      stage: r.stage,
      stageName: r.stage_name,
      errCount: r.err_count,
    })),
    channels: channels.rows.map((r) => ({
      sdkappid: r.sdkappid,
      stage: r.stage,
      stageName: r.stage_name,
      platform: r.platform,
      platformName: r.platform_name,
      errCount: r.err_count,
      share: r.share,
    })),
    topCodes: topCodes.rows.map((r) => ({
      sdkappid: r.sdkappid,
      stage: r.stage,
      stageName: r.stage_name,
      platform: r.platform,
      platformName: r.platform_name,
      rank: r.rank,
      errCode: r.err_code,
      errInfo: r.err_info,
      errCount: r.err_count,
      title: r.title,
      fix: r.fix,
    })),
    rates,
    ...perDay,
    revisions,
  };
}
