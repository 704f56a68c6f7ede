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
}

export async function down(db: Kysely<any>): Promise<void> {
  await statusView(STATE.old).execute(db);
  await sql.raw(`comment on view collection_status is ${COMMENT.old}`).execute(db);
  for (const feed of FEEDS)
    await sql`
      update ${sql.table(feed.state)} set final = true, lost_at = null
       where not final and last_fetched_at >= bucket_end + interval '48 hours'`.execute(db);
}
