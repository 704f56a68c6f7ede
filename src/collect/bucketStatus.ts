import type { Kysely } from 'kysely';
import type { BucketSize } from '../buckets.ts';
import type { BucketStateTableName, Database } from '../db/database.ts';
import type { Window } from '../tencent/loss.ts';
import { bucketsOverlapping, DAY_MS, isAtRisk } from '../buckets.ts';
import { listBucketStates } from '../warehouse/state.ts';

/**
 * What the operator needs to know about recent buckets: collected for good, still pending,
 * never fetched, or lost, and which will become unreachable soon. Shared by `status`, the
 * metrics and the health check, so they always agree.
 */

export type BucketCondition = 'final' | 'pending' | 'missing' | 'lost';

export interface BucketReport extends Window {
  condition: BucketCondition;
  fetchCount: number;
  lastFetchedAt: Date | null;
  /** Not final, still reachable, and out of the API's horizon within 24 h. */
  atRisk: boolean;
}

export interface BucketWindowInput {
  nowMs: number;
  days: number;
  horizonSeconds: number;
  bucketSize: BucketSize;
  timeZone: string;
  /** Whose buckets: `bucket_state` (loss, default) or `stats_bucket_state` (statistics). */
  table?: BucketStateTableName;
}

/** How many days back `status`, the metrics and the health check look. */
export const STATUS_DAYS = 8;
/** Statistics reach 30 days back: status and the metrics look one day further, to show the lost edge. */
export const STATS_STATUS_DAYS = 31;

/** The app's buckets over the last `days` days (oldest first), each with its condition. */
export async function recentBuckets(
  db: Kysely<Database>,
  sdkappid: number,
  input: BucketWindowInput,
): Promise<BucketReport[]> {
  const buckets = bucketsOverlapping(
    input.nowMs - input.days * DAY_MS,
    input.nowMs + 1,
    input.bucketSize,
    input.timeZone,
  );
  if (buckets.length === 0) return [];
  const states = await listBucketStates(db, {
    sdkappid,
    bucketSize: input.bucketSize,
    from: buckets[0]!.start,
    to: buckets.at(-1)!.end,
    ...(input.table ? { table: input.table } : {}),
  });
  const byStart = new Map(states.map((state) => [state.bucket_start.getTime() / 1000, state]));
  const horizonMs = input.nowMs - input.horizonSeconds * 1000;
  return buckets.map((bucket) => {
    const state = byStart.get(bucket.start);
    const reachable = bucket.start * 1000 >= horizonMs;
    const condition: BucketCondition = state?.final
      ? 'final'
      : state?.lost_at || !reachable
        ? 'lost'
        : state?.last_fetched_at
          ? 'pending'
          : 'missing';
    return {
      ...bucket,
      condition,
      fetchCount: state?.fetch_count ?? 0,
      lastFetchedAt: state?.last_fetched_at ?? null,
      atRisk: condition !== 'final' && isAtRisk(bucket, horizonMs),
    };
  });
}
