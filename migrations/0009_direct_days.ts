/**
 * Day buckets are their own rollup (issue 9, third round).
 *
 * With day buckets (the default), a day's per-code loss IS its 1d bucket's facts: `loss_day`
 * held a second copy of every fact, and writing that copy (with its rank) was most of a load's
 * cost. Now:
 * - `loss_day_code` (internal view): a day's per-code loss, read from the facts themselves when
 *   the day is "direct" (its one fetched 1d bucket starts on the local midnight), and from
 *   `loss_day` otherwise. `loss_day` keeps only the days that must be summed: hours, or 1d
 *   buckets that do not match the day (fetched in another zone, or several in one day).
 * - `loss_day_override`: the 1d buckets whose facts are NOT their day (their days are in
 *   `loss_day`), so the direct branch skips them. Empty unless BUCKET_TZ or the size changed.
 * - The rank of `push_loss_top_codes` is computed when read (a window over the one day asked
 *   for; filters on sdkappid and day_start reach the facts' primary key, since they are the
 *   window's partition columns).
 * `loss_day_total`, `loss_code_week` and `loss_week` are unchanged, recomputed from
 * `loss_day_code`. Which days are direct is decided in the same refresh that rewrites them, in
 * the load's transaction, so it cannot drift from the facts. The migration rebuilds the rollup.
 *
 * Frozen in time: never import application code here.
 */
import { sql } from 'kysely';
import type { Kysely } from 'kysely';

const ROLLUP_ZONE = `push_loss_day_zone() = (select zone from loss_rollup_zone)`;
const OTHER_ZONE = `push_loss_day_zone() <> (select zone from loss_rollup_zone)`;

/** As in 0007: max() of this text is the description of the row that counted the most, the latest on a tie. */
function bestKey(count: string, at: string, info: string): string {
  return `(lpad(${count}::text, 20, '0') || to_char(${at}, 'YYYYMMDDHH24MISS') || ${info}) collate "C"`;
}
const keyCount = (key: string) => `substr(${key}, 1, 20)::int8`;
const keyDay = (key: string) => `to_date(substr(${key}, 21, 8), 'YYYYMMDD')`;
const keyInfo = (key: string) => `(substr(${key}, 35) collate "default")`;

/** A local day's bounds as instants, in zone z. */
const dayStart = (day: string) => `(${day}::timestamp at time zone z)`;
const dayEnd = (day: string) => `((${day} + 1)::timestamp at time zone z)`;

/** The day totals and the weeks of the refreshed days, recomputed from their per-code days in `source`. */
const totalsAndWeeks = (source: string) => `
     delete from loss_day_total l using unnest(apps, days) t(sdkappid, day)
      where l.sdkappid = t.sdkappid and l.day_start = ${dayStart('t.day')};
     insert into loss_day_total (sdkappid, day_start, stage, platform, day, err_count, bucket_size)
     select t.sdkappid, ${dayStart('t.day')}, c.stage, c.platform, t.day, sum(c.err_count)::int8, min(c.bucket_size)
       from unnest(apps, days) t(sdkappid, day)
       -- One index range scan per day (kept apart, as in 0007).
       cross join lateral (select c.stage, c.platform, c.err_count, c.bucket_size from ${source} c
                            where c.sdkappid = t.sdkappid and c.day_start = ${dayStart('t.day')} offset 0) c
      group by t.sdkappid, t.day, c.stage, c.platform;

     -- The ISO weeks holding the days, recomputed from their days.
     select array_agg(x.sdkappid), array_agg(x.week_start) into week_apps, week_starts
       from (select distinct t.sdkappid, date_trunc('week', t.day::timestamp)::date as week_start
               from unnest(apps, days) t(sdkappid, day)) x;
     delete from loss_code_week w using unnest(week_apps, week_starts) t(sdkappid, week_start)
      where w.sdkappid = t.sdkappid and w.week_day_start = ${dayStart('t.week_start')};
     insert into loss_code_week (sdkappid, week_day_start, week_start, stage, platform, err_code, err_count,
                                 best_count, best_day, err_info)
     select g.sdkappid, g.week_day_start, g.week_start, g.stage, g.platform, g.err_code, g.err_count,
            ${keyCount('g.best')}, ${keyDay('g.best')}, ${keyInfo('g.best')}
       from (select t.sdkappid, ${dayStart('t.week_start')} as week_day_start, t.week_start,
                    l.stage, l.platform, l.err_code, sum(l.err_count)::int8 as err_count,
                    max(${bestKey('l.err_count', 'l.day', 'l.err_info')}) as best
               from unnest(week_apps, week_starts) t(sdkappid, week_start)
               cross join lateral (
                 select d.stage, d.platform, d.err_code, d.err_count, d.day, d.err_info from ${source} d
                  where d.sdkappid = t.sdkappid
                    and d.day_start >= ${dayStart('t.week_start')} and d.day_start < ${dayStart('(t.week_start + 7)')}
                 offset 0) l
              group by t.sdkappid, t.week_start, l.stage, l.platform, l.err_code) g;

     -- A week counts for itself, and as "the week before" for the next one (as in 0007).
     select array_agg(x.sdkappid), array_agg(x.week_start) into week_apps, week_starts
       from (select distinct t.sdkappid, t.week_start + s.shift as week_start
               from unnest(week_apps, week_starts) t(sdkappid, week_start), (values (0), (7)) s(shift)) x;
     delete from loss_week w using unnest(week_apps, week_starts) t(sdkappid, week_start)
      where w.sdkappid = t.sdkappid and w.week_start = t.week_start;
     with touched as (
       select * from unnest(week_apps, week_starts) t(sdkappid, week_start)
     ),
     cur as (
       select t.sdkappid, t.week_start, c.stage, c.err_code, c.err_info, c.err_count
         from touched t
         join loss_code_week c on c.sdkappid = t.sdkappid and c.platform = -1
          and c.week_day_start = ${dayStart('t.week_start')}
     ),
     prev as (
       select t.sdkappid, t.week_start, c.stage, c.err_code, c.err_info, c.err_count
         from touched t
         join loss_code_week c on c.sdkappid = t.sdkappid and c.platform = -1
          and c.week_day_start = ${dayStart('(t.week_start - 7)')}
     )
     insert into loss_week (sdkappid, week_start, stage, err_code, err_info, err_count, prev_err_count)
     select coalesce(cur.sdkappid, prev.sdkappid), coalesce(cur.week_start, prev.week_start),
            coalesce(cur.stage, prev.stage), coalesce(cur.err_code, prev.err_code),
            coalesce(cur.err_info, prev.err_info),
            coalesce(cur.err_count, 0), coalesce(prev.err_count, 0)
       from cur
       full join prev on prev.sdkappid = cur.sdkappid and prev.week_start = cur.week_start
        and prev.stage = cur.stage and prev.err_code = cur.err_code;
`;

const DAYS_FUNCTION = `create or replace function push_loss_rollup_days(apps bigint[], days date[]) returns void
   language plpgsql set work_mem = '64MB' as $$
   declare
     z text := (select zone from loss_rollup_zone);
     day_apps bigint[];
     day_days date[];
     day_sources text[];
     week_apps bigint[];
     week_starts date[];
   begin
     -- Each day's source: 'direct' (one fetched 1d bucket, on the local midnight: its facts are the
     -- day), '1d' (fetched 1d buckets that are not the day: summed), '1h' (no fetched 1d bucket:
     -- its hours summed). A day's 1d bucket wins when fetched, even with no loss in it (as in 0003).
     select array_agg(s.sdkappid), array_agg(s.day), array_agg(s.source) into day_apps, day_days, day_sources
       from (select t.sdkappid, t.day,
                    case when count(b.bucket_start) = 0 then '1h'
                         when count(b.bucket_start) = 1 and min(b.bucket_start) = ${dayStart('t.day')} then 'direct'
                         else '1d' end as source
               from unnest(apps, days) t(sdkappid, day)
               left join bucket_state b on b.sdkappid = t.sdkappid and b.bucket_size = '1d'
                and b.last_fetched_at is not null
                and b.bucket_start >= ${dayStart('t.day')} and b.bucket_start < ${dayEnd('t.day')}
              group by t.sdkappid, t.day) s;

     delete from loss_day l using unnest(apps, days) t(sdkappid, day)
      where l.sdkappid = t.sdkappid and l.day_start = ${dayStart('t.day')};
     delete from loss_day_override o using unnest(apps, days) t(sdkappid, day)
      where o.sdkappid = t.sdkappid and o.bucket_start >= ${dayStart('t.day')} and o.bucket_start < ${dayEnd('t.day')};
     insert into loss_day_override (sdkappid, bucket_start)
     select b.sdkappid, b.bucket_start
       from unnest(day_apps, day_days, day_sources) t(sdkappid, day, source)
       join bucket_state b on b.sdkappid = t.sdkappid and b.bucket_size = '1d' and b.last_fetched_at is not null
        and b.bucket_start >= ${dayStart('t.day')} and b.bucket_start < ${dayEnd('t.day')}
      where t.source = '1d';
     insert into loss_day (sdkappid, day_start, stage, platform, err_code, day, err_count, err_info, bucket_size)
     select t.sdkappid, ${dayStart('t.day')}, f.stage, f.platform, f.err_code, t.day,
            sum(f.err_count)::int8,
            -- Summed hours: the description of the hour that counted the most (the latest on a tie).
            ${keyInfo(`max(${bestKey('f.err_count', "f.bucket_start at time zone 'UTC'", 'f.err_info')})`)},
            t.source
       from unnest(day_apps, day_days, day_sources) t(sdkappid, day, source)
       join loss_fact f on f.sdkappid = t.sdkappid and f.bucket_size = t.source
        and f.bucket_start >= ${dayStart('t.day')} and f.bucket_start < ${dayEnd('t.day')}
      where t.source <> 'direct'
      group by t.sdkappid, t.day, t.source, f.stage, f.platform, f.err_code;

     ${totalsAndWeeks('loss_day_code')}
   end
   $$`;

const REBUILD_FUNCTION = (
  tables: string,
) => `create or replace function push_loss_rollup_rebuild(new_zone text) returns void
   language plpgsql as $$
   begin
     perform pg_advisory_xact_lock(hashtextextended('pushloss rollup zone', 0));
     update loss_rollup_zone set zone = new_zone;
     truncate ${tables};
     perform push_loss_rollup_days(array_agg(d.sdkappid), array_agg(d.day))
        from (select distinct b.sdkappid, (b.bucket_start at time zone new_zone)::date as day
                from bucket_state b where b.last_call_id is not null) d;
   end
   $$`;

/** The per-code days of push_loss_code_periods and push_loss_top_codes (0007's and 0004's, over `source`). */
function codePeriodsView(source: string): string {
  const weekOf = (day: string) =>
    `(date_trunc('week', ${day}::timestamp)::date::timestamp at time zone push_loss_day_zone())`;
  const weekEndOf = (day: string) =>
    `((date_trunc('week', ${day}::timestamp)::date + 6)::timestamp at time zone push_loss_day_zone())`;
  return `create view push_loss_code_periods as
   select w.sdkappid, 'week'::text as period,
          w.week_day_start as first_day_start,
          ((w.week_start + 6)::timestamp at time zone push_loss_day_zone()) as last_day_start,
          w.week_day_start as week_first_day_start,
          ((w.week_start + 6)::timestamp at time zone push_loss_day_zone()) as week_last_day_start,
          w.stage,
          case when w.platform >= 0 then w.platform end as platform,
          case when w.platform >= 0 then coalesce(p.name, 'platform ' || w.platform) end as platform_name,
          w.err_code, w.err_count, w.best_count, w.best_day, w.err_info
     from loss_code_week w
     left join platform p on p.platform = w.platform
    where ${ROLLUP_ZONE}
   union all
   select l.sdkappid, 'day', l.day_start, l.day_start, ${weekOf('l.day')}, ${weekEndOf('l.day')},
          l.stage,
          case when l.platform >= 0 then l.platform end,
          case when l.platform >= 0 then coalesce(p.name, 'platform ' || l.platform) end,
          l.err_code, l.err_count, l.err_count, l.day, l.err_info
     from ${source} l
     left join platform p on p.platform = l.platform
    where ${ROLLUP_ZONE}
   union all
   select g.sdkappid, 'week', ${weekOf('g.week_start')}, ${weekEndOf('g.week_start')},
          ${weekOf('g.week_start')}, ${weekEndOf('g.week_start')},
          g.stage, g.platform, g.platform_name, g.err_code, g.err_count,
          ${keyCount('g.best')}, ${keyDay('g.best')}, ${keyInfo('g.best')}
     from (select sdkappid, date_trunc('week', day::timestamp)::date as week_start, stage, platform, platform_name,
                  err_code, sum(err_count)::int8 as err_count,
                  max(${bestKey('err_count', 'day', 'err_info')}) as best
             from push_loss_top_codes_by_fact
            where ${OTHER_ZONE}
            group by 1, 2, 3, 4, 5, 6) g
   union all
   select sdkappid, 'day', day_start, day_start, ${weekOf('day')}, ${weekEndOf('day')},
          stage, platform, platform_name, err_code, err_count, err_count, day, err_info
     from push_loss_top_codes_by_fact
    where ${OTHER_ZONE}`;
}

/** push_loss_top_codes over `source`, with `rank` either stored or computed on read. */
function topCodesView(source: string, rank: string): string {
  return `create view push_loss_top_codes as
   select l.sdkappid,
          l.day,
          l.day_start,
          l.stage,
          case when l.platform >= 0 then l.platform end as platform,
          case when l.platform >= 0 then coalesce(p.name, 'platform ' || l.platform) end as platform_name,
          ${rank} as rank,
          l.err_code,
          l.err_info,
          l.err_count,
          l.bucket_size
     from ${source} l
     left join platform p on p.platform = l.platform
    where ${ROLLUP_ZONE}
   union all
   select * from push_loss_top_codes_by_fact where ${OTHER_ZONE}`;
}

/** The comments and grant the two recreated views had (0004, 0007). */
const VIEW_DOCS = [
  `comment on view push_loss_top_codes is
   'Loss per app, local day, stage, channel and error code, with rank 1..n within (sdkappid, day, stage, platform) by err_count (ties: lower err_code first). Filter rank <= N for a day''s top N; over a period, sum err_count per err_code and rank again. day is the local day in push_loss_day_zone() (default Asia/Shanghai); a day''s 1d bucket is used when fetched, else its 1h buckets are summed (bucket_size says which). platform IS NULL: overall arrays; never add overall and per-channel rows together. Filter on sdkappid and day_start for speed.'`,
  `comment on column push_loss_top_codes.day_start is 'The local midnight that starts day, as an instant (a time column for Grafana)'`,
  `comment on column push_loss_top_codes.err_info is 'Description given for the code that day (summed hours: that of the hour with the largest count)'`,
  `comment on column push_loss_top_codes.bucket_size is 'Source of the day: 1d (the day bucket) or 1h (its hour buckets, summed)'`,
  `comment on view push_loss_code_periods is
   'Loss per app, stage, channel and error code over whole ISO weeks (period = week) and single days (period = day), for summing over a long range cheaply. Never add both for the same days: take the weeks whose first_day_start and last_day_start are in the range, and the days in the range whose week_first_day_start and week_last_day_start are not both in it. best_count and best_day: the day of the period with the largest count (the latest on a tie), err_info its description. Days as in push_loss_top_codes. Filter on sdkappid and first_day_start for speed.'`,
  'grant select on push_loss_top_codes, push_loss_code_periods to pushloss_reader',
];

const up_statements = [
  'drop view push_loss_code_periods, push_loss_top_codes',
  `create table loss_day_override (
     sdkappid bigint not null,
     bucket_start timestamptz not null,
     constraint loss_day_override_pkey primary key (sdkappid, bucket_start)
   )`,
  'truncate loss_day',
  'alter table loss_day drop column rank',
  `create view loss_day_code as
   select f.sdkappid, f.bucket_start as day_start, (f.bucket_start at time zone (select zone from loss_rollup_zone))::date as day,
          f.stage, f.platform, f.err_code, f.err_count, f.err_info, f.bucket_size
     from loss_fact f
    where f.bucket_size = '1d'
      and not exists (select from loss_day_override o where o.sdkappid = f.sdkappid and o.bucket_start = f.bucket_start)
   union all
   select sdkappid, day_start, day, stage, platform, err_code, err_count, err_info, bucket_size from loss_day`,
  `comment on view loss_day_code is
   'Internal to the BI views: loss per app, local day (in loss_rollup_zone), stage, channel (-1: overall) and error code. A day whose one 1d bucket starts on its midnight is that bucket''s facts; every other day is summed in loss_day.'`,
  DAYS_FUNCTION,
  REBUILD_FUNCTION('loss_day, loss_day_override, loss_day_total, loss_week, loss_code_week'),
  `select push_loss_rollup_rebuild((select zone from loss_rollup_zone))`,
  topCodesView(
    'loss_day_code',
    'row_number() over (partition by l.sdkappid, l.day_start, l.stage, l.platform order by l.err_count desc, l.err_code)',
  ),
  codePeriodsView('loss_day_code'),
  ...VIEW_DOCS,
];

// 0007's refresh, as it was: needed to go back to a loss_day that holds every day with its rank.
const DAYS_FUNCTION_0007 = `create or replace function push_loss_rollup_days(apps bigint[], days date[]) returns void
   language plpgsql set work_mem = '64MB' as $$
   declare
     z text := (select zone from loss_rollup_zone);
     week_apps bigint[];
     week_starts date[];
   begin
     delete from loss_day l using unnest(apps, days) t(sdkappid, day)
      where l.sdkappid = t.sdkappid and l.day_start = ${dayStart('t.day')};
     insert into loss_day (sdkappid, day_start, stage, platform, err_code, day, rank, err_count, err_info, bucket_size)
     select c.sdkappid, c.day_start, c.stage, c.platform, c.err_code, c.day,
            row_number() over (partition by c.sdkappid, c.day_start, c.stage, c.platform
                               order by c.err_count desc, c.err_code),
            c.err_count, ${keyInfo('c.best')}, c.bucket_size
       from (select t.sdkappid, t.day, t.day_start, f.stage, f.platform, f.err_code,
                    sum(f.err_count)::int8 as err_count,
                    max(${bestKey('f.err_count', "f.bucket_start at time zone 'UTC'", 'f.err_info')}) as best,
                    min(f.bucket_size) as bucket_size
               from (select u.sdkappid, u.day, d.day_start, d.day_end,
                            case when exists (
                              select from bucket_state b
                               where b.sdkappid = u.sdkappid and b.bucket_size = '1d' and b.last_fetched_at is not null
                                 and b.bucket_start >= d.day_start and b.bucket_start < d.day_end) then '1d' else '1h' end as size
                       from unnest(apps, days) u(sdkappid, day),
                            lateral (select ${dayStart('u.day')} as day_start, ${dayEnd('u.day')} as day_end) d) t
               join loss_fact f on f.sdkappid = t.sdkappid and f.bucket_start >= t.day_start
                               and f.bucket_start < t.day_end and f.bucket_size = t.size
              group by t.sdkappid, t.day, t.day_start, f.stage, f.platform, f.err_code) c;
     ${totalsAndWeeks('loss_day')}
   end
   $$`;

const down_statements = [
  'drop view push_loss_code_periods, push_loss_top_codes',
  REBUILD_FUNCTION('loss_day, loss_day_total, loss_week, loss_code_week'),
  'drop view loss_day_code',
  'drop table loss_day_override',
  'truncate loss_day',
  'alter table loss_day add column rank bigint not null',
  DAYS_FUNCTION_0007,
  `select push_loss_rollup_rebuild((select zone from loss_rollup_zone))`,
  topCodesView('loss_day', 'l.rank'),
  codePeriodsView('loss_day'),
  ...VIEW_DOCS,
];

export async function up(db: Kysely<any>): Promise<void> {
  for (const statement of up_statements) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const statement of down_statements) await sql.raw(statement).execute(db);
}
