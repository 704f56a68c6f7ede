/**
 * Reading and marking bucket bookkeeping (`bucket_state`) and a bucket's stored facts.
 */
import { sql, type Kysely } from 'kysely';
import type { BucketSize } from '../buckets.ts';
import type { BucketState, BucketStateTableName, Database } from '../db/database.ts';
import type { Window } from '../tencent/loss.ts';

/** Identifies one bucket of one app; `bucketStart` in unix seconds. */
export interface BucketKey {
  sdkappid: number;
  bucketStart: number;
  bucketSize: BucketSize;
}

/**
 * Loss buckets live in `bucket_state`, statistics buckets in `stats_bucket_state`: the same columns
 * and rules, so one set of functions serves both. The cast only renames the table for Kysely's
 * types; it is sound because the two tables' columns are identical (see migration 0005).
 */
function stateTable(table: BucketStateTableName | undefined): 'bucket_state' {
  return (table ?? 'bucket_state') as 'bucket_state';
}

/** The key columns of one bucket, for `where((eb) => eb.and(...))` on bucket_state or loss_fact. */
function bucketKeyColumns(key: BucketKey) {
  return { sdkappid: key.sdkappid, bucket_start: new Date(key.bucketStart * 1000), bucket_size: key.bucketSize };
}

export interface BucketStateFilter {
  sdkappid?: number;
  bucketSize?: BucketSize;
  /** bucket_start >= from (unix seconds). */
  from?: number;
  /** bucket_start < to (unix seconds). */
  to?: number;
  /** Default `bucket_state` (loss); `stats_bucket_state` for statistics. */
  table?: BucketStateTableName;
}

/** Bookkeeping rows matching the filter, by app then bucket start. */
export async function listBucketStates(db: Kysely<Database>, filter: BucketStateFilter = {}): Promise<BucketState[]> {
  let query = db
    .selectFrom(stateTable(filter.table))
    .selectAll()
    .orderBy('sdkappid')
    .orderBy('bucket_start')
    .orderBy('bucket_size');
  if (filter.sdkappid !== undefined) query = query.where('sdkappid', '=', filter.sdkappid);
  if (filter.bucketSize !== undefined) query = query.where('bucket_size', '=', filter.bucketSize);
  if (filter.from !== undefined) query = query.where('bucket_start', '>=', new Date(filter.from * 1000));
  if (filter.to !== undefined) query = query.where('bucket_start', '<', new Date(filter.to * 1000));
  return query.execute();
}

/** Marks a fetched bucket final (its data will not change any more). Returns false if unknown. */
export async function markBucketFinal(
  db: Kysely<Database>,
  key: BucketKey,
  table?: BucketStateTableName,
): Promise<boolean> {
  const result = await db
    .updateTable(stateTable(table))
    .set({ final: true })
    .where((eb) => eb.and(bucketKeyColumns(key)))
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/**
 * Records that the API's horizon passed a bucket (creating its row if it was never fetched).
 * Keeps the first `lost_at` if already marked. A later successful load clears it.
 */
export async function markBucketLost(
  db: Kysely<Database>,
  args: { sdkappid: number; bucket: Window; bucketSize: BucketSize; at: Date; table?: BucketStateTableName },
): Promise<void> {
  await db
    .insertInto(stateTable(args.table))
    .values({
      sdkappid: args.sdkappid,
      bucket_start: new Date(args.bucket.start * 1000),
      bucket_size: args.bucketSize,
      bucket_end: new Date(args.bucket.end * 1000),
      lost_at: args.at,
    })
    .onConflict((conflict) =>
      // Qualified by the real table's name: `bucket_state.lost_at` failed on stats_bucket_state.
      conflict.columns(['sdkappid', 'bucket_start', 'bucket_size']).doUpdateSet({
        lost_at: sql<Date>`coalesce(${sql.ref(`${stateTable(args.table)}.lost_at`)}, excluded.lost_at)`,
      }),
    )
    .execute();
}
