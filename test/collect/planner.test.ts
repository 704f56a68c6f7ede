import { describe, expect, it } from 'vitest';
import { firstReachableBucket } from '../../src/buckets.ts';
import {
  fetchPoints,
  isDue,
  isFinalFetch,
  planApp,
  type KnownBucket,
  type PlanInput,
  type SettlePolicy,
} from '../../src/collect/planner.ts';
import type { Window } from '../../src/tencent/loss.ts';

const TZ = 'Asia/Shanghai';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
// Beijing midnight starting 2026-11-26 (local), 16:00 UTC the day before.
const MIDNIGHT = Date.UTC(2026, 10, 25, 16);
const beijingDay = (offsetDays: number): Window => ({
  start: (MIDNIGHT + offsetDays * DAY) / 1000,
  end: (MIDNIGHT + (offsetDays + 1) * DAY) / 1000,
});
const days = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => beijingDay(from + i));
const SETTLE: SettlePolicy = {
  scheduleMs: [HOUR, 6 * HOUR, DAY, 2 * DAY, 3 * DAY, 5 * DAY, 10 * DAY],
  finalWindowMs: 6 * HOUR,
};
const LOSS_HORIZON = 7 * 86_400;

/** Simulates the daemon: fetches what the plan says and settles buckets as the collector would. */
function run(input: Omit<PlanInput, 'known' | 'settle'>, known: Map<number, KnownBucket>, settle = SETTLE) {
  const plan = planApp({ ...input, settle, known: [...known.values()] });
  for (const bucket of plan.fetch)
    known.set(bucket.start, {
      start: bucket.start,
      final: isFinalFetch(bucket, input.nowMs, input.horizonSeconds, settle),
      lost: false,
      lastFetchedAtMs: input.nowMs,
    });
  for (const bucket of [...plan.lost, ...plan.settledEarly])
    known.set(bucket.start, { ...known.get(bucket.start)!, start: bucket.start, final: false, lost: true });
  return plan;
}

/** Every pass every `stepMs` from `fromMs` to `toMs`: when each bucket was fetched, by start. */
function passes(
  input: Omit<PlanInput, 'known' | 'settle' | 'nowMs' | 'coveredFromMs'>,
  fromMs: number,
  toMs: number,
  stepMs: number,
  known = new Map<number, KnownBucket>(),
) {
  const fetchedAt = new Map<number, number[]>();
  let coveredFromMs = firstReachableBucket(fromMs, input.horizonSeconds, input.bucketSize, TZ).start * 1000;
  let calls = 0;
  for (let nowMs = fromMs; nowMs <= toMs; nowMs += stepMs) {
    const plan = run({ ...input, nowMs, coveredFromMs }, known);
    coveredFromMs = plan.coveredFromMs;
    calls += plan.fetch.length;
    for (const bucket of plan.fetch) fetchedAt.set(bucket.start, [...(fetchedAt.get(bucket.start) ?? []), nowMs]);
  }
  return { fetchedAt, known, calls };
}

describe('planner', () => {
  const base = { horizonSeconds: LOSS_HORIZON, bucketSize: '1d' as const, timeZone: TZ };
  const now = MIDNIGHT + 12 * HOUR; // noon on day 0

  it('finds the first bucket that starts inside the horizon', () => {
    expect(firstReachableBucket(now, base.horizonSeconds, '1d', TZ)).toEqual(beijingDay(-6));
    expect(firstReachableBucket(MIDNIGHT, base.horizonSeconds, '1d', TZ)).toEqual(beijingDay(-7));
  });

  it('fetches the whole horizon on the first run, the current day included', () => {
    const coveredFromMs = firstReachableBucket(now, base.horizonSeconds, '1d', TZ).start * 1000;
    const plan = planApp({ ...base, settle: SETTLE, nowMs: now, coveredFromMs, known: [] });
    expect(plan.fetch).toEqual(days(-6, 0));
    expect(plan.lost).toEqual([]);
    // Day -6 leaves the horizon at midnight: its final window (the last 6 h) opened at 18:00.
    expect(plan.atRisk).toEqual([]);
    expect(planApp({ ...base, settle: SETTLE, nowMs: now + 7 * HOUR, coveredFromMs, known: [] }).atRisk).toEqual([
      beijingDay(-6),
    ]);
    expect(plan.coveredFromMs).toBe(MIDNIGHT - 6 * DAY);
  });

  it('a bucket is fetched at its end, at each schedule age, and once in its final window, then never again', () => {
    const day = beijingDay(0);
    const { fetchedAt, known } = passes(base, MIDNIGHT - 10 * HOUR, MIDNIGHT + 10 * DAY, 30 * 60_000);
    const end = day.end * 1000;
    const afterEnd = (fetchedAt.get(day.start) ?? []).filter((t) => t >= end).map((t) => t - end);
    // 10 d is past the loss bucket's final window (it opens 5 d 18 h after the end): skipped.
    expect(afterEnd).toEqual([0, HOUR, 6 * HOUR, DAY, 2 * DAY, 3 * DAY, 5 * DAY, 5 * DAY + 18 * HOUR]);
    expect(known.get(day.start)).toMatchObject({ final: true, lost: false });
    // While in progress, every pass fetches it (its answer grows).
    expect((fetchedAt.get(day.start) ?? []).filter((t) => t < end)).toHaveLength(48);
  });

  it('statistics follow the same schedule up to their 30-day horizon', () => {
    const day = beijingDay(0);
    expect(fetchPoints(day, 30 * 86_400, SETTLE).map((t) => t - day.end * 1000)).toEqual([
      0,
      HOUR,
      6 * HOUR,
      DAY,
      2 * DAY,
      3 * DAY,
      5 * DAY,
      10 * DAY,
      29 * DAY - 6 * HOUR,
    ]);
  });

  it('a steady-state pass costs the bucket in progress and the few that are due', () => {
    const { calls } = passes(base, now, now + 20 * DAY, 30 * 60_000);
    const first = 7;
    // Per day after the first pass: 48 passes of the day in progress, and 8 fetches of each day after its end.
    expect((calls - first) / 20).toBeCloseTo(48 + 8, 0);
  });

  it('a daemon down across a fetch age fetches once when it is back, then keeps to the schedule', () => {
    const day = beijingDay(0);
    const end = day.end * 1000;
    const known = new Map<number, KnownBucket>();
    passes(base, end + 10 * 60_000, end + 1.5 * DAY, 30 * 60_000, known); // fetched at end, 1 h, 6 h, 1 d
    expect(known.get(day.start)!.lastFetchedAtMs).toBe(end + DAY + 10 * 60_000);
    // Down from 1.5 d to 4.2 d: the 2 d and 3 d points pass without a pass.
    const back = end + 4.2 * DAY;
    expect(isDue(day, known.get(day.start)!.lastFetchedAtMs, back, LOSS_HORIZON, SETTLE)).toBe(true);
    const { fetchedAt } = passes(base, back, end + 7 * DAY, 30 * 60_000, known);
    const afterBack = (fetchedAt.get(day.start) ?? []).map((t) => t - end);
    expect(afterBack).toHaveLength(3); // once on return, at 5 d, and in the final window
    expect(afterBack[0]).toBe(4.2 * DAY);
    expect(afterBack[1]).toBeGreaterThanOrEqual(5 * DAY);
    expect(afterBack[1]).toBeLessThan(5 * DAY + 30 * 60_000);
    expect(afterBack[2]).toBeGreaterThanOrEqual(5 * DAY + 18 * HOUR);
    expect(known.get(day.start)).toMatchObject({ final: true });
  });

  it('a daemon down across the final window leaves the bucket settled early, with its last answer', () => {
    const day = beijingDay(0);
    const end = day.end * 1000;
    const known = new Map<number, KnownBucket>();
    passes(base, end, end + 5.5 * DAY, HOUR, known);
    const lastFetch = known.get(day.start)!.lastFetchedAtMs;
    // Back 7 d after the end: the horizon passed day 0 at 6 d after its end, before its final fetch.
    const plan = run({ ...base, nowMs: end + 7 * DAY, coveredFromMs: day.start * 1000 }, known);
    expect(plan.settledEarly).toContainEqual(day);
    expect(plan.lost).not.toContainEqual(day);
    expect(plan.fetch).not.toContainEqual(day);
    expect(known.get(day.start)).toMatchObject({ final: false, lost: true, lastFetchedAtMs: lastFetch });
  });

  it('a clock stepped back does not fetch again; one stepped forward fetches once for the points it skipped', () => {
    const day = beijingDay(-3);
    const end = day.end * 1000;
    const fetched = end + 2 * DAY + 5 * 60_000;
    // Stepped back by an hour: the last fetch is "in the future"; nothing is due until 3 d.
    expect(isDue(day, fetched, fetched - HOUR, LOSS_HORIZON, SETTLE)).toBe(false);
    expect(isDue(day, fetched, end + 3 * DAY - 1, LOSS_HORIZON, SETTLE)).toBe(false);
    expect(isDue(day, fetched, end + 3 * DAY, LOSS_HORIZON, SETTLE)).toBe(true);
    // Stepped forward over 3 d and 5 d: due, and one fetch then covers both.
    const later = end + 5 * DAY + HOUR;
    expect(isDue(day, fetched, later, LOSS_HORIZON, SETTLE)).toBe(true);
    expect(isDue(day, later, later + 10 * 60_000, LOSS_HORIZON, SETTLE)).toBe(false);
  });

  it('final only with a fetch in the final window', () => {
    const day = beijingDay(-3);
    const opens = (day.start + LOSS_HORIZON) * 1000 - 6 * HOUR;
    expect(isFinalFetch(day, opens - 1, LOSS_HORIZON, SETTLE)).toBe(false);
    expect(isFinalFetch(day, opens, LOSS_HORIZON, SETTLE)).toBe(true);
    expect(isFinalFetch(day, day.end * 1000 + 48 * HOUR, LOSS_HORIZON, SETTLE)).toBe(false); // the old rule
  });

  it('every-pass fetches every pending bucket on every pass', () => {
    const everyPass: SettlePolicy = { scheduleMs: 'every-pass', finalWindowMs: 6 * HOUR };
    expect(isDue(beijingDay(-3), now - 10 * 60_000, now, LOSS_HORIZON, everyPass)).toBe(true);
    expect(isDue(beijingDay(-3), now - 10 * 60_000, now, LOSS_HORIZON, SETTLE)).toBe(false);
  });

  it('heals a 5-day outage on the next pass', () => {
    const known = new Map<number, KnownBucket>();
    const first = run(
      { ...base, nowMs: now, coveredFromMs: firstReachableBucket(now, base.horizonSeconds, '1d', TZ).start * 1000 },
      known,
    );
    const later = now + 5 * DAY;
    const plan = run({ ...base, nowMs: later, coveredFromMs: first.coveredFromMs }, known);
    // Days -6..-2 had an answer and passed the horizon before their final fetch; 1..5 were never seen.
    expect(plan.settledEarly).toEqual(days(-6, -2));
    expect(plan.fetch).toEqual(days(-1, 5));
    expect(plan.lost).toEqual([]);
  });

  it('marks an out-of-horizon bucket lost (never fetched) or settled early (fetched), once', () => {
    const known = new Map<number, KnownBucket>();
    const first = run(
      { ...base, nowMs: now, coveredFromMs: firstReachableBucket(now, base.horizonSeconds, '1d', TZ).start * 1000 },
      known,
    );
    const later = now + 10 * DAY;
    const plan = run({ ...base, nowMs: later, coveredFromMs: first.coveredFromMs }, known);
    expect(plan.settledEarly).toEqual(days(-6, 0));
    expect(plan.lost).toEqual(days(1, 3));
    expect(plan.fetch).toEqual(days(4, 10));
    const again = run({ ...base, nowMs: later + HOUR, coveredFromMs: plan.coveredFromMs }, known);
    expect([...again.lost, ...again.settledEarly]).toEqual([]);
  });

  it('plans hour buckets too', () => {
    const plan = planApp({
      ...base,
      settle: SETTLE,
      bucketSize: '1h',
      nowMs: now,
      coveredFromMs: now - 3 * HOUR,
      known: [],
    });
    expect(plan.fetch.map((w) => w.start * 1000)).toEqual([now - 3 * HOUR, now - 2 * HOUR, now - HOUR, now]);
  });
});
