/**
 * Final only when the API can no longer change a bucket (issue 19).
 *
 * Before, a bucket was final once fetched 48 h after its end (`SETTLE_AFTER`) and never fetched
 * again. Now it stays pending until a fetch in its final window just before the API's horizon
 * (7 days after its start for loss, 30 for statistics; collect/planner.ts). `up` turns the buckets
 * final under the old rule and still inside their horizon back into pending, so an upgrade gets
 * those days fetched again, and moves each app's watermark (`covered_from`, where planning starts)
 * back to the oldest of them. Buckets already outside the horizon keep `final`: nothing can
 * fetch them again. The horizons are the documented maxima (7 and 30 days); a bucket reopened
 * beyond a shorter `API_HORIZON` is marked settled early by the next pass.
 *
 * `collection_status` learns the state `settled early`: the horizon passed the bucket before its
 * final fetch, and it keeps its last answer (a bucket never fetched is still `lost`).
 *
 * `push_loss_revisions` measures how Tencent's counts settle, from the raw archive (every answer
 * is kept): for every final bucket, each answer for its whole window, by its age (time since the
 * bucket's end) at the call's start. Per API (feed), stage and channel: the share of the final
 * value reached at 6 h, 1 d, 2 d, 3 d, 5 d, 7 d and 20 d (the first answer at that age or later;
 * null where no bucket had one), and how many buckets changed after 48 h (the first answer at
 * 48 h or later, which the old rule kept for good, differs from the final one).
 *
 * `down` restores the old view and the old rule's marks: final again for every bucket whose last
 * fetch came 48 h (the old default) or more after its end, lost marks of those cleared.
 *
 * Frozen in time: never import application code here.
 */
import { sql } from 'kysely';
import type { Kysely } from 'kysely';

const FEEDS = [
  { state: 'bucket_state', app: 'app_state', horizon: '7 days' },
  { state: 'stats_bucket_state', app: 'stats_app_state', horizon: '30 days' },
] as const;

const STATE = {
  old: `case when final then 'final' when lost_at is not null then 'lost' else 'pending' end`,
  new: `case when final then 'final'
              when lost_at is not null and last_fetched_at is not null then 'settled early'
              when lost_at is not null then 'lost'
              else 'pending' end`,
};
const COMMENT = {
  old: `'Collection state per app and bucket: final (fetched after the data settled, never fetched again), pending (not yet fetched, or fetched before it settled: will be fetched again), lost (the API''s 7-day horizon passed it before it became final: its data, if any, may be incomplete for good).'`,
  new: `'Collection state per app and bucket: final (fetched in its final window just before the API''s horizon, never fetched again), pending (not fetched yet, or fetched but its counts may still change: fetched again on the settle schedule), settled early (the horizon passed it before its final fetch: it keeps its last answer, which may be short of the final counts), lost (the horizon passed it before it was ever fetched).'`,
};

const statusView = (state: string) =>
  sql.raw(`create or replace view collection_status as
   select sdkappid, bucket_start, bucket_end, bucket_size,
          ${state} as state,
          first_fetched_at, last_fetched_at, fetch_count, lost_at
     from bucket_state`);

/** Ages (since the bucket's end) of the shares the view shows, as column suffix and interval. */
const AGES = [
  ['6h', '6 hours'],
  ['1d', '1 day'],
  ['2d', '2 days'],
  ['3d', '3 days'],
  ['5d', '5 days'],
  ['7d', '7 days'],
  ['20d', '20 days'],
] as const;

/** Per final bucket, key and answer: the count `n` in the answer `id` that came at `age`. */
const lossAnswers = `
  select c.sdkappid, s.bucket_start, s.bucket_size, c.id, c.started_at - s.bucket_end as age,
         a.stage, a.platform, a.n
    from tim_call c
    join bucket_state s
      on s.sdkappid = c.sdkappid and s.bucket_start = c.window_start and s.bucket_end = c.window_end
    cross join lateral (
      -- The arrays at the top level, or inside the one nested object (as the client reads them).
      select coalesce(case when b ?| array['ReadyToSendLoss', 'PostSendDeliveredLoss', 'PlatformReadyToSendLoss',
                                           'PlatformPostSendDeliveredLoss'] then b end,
                      (select v from jsonb_each(b) e (k, v)
                        where jsonb_typeof(v) = 'object'
                          and v ?| array['ReadyToSendLoss', 'PostSendDeliveredLoss', 'PlatformReadyToSendLoss',
                                         'PlatformPostSendDeliveredLoss']
                        limit 1)) as arrays
        from (select c.body::jsonb as b) j) j
    cross join lateral (
      select f.stage, coalesce((e ->> 'PushPlatform')::int, -1) as platform, sum((e ->> 'ErrCount')::int8) as n
        from (values ('ReadyToSendLoss', 'ready_to_send'), ('PostSendDeliveredLoss', 'post_send_delivered'),
                     ('PlatformReadyToSendLoss', 'ready_to_send'),
                     ('PlatformPostSendDeliveredLoss', 'post_send_delivered')) f (field, stage)
        cross join lateral jsonb_array_elements(
          case when jsonb_typeof(j.arrays -> f.field) = 'array' then j.arrays -> f.field else '[]' end) e
       group by 1, 2) a
   where s.final and c.outcome = 'ok' and c.body is not null and not c.body_truncated`;

const statsAnswers = `
  select c.sdkappid, s.bucket_start, s.bucket_size, c.id, c.started_at - s.bucket_end as age,
         k.stage, l.platform, (l.line ->> k.field)::int8 as n
    from stats_call c
    join stats_bucket_state s
      on s.sdkappid = c.sdkappid and s.bucket_start = c.window_start and s.bucket_end = c.window_end
    cross join lateral (
      select -1 as platform, c.body::jsonb as line
      union all
      select (p ->> 'PushPlatform')::int, p
        from jsonb_array_elements(case when jsonb_typeof(c.body::jsonb -> 'PlatformStatistics') = 'array'
                                       then c.body::jsonb -> 'PlatformStatistics' else '[]' end) p) l
    cross join (values ('TotalCount', 'total'), ('SentCount', 'sent'), ('DeliveredCount', 'delivered'),
                       ('ClickCount', 'click')) k (field, stage)
   where s.final and c.outcome = 'ok' and c.body is not null and not c.body_truncated
     and l.line ? k.field`;

/**
 * Every (bucket, key) gets a count in every answer of its bucket (0 where the answer lacks the key:
 * an error code not reported yet), then its value at each age and its final value.
 */
const perBucket = (feed: string, answers: string) => `
  select '${feed}'::text as feed, k.stage, k.platform, k.sdkappid, k.bucket_start, k.bucket_size,
         (array_agg(coalesce(x.n, 0) order by w.age desc, w.id desc))[1] as final_n,
         ${AGES.map(([name, age]) => `(array_agg(coalesce(x.n, 0) order by w.age, w.id) filter (where w.age >= interval '${age}'))[1] as at_${name}`).join(', ')},
         (array_agg(coalesce(x.n, 0) order by w.age, w.id) filter (where w.age >= interval '48 hours'))[1] as at_48h
    from (select distinct sdkappid, bucket_start, bucket_size, stage, platform from ${answers}) k
    join (select distinct sdkappid, bucket_start, bucket_size, id, age from ${answers}) w
      using (sdkappid, bucket_start, bucket_size)
    left join ${answers} x
      on x.id = w.id and x.sdkappid = w.sdkappid and x.stage = k.stage and x.platform = k.platform
   where w.age >= interval '0'
   group by k.stage, k.platform, k.sdkappid, k.bucket_start, k.bucket_size`;

const REVISIONS = `create view push_loss_revisions as
  with loss_answers as (${lossAnswers}),
       stats_answers as (${statsAnswers}),
       buckets as (${perBucket('loss', 'loss_answers')} union all ${perBucket('statistics', 'stats_answers')})
  select feed, stage, case when platform >= 0 then platform end as platform,
         count(*)::int8 as buckets,
         sum(final_n)::int8 as final_total,
         ${AGES.map(([name]) => `round(sum(at_${name}) / nullif(sum(final_n) filter (where at_${name} is not null), 0), 4) as share_${name}`).join(', ')},
         count(*) filter (where at_48h <> final_n)::int8 as changed_after_48h
    from buckets
   group by feed, stage, platform`;

export async function up(db: Kysely<any>): Promise<void> {
  for (const feed of FEEDS) {
    const state = sql.table(feed.state);
    await sql`
      with reopened as (
        update ${state} set final = false
         where final and bucket_start >= now() - ${sql.raw(`interval '${feed.horizon}'`)}
        returning sdkappid, bucket_size, bucket_start)
      update ${sql.table(feed.app)} a set covered_from = least(a.covered_from, r.oldest)
        from (select sdkappid, bucket_size, min(bucket_start) as oldest from reopened group by 1, 2) r
       where a.sdkappid = r.sdkappid and a.bucket_size = r.bucket_size`.execute(db);
  }
  await statusView(STATE.new).execute(db);
  await sql.raw(`comment on view collection_status is ${COMMENT.new}`).execute(db);
  await sql.raw(REVISIONS).execute(db);
  await sql
    .raw(
      `comment on view push_loss_revisions is 'How the counts of final buckets settled, from the raw archive: per API (feed), stage and channel (platform null: overall), the share of the final value reached at each age since the bucket''s end (the first answer at that age or later), and the buckets whose answer at 48 h differed from the final one.'`,
    )
    .execute(db);
  await sql.raw('grant select on push_loss_revisions to pushloss_reader').execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql.raw('drop view push_loss_revisions').execute(db);
  await statusView(STATE.old).execute(db);
  await sql.raw(`comment on view collection_status is ${COMMENT.old}`).execute(db);
  for (const feed of FEEDS)
    await sql`
      update ${sql.table(feed.state)} set final = true, lost_at = null
       where not final and last_fetched_at >= bucket_end + interval '48 hours'`.execute(db);
}
