/**
 * The current anomalies (`push_loss_anomalies`, migration 0012) as the report, `status` and the
 * daemon's metrics read them: one query, so the three always say the same.
 */
import { sql, type Kysely } from 'kysely';
import type { LossStage } from '../tencent/loss.ts';

export interface Anomaly {
  kind: 'failing_channel' | 'spike' | 'new_code';
  sdkappid: number;
  /** The local day judged (today or yesterday), `YYYY-MM-DD`. */
  day: string;
  stage: LossStage;
  platform: number;
  platformName: string;
  /** The new code, or the day's dominant code on that stage and channel. */
  errCode: string | null;
  title: string;
  fix: string;
  lossCount: number | null;
  /** `rate` (loss rate, statistics present) or `count` (lost pushes alone). */
  measure: 'rate' | 'count';
  value: number;
  /** The baseline median (spikes), null otherwise. */
  baseline: number | null;
  threshold: number | null;
}

/** The anomalies at `nowMs` (failing channels first, then spikes, then new codes), optionally of one app. */
export async function currentAnomalies(db: Kysely<any>, nowMs: number, sdkappid?: number): Promise<Anomaly[]> {
  const { rows } = await sql<{
    kind: Anomaly['kind'];
    sdkappid: number;
    day: string;
    stage: LossStage;
    platform: number;
    platform_name: string;
    err_code: string | null;
    title: string;
    fix: string;
    loss_count: number | null;
    measure: Anomaly['measure'];
    value: number;
    baseline: number | null;
    threshold: number | null;
  }>`
    select kind, sdkappid, day::text as day, stage, platform, platform_name, err_code, title, fix,
           loss_count, measure, value, baseline, threshold
      from push_loss_anomalies_at(to_timestamp(${nowMs}::float8 / 1000))
     where ${sdkappid ?? null}::int8 is null or sdkappid = ${sdkappid ?? null}::int8`.execute(db);
  return rows.map((r) => ({
    kind: r.kind,
    sdkappid: r.sdkappid,
    day: r.day,
    stage: r.stage,
    platform: r.platform,
    platformName: r.platform_name,
    errCode: r.err_code,
    title: r.title,
    fix: r.fix,
    lossCount: r.loss_count,
    measure: r.measure,
    value: r.value,
    baseline: r.baseline,
    threshold: r.threshold,
  }));
}

/** One line for a terminal: what, where, the numbers, and what to do. */
export function describeAnomaly(a: Anomaly): string {
  const shown = (v: number | null) =>
    v === null ? '-' : a.measure === 'rate' ? `${(v * 100).toFixed(1)}%` : String(Math.round(v));
  const what =
    a.kind === 'failing_channel'
      ? `FAILING CHANNEL: ${shown(a.value)} of pushes lost`
      : a.kind === 'spike'
        ? `SPIKE: loss ${a.measure} ${shown(a.value)} against a baseline of ${shown(a.baseline)}`
        : `NEW ERROR CODE ${a.errCode}: ${a.lossCount ?? 0} lost`;
  return `ANOMALY app ${a.sdkappid} ${a.day} ${a.stage} ${a.platformName}: ${what}; code ${a.errCode ?? '-'} (${a.title}): ${a.fix}`;
}

/** Per app, stage and channel, the loss rate of the latest day (today, else yesterday) with one. */
export async function latestLossRates(
  db: Kysely<any>,
  nowMs: number,
): Promise<Array<{ sdkappid: number; stage: string; platformName: string; lossRate: number }>> {
  const { rows } = await sql<{ sdkappid: number; stage: string; platform_name: string; loss_rate: number }>`
    with bounds as (
      select (to_timestamp(${nowMs}::float8 / 1000) at time zone push_loss_day_zone())::date as today
    )
    select distinct on (r.sdkappid, r.stage, r.platform) r.sdkappid, r.stage, r.platform_name, r.loss_rate
      from push_loss_rate r cross join bounds b
     where r.platform is not null and r.loss_rate is not null
       and r.day_start >= ((b.today - 1)::timestamp at time zone push_loss_day_zone())
       and r.day_start < ((b.today + 1)::timestamp at time zone push_loss_day_zone())
     order by r.sdkappid, r.stage, r.platform, r.day desc`.execute(db);
  return rows.map((r) => ({
    sdkappid: r.sdkappid,
    stage: r.stage,
    platformName: r.platform_name,
    lossRate: r.loss_rate,
  }));
}
