import { isoSeconds } from '../clock.ts';
import type { AppConfig, Config } from '../config/config.ts';
import { TIM_APIS, type FeedName } from '../tencent/apis.ts';
import { TimApiError } from '../tencent/errors.ts';
import type { Window } from '../tencent/loss.ts';
import { bucketsOverlapping } from '../buckets.ts';
import type { Collector } from './collector.ts';
import { firstReachableBucket } from '../buckets.ts';

/**
 * On-demand collection of every bucket overlapping a range, final or not. Re-running it replaces
 * the same buckets with the same answers: it is idempotent. Buckets the API can no longer answer
 * are refused up front, before any call, with the earliest range that still works.
 */

export class RangeRefusedError extends Error {
  readonly code = 'RANGE_REFUSED';
  readonly exitCode = 2;
}

export interface BackfillPlan {
  /** The API to fetch. */
  feed: FeedName;
  buckets: Window[];
  /** Buckets that have not begun yet, dropped from the range. */
  future: number;
}

/**
 * The buckets of one API to fetch, or a RangeRefusedError naming the earliest reachable start:
 * each API has its own horizon (loss 7 days, statistics 30).
 */
export function planBackfill(
  config: Config,
  fromMs: number,
  toMs: number,
  nowMs: number,
  feed: FeedName,
): BackfillPlan {
  const { horizonSeconds } = config.limits[feed];
  // A range ending further ahead than the API reaches back is a typo (--to 9999-12-31), not a plan.
  if (toMs > nowMs + horizonSeconds * 1000) {
    throw new RangeRefusedError(
      `the range ends ${isoSeconds(toMs / 1000)}, more than ${horizonSeconds / 86_400} days from now, and only buckets that have begun can be fetched; end it today or earlier`,
    );
  }
  let all: Window[];
  try {
    all = bucketsOverlapping(fromMs, toMs, config.bucketSize, config.bucketTz);
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    throw new RangeRefusedError(
      `${error.message}; narrow the range to the ${horizonSeconds / 86_400} days the API still answers`,
    );
  }
  const reachable = firstReachableBucket(nowMs, horizonSeconds, config.bucketSize, config.bucketTz);
  const tooOld = all.filter((bucket) => bucket.start < reachable.start);
  if (tooOld.length > 0) {
    const api = `${feed} API (${TIM_APIS[feed].api})`;
    // Another collected API that reaches further back can still fetch the range alone.
    const further = config.feeds.find((other) => config.limits[other].horizonSeconds > horizonSeconds);
    const hint = further
      ? `; for ${further} alone, which reach ${config.limits[further].horizonSeconds / 86_400} days back, add --api ${further}`
      : '';
    throw new RangeRefusedError(
      `${tooOld.length} bucket(s) from ${isoSeconds(tooOld[0]!.start)} are older than the ${api}'s ${horizonSeconds / 86_400}-day horizon and can no longer be fetched; the earliest bucket that can is ${isoSeconds(reachable.start)} (--from ${isoSeconds(reachable.start)})${hint}`,
    );
  }
  const buckets = all.filter((bucket) => bucket.start * 1000 <= nowMs);
  if (buckets.length === 0) throw new RangeRefusedError('the range has not begun yet: nothing to fetch');
  return { feed, buckets, future: all.length - buckets.length };
}

export interface BackfillSummary {
  loaded: number;
  final: number;
  failed: number;
  facts: number;
  stopped: boolean;
}

/** Fetches the planned buckets for each app (apps concurrently), printing a line per bucket. */
export async function runBackfill(
  collector: Collector,
  apps: readonly AppConfig[],
  plan: BackfillPlan,
  out: (line: string) => void,
  signal?: AbortSignal,
): Promise<BackfillSummary> {
  const summary: BackfillSummary = { loaded: 0, final: 0, failed: 0, facts: 0, stopped: false };
  await Promise.all(
    apps.map(async (app) => {
      for (const [index, bucket] of plan.buckets.entries()) {
        if (signal?.aborted) {
          summary.stopped = true;
          return;
        }
        const label = `${plan.feed} app ${app.sdkappid} bucket ${index + 1}/${plan.buckets.length} ${isoSeconds(bucket.start)} .. ${isoSeconds(bucket.end)}`;
        try {
          const result = await collectOrStop(collector, app, bucket, plan.feed, signal);
          if (result === 'stopped') {
            summary.stopped = true;
            return;
          }
          summary.loaded++;
          summary.facts += result.facts;
          if (result.final) summary.final++;
          out(`${label}: ${result.facts} rows${result.final ? ', final' : ''}`);
        } catch (error) {
          if (!(error instanceof TimApiError)) throw error;
          summary.failed++;
          out(`${label}: FAILED ${error.message}`);
          if (error.fatalForApp) return; // the next buckets would fail the same way
        }
      }
    }),
  );
  return summary;
}

async function collectOrStop(
  collector: Collector,
  app: AppConfig,
  bucket: Window,
  feed: FeedName,
  signal?: AbortSignal,
) {
  try {
    return await collector.collectBucket(app, feed, bucket, signal);
  } catch (error) {
    if (signal?.aborted && !(error instanceof TimApiError)) return 'stopped' as const;
    throw error;
  }
}
