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
import type { Database } from '../db/database.ts';
import { inTransaction } from '../db/transaction.ts';
import type { AnyFeed, BucketContent } from '../feeds/feed.ts';
import type { CallRecord, Window } from '../tencent/loss.ts';
import { toFeedCallRow } from './archive.ts';

export interface LoadBucketInput<Answer = unknown> {
  sdkappid: number;
  bucket: Window;
  bucketSize: BucketSize;
  /** The successful call (outcome 'ok') whose body `answer` was parsed from. */
  call: CallRecord;
  answer: Answer;
  /** The data has settled: mark the bucket final if this call's facts are kept (default false). */
  final?: boolean;
}

export interface LoadBucketResult {
  /** Id of the archived `feed_call` row. */
  callId: number;
  /**
   * False when the bucket already holds facts from a call received later than this one (e.g. a
   * slow response overtaken by a retry): the call is archived and counted, the facts are kept.
   */
  replaced: boolean;
  /** Fact rows now stored for the bucket by this call (0 if not replaced). */
  facts: number;
  /** The bucket's `feed_bucket_state.fetch_count` after this load. */
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
 * Loads one bucket of `feed` from one successful call, in ONE transaction (or within the
 * caller's, if `db` is a transaction): archive the call, lock and update the bucket's
 * `feed_bucket_state` row (fetch_count + 1, last_fetched_at, last_call_id, final), replace the
 * bucket's facts and refresh its rollups (the feed's part). If it throws, nothing was written:
 * archive the call with `archiveCall` (outcome 'invalid_response') if its body must be kept.
 */
export async function loadBucket(
  db: Kysely<Database>,
  feed: AnyFeed,
  input: LoadBucketInput,
): Promise<LoadBucketResult> {
  const [result] = await loadBuckets(db, feed, [input]);
  return result!;
}

/**
 * {@link loadBucket} for many buckets (distinct ones) of one feed in one transaction, set-based:
 * the same round trips for one bucket or a thousand (begin, the feed's storage, calls +
 * bookkeeping, facts + rollups, commit). Results are in the order of `inputs`.
 */
export async function loadBuckets(
  db: Kysely<Database>,
  feed: AnyFeed,
  inputs: readonly LoadBucketInput[],
): Promise<LoadBucketResult[]> {
  // Validate and normalize before opening the transaction: bad data never takes a lock.
  const seen = new Set<string>();
  const prepared = inputs.map((input) => {
    const { sdkappid, bucket, bucketSize, call } = input;
    if (call.outcome !== 'ok')
      throw new TypeError(`loadBucket needs a successful call, got outcome ${call.outcome}: use archiveCall`);
    if (call.sdkappid !== sdkappid) throw new TypeError(`call of app ${call.sdkappid} loaded into app ${sdkappid}`);
    if (!(Number.isInteger(bucket.start) && Number.isInteger(bucket.end) && bucket.end > bucket.start)) {
      throw new RangeError(`invalid bucket ${JSON.stringify(bucket)}`);
    }
    const key = `${sdkappid} ${bucket.start} ${bucketSize}`;
    if (seen.has(key)) throw new TypeError(`bucket ${key} given twice in one load`);
    seen.add(key);
    return { input, rows: feed.toRows(input.answer) as unknown[], fetchedAt: receivedAt(call) };
  });
  if (prepared.length === 0) return [];
  const rows = prepared.map(({ input, fetchedAt }, i) => ({
    i,
    ...toFeedCallRow(feed.name, input.call),
    // Bytes travel as hex through the JSON records.
    body_raw: undefined,
    body_raw_hex: input.call.bodyRaw ? Buffer.from(input.call.bodyRaw).toString('hex') : null,
    bucket_start: new Date(input.bucket.start * 1000),
    bucket_end: new Date(input.bucket.end * 1000),
    bucket_size: input.bucketSize,
    fetched_at: fetchedAt,
    final: input.final ?? false,
  }));

  return inTransaction(db, async (trx) => {
    await feed.prepare?.(
      trx,
      inputs.map((input) => input.bucket.start),
    );
    // The upsert locks each bucket's bookkeeping row until commit, which serializes concurrent
    // loads of one bucket; the facts are written by the next statement, whose snapshot is taken
    // once the lock is ours (a statement's own snapshot predates the locks it waits for).
    // It takes those row locks in key order (sdkappid, bucket_start, bucket_size), whatever the
    // order of `inputs`, as renormalize does: two batches sharing buckets (two connections or two
    // processes) then wait for each other instead of deadlocking. Every later lock of the
    // transaction (facts of these buckets, the rollup's per-app advisory locks, taken in app
    // order) is on rows only the holder of these bookkeeping locks writes.
    const newer = sql`(s.last_fetched_at is null or excluded.last_fetched_at >= s.last_fetched_at)`;
    const { rows: states } = await sql<{
      i: number;
      call_id: number;
      fetch_count: number;
      last_call_id: number;
      bucket_end: Date;
    }>`
      with input as (
        select x.*, nextval('feed_call_id_seq') as call_id
          from json_to_recordset(${JSON.stringify(rows)}::json) as x(
                 i int, sdkappid int8, feed text, window_start timestamptz, window_end timestamptz,
                 started_at timestamptz, duration_ms int, attempt int, host text, http_status int,
                 action_status text, error_code int, error_info text, request_id text, body text,
                 body_raw_hex text, body_bytes int8, body_truncated boolean, outcome text,
                 bucket_start timestamptz, bucket_end timestamptz, bucket_size text, fetched_at timestamptz,
                 final boolean)
      ),
      call as (
        insert into feed_call (sdkappid, feed, id, window_start, window_end, started_at, duration_ms, attempt, host,
                               http_status, action_status, error_code, error_info, request_id, body, body_raw,
                               body_bytes, body_truncated, outcome)
        select sdkappid, feed, call_id, window_start, window_end, started_at, duration_ms, attempt, host,
               http_status, action_status, error_code, error_info, request_id, body, decode(body_raw_hex, 'hex'),
               body_bytes, body_truncated, outcome
          from input
      ),
      state as (
        insert into feed_bucket_state as s (sdkappid, feed, bucket_start, bucket_size, bucket_end, first_fetched_at,
                                            last_fetched_at, fetch_count, last_call_id, final)
        select sdkappid, feed, bucket_start, bucket_size, bucket_end, fetched_at, fetched_at, 1, call_id, final
          from input
         order by sdkappid, bucket_start, bucket_size
        on conflict (sdkappid, feed, bucket_start, bucket_size) do update set
          fetch_count = s.fetch_count + 1,
          first_fetched_at = least(s.first_fetched_at, excluded.first_fetched_at),
          last_fetched_at = case when ${newer} then excluded.last_fetched_at else s.last_fetched_at end,
          last_call_id = case when ${newer} then excluded.last_call_id else s.last_call_id end,
          -- Data arrived after all: the bucket is not lost.
          lost_at = case when ${newer} then null else s.lost_at end,
          final = case when ${newer} and excluded.final then true else s.final end
        returning sdkappid, bucket_start, bucket_size, bucket_end, fetch_count, last_call_id
      )
      select input.i, input.call_id, state.fetch_count, state.last_call_id, state.bucket_end
        from input join state using (sdkappid, bucket_start, bucket_size)
       order by input.i`.execute(trx);
    const replaced: Array<BucketContent<unknown>> = [];
    const results = states.map((state) => {
      const { input, rows, fetchedAt } = prepared[state.i]!;
      if (state.bucket_end.getTime() !== input.bucket.end * 1000)
        throw new BucketMismatchError(input.sdkappid, input.bucket, state.bucket_end);
      const isNewest = state.last_call_id === state.call_id;
      if (isNewest) {
        replaced.push({
          sdkappid: input.sdkappid,
          bucketStart: new Date(input.bucket.start * 1000),
          bucketEnd: new Date(input.bucket.end * 1000),
          bucketSize: input.bucketSize,
          fetchedAt,
          callId: state.call_id,
          rows,
          firstFetch: state.fetch_count === 1,
        });
      }
      return {
        callId: state.call_id,
        replaced: isNewest,
        facts: isNewest ? rows.length : 0,
        fetchCount: state.fetch_count,
      };
    });
    await feed.replaceFacts(trx, replaced);
    return results;
  });
}

/** When a call's answer arrived: the `fetched_at` of its facts (reproducible from `feed_call`). */
export function receivedAt(call: Pick<CallRecord, 'startedAt' | 'durationMs'>): Date {
  return new Date(call.startedAt + Math.max(0, Math.round(call.durationMs)));
}
