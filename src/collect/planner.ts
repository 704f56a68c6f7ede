import type { SettlePolicy } from '../config/config.ts';
import type { BucketSize } from '../buckets.ts';
import type { Window } from '../tencent/loss.ts';
import { bucketsOverlapping } from '../buckets.ts';

/**
 * Decides what one pass fetches for one app: every bucket the API can still answer that is
 * missing, in progress, or due on its settle schedule. Pure: the daemon feeds it the bucket
 * states and the time. One policy for both APIs; each brings its own horizon (7 days for loss,
 * 30 for statistics).
 *
 * Why a schedule and not "final after 48 h": no Tencent document says when a bucket's counts stop
 * changing, and vendor receipts (delivery, clicks, post-send failures) keep arriving for days. So
 * a bucket stays pending until the API can no longer answer it, and is fetched again at thinning
 * ages after its end (`SETTLE_SCHEDULE`: 1 h, 6 h, 1 d, 2 d, 3 d, 5 d, ...), and once more in its
 * final window, the last `SETTLE_FINAL_WINDOW` before it leaves the horizon. Only that last fetch
 * makes it final. A bucket whose final window passed with no fetch in it (the daemon was down)
 * keeps the last answer it got and is recorded as lost; `status` calls it "settled early" when it
 * has an answer, "lost" when it never had one.
 */

export type { SettlePolicy } from '../config/config.ts';

export interface KnownBucket {
  start: number;
  final: boolean;
  lost: boolean;
  /** The start of its last kept fetch, epoch ms; null if never fetched. */
  lastFetchedAtMs: number | null;
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
  settle: SettlePolicy;
  /** States of the buckets that start at or after `coveredFromMs`. */
  known: readonly KnownBucket[];
}

export interface Plan {
  /** Missing, in progress or due, still answerable: fetch these, oldest first. */
  fetch: Window[];
  /** Not final, and the horizon has passed them: to be recorded as lost (never fetched). */
  lost: Window[];
  /** Like `lost`, but with an answer: they keep it, "settled early". */
  settledEarly: Window[];
  /** Not final and inside their final window: the horizon passes them soon. */
  atRisk: Window[];
  /** The new watermark: the start of the oldest bucket still neither final nor lost. */
  coveredFromMs: number;
}

export function planApp(input: PlanInput): Plan {
  const horizonMs = input.nowMs - input.horizonSeconds * 1000;
  const known = new Map(input.known.map((bucket) => [bucket.start, bucket]));
  // Every bucket from the watermark up to and including the one in progress now.
  const buckets = bucketsOverlapping(input.coveredFromMs, input.nowMs + 1, input.bucketSize, input.timeZone);

  const plan: Plan = { fetch: [], lost: [], settledEarly: [], atRisk: [], coveredFromMs: input.nowMs };
  let watermarkSet = false;
  for (const bucket of buckets) {
    const state = known.get(bucket.start);
    if (state?.final || state?.lost) continue;
    if (bucket.start * 1000 < horizonMs) {
      (state?.lastFetchedAtMs == null ? plan.lost : plan.settledEarly).push(bucket);
      continue;
    }
    if (!watermarkSet) {
      plan.coveredFromMs = bucket.start * 1000;
      watermarkSet = true;
    }
    if (isDue(bucket, state?.lastFetchedAtMs ?? null, input.nowMs, input.horizonSeconds, input.settle))
      plan.fetch.push(bucket);
    if (inFinalWindow(bucket, input.nowMs, input.horizonSeconds, input.settle)) plan.atRisk.push(bucket);
  }
  return plan;
}

/** When the bucket's final window opens (epoch ms): a fetch from then on makes it final. */
export function finalFetchFromMs(bucket: Window, horizonSeconds: number, settle: SettlePolicy): number {
  return (bucket.start + horizonSeconds) * 1000 - settle.finalWindowMs;
}

/** Whether a fetch made at `fetchedAtMs` settles the bucket for good: it came in its final window. */
export function isFinalFetch(
  bucket: Window,
  fetchedAtMs: number,
  horizonSeconds: number,
  settle: SettlePolicy,
): boolean {
  return fetchedAtMs >= finalFetchFromMs(bucket, horizonSeconds, settle);
}

/** Not final yet and inside its final window at `nowMs` (the one rule behind every "at risk"). */
export function inFinalWindow(bucket: Window, nowMs: number, horizonSeconds: number, settle: SettlePolicy): boolean {
  return nowMs >= finalFetchFromMs(bucket, horizonSeconds, settle) && nowMs < (bucket.start + horizonSeconds) * 1000;
}

/**
 * The instants (epoch ms) at which a bucket is due: its end (the first complete answer), each
 * schedule age after its end that comes before its final window, and the final window's opening.
 */
export function fetchPoints(bucket: Window, horizonSeconds: number, settle: SettlePolicy): number[] {
  const endMs = bucket.end * 1000;
  const finalFrom = finalFetchFromMs(bucket, horizonSeconds, settle);
  const ages = settle.scheduleMs === 'every-pass' ? [] : settle.scheduleMs;
  const points = [endMs, ...ages.map((age) => endMs + age)].filter((point) => point < finalFrom);
  return [...points, finalFrom];
}

/**
 * Whether a bucket last fetched at `lastFetchedAtMs` is due at `nowMs`: never fetched, still in
 * progress (its answer grows every pass), or some fetch point passed since its last fetch. A
 * daemon that was down across several points fetches once, on its first pass back; a clock
 * stepped back (last fetch "in the future") waits for the next point instead of fetching again.
 */
export function isDue(
  bucket: Window,
  lastFetchedAtMs: number | null,
  nowMs: number,
  horizonSeconds: number,
  settle: SettlePolicy,
): boolean {
  if (lastFetchedAtMs === null || settle.scheduleMs === 'every-pass') return true;
  if (nowMs < bucket.end * 1000) return true;
  return fetchPoints(bucket, horizonSeconds, settle).some((point) => lastFetchedAtMs < point && point <= nowMs);
}
