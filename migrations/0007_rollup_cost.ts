/**
 * The rollup's cost follows the question, at load time and at query time (issue 9, second round).
 *
 * - `loss_code_week`: per app, ISO week, stage, channel and error code, the week's count and the
 *   day that counted the most (its count, day and description). The top error codes panel reads
 *   whole weeks from it and only the days at the ends of its range from `loss_day`, through the
 *   view `push_loss_code_periods`: a month for one app is about 5 rows per code instead of 30,
 *   a year about 52 instead of 365.
 * - A cheaper refresh (`push_loss_rollup_days`, same signature and callers): the source size of a
 *   day is decided once per day, not once per fact; "the description of the row that counted the
 *   most" is a plain max() over a sortable text key instead of an ordered array_agg (one sort per
 *   group); `loss_week` pairs two rows of `loss_code_week` per code instead of summing 14 days of
 *   `loss_day`, and `loss_code_week` is recomputed for the touched weeks only.
 *
 * Everything is recomputed from facts (never adjusted by differences), in the load's transaction,
 * as in 0004. The migration rebuilds the whole rollup, so `loss_code_week` holds existing data.
 *
 * Frozen in time: never import application code here.
 */
import { sql } from 'kysely';
import type { Kysely } from 'kysely';

const ROLLUP_ZONE = `push_loss_day_zone() = (select zone from loss_rollup_zone)`;
const OTHER_ZONE = `push_loss_day_zone() <> (select zone from loss_rollup_zone)`;

/**
 * A text that sorts (in the C collation) like (count, instant or day) and ends with the
 * description: max() of it is the description of the row that counted the most, the latest on a
 * tie, without sorting each group. Counts are >= 0 (loss_fact_err_count_check), at most 19
 * digits; the second part is a fixed-width YYYYMMDDHH24MISS.
 */
function bestKey(count: string, at: string, info: string): string {
  return `(lpad(${count}::text, 20, '0') || to_char(${at}, 'YYYYMMDDHH24MISS') || ${info}) collate "C"`;
}
const KEY_INFO = 35; // substr(key, 35): the description
const keyCount = (key: string) => `substr(${key}, 1, 20)::int8`;
const keyDay = (key: string) => `to_date(substr(${key}, 21, 8), 'YYYYMMDD')`;
const keyInfo = (key: string) => `(substr(${key}, ${KEY_INFO}) collate "default")`;

// work_mem: a page of renormalize (500 buckets, ~100 k rows) sorts in memory instead of on disk.
const DAYS_FUNCTION = `create or replace function push_loss_rollup_days(apps bigint[], days date[]) returns void
   language plpgsql set work_mem = '64MB' as $$
   declare
     z text := (select zone from loss_rollup_zone);
     week_apps bigint[];
     week_starts date[];
   begin
     delete from loss_day l using unnest(apps, days) t(sdkappid, day)
      where l.sdkappid = t.sdkappid and l.day_start = (t.day::timestamp at time zone z);
     -- A day's 1d bucket wins when it was fetched (even with no loss in it); only days without
     -- one add up their hours, so the two sizes are never added together (as in 0003).
     insert into loss_day (sdkappid, day_start, stage, platform, err_code, day, rank, err_count, err_info, bucket_size)
     select c.sdkappid, c.day_start, c.stage, c.platform, c.err_code, c.day,
            row_number() over (partition by c.sdkappid, c.day_start, c.stage, c.platform
                               order by c.err_count desc, c.err_code),
            c.err_count, ${keyInfo('c.best')}, c.bucket_size
       from (select t.sdkappid, t.day, t.day_start, f.stage, f.platform, f.err_code,
                    sum(f.err_count)::int8 as err_count,
                    -- Summed hours: the description of the hour that counted the most (the latest on a tie).
                    max(${bestKey('f.err_count', "f.bucket_start at time zone 'UTC'", 'f.err_info')}) as best,
                    min(f.bucket_size) as bucket_size
               from (select u.sdkappid, u.day, d.day_start, d.day_end,
                            case when exists (
                              select from bucket_state b
                               where b.sdkappid = u.sdkappid and b.bucket_size = '1d' and b.last_fetched_at is not null
                                 and b.bucket_start >= d.day_start and b.bucket_start < d.day_end) then '1d' else '1h' end as size
                       from unnest(apps, days) u(sdkappid, day),
                            lateral (select (u.day::timestamp at time zone z) as day_start,
                                            ((u.day + 1)::timestamp at time zone z) as day_end) d) t
               join loss_fact f on f.sdkappid = t.sdkappid and f.bucket_start >= t.day_start
                               and f.bucket_start < t.day_end and f.bucket_size = t.size
              group by t.sdkappid, t.day, t.day_start, f.stage, f.platform, f.err_code) c;

     delete from loss_day_total l using unnest(apps, days) t(sdkappid, day)
      where l.sdkappid = t.sdkappid and l.day_start = (t.day::timestamp at time zone z);
     insert into loss_day_total (sdkappid, day_start, stage, platform, day, err_count, bucket_size)
     select l.sdkappid, l.day_start, l.stage, l.platform, l.day, sum(l.err_count)::int8, min(l.bucket_size)
       from unnest(apps, days) t(sdkappid, day)
       join loss_day l on l.sdkappid = t.sdkappid and l.day_start = (t.day::timestamp at time zone z)
      group by l.sdkappid, l.day_start, l.stage, l.platform, l.day;

     -- The ISO weeks holding the days, recomputed from loss_day.
     select array_agg(x.sdkappid), array_agg(x.week_start) into week_apps, week_starts
       from (select distinct t.sdkappid, date_trunc('week', t.day::timestamp)::date as week_start
               from unnest(apps, days) t(sdkappid, day)) x;
     delete from loss_code_week w using unnest(week_apps, week_starts) t(sdkappid, week_start)
      where w.sdkappid = t.sdkappid and w.week_day_start = (t.week_start::timestamp at time zone z);
     insert into loss_code_week (sdkappid, week_day_start, week_start, stage, platform, err_code, err_count,
                                 best_count, best_day, err_info)
     select g.sdkappid, g.week_day_start, g.week_start, g.stage, g.platform, g.err_code, g.err_count,
            ${keyCount('g.best')}, ${keyDay('g.best')}, ${keyInfo('g.best')}
       from (select t.sdkappid, (t.week_start::timestamp at time zone z) as week_day_start, t.week_start,
                    l.stage, l.platform, l.err_code, sum(l.err_count)::int8 as err_count,
                    max(${bestKey('l.err_count', 'l.day', 'l.err_info')}) as best
               from unnest(week_apps, week_starts) t(sdkappid, week_start)
               -- One index range scan per week: a lateral subquery kept apart (offset 0), since
               -- once flattened the planner may pick a hash join on the app alone, which reads
               -- every day of the app's history and filters the weeks after.
               cross join lateral (
                 select d.stage, d.platform, d.err_code, d.err_count, d.day, d.err_info from loss_day d
                  where d.sdkappid = t.sdkappid
                    and d.day_start >= (t.week_start::timestamp at time zone z)
                    and d.day_start < ((t.week_start + 7)::timestamp at time zone z)
                 offset 0) l
              group by t.sdkappid, t.week_start, l.stage, l.platform, l.err_code) g;

     -- A week counts for itself, and as "the week before" for the next one: pair each code's
     -- overall row of the week with that of the week before.
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
          and c.week_day_start = (t.week_start::timestamp at time zone z)
     ),
     prev as (
       select t.sdkappid, t.week_start, c.stage, c.err_code, c.err_info, c.err_count
         from touched t
         join loss_code_week c on c.sdkappid = t.sdkappid and c.platform = -1
          and c.week_day_start = ((t.week_start - 7)::timestamp at time zone z)
     )
     insert into loss_week (sdkappid, week_start, stage, err_code, err_info, err_count, prev_err_count)
     select coalesce(cur.sdkappid, prev.sdkappid), coalesce(cur.week_start, prev.week_start),
            coalesce(cur.stage, prev.stage), coalesce(cur.err_code, prev.err_code),
            -- This week's description, else last week's.
            coalesce(cur.err_info, prev.err_info),
            coalesce(cur.err_count, 0), coalesce(prev.err_count, 0)
       from cur
       full join prev on prev.sdkappid = cur.sdkappid and prev.week_start = cur.week_start
        and prev.stage = cur.stage and prev.err_code = cur.err_code;
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

/** The day branch's week columns: the first and last local midnights of the day's ISO week. */
const weekOf = (day: string) =>
  `(date_trunc('week', ${day}::timestamp)::date::timestamp at time zone push_loss_day_zone())`;
const weekEndOf = (day: string) =>
  `((date_trunc('week', ${day}::timestamp)::date + 6)::timestamp at time zone push_loss_day_zone())`;

const up_statements = [
  `create table loss_code_week (
     sdkappid bigint not null,
     week_day_start timestamptz not null,
     week_start date not null,
     stage text not null,
     platform smallint not null,
     err_code text not null,
     err_count bigint not null,
     best_count bigint not null,
     best_day date not null,
     err_info text not null,
     constraint loss_code_week_pkey primary key (sdkappid, week_day_start, stage, platform, err_code)
   )`,
  // The week-over-week refresh now needs the week's rows of loss_day no more (see above).
  DAYS_FUNCTION,
  REBUILD_FUNCTION('loss_day, loss_day_total, loss_week, loss_code_week'),
  `select push_loss_rollup_rebuild((select zone from loss_rollup_zone))`,

  // Whole weeks and single days of per-code loss. A range of days is covered exactly, without
  // overlap, by its whole weeks plus its days whose week is not whole in it:
  //   first_day_start and last_day_start in the range
  //   and not (period = 'day' and week_first_day_start and week_last_day_start in the range).
  `create view push_loss_code_periods as
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
     from loss_day l
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
    where ${OTHER_ZONE}`,
  `comment on view push_loss_code_periods is
   'Loss per app, stage, channel and error code over whole ISO weeks (period = week) and single days (period = day), for summing over a long range cheaply. Never add both for the same days: take the weeks whose first_day_start and last_day_start are in the range, and the days in the range whose week_first_day_start and week_last_day_start are not both in it. best_count and best_day: the day of the period with the largest count (the latest on a tie), err_info its description. Days as in push_loss_top_codes. Filter on sdkappid and first_day_start for speed.'`,
  'grant select on push_loss_code_periods to pushloss_reader',
];

const down_statements = [
  'drop view push_loss_code_periods',
  REBUILD_FUNCTION('loss_day, loss_day_total, loss_week'),
  'drop table loss_code_week',
  // 0004's refresh, as it was.
  `create or replace function push_loss_rollup_days(apps bigint[], days date[]) returns void
   language plpgsql as $$
   declare
     z text := (select zone from loss_rollup_zone);
     week_apps bigint[];
     week_starts date[];
   begin
     delete from loss_day l using unnest(apps, days) t(sdkappid, day)
      where l.sdkappid = t.sdkappid and l.day_start = (t.day::timestamp at time zone z);
     insert into loss_day (sdkappid, day_start, stage, platform, err_code, day, rank, err_count, err_info, bucket_size)
     select c.sdkappid, c.day_start, c.stage, c.platform, c.err_code, c.day,
            row_number() over (partition by c.sdkappid, c.day_start, c.stage, c.platform
                               order by c.err_count desc, c.err_code),
            c.err_count, c.err_info, c.bucket_size
       from (select t.sdkappid, t.day, t.day_start, f.stage, f.platform, f.err_code,
                    sum(f.err_count)::int8 as err_count,
                    (array_agg(f.err_info order by f.err_count desc, f.bucket_start desc))[1] as err_info,
                    min(f.bucket_size) as bucket_size
               from (select u.sdkappid, u.day, (u.day::timestamp at time zone z) as day_start,
                            ((u.day + 1)::timestamp at time zone z) as day_end
                       from unnest(apps, days) u(sdkappid, day)) t
               join loss_fact f on f.sdkappid = t.sdkappid and f.bucket_start >= t.day_start and f.bucket_start < t.day_end
              where f.bucket_size = case when exists (
                      select from bucket_state b
                       where b.sdkappid = t.sdkappid and b.bucket_size = '1d' and b.last_fetched_at is not null
                         and b.bucket_start >= t.day_start and b.bucket_start < t.day_end) then '1d' else '1h' end
              group by t.sdkappid, t.day, t.day_start, f.stage, f.platform, f.err_code) c;

     delete from loss_day_total l using unnest(apps, days) t(sdkappid, day)
      where l.sdkappid = t.sdkappid and l.day_start = (t.day::timestamp at time zone z);
     insert into loss_day_total (sdkappid, day_start, stage, platform, day, err_count, bucket_size)
     select l.sdkappid, l.day_start, l.stage, l.platform, l.day, sum(l.err_count)::int8, min(l.bucket_size)
       from unnest(apps, days) t(sdkappid, day)
       join loss_day l on l.sdkappid = t.sdkappid and l.day_start = (t.day::timestamp at time zone z)
      group by l.sdkappid, l.day_start, l.stage, l.platform, l.day;

     select array_agg(x.sdkappid), array_agg(x.week_start) into week_apps, week_starts
       from (select distinct t.sdkappid, date_trunc('week', t.day::timestamp)::date + s.shift as week_start
               from unnest(apps, days) t(sdkappid, day), (values (0), (7)) s(shift)) x;
     delete from loss_week w using unnest(week_apps, week_starts) t(sdkappid, week_start)
      where w.sdkappid = t.sdkappid and w.week_start = t.week_start;
     insert into loss_week (sdkappid, week_start, stage, err_code, err_info, err_count, prev_err_count)
     with touched as (
       select * from unnest(week_apps, week_starts) t(sdkappid, week_start)
     ),
     needed as (
       select sdkappid, week_start from touched
       union
       select sdkappid, week_start - 7 from touched
     ),
     weekly as (
       select n.sdkappid, n.week_start, l.stage, l.err_code,
              sum(l.err_count)::int8 as err_count,
              (array_agg(l.err_info order by l.err_count desc, l.day desc))[1] as err_info
         from needed n
         join loss_day l on l.sdkappid = n.sdkappid and l.platform = -1
          and l.day_start >= (n.week_start::timestamp at time zone z)
          and l.day_start < ((n.week_start + 7)::timestamp at time zone z)
        group by n.sdkappid, n.week_start, l.stage, l.err_code
     )
     select t.sdkappid, t.week_start, w.stage, w.err_code,
            (array_agg(w.err_info order by w.week_start desc))[1],
            coalesce(sum(w.err_count) filter (where w.week_start = t.week_start), 0)::int8,
            coalesce(sum(w.err_count) filter (where w.week_start = t.week_start - 7), 0)::int8
       from touched t
       join weekly w on w.sdkappid = t.sdkappid and w.week_start in (t.week_start, t.week_start - 7)
      group by t.sdkappid, t.week_start, w.stage, w.err_code;
   end
   $$`,
];

export async function up(db: Kysely<any>): Promise<void> {
  for (const statement of up_statements) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const statement of down_statements) await sql.raw(statement).execute(db);
}
