import { describe, expect, it } from 'vitest';
import { firstReachableBucket } from '../../src/buckets.ts';
import { isSettled, planApp, type KnownBucket, type PlanInput } from '../../src/collect/planner.ts';
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

/** Simulates the daemon: fetches what the plan says and settles buckets as the collector would. */
function run(input: Omit<PlanInput, 'known'>, known: Map<number, KnownBucket>, settleAfterMs = 48 * HOUR) {
  const plan = planApp({ ...input, known: [...known.values()] });
  for (const bucket of plan.fetch)
    known.set(bucket.start, { start: bucket.start, final: isSettled(bucket, input.nowMs, settleAfterMs), lost: false });
  for (const bucket of plan.lost) known.set(bucket.start, { start: bucket.start, final: false, lost: true });
  return plan;
}

describe('planner', () => {
  const base = { horizonSeconds: 7 * 86_400, bucketSize: '1d' as const, timeZone: TZ };
  const now = MIDNIGHT + 12 * HOUR; // noon on day 0

  it('finds the first bucket that starts inside the horizon', () => {
    expect(firstReachableBucket(now, base.horizonSeconds, '1d', TZ)).toEqual(beijingDay(-6));
    expect(firstReachableBucket(MIDNIGHT, base.horizonSeconds, '1d', TZ)).toEqual(beijingDay(-7));
  });

  it('fetches the whole horizon on the first run, the current day included', () => {
    const coveredFromMs = firstReachableBucket(now, base.horizonSeconds, '1d', TZ).start * 1000;
    const plan = planApp({ ...base, nowMs: now, coveredFromMs, known: [] });
    expect(plan.fetch).toEqual(days(-6, 0));
    expect(plan.lost).toEqual([]);
    expect(plan.atRisk).toEqual([beijingDay(-6)]);
    expect(plan.coveredFromMs).toBe(MIDNIGHT - 6 * DAY);
  });

  it('later runs fetch only the pending buckets, and settled buckets are never fetched again', () => {
    const known = new Map<number, KnownBucket>();
    let coveredFromMs = firstReachableBucket(now, base.horizonSeconds, '1d', TZ).start * 1000;
    const first = run({ ...base, nowMs: now, coveredFromMs }, known);
    coveredFromMs = first.coveredFromMs;
    // Days -6..-3 ended more than 48 h before noon on day 0: settled by the first pass.
    const second = run({ ...base, nowMs: now + 30 * 60_000, coveredFromMs }, known);
    expect(second.fetch).toEqual(days(-2, 0));
    const fetchedLater = new Set<number>();
    for (let hours = 1; hours <= 24 * 5; hours++) {
      const plan = run({ ...base, nowMs: now + hours * HOUR, coveredFromMs }, known);
      coveredFromMs = plan.coveredFromMs;
      for (const bucket of plan.fetch) fetchedLater.add(bucket.start);
      expect(plan.fetch.length).toBeLessThanOrEqual(4); // a steady-state pass is a few buckets
      expect(plan.lost).toEqual([]);
    }
    for (const settled of days(-6, -3)) expect(fetchedLater.has(settled.start)).toBe(false);
  });

  it('heals a 5-day outage on the next pass', () => {
    const known = new Map<number, KnownBucket>();
    const first = run(
      { ...base, nowMs: now, coveredFromMs: firstReachableBucket(now, base.horizonSeconds, '1d', TZ).start * 1000 },
      known,
    );
    const later = now + 5 * DAY;
    const plan = run({ ...base, nowMs: later, coveredFromMs: first.coveredFromMs }, known);
    // Days -2..0 were pending when the daemon stopped; 1..5 were never seen. All are reachable.
    expect(plan.fetch).toEqual(days(-1, 5));
    expect(plan.lost).toEqual([beijingDay(-2)]);
  });

  it('marks an out-of-horizon bucket lost, once', () => {
    const known = new Map<number, KnownBucket>();
    const first = run(
      { ...base, nowMs: now, coveredFromMs: firstReachableBucket(now, base.horizonSeconds, '1d', TZ).start * 1000 },
      known,
    );
    const later = now + 10 * DAY;
    const plan = run({ ...base, nowMs: later, coveredFromMs: first.coveredFromMs }, known);
    expect(plan.lost).toEqual(days(-2, 3));
    expect(plan.fetch).toEqual(days(4, 10));
    const again = run({ ...base, nowMs: later + HOUR, coveredFromMs: plan.coveredFromMs }, known);
    expect(again.lost).toEqual([]);
  });

  it('settles a bucket only when fetched settleAfter past its end', () => {
    const day = beijingDay(-3);
    expect(isSettled(day, day.end * 1000 + 48 * HOUR - 1, 48 * HOUR)).toBe(false);
    expect(isSettled(day, day.end * 1000 + 48 * HOUR, 48 * HOUR)).toBe(true);
  });

  it('plans hour buckets too', () => {
    const plan = planApp({ ...base, bucketSize: '1h', nowMs: now, coveredFromMs: now - 3 * HOUR, known: [] });
    expect(plan.fetch.map((w) => w.start * 1000)).toEqual([now - 3 * HOUR, now - 2 * HOUR, now - HOUR, now]);
  });
});
