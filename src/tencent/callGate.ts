import pThrottle from 'p-throttle';

/**
 * Where every call (retries included) waits for its turn, so that two calls for one app never
 * start less than the minimum interval apart. The in-process gate is p-throttle per app; the
 * daemon adds a PostgreSQL reservation on top so the cap holds across processes.
 */
export interface CallGate {
  /** Resolves when a call for this app may start now. */
  wait(sdkappid: number, signal?: AbortSignal): Promise<void>;
}

/** A gate that spaces calls per app within this process. */
export function inProcessGate(minIntervalMs: number): CallGate {
  const perApp = new Map<number, () => Promise<void>>();
  return {
    async wait(sdkappid, signal) {
      let turn = perApp.get(sdkappid);
      if (!turn) {
        // strict: each call individually at least `interval` after the previous one.
        turn = pThrottle({ limit: 1, interval: minIntervalMs, strict: true })(async () => {});
        perApp.set(sdkappid, turn);
      }
      signal?.throwIfAborted();
      await turn();
    },
  };
}
