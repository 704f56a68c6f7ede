import pThrottle from 'p-throttle';
import { systemClock } from '../clock.ts';

/**
 * Where every call (retries included) waits for its turn, so that two calls for one app never
 * start less than the minimum interval apart. The in-process gate is p-throttle per app; the
 * daemon adds a PostgreSQL reservation on top so the cap holds across processes.
 */
export interface CallGate {
  /** Resolves when a call for this app may start now. */
  wait(sdkappid: number, signal?: AbortSignal): Promise<void>;
  /** Told when a call that passed `wait` is actually handed to the network. */
  sent?(sdkappid: number): void;
}

/** A gate that spaces calls per app within this process. */
export function inProcessGate(minIntervalMs: number): CallGate {
  const perApp = new Map<number, () => Promise<void>>();
  // When each app's previous request was handed to the network. A request held up after its turn
  // (an event loop busy with embedded-database work) pushes the next one back, so the interval
  // holds on the wire, not only at the gate. Real time, as p-throttle's, never an injected clock.
  const lastSent = new Map<number, number>();
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
      const early = (lastSent.get(sdkappid) ?? -Infinity) + minIntervalMs - performance.now();
      if (early > 0) await systemClock.sleep(early, signal);
    },
    sent(sdkappid) {
      lastSent.set(sdkappid, performance.now());
    },
  };
}
