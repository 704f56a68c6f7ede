import type { Clock } from '../../src/clock.ts';

/** A clock that stands still until told to move; sleeping advances it instantly. */
export function manualClock(startMs: number): Clock & { set(ms: number): void; advance(ms: number): void } {
  let current = startMs;
  return {
    now: () => current,
    sleep: async (ms) => {
      current += Math.max(0, ms);
    },
    set: (ms) => {
      current = ms;
    },
    advance: (ms) => {
      current += ms;
    },
  };
}
