/**
 * The statistics fact table (`stats_fact`): one row per app, bucket and channel, platform -1 for
 * the top-level counts, and its daily rollup (`stats_day`, migration 0008).
 */
import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import { arrayLiteral } from '../../db/arrayLiteral.ts';
import { OVERALL_PLATFORM, type Database } from '../../db/database.ts';
import type { PushCounts, PushStatistics } from '../../tencent/statistics.ts';
import { bucketsRelation, clearBuckets } from '../bucketRows.ts';
import type { BucketContent } from '../feed.ts';

/** One row of `stats_fact`: a channel's counts, or the overall ones (platform -1). */
export type StatsRow = PushCounts & { platform: number };

/** `platform` is a smallint column; -1 is the overall row. */
const MAX_PLATFORM = 32_767;

/**
 * Refuses (RangeError) a count a bigint column cannot hold exactly: every count is unknown (null)
 * or a non-negative safe integer. `feed` and `platform` name the line in the message.
 */
export function checkCounts(counts: PushCounts, feed: string, platform: number): void {
  for (const value of [counts.total, counts.sent, counts.delivered, counts.click]) {
    if (value !== null && !(Number.isSafeInteger(value) && value >= 0))
      throw new RangeError(`${feed}: count ${value} of platform ${platform} is not a non-negative integer`);
  }
}

/** The rows of one answer: the overall row (platform -1) first, then one per channel. */
export function statsRows(stats: PushStatistics): StatsRow[] {
  const rows = [{ platform: OVERALL_PLATFORM, ...stats.overall }, ...stats.platforms];
  for (const row of rows) {
    if (!(Number.isInteger(row.platform) && row.platform >= OVERALL_PLATFORM && row.platform <= MAX_PLATFORM))
      throw new RangeError(`statistics: platform ${row.platform} is not an integer in 0..${MAX_PLATFORM}`);
    checkCounts(row, 'statistics', row.platform);
  }
  if (new Set(rows.map((row) => row.platform)).size !== rows.length)
    throw new RangeError('statistics: a platform is listed twice');
  return rows;
}

/**
 * Replaces every row of these statistics buckets and refreshes their days in `stats_day`, in the
 * load's transaction (which holds their state locks). One statement for any number of channels:
 * the columns go as array literals, a handful of parameters whatever the count (a bind parameter
 * per value overflowed 65,535 at 5,957 channels).
 */
export async function replaceStatsFacts(
  trx: Kysely<Database>,
  buckets: ReadonlyArray<BucketContent<StatsRow>>,
): Promise<void> {
  if (buckets.length === 0) return;
  const rows = buckets.flatMap((b, i) => b.rows.map((row) => ({ i, row })));
  await clearBuckets(trx, 'stats_fact', buckets);
  await sql`
    insert into stats_fact (sdkappid, bucket_start, bucket_size, platform, bucket_end, total_count, sent_count,
                            delivered_count, click_count, fetched_at, call_id)
    select b.sdkappid, b.bucket_start, b.bucket_size, r.platform, b.bucket_end, r.total_count, r.sent_count,
           r.delivered_count, r.click_count, b.fetched_at, b.call_id
      from unnest(
        ${arrayLiteral(rows.map(({ i }) => i))}::int4[],
        ${arrayLiteral(rows.map(({ row }) => row.platform))}::int2[],
        ${arrayLiteral(rows.map(({ row }) => row.total))}::int8[],
        ${arrayLiteral(rows.map(({ row }) => row.sent))}::int8[],
        ${arrayLiteral(rows.map(({ row }) => row.delivered))}::int8[],
        ${arrayLiteral(rows.map(({ row }) => row.click))}::int8[]
      ) as r(i, platform, total_count, sent_count, delivered_count, click_count)
      join ${bucketsRelation(buckets)} using (i)`.execute(trx);
  // The days follow in the same transaction (a 1d bucket also hides its day's hours).
  const days = buckets.map((b) => ({ sdkappid: b.sdkappid, bucket_start: b.bucketStart.toISOString() }));
  await sql`select push_stats_rollup_refresh(${JSON.stringify(days)}::json)`.execute(trx);
}
