/**
 * What every feed's fact loader shares: the buckets of a load as one SQL relation, and the
 * clearing of their rows. A bucket is replaced, never merged: an answer is the whole of its
 * window, so rows it no longer lists must go, and counts are never added to stored ones.
 */
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { arrayLiteral } from '../db/arrayLiteral.ts';
import type { Database } from '../db/database.ts';
import type { BucketContent } from './feed.ts';

/**
 * The buckets as a relation `b(i, sdkappid, bucket_start, bucket_size, bucket_end, fetched_at,
 * call_id)`, `i` their index: a feed's rows join it by `i`. Columns go as array literals, one
 * parameter each, whatever the number of buckets (a bind parameter per value overflows 65,535).
 */
export function bucketsRelation(buckets: ReadonlyArray<BucketContent<unknown>>): RawBuilder<unknown> {
  return sql`unnest(
      ${arrayLiteral(buckets.map((_, i) => i))}::int4[],
      ${arrayLiteral(buckets.map((b) => b.sdkappid))}::int8[],
      ${arrayLiteral(buckets.map((b) => b.bucketStart.toISOString()))}::timestamptz[],
      ${arrayLiteral(buckets.map((b) => b.bucketSize))}::text[],
      ${arrayLiteral(buckets.map((b) => b.bucketEnd.toISOString()))}::timestamptz[],
      ${arrayLiteral(buckets.map((b) => b.fetchedAt.toISOString()))}::timestamptz[],
      ${arrayLiteral(buckets.map((b) => b.callId))}::int8[]
    ) as b(i, sdkappid, bucket_start, bucket_size, bucket_end, fetched_at, call_id)`;
}

/** Deletes every row of these buckets from a fact table keyed (sdkappid, bucket_start, bucket_size, …). */
export async function clearBuckets(
  trx: Kysely<Database>,
  table: string,
  buckets: ReadonlyArray<BucketContent<unknown>>,
): Promise<void> {
  await sql`delete from ${sql.table(table)} f using ${bucketsRelation(buckets)}
             where f.sdkappid = b.sdkappid and f.bucket_start = b.bucket_start and f.bucket_size = b.bucket_size`.execute(
    trx,
  );
}
