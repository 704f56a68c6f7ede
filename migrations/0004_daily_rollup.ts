/**
 * A daily rollup under the BI views, so their cost follows the apps and the period asked for
 * instead of the whole history.
 *
 * The 0003 views derive the local day of every fact (and rank and pair them) before any filter
 * can apply: a question about one app and one month read all facts. Here the same answers are
 * stored, keyed by app and then local day, and kept exact by the loader in the same transaction
 * as the facts (`push_loss_rollup_refresh`, called for the buckets it replaced):
 * - `loss_day`: per app, local day, stage, channel (-1: the overall arrays) and error code, the
 *   day's count, the description and the code's rank that day: what `push_loss_top_codes` shows.
 * - `loss_day_total`: the same without the error code: what `push_loss_daily` shows.
 * - `loss_week`: per app, ISO week, stage and error code (overall arrays), the week's count beside
 *   the week before's: what `push_loss_wow` shows.
 * A day is recomputed as a whole from its facts (its 1d bucket when fetched, else its 1h buckets),
 * never adjusted by differences, so a refresh cannot drift; the weeks holding a refreshed day and
 * the week after are recomputed from `loss_day`.
 *
 * Days are counted in ONE zone, stored in `loss_rollup_zone` (the zone of push_loss_day_zone()
 * when the rollup was built; `syncDayZone` rebuilds it when BUCKET_TZ changes). A session whose
 * push_loss_day_zone() differs (e.g. `SET pushloss.bucket_tz = 'UTC'`) still gets exact answers:
 * each view is a UNION ALL of the rollup and the 0003 view over the facts (renamed `*_by_fact`),
 * and a one-time filter on the zone runs exactly one of the two.
 *
 * Frozen in time: never import application code here.
 */
import { sql } from 'kysely';
import type { Kysely } from 'kysely';

/** The 0003 views that derive days from facts: kept, renamed, as the other-zone branch. */
const BY_FACT = ['push_loss_top_codes', 'push_loss_daily', 'push_loss_wow'];

/** The rollup is in the zone asked for: a pseudo-constant, so PostgreSQL plans it as a one-time filter. */
const ROLLUP_ZONE = `push_loss_day_zone() = (select zone from loss_rollup_zone)`;
const OTHER_ZONE = `push_loss_day_zone() <> (select zone from loss_rollup_zone)`;

const up_statements = [
  ...BY_FACT.map((view) => `alter view ${view} rename to ${view}_by_fact`),
  `revoke select on ${BY_FACT.map((view) => `${view}_by_fact`).join(', ')} from pushloss_reader`,

  `create table loss_rollup_zone (
     only_row boolean primary key default true,
     zone text not null,
     constraint loss_rollup_zone_only_row_check check (only_row)
   )`,
  `insert into loss_rollup_zone (zone) values (push_loss_day_zone())`,

  // platform -1: the overall arrays (as in loss_fact). bucket_size: the day's source.
  `create table loss_day (
     sdkappid bigint not null,
     day_start timestamptz not null,
     stage text not null,
     platform smallint not null,
     err_code text not null,
     day date not null,
     rank bigint not null,
     err_count bigint not null,
     err_info text not null,
     bucket_size text not null,
     constraint loss_day_pkey primary key (sdkappid, day_start, stage, platform, err_code)
   )`,
  `create table loss_day_total (
     sdkappid bigint not null,
     day_start timestamptz not null,
     stage text not null,
     platform smallint not null,
     day date not null,
     err_count bigint not null,
     bucket_size text not null,
     constraint loss_day_total_pkey primary key (sdkappid, day_start, stage, platform)
   )`,
  // One row per code seen in the week or the week before (then err_count is 0): a row for the
  // week after the last data exists too, and the view hides weeks that have not begun.
  `create table loss_week (
     sdkappid bigint not null,
     week_start date not null,
     stage text not null,
     err_code text not null,
     err_info text not null,
     err_count bigint not null,
     prev_err_count bigint not null,
     constraint loss_week_pkey primary key (sdkappid, week_start, stage, err_code)
   )`,

  // Recomputes the rollup of the given (app, local day) pairs from the facts. Callers hold the
  // locks (see push_loss_rollup_refresh); the pairs should be distinct.
  `create function push_loss_rollup_days(apps bigint[], days date[]) returns void
   language plpgsql as $$
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
            c.err_count, c.err_info, c.bucket_size
       from (select t.sdkappid, t.day, t.day_start, f.stage, f.platform, f.err_code,
                    sum(f.err_count)::int8 as err_count,
                    -- Summed hours: the description of the hour that counted the most.
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

     -- A day counts for its ISO week, and as "the week before" for the next one.
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
            -- This week's description, else last week's.
            (array_agg(w.err_info order by w.week_start desc))[1],
            coalesce(sum(w.err_count) filter (where w.week_start = t.week_start), 0)::int8,
            coalesce(sum(w.err_count) filter (where w.week_start = t.week_start - 7), 0)::int8
       from touched t
       join weekly w on w.sdkappid = t.sdkappid and w.week_start in (t.week_start, t.week_start - 7)
      group by t.sdkappid, t.week_start, w.stage, w.err_code;
   end
   $$`,

  // Called by the loader, after replacing facts, with the buckets it replaced (JSON array of
  // {sdkappid, bucket_start}), in the same transaction. Two transactions refreshing one app
  // are serialized (each day is recomputed from a snapshot taken after the other committed, so
  // two hours of one day loaded at once cannot hide each other); apps are locked in order, so
  // loads of many apps cannot deadlock. The shared zone lock keeps a rezone out meanwhile.
  `create function push_loss_rollup_refresh(buckets json) returns void
   language plpgsql as $$
   declare
     z text;
   begin
     perform pg_advisory_xact_lock_shared(hashtextextended('pushloss rollup zone', 0));
     perform pg_advisory_xact_lock(hashtextextended('pushloss rollup ' || a.sdkappid, 0))
        from (select distinct k.sdkappid from json_to_recordset(buckets) k(sdkappid bigint) order by 1) a;
     z := (select zone from loss_rollup_zone);
     perform push_loss_rollup_days(array_agg(d.sdkappid), array_agg(d.day))
        from (select distinct k.sdkappid, (k.bucket_start at time zone z)::date as day
                from json_to_recordset(buckets) k(sdkappid bigint, bucket_start timestamptz)) d;
   end
   $$`,

  // Rebuilds the whole rollup in a zone (migration, or BUCKET_TZ changed).
  `create function push_loss_rollup_rebuild(new_zone text) returns void
   language plpgsql as $$
   begin
     perform pg_advisory_xact_lock(hashtextextended('pushloss rollup zone', 0));
     update loss_rollup_zone set zone = new_zone;
     truncate loss_day, loss_day_total, loss_week;
     perform push_loss_rollup_days(array_agg(d.sdkappid), array_agg(d.day))
        from (select distinct b.sdkappid, (b.bucket_start at time zone new_zone)::date as day
                from bucket_state b where b.last_call_id is not null) d;
   end
   $$`,
  `select push_loss_rollup_rebuild(push_loss_day_zone())`,

  // The views: same names, columns, types and meaning as in 0003.
  `create view push_loss_top_codes as
   select l.sdkappid,
          l.day,
          l.day_start,
          l.stage,
          case when l.platform >= 0 then l.platform end as platform,
          case when l.platform >= 0 then coalesce(p.name, 'platform ' || l.platform) end as platform_name,
          l.rank,
          l.err_code,
          l.err_info,
          l.err_count,
          l.bucket_size
     from loss_day l
     left join platform p on p.platform = l.platform
    where ${ROLLUP_ZONE}
   union all
   select * from push_loss_top_codes_by_fact where ${OTHER_ZONE}`,
  `create view push_loss_daily as
   select l.sdkappid,
          l.day,
          l.day_start,
          l.stage,
          case when l.platform >= 0 then l.platform end as platform,
          case when l.platform >= 0 then coalesce(p.name, 'platform ' || l.platform) end as platform_name,
          l.err_count,
          l.bucket_size
     from loss_day_total l
     left join platform p on p.platform = l.platform
    where ${ROLLUP_ZONE}
   union all
   select * from push_loss_daily_by_fact where ${OTHER_ZONE}`,
  `create view push_loss_wow as
   select sdkappid,
          week_start,
          extract(isoyear from week_start)::int as iso_year,
          extract(week from week_start)::int as iso_week,
          stage,
          err_code,
          err_info,
          err_count,
          prev_err_count,
          err_count - prev_err_count as change,
          (err_count - prev_err_count)::float8 / nullif(prev_err_count, 0) as change_ratio
     from loss_week
    -- A code seen last week gets a row this week even at 0, but no row for weeks yet to come.
    where week_start <= (now() at time zone push_loss_day_zone())::date
      and ${ROLLUP_ZONE}
   union all
   select * from push_loss_wow_by_fact where ${OTHER_ZONE}`,
  // Grafana's app list: one index probe per app (a loose index scan), not a scan of every bucket.
  `create view push_loss_apps as
   with recursive app as (
     select min(sdkappid) as sdkappid from bucket_state
     union all
     select (select min(b.sdkappid) from bucket_state b where b.sdkappid > app.sdkappid)
       from app where app.sdkappid is not null
   )
   select sdkappid from app where sdkappid is not null`,
  `comment on view push_loss_apps is 'Every app the warehouse has buckets for (fetched, pending or lost), one row each.'`,
  ...commentStatements(),
  'grant select on push_loss_top_codes, push_loss_daily, push_loss_wow, push_loss_apps to pushloss_reader',
  // The planner counts the other-zone branch's cost (a scan of all facts) although the one-time
  // filter never runs it, and that cost makes PostgreSQL JIT-compile the query: seconds of
  // compilation for a millisecond's work. Off for this database's sessions when we may set it;
  // otherwise set it for the BI login (ALTER ROLE grafana SET jit = off).
  `do $$ begin
     execute format('alter database %I set jit = off', current_database());
   exception when insufficient_privilege then null;
   end $$`,
];

/** The 0003 comments, on the new views of the same names. */
function commentStatements(): string[] {
  return [
    `comment on view push_loss_top_codes is
     'Loss per app, local day, stage, channel and error code, with rank 1..n within (sdkappid, day, stage, platform) by err_count (ties: lower err_code first). Filter rank <= N for a day''s top N; over a period, sum err_count per err_code and rank again. day is the local day in push_loss_day_zone() (default Asia/Shanghai); a day''s 1d bucket is used when fetched, else its 1h buckets are summed (bucket_size says which). platform IS NULL: overall arrays; never add overall and per-channel rows together. Filter on sdkappid and day_start for speed.'`,
    `comment on column push_loss_top_codes.day_start is 'The local midnight that starts day, as an instant (a time column for Grafana)'`,
    `comment on column push_loss_top_codes.err_info is 'Description given for the code that day (summed hours: that of the hour with the largest count)'`,
    `comment on column push_loss_top_codes.bucket_size is 'Source of the day: 1d (the day bucket) or 1h (its hour buckets, summed)'`,
    `comment on view push_loss_daily is
     'Loss per app, local day (push_loss_day_zone(), default Asia/Shanghai), stage and channel, all error codes together. Per app and day: the 1d bucket when fetched, else the sum of the 1h buckets (bucket_size says which), never both. platform IS NULL: overall; never add overall and per-channel rows together. Days without loss have no row.'`,
    `comment on view push_loss_wow is
     'Week-over-week change per app, stage and error code (overall arrays): ISO weeks (Monday to Sunday, local days as in push_loss_daily), err_count this week, prev_err_count the week before, change = err_count - prev_err_count, change_ratio = change / prev_err_count (NULL when the previous week had none). A code that disappeared has a row with err_count 0. The current week is partial.'`,
  ];
}

const down_statements = [
  `do $$ begin
     execute format('alter database %I reset jit', current_database());
   exception when insufficient_privilege then null;
   end $$`,
  'drop view push_loss_apps, push_loss_wow, push_loss_daily, push_loss_top_codes',
  'drop function push_loss_rollup_rebuild(text), push_loss_rollup_refresh(json), push_loss_rollup_days(bigint[], date[])',
  'drop table loss_week, loss_day_total, loss_day, loss_rollup_zone',
  ...BY_FACT.map((view) => `alter view ${view}_by_fact rename to ${view}`),
  `grant select on ${BY_FACT.join(', ')} to pushloss_reader`,
];

export async function up(db: Kysely<any>): Promise<void> {
  for (const statement of up_statements) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const statement of down_statements) await sql.raw(statement).execute(db);
}
