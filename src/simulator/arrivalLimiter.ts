/**
 * The documented "1 call/second", enforced per SDKAppID on arrival times.
 *
 * Every arrival counts, even one that is refused, so a client that hammers the API stays
 * refused until it actually spaces its calls. Arrival times are monotonic milliseconds
 * (`performance.now()`), never the injectable clock: a test that freezes the clock must not
 * freeze the rate rule with it.
 */
export interface ArrivalLimiter {
  /**
   * Notes an arrival for a key (an sdkappid, or an sdkappid and API); false when it came less
   * than the minimum interval after the previous one for that key.
   */
  arrive(key: number | string, atMonoMs: number): boolean;
  /** Forgets every previous arrival. */
  clear(): void;
}

/** A gate that refuses calls for one app arriving less than `minIntervalMs` apart (0 disables it). */
export function createArrivalLimiter(minIntervalMs: number): ArrivalLimiter {
  const last = new Map<number | string, number>();
  return {
    arrive(key, atMonoMs) {
      const previous = last.get(key);
      last.set(key, Math.max(previous ?? atMonoMs, atMonoMs));
      return previous === undefined || Math.abs(atMonoMs - previous) >= minIntervalMs;
    },
    clear() {
      last.clear();
    },
  };
}
