/**
 * Loss per error code summed over every app, per local day (issue 9, fourth round).
 *
 * The dashboard's default is all apps, and its top error codes panel must rank each code over
 * all of them: through the per-app rollup that is apps × weeks × codes rows (1.2 M for 500 apps
 * over 30 days, seconds). `loss_all_day` holds the sum over apps per local day, stage, channel
 * (-1: overall) and error code, a few hundred rows a day whatever the number of apps.
 *
 * It is NOT written by loads: a row summed over all apps would be written by every app's load,
 * and concurrent loads of different apps would queue on it (and on Citus every shard would write
 * one table). Instead:
 * - a load marks the (app, day) it changed in `loss_all_stale`, in its own transaction: a trigger
 *   on `loss_day_total`, which every refresh of an app's day rewrites (push_loss_rollup_days);
 * - `push_loss_all_apps_refresh()` (run after each collection pass, backfill, renormalize and
 *   zone rebuild) takes the marks and recomputes those days over all apps;
 * - `push_loss_codes_all_apps` reads `loss_all_day` for days without a mark and sums the days
 *   with one from every app's `loss_day_code` when read. So it is exact at every moment, however
 *   late the refresh: a mark is committed with the change it stands for, and is removed only by
 *   the refresh that recomputed its day from a snapshot holding that change.
 *
 * Why that holds under concurrency: the refresh takes only marks it can lock (`skip locked`); a
 * load that re-marks an existing (app, day) updates that row (`on conflict do update`), so the
 * mark of a load still in flight is either invisible (a new row) or locked (an updated one), and
 * stays; a load that re-marks a day whose mark the refresh just took waits for the refresh to
 * commit, then inserts a new mark. The refresh never waits for a load, so they cannot deadlock.
 *
 * Frozen in time: never import application code here.
 */
import { sql } from 'kysely';
import type { Kysely } from 'kysely';

const ROLLUP_ZONE = `push_loss_day_zone() = (select zone from loss_rollup_zone)`;
const OTHER_ZONE = `push_loss_day_zone() <> (select zone from loss_rollup_zone)`;

/** max() of this text is the description of the row that counted the most (the last description on a tie). */
const bestKey = (count: string, info: string) => `(lpad(${count}::text, 20, '0') || ${info}) collate "C"`;
const keyCount = (key: string) => `substr(${key}, 1, 20)::int8`;
const keyInfo = (key: string) => `(substr(${key}, 21) collate "default")`;
const platformOf = (platform: string) => `case when ${platform} >= 0 then ${platform} end`;
const platformName = (platform: string, name: string) =>
  `case when ${platform} >= 0 then coalesce(${name}, 'platform ' || ${platform}) end`;

/** Every app's per-code loss of the days in `days` (a relation with `day` and `day_start`), summed over apps. */
const sumOverApps = (days: string) => `
   select d.day, d.day_start, c.stage, c.platform, c.err_code, sum(c.err_count)::int8 as err_count,
          max(${bestKey('c.err_count', 'c.err_info')}) as best
     from ${days} d
     cross join push_loss_apps x
     -- One index range scan per app and day (the facts' key starts with the app).
     cross join lateral (select c.stage, c.platform, c.err_code, c.err_count, c.err_info from loss_day_code c
                          where c.sdkappid = x.sdkappid and c.day_start = d.day_start offset 0) c
    group by d.day, d.day_start, c.stage, c.platform, c.err_code`;

const REFRESH_FUNCTION = `create function push_loss_all_apps_refresh() returns integer
   language plpgsql set work_mem = '64MB' as $$
   declare
     z text := (select zone from loss_rollup_zone);
     days date[];
   begin
     perform pg_advisory_xact_lock(hashtextextended('pushloss all apps', 0));
     -- Marks of loads still in flight are locked by them (or not visible yet): they stay.
     with taken as (
       delete from loss_all_stale s
        using (select sdkappid, day from loss_all_stale for update skip locked) k
        where s.sdkappid = k.sdkappid and s.day = k.day
       returning s.day
     )
     select array_agg(distinct day) into days from taken;
     if days is null then
       return 0;
     end if;
     delete from loss_all_day a using unnest(days) t(day) where a.day = t.day;
     insert into loss_all_day (day, day_start, stage, platform, err_code, err_count, best_count, err_info)
     select g.day, g.day_start, g.stage, g.platform, g.err_code, g.err_count, ${keyCount('g.best')}, ${keyInfo('g.best')}
       from (${sumOverApps(`(select t.day, (t.day::timestamp at time zone z) as day_start from unnest(days) t(day))`)}) g;
     return cardinality(days);
   end
   $$`;

const MARK_FUNCTION = `create function loss_all_mark_stale() returns trigger
   language plpgsql as $$
   begin
     -- do update, not do nothing: it locks an existing mark, so a refresh running now skips it.
     insert into loss_all_stale (sdkappid, day)
     select distinct sdkappid, day from changed
     on conflict (sdkappid, day) do update set marked_at = excluded.marked_at;
     return null;
   end
   $$`;

/**
 * 0009's rebuild, with the all-apps tables emptied too: every day is marked again as it is
 * rebuilt, then summed in the same transaction, so a rebuild leaves nothing to sum after it.
 */
const REBUILD_FUNCTION = (
  tables: string,
  sumAfterRebuild: boolean,
) => `create or replace function push_loss_rollup_rebuild(new_zone text) returns void
   language plpgsql as $$
   begin
     perform pg_advisory_xact_lock(hashtextextended('pushloss rollup zone', 0));
     update loss_rollup_zone set zone = new_zone;
     truncate ${tables};
     perform push_loss_rollup_days(array_agg(d.sdkappid), array_agg(d.day))
        from (select distinct b.sdkappid, (b.bucket_start at time zone new_zone)::date as day
                from bucket_state b where b.last_call_id is not null) d;
     ${sumAfterRebuild ? 'perform push_loss_all_apps_refresh();' : ''}
   end
   $$`;

const up_statements = [
  `create table loss_all_day (
     day date not null,
     day_start timestamptz not null,
     stage text not null,
     platform smallint not null,
     err_code text not null,
     err_count bigint not null,
     best_count bigint not null,
     err_info text not null,
     constraint loss_all_day_pkey primary key (day, stage, platform, err_code)
   )`,
  `comment on table loss_all_day is
   'Internal to push_loss_codes_all_apps: loss per local day (loss_rollup_zone), stage, channel (-1: overall) and error code, summed over all apps, as of the last push_loss_all_apps_refresh(); days marked in loss_all_stale are not current here.'`,
  `create table loss_all_stale (
     sdkappid bigint not null,
     day date not null,
     marked_at timestamptz not null default clock_timestamp(),
     constraint loss_all_stale_pkey primary key (sdkappid, day)
   )`,
  'create index loss_all_stale_day on loss_all_stale (day)',
  `comment on table loss_all_stale is
   'The (app, local day) pairs whose loss changed since push_loss_all_apps_refresh() last summed that day; written in the transaction of the change.'`,
  MARK_FUNCTION,
  `create trigger loss_all_stale_on_insert after insert on loss_day_total
   referencing new table as changed for each statement execute function loss_all_mark_stale()`,
  `create trigger loss_all_stale_on_delete after delete on loss_day_total
   referencing old table as changed for each statement execute function loss_all_mark_stale()`,
  REFRESH_FUNCTION,
  REBUILD_FUNCTION(
    'loss_day, loss_day_override, loss_day_total, loss_week, loss_code_week, loss_all_day, loss_all_stale',
    true,
  ),
  `create view push_loss_codes_all_apps as
   select a.day, a.day_start, a.stage, ${platformOf('a.platform')} as platform,
          ${platformName('a.platform', 'p.name')} as platform_name,
          a.err_code, a.err_count, a.best_count, a.err_info
     from loss_all_day a
     left join platform p on p.platform = a.platform
    where ${ROLLUP_ZONE}
      and not exists (select from loss_all_stale s where s.day = a.day)
   union all
   select g.day, g.day_start, g.stage, ${platformOf('g.platform')}, ${platformName('g.platform', 'p.name')},
          g.err_code, g.err_count, ${keyCount('g.best')}, ${keyInfo('g.best')}
     from (${sumOverApps(`(select distinct s.day, (s.day::timestamp at time zone (select zone from loss_rollup_zone)) as day_start
                             from loss_all_stale s)`)}) g
     left join platform p on p.platform = g.platform
    where ${ROLLUP_ZONE}
   union all
   select day, day_start, stage, platform, platform_name, err_code, sum(err_count)::int8,
          ${keyCount(`max(${bestKey('err_count', 'err_info')})`)}, ${keyInfo(`max(${bestKey('err_count', 'err_info')})`)}
     from push_loss_top_codes_by_fact
    where ${OTHER_ZONE}
    group by day, day_start, stage, platform, platform_name, err_code`,
  `comment on view push_loss_codes_all_apps is
   'Loss per local day, stage, channel and error code, summed over every app: what push_loss_top_codes gives summed over sdkappid, at a few hundred rows a day whatever the number of apps. best_count: the largest count of one app that day; err_info: that app''s description. platform IS NULL: overall arrays. Filter on day_start for speed. Days changed since the last collection pass are summed when read (slower until the pass ends).'`,
  'grant select on push_loss_codes_all_apps to pushloss_reader',
  // Built for the history already there: every app's days marked, then summed once.
  'insert into loss_all_stale (sdkappid, day) select distinct sdkappid, day from loss_day_total',
  'select push_loss_all_apps_refresh()',
];

const down_statements = [
  'drop view push_loss_codes_all_apps',
  REBUILD_FUNCTION('loss_day, loss_day_override, loss_day_total, loss_week, loss_code_week', false),
  'drop function push_loss_all_apps_refresh()',
  'drop trigger loss_all_stale_on_insert on loss_day_total',
  'drop trigger loss_all_stale_on_delete on loss_day_total',
  'drop function loss_all_mark_stale()',
  'drop table loss_all_stale',
  'drop table loss_all_day',
];

export async function up(db: Kysely<any>): Promise<void> {
  for (const statement of up_statements) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const statement of down_statements) await sql.raw(statement).execute(db);
}
