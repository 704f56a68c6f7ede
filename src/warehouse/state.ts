/**
 * Reading and marking bucket bookkeeping (`feed_bucket_state`), for every feed.
 */
import { sql, type Kysely } from 'kysely';
import type { BucketSize } from '../buckets.ts';
import type { BucketState, Database } from '../db/database.ts';
import type { FeedName } from '../tencent/apis.ts';
import type { Window } from '../tencent/loss.ts';

/** Identifies one bucket of one app and feed; `bucketStart` in unix seconds. */
export interface BucketKey {
  sdkappid: number;
  feed: FeedName;
  bucketStart: number;
  bucketSize: BucketSize;
}

export interface BucketStateFilter {
  feed: FeedName;
  sdkappid?: number;
  bucketSize?: BucketSize;
  /** bucket_start >= from (unix seconds). */
  from?: number;
  /** bucket_start < to (unix seconds). */
  to?: number;
}

/** Bookkeeping rows matching the filter, by app then bucket start. */
export async function listBucketStates(db: Kysely<Database>, filter: BucketStateFilter): Promise<BucketState[]> {
  let query = db
    .selectFrom('feed_bucket_state')
    .selectAll()
    .where('feed', '=', filter.feed)
    .orderBy('sdkappid')
    .orderBy('bucket_start')
    .orderBy('bucket_size');
  if (filter.sdkappid !== undefined) query = query.where('sdkappid', '=', filter.sdkappid);
  if (filter.bucketSize !== undefined) query = query.where('bucket_size', '=', filter.bucketSize);
  if (filter.from !== undefined) query = query.where('bucket_start', '>=', new Date(filter.from * 1000));
  if (filter.to !== undefined) query = query.where('bucket_start', '<', new Date(filter.to * 1000));
  return query.execute();
}

/**
 * @public for tests and tools: the load marks buckets final itself (`final` of its input).
 * Marks a fetched bucket final (its data will not change any more). Returns false if unknown.
 */
export async function markBucketFinal(db: Kysely<Database>, key: BucketKey): Promise<boolean> {
  const result = await db
    .updateTable('feed_bucket_state')
    .set({ final: true })
    .where('sdkappid', '=', key.sdkappid)
    .where('feed', '=', key.feed)
    .where('bucket_start', '=', new Date(key.bucketStart * 1000))
    .where('bucket_size', '=', key.bucketSize)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/**
 * Records that the API's horizon passed a bucket (creating its row if it was never fetched).
 * Keeps the first `lost_at` if already marked. A later successful load clears it.
 */
export async function markBucketLost(
  db: Kysely<Database>,
  args: { sdkappid: number; feed: FeedName; bucket: Window; bucketSize: BucketSize; at: Date },
): Promise<void> {
  await db
    .insertInto('feed_bucket_state')
    .values({
      sdkappid: args.sdkappid,
      feed: args.feed,
      bucket_start: new Date(args.bucket.start * 1000),
      bucket_size: args.bucketSize,
      bucket_end: new Date(args.bucket.end * 1000),
      lost_at: args.at,
    })
    .onConflict((conflict) =>
      conflict.columns(['sdkappid', 'feed', 'bucket_start', 'bucket_size']).doUpdateSet({
        lost_at: sql<Date>`coalesce(feed_bucket_state.lost_at, excluded.lost_at)`,
      }),
    )
    .execute();
}
