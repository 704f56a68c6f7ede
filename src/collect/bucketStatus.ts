import type { Kysely } from 'kysely';
import type { BucketSize } from '../buckets.ts';
import type { Database } from '../db/database.ts';
import { TIM_APIS, type FeedName } from '../tencent/apis.ts';
import type { Window } from '../tencent/loss.ts';
import { bucketsOverlapping, DAY_MS } from '../buckets.ts';
import { listBucketStates } from '../warehouse/state.ts';
import { inFinalWindow, type SettlePolicy } from './planner.ts';

/**
 * What the operator needs to know about recent buckets: collected for good (final), still
 * pending, never fetched (missing), past the horizon without their final fetch (settled early
 * when they kept an earlier answer, lost when they never had one), and which will become
 * unreachable soon. Shared by `status`, the
 * metrics and the health check, so they always agree.
 */

export type BucketCondition = 'final' | 'pending' | 'missing' | 'settled_early' | 'lost';

export interface BucketReport extends Window {
  condition: BucketCondition;
  fetchCount: number;
  lastFetchedAt: Date | null;
  /** Not final, still reachable, and inside its final window (out of the API's horizon soon). */
  atRisk: boolean;
}

export interface BucketWindowInput {
  feed: FeedName;
  nowMs: number;
  /** How many days back (default {@link statusDays}). */
  days?: number;
  horizonSeconds: number;
  bucketSize: BucketSize;
  timeZone: string;
  settle: SettlePolicy;
}

/**
 * How many days back `status`, the metrics and the health check look at a feed's buckets: as far
 * as its API reaches, and one day further, to show the lost edge (loss 8, statistics 31).
 */
export function statusDays(feed: FeedName): number {
  return TIM_APIS[feed].documentedDays + 1;
}

/** The app's buckets over the last `days` days (oldest first), each with its condition. */
export async function recentBuckets(
  db: Kysely<Database>,
  sdkappid: number,
  input: BucketWindowInput,
): Promise<BucketReport[]> {
  const buckets = bucketsOverlapping(
    input.nowMs - (input.days ?? statusDays(input.feed)) * DAY_MS,
    input.nowMs + 1,
    input.bucketSize,
    input.timeZone,
  );
  if (buckets.length === 0) return [];
  const states = await listBucketStates(db, {
    feed: input.feed,
    sdkappid,
    bucketSize: input.bucketSize,
    from: buckets[0]!.start,
    to: buckets.at(-1)!.end,
  });
  const byStart = new Map(states.map((state) => [state.bucket_start.getTime() / 1000, state]));
  return buckets.map((bucket) => {
    const state = byStart.get(bucket.start);
    const reachable = (bucket.start + input.horizonSeconds) * 1000 > input.nowMs;
    const condition: BucketCondition = state?.final
      ? 'final'
      : state?.lost_at || !reachable
        ? state?.last_fetched_at
          ? 'settled_early'
          : 'lost'
        : state?.last_fetched_at
          ? 'pending'
          : 'missing';
    return {
      ...bucket,
      condition,
      fetchCount: state?.fetch_count ?? 0,
      lastFetchedAt: state?.last_fetched_at ?? null,
      atRisk:
        condition === 'pending' || condition === 'missing'
          ? inFinalWindow(bucket, input.nowMs, input.horizonSeconds, input.settle)
          : false,
    };
  });
}
