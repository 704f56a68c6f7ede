/**
 * The error-code catalogue and anomaly detection (issue 20).
 *
 * `error_code` holds the catalogue; it is data, not schema: the application upserts it from
 * `src/errorCodes/catalogue.ts` after every migrate, so a new code never needs a migration (this
 * one is frozen and imports nothing). `channel` is the PushPlatform, -1 for Tencent's own codes
 * that apply on every channel (a key column cannot be NULL); `push_error_codes` shows it as the
 * issue's contract, with `platform` NULL for those.
 *
 * `push_error_explain(platform, err_code)` is the one lookup every reader uses: the channel's own
 * entry first, else Tencent's, else "unknown code" (never dropped). Overall rows (platform NULL)
 * can only match Tencent's codes: a vendor code means nothing without its channel.
 *
 * `push_loss_anomalies_at(at)` is the detection, written once; `push_loss_anomalies` is it at
 * now(). Thresholds are constants here, documented in docs/bi.md ("Detection"); a change of
 * thresholds is a new migration that replaces the function.
 *
 * Frozen in time: never import application code here.
 */
import { sql } from 'kysely';
import type { Kysely } from 'kysely';

/** Days before yesterday that form the baseline (today and yesterday are judged against it). */
const BASELINE_DAYS = 28;
/** Fewer baseline days than this: too little history to judge, nothing fires. */
const MIN_BASELINE_DAYS = 5;
/** A rate is judged only on at least this many pushes (the day's denominator). */
const MIN_PUSHES = 1000;
/** Spikes and new codes need at least this many lost pushes. */
const MIN_LOST = 100;
/** Spike: above the baseline median by K scaled MADs (1.4826 × MAD estimates one sigma) ... */
const K = 6;
/** ... and by at least 5 percentage points (rates) or the median itself (counts: at least double). */
const MIN_RATE_RISE = 0.05;
/** New code: at least this share of the day's loss on its stage and channel. */
const MIN_NEW_SHARE = 0.2;
/** Failing channel: at least this share of the day's pushes lost. */
const FAILING_RATE = 0.9;

const localMidnight = (day: string) => `((${day})::timestamp at time zone push_loss_day_zone())`;

const ANOMALIES = `create function push_loss_anomalies_at(at_time timestamptz)
   returns table (
     kind text, sdkappid int8, day date, day_start timestamptz, stage text, platform smallint,
     platform_name text, err_code text, title text, fix text, token_invalid boolean,
     loss_count int8, denominator int8, loss_rate float8, measure text, value float8,
     baseline float8, threshold float8, baseline_days int, share float8)
   language sql stable
   as $fn$
   with bounds as (
     select (at_time at time zone push_loss_day_zone())::date as today
   ),
   days as (
     select r.sdkappid, r.day, r.day_start, r.stage, r.platform, r.platform_name,
            r.loss_count, r.denominator, r.loss_rate, b.today
       from push_loss_rate r cross join bounds b
      where r.platform is not null
        and r.day_start >= ${localMidnight(`b.today - ${BASELINE_DAYS + 1}`)}
        and r.day_start < ${localMidnight('b.today + 1')}
   ),
   -- Each day measured twice: its loss rate (only on enough pushes) and its loss count.
   observations as (
     select d.*, m.measure, m.value
       from days d
      cross join lateral (values
        ('rate', case when d.denominator >= ${MIN_PUSHES} then d.loss_rate end),
        ('count', d.loss_count::float8)) as m(measure, value)
      where m.value is not null
   ),
   centre as (
     select o.sdkappid, o.stage, o.platform, o.measure, count(*)::int as n,
            percentile_cont(0.5) within group (order by o.value) as median
       from observations o where o.day < o.today - 1
      group by o.sdkappid, o.stage, o.platform, o.measure
   ),
   spread as (
     select c.sdkappid, c.stage, c.platform, c.measure, c.n, c.median,
            percentile_cont(0.5) within group (order by abs(o.value - c.median)) as mad
       from centre c
       join observations o on o.sdkappid = c.sdkappid and o.stage = c.stage
                          and o.platform = c.platform and o.measure = c.measure and o.day < o.today - 1
      where c.n >= ${MIN_BASELINE_DAYS}
      group by c.sdkappid, c.stage, c.platform, c.measure, c.n, c.median
   ),
   -- Today and yesterday, each by its rate where both it and the baseline have rates, else its count.
   judged as (
     select o.*, s.n, s.median,
            s.median + greatest(${K} * 1.4826 * s.mad,
                                case o.measure when 'rate' then ${MIN_RATE_RISE} else s.median end) as threshold,
            row_number() over (partition by o.sdkappid, o.stage, o.platform, o.day
                               order by (o.measure = 'rate') desc) as preference
       from observations o
       join spread s on s.sdkappid = o.sdkappid and s.stage = o.stage
                    and s.platform = o.platform and s.measure = o.measure
      where o.day >= o.today - 1
   ),
   spikes as (
     select distinct on (j.sdkappid, j.stage, j.platform) j.*
       from judged j
      where j.preference = 1 and j.loss_count >= ${MIN_LOST} and j.value > j.threshold
      order by j.sdkappid, j.stage, j.platform, j.day desc
   ),
   failing as (
     select distinct on (d.sdkappid, d.stage, d.platform) d.*
       from days d
      where d.day >= d.today - 1 and d.denominator >= ${MIN_PUSHES} and d.loss_rate >= ${FAILING_RATE}
      order by d.sdkappid, d.stage, d.platform, d.day desc
   ),
   codes as (
     select t.sdkappid, t.day, t.stage, t.platform, t.platform_name, t.err_code, t.err_count, t.rank,
            t.err_count::float8 / nullif(sum(t.err_count) over (partition by t.sdkappid, t.day, t.stage, t.platform), 0) as share,
            b.today
       from push_loss_top_codes t cross join bounds b
      where t.platform is not null
        and t.day_start >= ${localMidnight(`b.today - ${BASELINE_DAYS + 1}`)}
        and t.day_start < ${localMidnight('b.today + 1')}
   ),
   code_history as (
     select c.sdkappid, c.stage, c.platform, count(distinct c.day)::int as n
       from codes c where c.day < c.today - 1
      group by c.sdkappid, c.stage, c.platform
   ),
   new_codes as (
     select distinct on (c.sdkappid, c.stage, c.platform, c.err_code) c.*, h.n
       from codes c
       join code_history h on h.sdkappid = c.sdkappid and h.stage = c.stage and h.platform = c.platform
      where c.day >= c.today - 1 and h.n >= ${MIN_BASELINE_DAYS}
        and c.err_count >= ${MIN_LOST} and c.share >= ${MIN_NEW_SHARE}
        and not exists (
          select from codes old
           where old.sdkappid = c.sdkappid and old.stage = c.stage and old.platform = c.platform
             and old.err_code = c.err_code and old.day < c.today - 1)
      order by c.sdkappid, c.stage, c.platform, c.err_code, c.day desc
   ),
   found as (
     select 'failing_channel'::text as kind, f.sdkappid, f.day, f.stage, f.platform, f.platform_name,
            null::text as err_code, f.loss_count, f.denominator, f.loss_rate, 'rate'::text as measure,
            f.loss_rate as value, null::float8 as baseline, ${FAILING_RATE}::float8 as threshold,
            null::int as baseline_days
       from failing f
     union all
     select 'spike', s.sdkappid, s.day, s.stage, s.platform, s.platform_name, null, s.loss_count,
            s.denominator, s.loss_rate, s.measure, s.value, s.median, s.threshold, s.n
       from spikes s
     union all
     select 'new_code', n.sdkappid, n.day, n.stage, n.platform, n.platform_name, n.err_code, n.err_count,
            null, null, 'count', n.err_count, 0, ${MIN_LOST}, n.n
       from new_codes n
   )
   select f.kind, f.sdkappid, f.day, ${localMidnight('f.day')} as day_start, f.stage, f.platform,
          f.platform_name, coalesce(f.err_code, top.err_code) as err_code, x.title, x.fix, x.token_invalid,
          f.loss_count, f.denominator, f.loss_rate, f.measure, f.value, f.baseline, f.threshold,
          f.baseline_days,
          coalesce(code.share, top.share) as share
     from found f
     left join codes top on top.sdkappid = f.sdkappid and top.day = f.day and top.stage = f.stage
                        and top.platform = f.platform and top.rank = 1 and f.err_code is null
     left join codes code on code.sdkappid = f.sdkappid and code.day = f.day and code.stage = f.stage
                         and code.platform = f.platform and code.err_code = f.err_code
     cross join lateral push_error_explain(f.platform, coalesce(f.err_code, top.err_code)) x
    order by case f.kind when 'failing_channel' then 0 when 'spike' then 1 else 2 end,
             f.sdkappid, f.stage, f.platform, err_code
   $fn$`;

const up_statements = [
  `create table error_code (
     channel smallint not null,
     err_code text not null,
     title text not null,
     meaning text not null,
     fix text not null,
     token_invalid boolean not null,
     source_url text not null,
     constraint error_code_pkey primary key (channel, err_code),
     constraint error_code_channel check (channel >= -1)
   )`,
  `comment on table error_code is
   'The error-code catalogue (channel -1: Tencent codes valid on every channel). Rewritten from the application''s data file at every migrate: edit src/errorCodes/catalogue.ts, not this table. Read it through push_error_codes.'`,
  `create view push_error_codes as
   select nullif(e.channel, -1)::smallint as platform,
          case when e.channel >= 0 then coalesce(p.name, 'platform ' || e.channel) end as platform_name,
          e.err_code, e.title, e.meaning, e.fix, e.token_invalid, e.source_url
     from error_code e
     left join platform p on p.platform = e.channel`,
  `comment on view push_error_codes is
   'What each error code means, per channel (platform NULL: a Tencent code valid on every channel), what to do, and whether the device token is dead (token_invalid: prune it).'`,
  `create function push_error_explain(p_platform smallint, p_err_code text)
   returns table (title text, meaning text, fix text, token_invalid boolean, source_url text, catalogued boolean)
   language sql stable
   as $fn$
     select coalesce(e.title, 'unknown code'),
            coalesce(e.meaning, 'This code is not in pushloss''s catalogue.'),
            coalesce(e.fix, 'Look the code up in the channel''s documents and add it to the catalogue (docs/bi.md, "Error-code catalogue").'),
            coalesce(e.token_invalid, false),
            e.source_url,
            e.err_code is not null
       from (select 1) one
       -- Through the view, not the table: pushloss_reader reads views only, and a view reads its
       -- table with its owner's rights, so this function needs no grant of its own.
       left join lateral (
         select * from push_error_codes c
          where c.err_code = p_err_code and (c.platform = p_platform or c.platform is null)
          order by c.platform nulls last limit 1) e on true
   $fn$`,
  `comment on function push_error_explain(smallint, text) is
   'The catalogue entry of an error code on a channel (platform NULL: overall rows, Tencent codes only): the channel''s own entry, else Tencent''s, else title ''unknown code'' and catalogued = false.'`,
  `create view push_loss_explained as
   select l.*, x.title, x.fix, x.token_invalid, x.catalogued
     from push_loss l
    cross join lateral push_error_explain(l.platform, l.err_code) x`,
  `comment on view push_loss_explained is
   'push_loss with the catalogue''s title and fix of each code (title ''unknown code'' when it is not catalogued). Filter on sdkappid and bucket_start, as on push_loss.'`,
  ANOMALIES,
  `comment on function push_loss_anomalies_at(timestamptz) is
   'push_loss_anomalies as it was (or would be) at an instant: today and yesterday judged against the 28 days before yesterday. See docs/bi.md, "Detection".'`,
  `create view push_loss_anomalies as select * from push_loss_anomalies_at(now())`,
  `comment on view push_loss_anomalies is
   'What an operator must know now, per app, stage and channel: kind failing_channel (nearly every push lost), spike (today''s or yesterday''s loss far above the baseline), new_code (a code never seen in the baseline carrying a real share of the loss), with the numbers and the dominant code''s title and fix.'`,
  'grant select on push_error_codes, push_loss_explained, push_loss_anomalies to pushloss_reader',
];

const down_statements = [
  'drop view push_loss_anomalies',
  'drop function push_loss_anomalies_at(timestamptz)',
  'drop view push_loss_explained',
  'drop function push_error_explain(smallint, text)',
  'drop view push_error_codes',
  'drop table error_code',
];

export async function up(db: Kysely<any>): Promise<void> {
  for (const statement of up_statements) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const statement of down_statements) await sql.raw(statement).execute(db);
}
