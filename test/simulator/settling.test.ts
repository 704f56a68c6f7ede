import { describe, expect, it } from 'vitest';
import { SETTLED_AT_ONCE, SETTLING_OVER_DAYS, STEP, shareAt, settledCount } from '../../src/simulator/settling.ts';
import { defaultLossData } from '../../src/simulator/lossData.ts';
import { defaultStatsData } from '../../src/simulator/statsData.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const APP = 1_400_000_001;
// A Beijing day (16:00 UTC to 16:00 UTC), in unix seconds.
const START = Date.UTC(2026, 10, 25, 16) / 1000;
const DAY_WINDOW = { start: START, end: START + 86_400 };
const END_MS = DAY_WINDOW.end * 1000;
const total = (entries: ReturnType<typeof defaultLossData>, stage: string) =>
  entries.filter((e) => e.platform === null && e.stage === stage).reduce((sum, e) => sum + e.errCount, 0);

describe('the simulator settles', () => {
  it('a curve is linear between its points, 1 from its last point on; the step is all at once', () => {
    const curve = SETTLING_OVER_DAYS.postSend;
    expect(shareAt(curve, 0)).toBe(0.5);
    expect(shareAt(curve, 3 * HOUR)).toBeCloseTo(0.575);
    expect(shareAt(curve, 5 * DAY)).toBe(1);
    expect(shareAt(curve, 30 * DAY)).toBe(1);
    expect(shareAt(STEP, 0)).toBe(1);
    expect(shareAt(STEP, -1)).toBe(0);
    expect(settledCount(7, curve, 0, 3 * HOUR)).toBe(4); // floor(7 × 0.575)
  });

  it('loss grows with age: post-send over 5 days, ready-to-send at once; its final is the value at the horizon', () => {
    const at = (ageMs: number) =>
      defaultLossData(APP, DAY_WINDOW, { nowMs: END_MS + ageMs, model: SETTLING_OVER_DAYS });
    const complete = defaultLossData(APP, DAY_WINDOW);
    const post = [HOUR, 6 * HOUR, DAY, 2 * DAY, 3 * DAY, 5 * DAY].map((age) => total(at(age), 'post_send_delivered'));
    for (let i = 1; i < post.length; i++) expect(post[i]).toBeGreaterThan(post[i - 1]!);
    expect(post[0]! / total(complete, 'post_send_delivered')).toBeGreaterThan(0.5);
    expect(post[0]! / total(complete, 'post_send_delivered')).toBeLessThan(0.66);
    expect(total(at(HOUR), 'ready_to_send')).toBe(total(complete, 'ready_to_send'));
    // At the horizon (7 days after the start) the answer is complete; a day later the same.
    expect(at(6 * DAY)).toEqual(complete);
  });

  it('the two-step mode (SETTLED_AT_ONCE) is the complete answer as soon as the hours ended', () => {
    expect(defaultLossData(APP, DAY_WINDOW, { nowMs: END_MS, model: SETTLED_AT_ONCE })).toEqual(
      defaultLossData(APP, DAY_WINDOW),
    );
    expect(defaultStatsData(APP, DAY_WINDOW, { nowMs: END_MS, model: SETTLED_AT_ONCE })).toEqual(
      defaultStatsData(APP, DAY_WINDOW),
    );
  });

  it('statistics: delivered over 5 days and clicks over 10, totals and sent at once', () => {
    const at = (ageMs: number) =>
      defaultStatsData(APP, DAY_WINDOW, { nowMs: END_MS + ageMs, model: SETTLING_OVER_DAYS });
    const complete = defaultStatsData(APP, DAY_WINDOW);
    const early = at(HOUR);
    expect(early.overall.total).toBe(complete.overall.total);
    expect(early.overall.sent).toBe(complete.overall.sent);
    expect(early.overall.delivered!).toBeLessThan(complete.overall.delivered!);
    expect(at(5 * DAY).platforms.map((p) => p.delivered)).toEqual(complete.platforms.map((p) => p.delivered));
    expect(at(5 * DAY).overall.click!).toBeLessThan(complete.overall.click!);
    expect(at(29 * DAY)).toEqual(complete);
  });
});
