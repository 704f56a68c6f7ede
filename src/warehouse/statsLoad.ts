/**
 * Exact loading of one statistics bucket, and its rebuilding from the archive.
 *
 * The same rules as loss (see load.ts): an answer is a complete snapshot of its window, so the
 * bucket's rows are REPLACED in one transaction with the archived call, the bucket's bookkeeping
 * and its day in the `stats_day` rollup; a call received earlier than the one already stored
 * never overwrites it.
 */
import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import type { BucketSize } from '../buckets.ts';
import { arrayLiteral } from '../db/arrayLiteral.ts';
import { OVERALL_PLATFORM, type Database } from '../db/database.ts';
import { inTransaction } from '../db/transaction.ts';
import type { CallRecord, Window } from '../tencent/loss.ts';
import { parseStatisticsBody, type PushCounts, type PushStatistics } from '../tencent/statistics.ts';
import { archiveCall } from './archive.ts';
import { refreshStatsRollup } from './rollup.ts';
import { BucketMismatchError, receivedAt, type LoadBucketResult } from './load.ts';

export interface LoadStatsInput {
  sdkappid: number;
  bucket: Window;
  bucketSize: BucketSize;
  /** The successful call (outcome 'ok') whose body `stats` was parsed from. */
  call: CallRecord;
  stats: PushStatistics;
}

/** `platform` is a smallint column; -1 is the overall row. */
const MAX_PLATFORM = 32_767;

/** The rows of one answer: the overall row (platform -1) first, then one per channel. */
export function statsRows(stats: PushStatistics): Array<PushCounts & { platform: number }> {
  const rows = [{ platform: OVERALL_PLATFORM, ...stats.overall }, ...stats.platforms];
  for (const row of rows) {
    if (!(Number.isInteger(row.platform) && row.platform >= OVERALL_PLATFORM && row.platform <= MAX_PLATFORM))
      throw new RangeError(`statistics: platform ${row.platform} is not an integer in 0..${MAX_PLATFORM}`);
    for (const value of [row.total, row.sent, row.delivered, row.click]) {
      if (value !== null && !(Number.isSafeInteger(value) && value >= 0))
        throw new RangeError(`statistics: count ${value} of platform ${row.platform} is not a non-negative integer`);
    }
  }
  if (new Set(rows.map((row) => row.platform)).size !== rows.length)
    throw new RangeError('statistics: a platform is listed twice');
  return rows;
}

/**
 * Loads one statistics bucket from one successful call in ONE transaction (or the caller's):
 * archive the call in `stats_call`, lock and update `stats_bucket_state`, replace the bucket's
 * `stats_fact` rows. If it throws, nothing was written.
 */
export async function loadStatsBucket(db: Kysely<Database>, input: LoadStatsInput): Promise<LoadBucketResult> {
  const { sdkappid, bucket, bucketSize, call } = input;
  if (call.outcome !== 'ok')
    throw new TypeError(`loadStatsBucket needs a successful call, got outcome ${call.outcome}: use archiveCall`);
  if (call.sdkappid !== sdkappid) throw new TypeError(`call of app ${call.sdkappid} loaded into app ${sdkappid}`);
  if (!(Number.isInteger(bucket.start) && Number.isInteger(bucket.end) && bucket.end > bucket.start))
    throw new RangeError(`invalid bucket ${JSON.stringify(bucket)}`);
  const rows = statsRows(input.stats); // before the transaction: bad data never takes a lock
  const fetchedAt = receivedAt(call);

  return inTransaction(db, async (trx) => {
    const callId = await archiveCall(trx, call, 'stats_call');
    const state = await recordStatsFetch(trx, { sdkappid, bucket, bucketSize, fetchedAt, callId });
    if (state.last_call_id !== callId) return { callId, replaced: false, facts: 0, fetchCount: state.fetch_count };
    const facts = await replaceStatsFacts(trx, { sdkappid, bucket, bucketSize, rows, fetchedAt, callId });
    return { callId, replaced: true, facts, fetchCount: state.fetch_count };
  });
}

/** Upserts the bucket's `stats_bucket_state` row (and locks it until commit), as loss does. */
async function recordStatsFetch(
  trx: Kysely<Database>,
  args: { sdkappid: number; bucket: Window; bucketSize: BucketSize; fetchedAt: Date; callId: number },
): Promise<{ fetch_count: number; last_call_id: number | null }> {
  const { sdkappid, bucket, bucketSize, fetchedAt, callId } = args;
  const newer = sql<boolean>`(stats_bucket_state.last_fetched_at is null or excluded.last_fetched_at >= stats_bucket_state.last_fetched_at)`;
  const row = await trx
    .insertInto('stats_bucket_state')
    .values({
      sdkappid,
      bucket_start: new Date(bucket.start * 1000),
      bucket_size: bucketSize,
      bucket_end: new Date(bucket.end * 1000),
      first_fetched_at: fetchedAt,
      last_fetched_at: fetchedAt,
      fetch_count: 1,
      last_call_id: callId,
    })
    .onConflict((conflict) =>
      conflict.columns(['sdkappid', 'bucket_start', 'bucket_size']).doUpdateSet((eb) => ({
        fetch_count: eb('stats_bucket_state.fetch_count', '+', 1),
        first_fetched_at: sql`least(stats_bucket_state.first_fetched_at, excluded.first_fetched_at)`,
        last_fetched_at: sql`case when ${newer} then excluded.last_fetched_at else stats_bucket_state.last_fetched_at end`,
        last_call_id: sql`case when ${newer} then excluded.last_call_id else stats_bucket_state.last_call_id end`,
        lost_at: sql`case when ${newer} then null else stats_bucket_state.lost_at end`,
      })),
    )
    .returning(['fetch_count', 'last_call_id', 'bucket_end'])
    .executeTakeFirstOrThrow();
  if (row.bucket_end.getTime() !== bucket.end * 1000) throw new BucketMismatchError(sdkappid, bucket, row.bucket_end);
  return row;
}

/**
 * Replaces every row of one statistics bucket and refreshes its day in `stats_day` (inside a
 * transaction holding its state lock).
 */
async function replaceStatsFacts(
  trx: Kysely<Database>,
  args: {
    sdkappid: number;
    bucket: Window;
    bucketSize: BucketSize;
    rows: ReadonlyArray<PushCounts & { platform: number }>;
    fetchedAt: Date;
    callId: number;
  },
): Promise<number> {
  const { sdkappid, bucket, bucketSize, fetchedAt, callId } = args;
  const bucketStart = new Date(bucket.start * 1000);
  await trx
    .deleteFrom('stats_fact')
    .where('sdkappid', '=', sdkappid)
    .where('bucket_start', '=', bucketStart)
    .where('bucket_size', '=', bucketSize)
    .execute();
  // One statement for any number of channels: the columns go as array literals, a handful of
  // parameters whatever the count (a bind parameter per value overflowed 65,535 at 5,957 channels).
  const { rows } = args;
  await sql`
    insert into stats_fact (sdkappid, bucket_start, bucket_size, platform, bucket_end, total_count, sent_count,
                            delivered_count, click_count, fetched_at, call_id)
    select ${sdkappid}::int8, ${bucketStart}::timestamptz, ${bucketSize}::text, r.platform,
           ${new Date(bucket.end * 1000)}::timestamptz, r.total_count, r.sent_count, r.delivered_count,
           r.click_count, ${fetchedAt}::timestamptz, ${callId}::int8
      from unnest(
        ${arrayLiteral(rows.map((row) => row.platform))}::int2[],
        ${arrayLiteral(rows.map((row) => row.total))}::int8[],
        ${arrayLiteral(rows.map((row) => row.sent))}::int8[],
        ${arrayLiteral(rows.map((row) => row.delivered))}::int8[],
        ${arrayLiteral(rows.map((row) => row.click))}::int8[]
      ) as r(platform, total_count, sent_count, delivered_count, click_count)`.execute(trx);
  // The day's rollup follows in the same transaction (a 1d bucket also hides its day's hours).
  await refreshStatsRollup(trx, [{ sdkappid, bucketStart }]);
  return rows.length;
}

export interface StatsRenormalizeReport {
  buckets: number;
  rebuilt: number;
  facts: number;
  failed: Array<{ sdkappid: number; bucketStart: Date; reason: string }>;
  skipped: number;
}

/**
 * Rebuilds every fetched statistics bucket (of one app, if given) from the body of the call its
 * rows came from, each bucket in its own transaction; `stats_bucket_state` is not touched. A body
 * that cannot be read keeps the bucket's current rows and is reported in `failed`.
 */
export async function renormalizeStatistics(
  db: Kysely<Database>,
  options: { sdkappid?: number } = {},
): Promise<StatsRenormalizeReport> {
  const report: StatsRenormalizeReport = { buckets: 0, rebuilt: 0, facts: 0, failed: [], skipped: 0 };
  let query = db
    .selectFrom('stats_bucket_state as b')
    .innerJoin('stats_call as c', (join) =>
      join.onRef('c.sdkappid', '=', 'b.sdkappid').onRef('c.id', '=', 'b.last_call_id'),
    )
    .select(['b.sdkappid', 'b.bucket_start', 'b.bucket_end', 'b.bucket_size', 'c.id as call_id', 'c.outcome', 'c.body'])
    .select(['c.started_at', 'c.duration_ms'])
    .orderBy('b.sdkappid')
    .orderBy('b.bucket_start')
    .orderBy('b.bucket_size');
  if (options.sdkappid !== undefined) query = query.where('b.sdkappid', '=', options.sdkappid);
  // A few rows per app and day: read them all at once (loss pages through its larger archive).
  for (const row of await query.execute()) {
    report.buckets++;
    const parsed = row.outcome === 'ok' && row.body !== null ? parseStatisticsBody(row.body) : null;
    let rows;
    try {
      if (parsed === null) throw new Error(`call ${row.call_id} has outcome ${row.outcome} and no readable body`);
      if (parsed.kind !== 'ok')
        throw new Error(
          parsed.kind === 'invalid' ? parsed.reason : `archived answer is error ${parsed.envelope.errorCode}`,
        );
      rows = statsRows(parsed.stats);
    } catch (error) {
      report.failed.push({ sdkappid: row.sdkappid, bucketStart: row.bucket_start, reason: (error as Error).message });
      continue;
    }
    const rebuilt = await inTransaction(db, async (trx) => {
      const current = await trx
        .selectFrom('stats_bucket_state')
        .select('last_call_id')
        .where('sdkappid', '=', row.sdkappid)
        .where('bucket_start', '=', row.bucket_start)
        .where('bucket_size', '=', row.bucket_size)
        .forUpdate()
        .executeTakeFirst();
      if (current?.last_call_id !== row.call_id) return null; // a newer fetch replaced it meanwhile
      return replaceStatsFacts(trx, {
        sdkappid: row.sdkappid,
        bucket: { start: row.bucket_start.getTime() / 1000, end: row.bucket_end.getTime() / 1000 },
        bucketSize: row.bucket_size,
        rows,
        fetchedAt: receivedAt({ startedAt: row.started_at.getTime(), durationMs: row.duration_ms }),
        callId: row.call_id,
      });
    });
    if (rebuilt === null) report.skipped++;
    else {
      report.rebuilt++;
      report.facts += rebuilt;
    }
  }
  return report;
}
