/**
 * Replacing the loss facts of many buckets at once, set-based: one statement for every bucket's
 * facts and one for the rollup, whatever the number of buckets. Used by the load path (a batch of
 * answers) and by `renormalize` (hundreds of buckets per transaction).
 */
import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import { arrayLiteral } from '../../db/arrayLiteral.ts';
import type { Database } from '../../db/database.ts';
import { bucketsRelation } from '../bucketRows.ts';
import type { BucketContent } from '../feed.ts';
import type { FactLine } from './normalize.ts';

/**
 * Makes each bucket hold exactly its lines (`rows`), then refreshes the rollup of the days that changed. Must run
 * inside a transaction that already ensured the partitions and holds each bucket's
 * `feed_bucket_state` row lock (so no other writer touches these buckets until commit). Buckets must
 * be distinct. Returns the number of fact rows written.
 *
 * A bucket is replaced, never merged: rows the new answer no longer lists are deleted, the others
 * are written with the new counts. Deleting only the vanished rows lets the delete and the write
 * run in ONE statement (they touch different rows, so their order does not matter).
 */
export async function replaceLossFacts(
  trx: Kysely<Database>,
  buckets: ReadonlyArray<BucketContent<FactLine>>,
): Promise<number> {
  if (buckets.length === 0) return 0;
  // Columns as arrays, one text parameter each: PostgreSQL reads arrays far faster than JSON records.
  const lines = buckets.flatMap((b, i) => b.rows.map((line) => ({ i, line })));
  const { rows: changed } = await sql<{ sdkappid: number; bucket_start: Date }>`
    with bucket as (select * from ${bucketsRelation(buckets)}),
    line as (
      select b.sdkappid, b.bucket_start, b.bucket_size, l.scope, l.stage, l.platform, l.err_code,
             b.bucket_end, l.err_count, l.err_info, b.fetched_at, b.call_id
        from unnest(
               ${arrayLiteral(lines.map(({ i }) => i))}::int4[],
               ${arrayLiteral(lines.map(({ line }) => line.scope))}::text[],
               ${arrayLiteral(lines.map(({ line }) => line.stage))}::text[],
               ${arrayLiteral(lines.map(({ line }) => line.platform))}::int2[],
               ${arrayLiteral(lines.map(({ line }) => line.errCode))}::text[],
               ${arrayLiteral(lines.map(({ line }) => line.errCount))}::int8[],
               ${arrayLiteral(lines.map(({ line }) => line.errInfo))}::text[]
             ) as l(i, scope, stage, platform, err_code, err_count, err_info)
        join bucket b using (i)
    ),
    old as (
      select f.sdkappid, f.bucket_start, f.bucket_size, f.scope, f.stage, f.platform, f.err_code,
             f.bucket_end, f.err_count, f.err_info, f.fetched_at, f.call_id
        from bucket b
        join loss_fact f on f.sdkappid = b.sdkappid and f.bucket_start = b.bucket_start and f.bucket_size = b.bucket_size
    ),
    -- Each line against the stored row of its key, in one pass. A full join is planned as a hash
    -- or merge join, never a nested loop, so it stays linear whatever the planner guesses about
    -- array input (it assumes 100 rows). Only rows that are new, differ or vanished are kept: a
    -- rebuild that changes nothing writes nothing (and locks no row).
    diff as (
      select sdkappid, bucket_start, bucket_size, scope, stage, platform, err_code,
             l.bucket_end, l.err_count, l.err_info, l.fetched_at, l.call_id,
             l.sdkappid is null as vanished,
             -- What the rollup follows: counts and descriptions (not which call they came from).
             o.sdkappid is null or l.sdkappid is null
               or (l.err_count, l.err_info) is distinct from (o.err_count, o.err_info) as counts_changed
        from line l
        full join old o using (sdkappid, bucket_start, bucket_size, scope, stage, platform, err_code)
       where o.sdkappid is null or l.sdkappid is null
          or (l.bucket_end, l.err_count, l.err_info, l.fetched_at, l.call_id)
             is distinct from (o.bucket_end, o.err_count, o.err_info, o.fetched_at, o.call_id)
    ),
    vanished as (
      delete from loss_fact f using diff g
       where g.vanished
         and f.sdkappid = g.sdkappid and f.bucket_start = g.bucket_start and f.bucket_size = g.bucket_size
         and f.scope = g.scope and f.stage = g.stage and f.platform = g.platform and f.err_code = g.err_code
    ),
    written as (
      insert into loss_fact (sdkappid, bucket_start, bucket_size, scope, stage, platform, err_code,
                             bucket_end, err_count, err_info, fetched_at, call_id)
      select sdkappid, bucket_start, bucket_size, scope, stage, platform, err_code,
             bucket_end, err_count, err_info, fetched_at, call_id
        from diff where not vanished
      on conflict (sdkappid, bucket_start, bucket_size, scope, stage, platform, err_code) do update
        set bucket_end = excluded.bucket_end, err_count = excluded.err_count, err_info = excluded.err_info,
            fetched_at = excluded.fetched_at, call_id = excluded.call_id
    )
    -- Buckets whose counts or descriptions changed (this statement's snapshot holds the old facts).
    select distinct sdkappid, bucket_start from diff where counts_changed`.execute(trx);
  // The rollup follows counts and descriptions only, and which days have a fetched 1d bucket:
  // refresh the buckets that changed, and those fetched for the first time (even if empty).
  const days = [
    ...changed.map((row) => ({ sdkappid: row.sdkappid, bucket_start: row.bucket_start.toISOString() })),
    ...buckets
      .filter((b) => b.firstFetch)
      .map((b) => ({ sdkappid: b.sdkappid, bucket_start: b.bucketStart.toISOString() })),
  ];
  if (days.length > 0) await sql`select push_loss_rollup_refresh(${JSON.stringify(days)}::json)`.execute(trx);
  return lines.length;
}
