import { systemClock, type Clock } from '../../src/clock.ts';
import type { CallGate } from '../../src/tencent/callGate.ts';

/**
 * Simulated time for the soak: while running, `factor` simulated milliseconds pass per real
 * millisecond (so a 1 s rate cap is a few real milliseconds); `jump` skips idle hours at once;
 * paused, time stands still (the invariant checks read a still world).
 */
export interface WarpClock extends Clock {
  readonly factor: number;
  pause(): void;
  resume(): void;
  /** Moves time forward to `ms` (never back). */
  jump(ms: number): void;
}

export function warpClock(startMs: number, factor: number): WarpClock {
  let base = startMs;
  let anchor: number | null = null;
  const now = () => (anchor === null ? base : base + (performance.now() - anchor) * factor);
  return {
    factor,
    now: () => Math.floor(now()),
    // Waits are real, shortened by the factor: a 30 s back-off takes 30/factor real seconds.
    sleep: (ms, signal) => systemClock.sleep(ms / factor, signal),
    pause() {
      base = now();
      anchor = null;
    },
    resume() {
      if (anchor === null) anchor = performance.now();
    },
    jump(ms) {
      if (ms <= now()) return;
      base = ms;
      if (anchor !== null) anchor = performance.now();
    },
  };
}

/** The same clock seen through an offset that can change (a host clock stepped by NTP). */
export function skewedClock(clock: Clock, skewMs: () => number): Clock {
  return { now: () => clock.now() + skewMs(), sleep: (ms, signal) => clock.sleep(ms, signal) };
}

/**
 * Spaces each app's calls `minIntervalMs` apart on the warped clock. The production gates wait in
 * real time and, on a loaded machine, take many real milliseconds (= simulated seconds) to be
 * punctual; this one cannot start early in simulated time, whatever the real lateness.
 */
export function clockGate(clock: Clock, minIntervalMs: number): CallGate {
  const next = new Map<number, number>();
  return {
    async wait(sdkappid, signal) {
      for (;;) {
        signal?.throwIfAborted();
        const now = clock.now();
        const at = next.get(sdkappid) ?? now;
        if (at <= now) {
          next.set(sdkappid, now + minIntervalMs);
          return;
        }
        await clock.sleep(at - now, signal);
      }
    },
  };
}
