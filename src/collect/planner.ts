import type { BucketSize } from '../buckets.ts';
import type { Window } from '../tencent/loss.ts';
import { bucketsOverlapping, isAtRisk } from '../buckets.ts';

/**
 * Decides what one pass fetches for one app: every bucket the API can still answer that is
 * missing or not yet final. Pure: the daemon feeds it the bucket states and the time.
 *
 * A bucket is final once it was fetched at least `settleAfterMs` after its end (late vendor
 * receipts have arrived by then); final buckets are never fetched again, so a steady-state pass
 * costs the few recent buckets, not the whole 7-day window. A bucket the horizon has passed by
 * without becoming final can never be completed: it is recorded as lost, never retried.
 */

export interface KnownBucket {
  start: number;
  final: boolean;
  lost: boolean;
}

export interface PlanInput {
  nowMs: number;
  /**
   * Everything before this instant is already final or lost for this app (its bookkeeping
   * watermark); for an app seen for the first time, the current horizon.
   */
  coveredFromMs: number;
  horizonSeconds: number;
  bucketSize: BucketSize;
  timeZone: string;
  /** States of the buckets that start at or after `coveredFromMs`. */
  known: readonly KnownBucket[];
}

export interface Plan {
  /** Missing or not final, still answerable: fetch these, oldest first. */
  fetch: Window[];
  /** Not final, and the horizon has passed them: to be recorded as lost. */
  lost: Window[];
  /** Buckets among `fetch` that fall out of the horizon within 24 h. */
  atRisk: Window[];
  /** The new watermark: the start of the oldest bucket still neither final nor lost. */
  coveredFromMs: number;
}

export function planApp(input: PlanInput): Plan {
  const horizonMs = input.nowMs - input.horizonSeconds * 1000;
  const known = new Map(input.known.map((bucket) => [bucket.start, bucket]));
  // Every bucket from the watermark up to and including the one in progress now.
  const buckets = bucketsOverlapping(input.coveredFromMs, input.nowMs + 1, input.bucketSize, input.timeZone);

  const plan: Plan = { fetch: [], lost: [], atRisk: [], coveredFromMs: input.nowMs };
  let watermarkSet = false;
  for (const bucket of buckets) {
    const state = known.get(bucket.start);
    if (state?.final || state?.lost) continue;
    if (bucket.start * 1000 < horizonMs) {
      plan.lost.push(bucket);
      continue;
    }
    if (!watermarkSet) {
      plan.coveredFromMs = bucket.start * 1000;
      watermarkSet = true;
    }
    plan.fetch.push(bucket);
    if (isAtRisk(bucket, horizonMs)) plan.atRisk.push(bucket);
  }
  return plan;
}

/** Whether a fetch made at `fetchedAtMs` settles the bucket for good. */
export function isSettled(bucket: Window, fetchedAtMs: number, settleAfterMs: number): boolean {
  return fetchedAtMs >= bucket.end * 1000 + settleAfterMs;
}
