/**
 * Exact loading of one bucket.
 *
 * The API's answer for a window is a complete snapshot of that window's loss, and later answers
 * for the same window may differ (late data raises counts; an error code may disappear). So a
 * bucket is REPLACED, never upserted: an upsert would keep error codes the newer answer no longer
 * lists, and adding counts would count the same losses twice. Delete and insert happen in one
 * transaction with the raw call and the bucket's bookkeeping, so readers see the previous version
 * or the new one, never a mix, and a failure half-way leaves the previous version intact.
 */
import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import type { BucketSize } from '../buckets.ts';
import type { Database, NewLossFact } from '../db/database.ts';
import { inTransaction } from '../db/transaction.ts';
import type { CallRecord, LossEntry, Window } from '../tencent/loss.ts';
import { archiveCall } from './archive.ts';
import { normalizeLoss } from './normalize.ts';
import type { FactLine } from './normalize.ts';
import { ensureLossFactPartition } from './partitions.ts';

export interface LoadBucketInput {
  sdkappid: number;
  bucket: Window;
  bucketSize: BucketSize;
  /** The successful call (outcome 'ok') whose body `entries` were parsed from. */
  call: CallRecord;
  entries: readonly LossEntry[];
}

export interface LoadBucketResult {
  /** Id of the archived `tim_call` row. */
  callId: number;
  /**
   * False when the bucket already holds facts from a call received later than this one (e.g. a
   * slow response overtaken by a retry): the call is archived and counted, the facts are kept.
   */
  replaced: boolean;
  /** Fact rows now stored for the bucket by this call (0 if not replaced). */
  facts: number;
  /** The bucket's `bucket_state.fetch_count` after this load. */
  fetchCount: number;
}

/** The bucket was defined differently before (another zone or size): loading would overlap. */
export class BucketMismatchError extends Error {
  readonly code = 'BUCKET_MISMATCH';
  constructor(sdkappid: number, bucket: Window, storedEnd: Date) {
    super(
      `app ${sdkappid}: bucket starting ${new Date(bucket.start * 1000).toISOString()} is stored as ending ` +
        `${storedEnd.toISOString()}, not ${new Date(bucket.end * 1000).toISOString()}: was the time zone changed?`,
    );
    this.name = 'BucketMismatchError';
  }
}

/**
 * Loads one bucket from one successful call, in ONE transaction (or within the caller's, if `db`
 * is a transaction): archive the call, ensure the month's partition, lock and update the bucket's
 * `bucket_state` (fetch_count + 1, last_fetched_at, last_call_id), delete the bucket's facts and
 * insert the new ones. If it throws, nothing was written: archive the call with `archiveCall`
 * (outcome 'invalid_response') if its body must be kept.
 */
export async function loadBucket(db: Kysely<Database>, input: LoadBucketInput): Promise<LoadBucketResult> {
  const { sdkappid, bucket, bucketSize, call } = input;
  if (call.outcome !== 'ok')
    throw new TypeError(`loadBucket needs a successful call, got outcome ${call.outcome}: use archiveCall`);
  if (call.sdkappid !== sdkappid) throw new TypeError(`call of app ${call.sdkappid} loaded into app ${sdkappid}`);
  if (!(Number.isInteger(bucket.start) && Number.isInteger(bucket.end) && bucket.end > bucket.start)) {
    throw new RangeError(`invalid bucket ${JSON.stringify(bucket)}`);
  }
  // Normalize before opening the transaction: bad data never takes a lock.
  const lines = normalizeLoss(input.entries);
  const fetchedAt = receivedAt(call);

  return inTransaction(db, async (trx) => {
    const callId = await archiveCall(trx, call);
    await ensureLossFactPartition(trx, bucket.start);
    const state = await recordFetch(trx, { sdkappid, bucket, bucketSize, fetchedAt, callId });
    if (state.last_call_id !== callId) return { callId, replaced: false, facts: 0, fetchCount: state.fetch_count };
    const facts = await replaceBucketFacts(trx, { sdkappid, bucket, bucketSize, lines, fetchedAt, callId });
    return { callId, replaced: true, facts, fetchCount: state.fetch_count };
  });
}

/** When a call's answer arrived: the `fetched_at` of its facts (reproducible from `tim_call`). */
export function receivedAt(call: Pick<CallRecord, 'startedAt' | 'durationMs'>): Date {
  return new Date(call.startedAt + Math.max(0, Math.round(call.durationMs)));
}

/**
 * Upserts the bucket's `bucket_state` row. The upsert also locks that row until commit, which
 * serializes concurrent loads of the same bucket (otherwise two delete+insert pairs could
 * interleave and collide on the primary key).
 */
async function recordFetch(
  trx: Kysely<Database>,
  args: { sdkappid: number; bucket: Window; bucketSize: BucketSize; fetchedAt: Date; callId: number },
): Promise<{ fetch_count: number; last_call_id: number | null }> {
  const { sdkappid, bucket, bucketSize, fetchedAt, callId } = args;
  const newer = sql<boolean>`(bucket_state.last_fetched_at is null or excluded.last_fetched_at >= bucket_state.last_fetched_at)`;
  const row = await trx
    .insertInto('bucket_state')
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
        fetch_count: eb('bucket_state.fetch_count', '+', 1),
        first_fetched_at: sql`least(bucket_state.first_fetched_at, excluded.first_fetched_at)`,
        last_fetched_at: sql`case when ${newer} then excluded.last_fetched_at else bucket_state.last_fetched_at end`,
        last_call_id: sql`case when ${newer} then excluded.last_call_id else bucket_state.last_call_id end`,
        // Data arrived after all: the bucket is not lost.
        lost_at: sql`case when ${newer} then null else bucket_state.lost_at end`,
      })),
    )
    .returning(['fetch_count', 'last_call_id', 'bucket_end'])
    .executeTakeFirstOrThrow();
  if (row.bucket_end.getTime() !== bucket.end * 1000) throw new BucketMismatchError(sdkappid, bucket, row.bucket_end);
  return row;
}

/** Rows per INSERT statement (12 parameters each, far below PostgreSQL's 65535 limit). */
const INSERT_CHUNK = 1000;

/**
 * Replaces every fact of one bucket with `lines`. Must run inside a transaction that already
 * ensured the partition and holds the bucket's `bucket_state` row lock. Returns the row count.
 */
export async function replaceBucketFacts(
  trx: Kysely<Database>,
  args: {
    sdkappid: number;
    bucket: Window;
    bucketSize: BucketSize;
    lines: readonly FactLine[];
    fetchedAt: Date;
    callId: number;
  },
): Promise<number> {
  const { sdkappid, bucket, bucketSize, lines, fetchedAt, callId } = args;
  const bucketStart = new Date(bucket.start * 1000);
  const bucketEnd = new Date(bucket.end * 1000);
  await trx
    .deleteFrom('loss_fact')
    .where('sdkappid', '=', sdkappid)
    .where('bucket_start', '=', bucketStart)
    .where('bucket_size', '=', bucketSize)
    .execute();
  const rows: NewLossFact[] = lines.map((line) => ({
    sdkappid,
    bucket_start: bucketStart,
    bucket_size: bucketSize,
    scope: line.scope,
    stage: line.stage,
    platform: line.platform,
    err_code: line.errCode,
    bucket_end: bucketEnd,
    err_count: line.errCount,
    err_info: line.errInfo,
    fetched_at: fetchedAt,
    call_id: callId,
  }));
  for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
    await trx
      .insertInto('loss_fact')
      .values(rows.slice(i, i + INSERT_CHUNK))
      .execute();
  }
  return rows.length;
}
