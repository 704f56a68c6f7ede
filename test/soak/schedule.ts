/**
 * The soak's seeded schedule: when the host is down, when PostgreSQL goes away, when the clock
 * steps, when an app is added or removed, and which API calls fail how. The same seed and number
 * of days give the same schedule, so a failure can be replayed.
 */
import type { FailureRule } from '../../src/simulator/failures.ts';

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;

/** mulberry32: a small seeded generator, enough for a schedule. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type SoakEvent =
  | { at: number; kind: 'down' }
  | { at: number; kind: 'up' }
  | { at: number; kind: 'restart'; reason: string }
  | { at: number; kind: 'db-cut'; during: 'between-passes' | 'mid-load' }
  | { at: number; kind: 'db-restore' }
  | { at: number; kind: 'skew'; skewMs: number }
  /** kill -9 of the daemons during the pass at this tick, after `afterQueries` of their queries. */
  | { at: number; kind: 'kill'; afterQueries: number };

export interface SoakSchedule {
  startMs: number;
  endMs: number;
  events: SoakEvent[];
  /** Downtimes [from, to), true time. */
  downtimes: Array<{ from: number; to: number }>;
  /** The app that answers 90045 for two days, and when. */
  fatal: { sdkappid: number; from: number; to: number };
  /** When the added app joins and the removed one leaves (true time; at a restart). */
  addAppAt: number;
  removeAppAt: number;
}

/** 2026-01-05 00:00 UTC: a Monday, far from any DST question (Asia/Shanghai has none anyway). */
const START_MS = Date.UTC(2026, 0, 5);

/** A downtime given instead of the seeded ones: from `fromDay` (days after the start), `days` long. */
export interface FixedDowntime {
  fromDay: number;
  days: number;
}

export function makeSchedule(
  seed: number,
  days: number,
  fatalApp: number,
  fixedDowntimes?: readonly FixedDowntime[],
): SoakSchedule {
  const random = seededRandom(seed);
  const between = (lo: number, hi: number) => lo + random() * (hi - lo);
  const startMs = START_MS;
  const endMs = startMs + days * DAY_MS;
  const events: SoakEvent[] = [];
  const downtimes: SoakSchedule['downtimes'] = [];

  // Downtimes: the first long one longer than the 7-day horizon, then a mix; up 1 to 5 days between.
  let t = startMs + between(1, 3) * DAY_MS;
  let first = true;
  while (t < endMs - DAY_MS) {
    const kind = first ? 'long' : random() < 0.35 ? 'short' : random() < 0.6 ? 'medium' : 'long';
    const length =
      kind === 'short'
        ? between(1, 12) * HOUR_MS
        : kind === 'medium'
          ? between(0.5, 6) * DAY_MS
          : between(7.2, 9) * DAY_MS;
    // A long downtime only where the run goes on long enough after it to see the consequence.
    const to = Math.min(t + length, endMs - DAY_MS);
    if (to - t >= HOUR_MS) {
      downtimes.push({ from: t, to });
      events.push({ at: t, kind: 'down' }, { at: to, kind: 'up' });
    }
    first = false;
    t = to + between(1, 5) * DAY_MS;
  }
  if (fixedDowntimes) {
    downtimes.length = 0;
    for (let i = events.length - 1; i >= 0; i--)
      if (events[i]!.kind === 'down' || events[i]!.kind === 'up') events.splice(i, 1);
    for (const d of fixedDowntimes) {
      const from = startMs + d.fromDay * DAY_MS;
      downtimes.push({ from, to: from + d.days * DAY_MS });
      events.push({ at: from, kind: 'down' }, { at: from + d.days * DAY_MS, kind: 'up' });
    }
  }
  const isDown = (at: number) => downtimes.some((d) => at >= d.from && at < d.to);

  // PostgreSQL away: between passes for 1 to 8 hours, or cut in the middle of a pass's loads.
  for (let day = 0; day < days; day++) {
    const base = startMs + day * DAY_MS;
    if (random() < 0.3) {
      const at = base + (Math.floor(between(0, 12)) * 2 + 1) * HOUR_MS + 10 * 60_000; // not at a tick
      events.push({ at, kind: 'db-cut', during: 'between-passes' });
      events.push({ at: at + between(1, 8) * HOUR_MS, kind: 'db-restore' });
    }
    if (random() < 0.35) {
      const tick = base + Math.floor(between(0, 12)) * 2 * HOUR_MS + 30 * 60_000;
      if (!isDown(tick)) {
        events.push({ at: tick, kind: 'db-cut', during: 'mid-load' });
        events.push({ at: tick + between(0.5, 3) * HOUR_MS, kind: 'db-restore' });
      }
    }
  }

  // NTP: the host's clock steps back by minutes, and later forward, and back to true time.
  for (let step = 0; step < Math.max(2, Math.floor(days / 15)); step++) {
    const at = startMs + between(0.1, 0.9) * (endMs - startMs);
    const skewMs = Math.round((random() < 0.5 ? -1 : 1) * between(1, 5) * 60_000);
    events.push({ at, kind: 'skew', skewMs }, { at: at + between(2, 30) * HOUR_MS, kind: 'skew', skewMs: 0 });
  }

  const fatalFrom = startMs + Math.floor(between(0.25, 0.45) * days) * DAY_MS + 7 * HOUR_MS;
  const addAppAt = startMs + between(0.3, 0.5) * (endMs - startMs);
  const removeAppAt = startMs + between(0.55, 0.75) * (endMs - startMs);
  // kill -9 of the daemons in the middle of a pass (or, if the pass ends first, right after it).
  // Drawn last, so the events above are those of the same seed before kills were added.
  for (let day = 0; day < days; day++) {
    if (random() >= 0.3) continue;
    const tick = startMs + day * DAY_MS + Math.floor(between(0, 12)) * 2 * HOUR_MS + 30 * 60_000;
    const afterQueries = 1 + Math.floor(random() * 40);
    if (!isDown(tick)) events.push({ at: tick, kind: 'kill', afterQueries });
  }
  events.push({ at: addAppAt, kind: 'restart', reason: 'app added' });
  events.push({ at: removeAppAt, kind: 'restart', reason: 'app removed' });
  events.sort((a, b) => a.at - b.at);
  return {
    startMs,
    endMs,
    events,
    downtimes,
    fatal: { sdkappid: fatalApp, from: fatalFrom, to: fatalFrom + 2 * DAY_MS },
    addAppAt,
    removeAppAt,
  };
}

/** The API fault kinds the soak injects, each as the simulator produces it. */
export const FAULT_KINDS = ['5xx', 'timeout', 'truncated', 'html', '60011', '70001', '90102', '91000'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number] | '90045';

export function faultRule(kind: FaultKind, random: () => number): FailureRule {
  switch (kind) {
    case '5xx':
      return { kind: 'http', status: [500, 502, 503, 504][Math.floor(random() * 4)]! };
    case 'timeout':
      return { kind: 'timeout' };
    case 'truncated':
      return {
        kind: 'body',
        body: '{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","ReadyToSendLoss":[{"ErrCode":"-1","Err',
      };
    case 'html':
      return { kind: 'malformed' };
    case '60011':
      return { kind: 'error', code: 60011, info: 'SDKAppID request frequency over limit, retry later' };
    case '70001':
      return { kind: 'error', code: 70001, info: 'UserSig expired, please regenerate one' };
    case '90102':
      return { kind: 'error', code: 90102, info: 'internal error, please try again later' };
    case '91000':
      return { kind: 'error', code: 91000, info: 'internal service error, please try again later' };
    case '90045':
      return { kind: 'error', code: 90045, info: 'push service not enabled for this app' };
  }
}
