/**
 * A daily rollup under the statistics views, so their cost follows the apps and the period asked
 * for instead of the whole history (as 0004 did for loss).
 *
 * 0005's `push_stats_daily` derives the local day of every `stats_fact` row before any filter can
 * apply, and `push_loss_rate`, `push_loss_reconciliation` and the rates dashboard read it: a
 * question about one app and one month read all statistics. Here `stats_day` stores its answer,
 * keyed by app, local day and channel (-1: the top-level counts), kept exact by the loader in the
 * same transaction as the facts (`push_stats_rollup_refresh`, called for the buckets it replaced,
 * by a load and by renormalize). A day is recomputed as a whole from its facts, never adjusted by
 * differences, so a refresh cannot drift.
 *
 * Days are counted in ONE zone, stored in `stats_rollup_zone` (its own row, apart from loss's
 * `loss_rollup_zone`, so each rollup is rebuilt by its own function and neither can be left in a
 * zone the other moved to). A session in another zone gets exact answers from the 0005 view,
 * kept as `push_stats_daily_by_fact`: a one-time filter on the zone runs exactly one branch.
 *
 * `push_stats` (the contract) is untouched; `push_stats_daily`, `push_loss_rate` and
 * `push_loss_reconciliation` keep their names, columns, types and meaning.
 *
 * Frozen in time: never import application code here.
 */
import { sql } from 'kysely';
import type { Kysely } from 'kysely';

/** The rollup is in the zone asked for: a pseudo-constant, so PostgreSQL plans it as a one-time filter. */
const ROLLUP_ZONE = `push_loss_day_zone() = (select zone from stats_rollup_zone)`;
const OTHER_ZONE = `push_loss_day_zone() <> (select zone from stats_rollup_zone)`;

/**
 * 0005's push_loss_rate, word for word: re-created so that it reads the new push_stats_daily (a
 * view refers to another by identity, so after the rename it would read the one over the facts).
 */
const LOSS_RATE = (statsDaily: string) => `create or replace view push_loss_rate as
   with grid as (
     select sdkappid, day, day_start, stage, platform, platform_name,
            err_count, null::int8 as total_count, null::int8 as sent_count,
            null::int8 as delivered_count, null::int8 as click_count, false as from_stats
       from push_loss_daily
     union all
     select s.sdkappid, s.day, s.day_start, st.stage, s.platform, s.platform_name,
            null, s.total_count, s.sent_count, s.delivered_count, s.click_count, true
       from ${statsDaily} s
      cross join stage st
   ),
   keyed as (
     select sdkappid, day, day_start, stage, platform,
            max(platform_name) as platform_name,
            sum(err_count)::int8 as err_count,
            max(total_count) as total_count,
            max(sent_count) as sent_count,
            max(delivered_count) as delivered_count,
            max(click_count) as click_count,
            bool_or(from_stats) as has_stats
       from grid
      group by sdkappid, day, day_start, stage, platform
   ),
   counted as (
     select k.*,
            -- No loss row: 0 if the loss API was asked about that day, unknown otherwise.
            coalesce(k.err_count,
              case when exists (
                select from bucket_state b
                 where b.sdkappid = k.sdkappid and b.last_fetched_at is not null
                   and b.bucket_start >= k.day_start
                   and b.bucket_start < ((k.day + 1)::timestamp at time zone push_loss_day_zone()))
              then 0 end)::int8 as loss_count,
            coalesce(k.platform = 4, false) as statistics_incomplete,
            case k.stage when 'ready_to_send' then k.total_count else k.sent_count end as denominator
       from keyed k
   )
   select sdkappid,
          day,
          day_start,
          stage,
          platform,
          platform_name,
          statistics_incomplete,
          loss_count,
          denominator,
          loss_count::float8 / nullif(denominator, 0) as loss_rate,
          total_count,
          sent_count,
          delivered_count,
          click_count,
          case when not statistics_incomplete then delivered_count::float8 / nullif(sent_count, 0) end as delivery_rate,
          case when not statistics_incomplete then click_count::float8 / nullif(delivered_count, 0) end as click_rate,
          has_stats
     from counted`;

const up_statements = [
  'alter view push_stats_daily rename to push_stats_daily_by_fact',
  'revoke select on push_stats_daily_by_fact from pushloss_reader',

  `create table stats_rollup_zone (
     only_row boolean primary key default true,
     zone text not null,
     constraint stats_rollup_zone_only_row_check check (only_row)
   )`,
  `insert into stats_rollup_zone (zone) values (push_loss_day_zone())`,

  // What push_stats_daily shows, per app, local day and channel (platform -1: top-level counts).
  // A count is NULL when unknown, as in the view.
  `create table stats_day (
     sdkappid bigint not null,
     day_start timestamptz not null,
     platform smallint not null,
     day date not null,
     total_count bigint,
     sent_count bigint,
     delivered_count bigint,
     click_count bigint,
     bucket_size text not null,
     constraint stats_day_pkey primary key (sdkappid, day_start, platform)
   )`,

  // Recomputes the rollup of the given (app, local day) pairs from the facts, by 0005's rule: a
  // day's 1d facts always count; its 1h facts only while no 1d bucket starting at the day's
  // midnight was fetched. Callers hold the locks (see push_stats_rollup_refresh).
  `create function push_stats_rollup_days(apps bigint[], days date[]) returns void
   language plpgsql as $$
   declare
     z text := (select zone from stats_rollup_zone);
   begin
     delete from stats_day s using unnest(apps, days) t(sdkappid, day)
      where s.sdkappid = t.sdkappid and s.day_start = (t.day::timestamp at time zone z);
     insert into stats_day (sdkappid, day_start, platform, day, total_count, sent_count, delivered_count,
                            click_count, bucket_size)
     select t.sdkappid, t.day_start, f.platform, t.day,
            case when count(*) = count(f.total_count) then sum(f.total_count)::int8 end,
            case when count(*) = count(f.sent_count) then sum(f.sent_count)::int8 end,
            case when count(*) = count(f.delivered_count) then sum(f.delivered_count)::int8 end,
            case when count(*) = count(f.click_count) then sum(f.click_count)::int8 end,
            min(f.bucket_size)
       from (select distinct u.sdkappid, u.day, d.day_start, d.day_end,
                    exists (select from stats_bucket_state b
                             where b.sdkappid = u.sdkappid and b.bucket_size = '1d'
                               and b.last_fetched_at is not null and b.bucket_start = d.day_start) as has_day
               from unnest(apps, days) u(sdkappid, day),
                    lateral (select (u.day::timestamp at time zone z) as day_start,
                                    ((u.day + 1)::timestamp at time zone z) as day_end) d) t
       join stats_fact f on f.sdkappid = t.sdkappid and f.bucket_start >= t.day_start and f.bucket_start < t.day_end
      where f.bucket_size = '1d' or not t.has_day
      group by t.sdkappid, t.day, t.day_start, f.platform;
   end
   $$`,

  // Called by the statistics loader, after replacing a bucket's facts, with the buckets it
  // replaced (JSON array of {sdkappid, bucket_start}), in the same transaction. As for loss: one
  // app's refreshes are serialized (two hours of one day loaded at once cannot hide each other),
  // apps are locked in order (no deadlock), and the shared zone lock keeps a rebuild out.
  `create function push_stats_rollup_refresh(buckets json) returns void
   language plpgsql as $$
   declare
     z text;
   begin
     perform pg_advisory_xact_lock_shared(hashtextextended('pushloss stats rollup zone', 0));
     perform pg_advisory_xact_lock(hashtextextended('pushloss stats rollup ' || a.sdkappid, 0))
        from (select distinct k.sdkappid from json_to_recordset(buckets) k(sdkappid bigint) order by 1) a;
     z := (select zone from stats_rollup_zone);
     perform push_stats_rollup_days(array_agg(d.sdkappid), array_agg(d.day))
        from (select distinct k.sdkappid, (k.bucket_start at time zone z)::date as day
                from json_to_recordset(buckets) k(sdkappid bigint, bucket_start timestamptz)) d;
   end
   $$`,

  // Rebuilds the whole rollup in a zone (migration, or BUCKET_TZ changed).
  `create function push_stats_rollup_rebuild(new_zone text) returns void
   language plpgsql as $$
   begin
     perform pg_advisory_xact_lock(hashtextextended('pushloss stats rollup zone', 0));
     update stats_rollup_zone set zone = new_zone;
     truncate stats_day;
     perform push_stats_rollup_days(array_agg(d.sdkappid), array_agg(d.day))
        from (select distinct f.sdkappid, (f.bucket_start at time zone new_zone)::date as day
                from stats_fact f) d;
   end
   $$`,
  `select push_stats_rollup_rebuild(push_loss_day_zone())`,

  // Same name, columns, types and meaning as in 0005.
  `create view push_stats_daily as
   select s.sdkappid,
          s.day,
          s.day_start,
          case when s.platform >= 0 then s.platform end as platform,
          case when s.platform >= 0 then coalesce(p.name, 'platform ' || s.platform) end as platform_name,
          s.total_count,
          s.sent_count,
          s.delivered_count,
          s.click_count,
          s.bucket_size
     from stats_day s
     left join platform p on p.platform = s.platform
    where ${ROLLUP_ZONE}
   union all
   select * from push_stats_daily_by_fact where ${OTHER_ZONE}`,
  `comment on view push_stats_daily is
   'Push statistics per app, local day (push_loss_day_zone(), default Asia/Shanghai) and channel: the 1d bucket when fetched, else the sum of the 1h buckets (bucket_size says which). A count is NULL when unknown. platform IS NULL: the top-level counts; never add overall and per-channel rows together. Filter on sdkappid and day_start for speed.'`,
  'grant select on push_stats_daily to pushloss_reader',
  LOSS_RATE('push_stats_daily'),
];

const down_statements = [
  LOSS_RATE('push_stats_daily_by_fact'),
  'drop view push_stats_daily',
  'alter view push_stats_daily_by_fact rename to push_stats_daily',
  'grant select on push_stats_daily to pushloss_reader',
  'drop function push_stats_rollup_rebuild(text)',
  'drop function push_stats_rollup_refresh(json)',
  'drop function push_stats_rollup_days(bigint[], date[])',
  'drop table stats_day',
  'drop table stats_rollup_zone',
];

export async function up(db: Kysely<any>): Promise<void> {
  for (const statement of up_statements) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const statement of down_statements) await sql.raw(statement).execute(db);
}
