/**
 * How the simulator's counts settle: each count of an hour grows with the hour's age (time since
 * its end) along a curve, to its full value. Real vendors report late (delivery receipts, clicks
 * when people open their phones, post-send failures after a channel's TTL), and a collector that
 * freezes a bucket too early must be seen to be wrong; a simulator whose numbers never move
 * after the hour ends could not show it.
 *
 * A curve is a list of `[ageMs, share]` points, linear in between, the share 1 from its last
 * point on. {@link STEP} (`[[0, 1]]`) is the two-step mode: an unfinished hour holds nothing
 * (see `finishedPart`), a finished one everything at once.
 */

export type SettleCurve = ReadonlyArray<readonly [ageMs: number, share: number]>;

/** Per kind of count: which curve it follows. */
export interface SettleModel {
  /** The loss before sending (decided at send time, in practice immediate). */
  readyToSend: SettleCurve;
  /** The loss after sending (vendor failure receipts). */
  postSend: SettleCurve;
  /** Statistics' DeliveredCount. */
  delivered: SettleCurve;
  /** Statistics' ClickCount. */
  click: SettleCurve;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Everything at once, as soon as the hour has ended. */
export const STEP: SettleCurve = [[0, 1]];

/** Nothing moves after the hour ends: the simulator's default. */
export const SETTLED_AT_ONCE: SettleModel = { readyToSend: STEP, postSend: STEP, delivered: STEP, click: STEP };

/**
 * Post-send loss and delivery settle over 5 days, clicks over 10: the evidence of other vendors
 * (a delivery rate rising from 53 % to 82 % over a week; `../shared/api/REFERENCE.md`).
 */
export const SETTLING_OVER_DAYS: SettleModel = {
  readyToSend: STEP,
  postSend: [
    [0, 0.5],
    [6 * HOUR, 0.65],
    [DAY, 0.8],
    [2 * DAY, 0.9],
    [3 * DAY, 0.95],
    [5 * DAY, 1],
  ],
  delivered: [
    [0, 0.55],
    [6 * HOUR, 0.7],
    [DAY, 0.85],
    [2 * DAY, 0.92],
    [3 * DAY, 0.96],
    [5 * DAY, 1],
  ],
  click: [
    [0, 0.2],
    [DAY, 0.5],
    [2 * DAY, 0.7],
    [5 * DAY, 0.9],
    [10 * DAY, 1],
  ],
};

/** The share of its full value a count has reached at `ageMs` after its hour ended. */
export function shareAt(curve: SettleCurve, ageMs: number): number {
  if (ageMs < 0) return 0;
  let previous: readonly [number, number] = [0, curve[0]?.[0] === 0 ? curve[0][1] : 0];
  for (const point of curve) {
    if (ageMs < point[0]) {
      const [age0, share0] = previous;
      return share0 + ((point[1] - share0) * (ageMs - age0)) / (point[0] - age0);
    }
    previous = point;
  }
  return 1;
}

/**
 * A count of an hour ending at `hourEndMs`, as reported at `nowMs`: whole, never above `full`,
 * and never smaller at a later `nowMs` (the curves only rise).
 */
export function settledCount(full: number, curve: SettleCurve, hourEndMs: number, nowMs: number): number {
  return Math.min(full, Math.floor(full * shareAt(curve, nowMs - hourEndMs) + 1e-9));
}
