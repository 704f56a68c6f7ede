/**
 * Two fixes of the rollups (issue 17).
 *
 * Loads lock nothing a reader can take (break 5). The rollup refreshes serialized with advisory
 * locks, and any login may call `pg_advisory_lock()` on any key: the read-only Grafana login held
 * `hashtextextended('pushloss rollup zone', 0)` and every load waited (a session lock outlives
 * `statement_timeout`). Now:
 * - the zone, read by every refresh and changed by a rebuild, is guarded by table locks on the
 *   zone tables: ROW SHARE by refreshes, EXCLUSIVE by a rebuild. LOCK TABLE needs a privilege
 *   on the table itself, which the reader has not (the views read those tables as their owner);
 * - one app's refreshes, and the sum over all apps, lock a row of `coordination_lock` FOR UPDATE,
 *   which needs UPDATE on it: the reader cannot even read that table.
 *
 * A day's figure comes from its freshest answers (break 7). A day's 1d bucket used to win as soon
 * as it was fetched: after BUCKET_SIZE went from 1d to 1h, today's partial 1d bucket (fetched at
 * noon) kept hiding the hours collected since. Now a day's hours replace its 1d buckets once they
 * are fresher (the latest hour fetched after the latest 1d bucket) and cover as much of the day
 * as the 1d bucket did (an hour bucket for every hour from midnight to when it was fetched), in
 * the rollups and in the `*_by_fact` views alike; switched back to 1d, the next 1d fetch wins.
 * The rollups are rebuilt, as their rule changed.
 *
 * A call that reaches the network late moves the app's shared rate slot with it (break 1):
 * `late_sent_at` on `rate_slot` and `stats_rate_slot` is the latest such send, which a caller
 * waiting for its slot checks when it wakes (see src/collect/rateSlots.ts).
 *
 * The functions' bodies are edited in place (each edit must match exactly once), not copied: what
 * changes is a few lines of bodies a hundred lines long. Frozen in time: never import app code.
 */
import { sql } from 'kysely';
import type { Kysely } from 'kysely';

/** A local day's bounds as instants, in zone `zone`. */
const dayStart = (day: string, zone: string) => `(${day}::timestamp at time zone ${zone})`;
const dayEnd = (day: string, zone: string) => `((${day} + 1)::timestamp at time zone ${zone})`;

/**
 * True when an app's hour buckets of one day replace its 1d buckets: the latest hour was fetched
 * after the latest 1d bucket, and there is an hour bucket for every hour from the day's start to
 * when that 1d bucket was fetched (its end, at most). `table` is bucket_state or stats_bucket_state.
 */
function hoursWin(table: string, app: string, start: string, end: string): string {
  return `coalesce((
         select hours_1h.fetched > day_1d.fetched
                and hours_1h.hours >= ceil(extract(epoch from (least(${end}, day_1d.fetched) - ${start})) / 3600)
           from (select max(x.last_fetched_at) as fetched from ${table} x
                  where x.sdkappid = ${app} and x.bucket_size = '1d'
                    and x.bucket_start >= ${start} and x.bucket_start < ${end}) day_1d,
                lateral (select max(x.last_fetched_at) as fetched,
                                count(*) filter (where x.bucket_start < day_1d.fetched) as hours
                           from ${table} x
                          where x.sdkappid = ${app} and x.bucket_size = '1h' and x.last_fetched_at is not null
                            and x.bucket_start >= ${start} and x.bucket_start < ${end}) hours_1h), false)`;
}

type Edit = readonly [before: string, after: string];

/** One function's edits, as `create or replace` of its definition with each `before` (exactly once) replaced. */
async function editFunction(db: Kysely<any>, signature: string, edits: readonly Edit[]): Promise<void> {
  const { rows } = await sql<{ def: string }>`select pg_get_functiondef(${signature}::regprocedure) as def`.execute(db);
  let def = rows[0]!.def;
  for (const [before, after] of edits) {
    const at = def.indexOf(before);
    if (at < 0 || def.indexOf(before, at + 1) >= 0)
      throw new Error(`0011: ${signature} does not hold exactly one ${JSON.stringify(before.trim().slice(0, 80))}`);
    def = def.slice(0, at) + after + def.slice(at + before.length);
  }
  await sql.raw(def).execute(db);
}

const lossZone = `     perform pg_advisory_xact_lock_shared(hashtextextended('pushloss rollup zone', 0));
     perform pg_advisory_xact_lock(hashtextextended('pushloss rollup ' || a.sdkappid, 0))
        from (select distinct k.sdkappid from json_to_recordset(buckets) k(sdkappid bigint) order by 1) a;`;
const statsZone = lossZone.replaceAll('pushloss rollup', 'pushloss stats rollup');
/** The refresh's locks: the zone kept from a rebuild, then its apps' rows, in order. */
const refreshLocks = (zoneTable: string, rollup: string) =>
  `     lock table ${zoneTable} in row share mode;
     perform coordination_lock(array(select distinct '${rollup} ' || k.sdkappid
                                       from json_to_recordset(buckets) k(sdkappid bigint)));`;
const rebuildLock = (key: string) => `     perform pg_advisory_xact_lock(hashtextextended('${key}', 0));`;

const LOSS_SOURCE_BEFORE = `case when count(b.bucket_start) = 0 then '1h'`;
const LOSS_SOURCE_AFTER = `case when count(b.bucket_start) = 0
                           or ${hoursWin('bucket_state', 't.sdkappid', dayStart('t.day', 'z'), dayEnd('t.day', 'z'))} then '1h'`;
const STATS_HAS_DAY = `and b.last_fetched_at is not null and b.bucket_start = d.day_start) as has_day`;
const STATS_FILTER = `where f.bucket_size = '1d' or not t.has_day`;

/** Every function edit of this migration; `down` applies them the other way round. */
const EDITS: ReadonlyArray<readonly [signature: string, edits: readonly Edit[]]> = [
  ['push_loss_rollup_refresh(json)', [[lossZone, refreshLocks('loss_rollup_zone', 'loss rollup')]]],
  ['push_stats_rollup_refresh(json)', [[statsZone, refreshLocks('stats_rollup_zone', 'stats rollup')]]],
  [
    'push_loss_rollup_rebuild(text)',
    [[rebuildLock('pushloss rollup zone'), '     lock table loss_rollup_zone in exclusive mode;']],
  ],
  [
    'push_stats_rollup_rebuild(text)',
    [[rebuildLock('pushloss stats rollup zone'), '     lock table stats_rollup_zone in exclusive mode;']],
  ],
  [
    'push_loss_all_apps_refresh()',
    [[rebuildLock('pushloss all apps'), `     perform coordination_lock(array['all apps']);`]],
  ],
  [
    'push_loss_rollup_days(bigint[],date[])',
    [
      [LOSS_SOURCE_BEFORE, LOSS_SOURCE_AFTER],
      // A day summed from its hours hides its 1d buckets from the direct branch, as '1d' days do.
      [`where t.source = '1d';`, `where t.source <> 'direct';`],
    ],
  ],
  [
    'push_stats_rollup_days(bigint[],date[])',
    [
      [
        STATS_HAS_DAY,
        `${STATS_HAS_DAY},
                    ${hoursWin('stats_bucket_state', 'u.sdkappid', 'd.day_start', 'd.day_end')} as hours_win`,
      ],
      [
        STATS_FILTER,
        `where case when t.hours_win then f.bucket_size = '1h' else f.bucket_size = '1d' or not t.has_day end`,
      ],
    ],
  ],
];

const BI_ZONE = 'push_loss_day_zone()';

/** 0003's push_loss_top_codes (now push_loss_top_codes_by_fact), with the facts of a day chosen by `chosen`. */
const lossByFact = (chosen: string) => `create or replace view push_loss_top_codes_by_fact as
   with facts as (
     select f.*, (f.bucket_start at time zone push_loss_day_zone())::date as day
       from loss_fact f
   ),
   days_with_1d as (
     select distinct b.sdkappid, (b.bucket_start at time zone push_loss_day_zone())::date as day
       from bucket_state b
      where b.bucket_size = '1d' and b.last_fetched_at is not null
   ),${chosen}
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
     left join platform p on p.platform = c.platform`;
const LOSS_CHOSEN_0003 = `
   chosen as (
     select f.* from facts f
      where f.bucket_size = '1d'
         or not exists (select from days_with_1d d where d.sdkappid = f.sdkappid and d.day = f.day)
   ),`;
/** The (app, day) pairs whose hours win, from the bucket bookkeeping `table`. */
const hourDays = (table: string) => `
   hour_days as (
     select k.sdkappid, k.day
       from (select distinct b.sdkappid, (b.bucket_start at time zone ${BI_ZONE})::date as day
               from ${table} b where b.bucket_size = '1h') k
      where ${hoursWin(table, 'k.sdkappid', dayStart('k.day', BI_ZONE), dayEnd('k.day', BI_ZONE))}
   ),`;
const LOSS_CHOSEN = `${hourDays('bucket_state')}
   chosen as (
     select f.* from facts f
      where case when exists (select from hour_days h where h.sdkappid = f.sdkappid and h.day = f.day)
                 then f.bucket_size = '1h'
                 else f.bucket_size = '1d'
                      or not exists (select from days_with_1d d where d.sdkappid = f.sdkappid and d.day = f.day) end
   ),`;

/** 0005's push_stats_daily (now push_stats_daily_by_fact), with the facts of a day chosen by `chosen`. */
const statsByFact = (chosen: string) => `create or replace view push_stats_daily_by_fact as
   with facts as (
     select s.*, (s.bucket_start at time zone push_loss_day_zone())::date as day
       from stats_fact s
   ),${chosen}
   select c.sdkappid,
          c.day,
          (c.day::timestamp at time zone push_loss_day_zone()) as day_start,
          case when c.platform >= 0 then c.platform end as platform,
          case when c.platform >= 0 then coalesce(p.name, 'platform ' || c.platform) end as platform_name,
          case when count(*) = count(c.total_count) then sum(c.total_count)::int8 end as total_count,
          case when count(*) = count(c.sent_count) then sum(c.sent_count)::int8 end as sent_count,
          case when count(*) = count(c.delivered_count) then sum(c.delivered_count)::int8 end as delivered_count,
          case when count(*) = count(c.click_count) then sum(c.click_count)::int8 end as click_count,
          min(c.bucket_size) as bucket_size
     from chosen c
     left join platform p on p.platform = c.platform
    group by c.sdkappid, c.day, c.platform, p.name`;
const STATS_HAS_1D = `exists (
           select from stats_bucket_state b
            where b.sdkappid = f.sdkappid and b.bucket_size = '1d' and b.last_fetched_at is not null
              and b.bucket_start = (f.day::timestamp at time zone push_loss_day_zone()))`;
const STATS_CHOSEN_0005 = `
   chosen as (
     select f.* from facts f
      where f.bucket_size = '1d'
         or not ${STATS_HAS_1D}
   )`;
const STATS_CHOSEN = `${hourDays('stats_bucket_state')}
   chosen as (
     select f.* from facts f
      where case when exists (select from hour_days h where h.sdkappid = f.sdkappid and h.day = f.day)
                 then f.bucket_size = '1h'
                 else f.bucket_size = '1d' or not ${STATS_HAS_1D} end
   )`;

const RATE_SLOTS = ['rate_slot', 'stats_rate_slot'] as const;
const LATE_SENT_COMMENT =
  'When the latest call that reached the network later than its slot was sent (database clock): the next call waits a full interval from it.';

const REBUILD = [
  'select push_loss_rollup_rebuild((select zone from loss_rollup_zone))',
  'select push_stats_rollup_rebuild((select zone from stats_rollup_zone))',
];

export async function up(db: Kysely<any>): Promise<void> {
  await sql`create table coordination_lock (
              name text not null,
              constraint coordination_lock_pkey primary key (name)
            )`.execute(db);
  await sql`comment on table coordination_lock is
    'Rows locked FOR UPDATE to serialize writers (a rollup per app, the sum over all apps): unlike advisory locks, which any login can take, a row lock needs UPDATE on this table.'`.execute(
    db,
  );
  // Locks the named rows, in name order (no deadlock), creating those that do not exist yet.
  await sql`create function coordination_lock(names text[]) returns void
    language plpgsql as $$
    begin
      insert into coordination_lock (name) select distinct n from unnest(names) n order by 1 on conflict do nothing;
      perform from coordination_lock where name = any(names) order by name for update;
    end
    $$`.execute(db);
  for (const [signature, edits] of EDITS) await editFunction(db, signature, edits);
  for (const table of RATE_SLOTS) {
    await sql`alter table ${sql.table(table)} add column late_sent_at timestamptz`.execute(db);
    await sql`comment on column ${sql.raw(table)}.late_sent_at is ${sql.lit(LATE_SENT_COMMENT)}`.execute(db);
  }
  await sql.raw(lossByFact(LOSS_CHOSEN)).execute(db);
  await sql.raw(statsByFact(STATS_CHOSEN)).execute(db);
  for (const statement of REBUILD) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const [signature, edits] of EDITS)
    await editFunction(
      db,
      signature,
      edits.map(([before, after]) => [after, before] as const),
    );
  await sql.raw(lossByFact(LOSS_CHOSEN_0003)).execute(db);
  await sql.raw(statsByFact(STATS_CHOSEN_0005)).execute(db);
  for (const table of RATE_SLOTS) await sql`alter table ${sql.table(table)} drop column late_sent_at`.execute(db);
  await sql`drop function coordination_lock(text[])`.execute(db);
  await sql`drop table coordination_lock`.execute(db);
  for (const statement of REBUILD) await sql.raw(statement).execute(db);
}
