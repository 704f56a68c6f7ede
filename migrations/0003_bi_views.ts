/**
 * BI views beside the `push_loss` contract, and the read-only role `pushloss_reader` (see README,
 * "BI"). A view cannot read the collector's BUCKET_TZ, hence the `pushloss.bucket_tz` setting behind
 * `push_loss_day_zone()`. Roles are cluster-wide while migrations run per database, maybe in
 * several at once: creating the role tolerates a concurrent creator, and `down` drops it only when
 * nothing needs it any more.
 *
 * Frozen in time: never import application code here.
 */
import { sql } from 'kysely';
import type { Kysely } from 'kysely';

/** Everything the reader may read; the migration grants SELECT on exactly these. */
const READABLE = [
  'push_loss',
  'push_loss_daily',
  'push_loss_top_codes',
  'push_loss_bucket_share',
  'push_loss_wow',
  'collection_status',
  'platform',
  'stage',
];

const up_statements = [
  `create or replace function push_loss_day_zone() returns text
     language sql stable parallel safe
     as $$ select coalesce(nullif(current_setting('pushloss.bucket_tz', true), ''), 'Asia/Shanghai') $$`,
  `comment on function push_loss_day_zone() is
   'Time zone of the days in the BI views: the setting pushloss.bucket_tz, else Asia/Shanghai. Set it per database to the collector''s BUCKET_TZ: ALTER DATABASE ... SET pushloss.bucket_tz = ''...''.'`,

  // The base of the daily views: every error code per app, local day, stage and channel, ranked.
  // A day's 1d bucket wins when it was fetched (even with no loss in it: then the day had none);
  // only days without one fall back to their hours, so the two sizes are never added together.
  `create or replace view push_loss_top_codes as
   with facts as (
     select f.*, (f.bucket_start at time zone push_loss_day_zone())::date as day
       from loss_fact f
   ),
   days_with_1d as (
     select distinct b.sdkappid, (b.bucket_start at time zone push_loss_day_zone())::date as day
       from bucket_state b
      where b.bucket_size = '1d' and b.last_fetched_at is not null
   ),
   chosen as (
     select f.* from facts f
      where f.bucket_size = '1d'
         or not exists (select from days_with_1d d where d.sdkappid = f.sdkappid and d.day = f.day)
   ),
   codes as (
     select sdkappid, day, stage, scope, platform, err_code,
            sum(err_count)::int8 as err_count,
            -- Summed hours: the description of the hour that counted the most.
            (array_agg(err_info order by err_count desc, bucket_start desc))[1] as err_info,
            min(bucket_size) as bucket_size
       from chosen
      group by sdkappid, day, stage, scope, platform, err_code
   )
   select c.sdkappid,
          c.day,
          (c.day::timestamp at time zone push_loss_day_zone()) as day_start,
          c.stage,
          case when c.scope = 'platform' then c.platform end as platform,
          case when c.scope = 'platform' then coalesce(p.name, 'platform ' || c.platform) end as platform_name,
          row_number() over (partition by c.sdkappid, c.day, c.stage, c.scope, c.platform
                             order by c.err_count desc, c.err_code) as rank,
          c.err_code,
          c.err_info,
          c.err_count,
          c.bucket_size
     from codes c
     left join platform p on p.platform = c.platform`,
  `comment on view push_loss_top_codes is
   'Loss per app, local day, stage, channel and error code, with rank 1..n within (sdkappid, day, stage, platform) by err_count (ties: lower err_code first). Filter rank <= N for a day''s top N; over a period, sum err_count per err_code and rank again. day is the local day in push_loss_day_zone() (default Asia/Shanghai); a day''s 1d bucket is used when fetched, else its 1h buckets are summed (bucket_size says which). platform IS NULL: overall arrays; never add overall and per-channel rows together.'`,
  `comment on column push_loss_top_codes.day_start is 'The local midnight that starts day, as an instant (a time column for Grafana)'`,
  `comment on column push_loss_top_codes.err_info is 'Description given for the code that day (summed hours: that of the hour with the largest count)'`,
  `comment on column push_loss_top_codes.bucket_size is 'Source of the day: 1d (the day bucket) or 1h (its hour buckets, summed)'`,

  `create or replace view push_loss_daily as
   select sdkappid, day, day_start, stage, platform, platform_name,
          sum(err_count)::int8 as err_count,
          bucket_size
     from push_loss_top_codes
    group by sdkappid, day, day_start, stage, platform, platform_name, bucket_size`,
  `comment on view push_loss_daily is
   'Loss per app, local day (push_loss_day_zone(), default Asia/Shanghai), stage and channel, all error codes together. Per app and day: the 1d bucket when fetched, else the sum of the 1h buckets (bucket_size says which), never both. platform IS NULL: overall; never add overall and per-channel rows together. Days without loss have no row.'`,

  `create or replace view push_loss_bucket_share as
   select f.sdkappid,
          f.bucket_start,
          f.bucket_end,
          f.bucket_size,
          f.stage,
          f.platform,
          coalesce(p.name, 'platform ' || f.platform) as platform_name,
          sum(f.err_count)::int8 as err_count,
          (sum(sum(f.err_count)) over w)::int8 as stage_err_count,
          (sum(f.err_count) / nullif(sum(sum(f.err_count)) over w, 0))::float8 as share
     from loss_fact f
     left join platform p on p.platform = f.platform
    where f.scope = 'platform'
    group by f.sdkappid, f.bucket_start, f.bucket_end, f.bucket_size, f.stage, f.platform, p.name
   window w as (partition by f.sdkappid, f.bucket_start, f.bucket_size, f.stage)`,
  `comment on view push_loss_bucket_share is
   'Per bucket and stage, each channel''s share of the per-channel loss: err_count / stage_err_count (0..1; NULL when the bucket''s per-channel counts are all 0). Per-channel arrays only.'`,

  // Complete weeks are compared with the week before; the current week is partial by nature.
  `create or replace view push_loss_wow as
   with weekly as (
     select sdkappid, stage, err_code,
            date_trunc('week', day::timestamp)::date as week_start,
            sum(err_count)::int8 as err_count,
            (array_agg(err_info order by err_count desc, day desc))[1] as err_info
       from push_loss_top_codes
      where platform is null
      group by sdkappid, stage, err_code, date_trunc('week', day::timestamp)::date
   ),
   paired as (
     select coalesce(cur.sdkappid, prev.sdkappid) as sdkappid,
            coalesce(cur.week_start, prev.week_start + 7) as week_start,
            coalesce(cur.stage, prev.stage) as stage,
            coalesce(cur.err_code, prev.err_code) as err_code,
            coalesce(cur.err_info, prev.err_info) as err_info,
            coalesce(cur.err_count, 0)::int8 as err_count,
            coalesce(prev.err_count, 0)::int8 as prev_err_count
       from weekly cur
       full join weekly prev
         on prev.sdkappid = cur.sdkappid and prev.stage = cur.stage and prev.err_code = cur.err_code
        and prev.week_start = cur.week_start - 7
   )
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
     from paired
    -- A code seen last week gets a row this week even at 0, but no row for weeks yet to come.
    where week_start <= (now() at time zone push_loss_day_zone())::date`,
  `comment on view push_loss_wow is
   'Week-over-week change per app, stage and error code (overall arrays): ISO weeks (Monday to Sunday, local days as in push_loss_daily), err_count this week, prev_err_count the week before, change = err_count - prev_err_count, change_ratio = change / prev_err_count (NULL when the previous week had none). A code that disappeared has a row with err_count 0. The current week is partial.'`,

  `create or replace view collection_status as
   select sdkappid,
          bucket_start,
          bucket_end,
          bucket_size,
          case when final then 'final' when lost_at is not null then 'lost' else 'pending' end as state,
          first_fetched_at,
          last_fetched_at,
          fetch_count,
          lost_at
     from bucket_state`,
  `comment on view collection_status is
   'Collection state per app and bucket: final (fetched after the data settled, never fetched again), pending (not yet fetched, or fetched before it settled: will be fetched again), lost (the API''s 7-day horizon passed it before it became final: its data, if any, may be incomplete for good).'`,

  // The role. The first GRANT takes a share lock on the role until commit, so a concurrent DROP
  // ROLE from another database's down waits for us, then sees our grants and keeps the role; if
  // that drop won the race, or another database created the role at the same moment, try again.
  `do $$
   declare
     attempt integer := 0;
   begin
     loop
       attempt := attempt + 1;
       begin
         if not exists (select from pg_catalog.pg_roles where rolname = 'pushloss_reader') then
           create role pushloss_reader nologin;
           comment on role pushloss_reader is 'pushloss: read-only access to the BI views (no login; grant it to a login role)';
         end if;
         execute format('grant usage on schema %I to pushloss_reader', current_schema());
         exit;
       exception
         when duplicate_object or unique_violation or undefined_object then
           if attempt >= 5 then raise; end if;
         when insufficient_privilege then
           raise exception 'cannot create role pushloss_reader: %', sqlerrm
             using hint = 'create it once as an administrator (CREATE ROLE pushloss_reader NOLOGIN), then migrate again';
       end;
     end loop;
   end
   $$`,
  `grant select on ${READABLE.join(', ')} to pushloss_reader`,
  // Function calls in a view are checked against the view's USER, not its owner.
  'revoke execute on function push_loss_day_zone() from public',
  'grant execute on function push_loss_day_zone() to pushloss_reader',
  // PostgreSQL 14 and older let every role create objects in the public schema; 15 does not.
  // Revoked for the reader's sake on any version (down leaves it: 15's default is the safe one).
  `do $$ begin execute format('revoke create on schema %I from public', current_schema()); end $$`,
];

const down_statements = [
  // Dropping the views drops their grants with them.
  'drop view if exists push_loss_wow, push_loss_daily, push_loss_top_codes, push_loss_bucket_share, collection_status',
  'drop function if exists push_loss_day_zone()',
  `do $$
   declare
     reader oid := (select oid from pg_catalog.pg_roles where rolname = 'pushloss_reader');
   begin
     if reader is null then return; end if;
     execute format('revoke all on schema %I from pushloss_reader', current_schema());
     revoke all on table push_loss, platform, stage from pushloss_reader;
     -- Keep the role while any database of the cluster still grants it something (pg_shdepend)
     -- or a login role is a member of it: DROP ROLE would silently end that membership.
     if exists (select from pg_catalog.pg_shdepend where refclassid = 'pg_catalog.pg_authid'::regclass and refobjid = reader)
        or exists (select from pg_catalog.pg_auth_members where roleid = reader) then
       return;
     end if;
     begin
       drop role pushloss_reader;
     exception
       -- Granted in another database meanwhile, dropped by someone else, or no CREATEROLE: keep it.
       when dependent_objects_still_exist or undefined_object or insufficient_privilege then null;
     end;
   end
   $$`,
];

export async function up(db: Kysely<any>): Promise<void> {
  for (const statement of up_statements) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const statement of down_statements) await sql.raw(statement).execute(db);
}
