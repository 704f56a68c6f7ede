import pThrottle from 'p-throttle';
import { systemClock } from '../clock.ts';

/**
 * Where every call (retries included) waits for its turn, so that two calls for one app never
 * reach the network less than the minimum interval apart. The in-process gate is p-throttle per
 * app; the daemon adds a PostgreSQL reservation and a row lock on top so the cap holds across
 * processes.
 */
export interface CallGate {
  /** Resolves when a call for this app may start now (connect, sign, build its request). */
  wait(sdkappid: number, signal?: AbortSignal): Promise<void>;
  /**
   * Hands a call that passed `wait` to the network: runs `write`, which puts the request's bytes
   * on its connected socket and resolves once they are written (or the request ended), when this
   * gate lets the bytes go. A start is not a send: a new TCP or TLS connection, or a busy event
   * loop, can hold a started call back, so the interval is enforced here, at the socket.
   * `signal` aborts a wait (the request was closed). Without `send`, `write` runs at once.
   */
  send?(sdkappid: number, write: () => Promise<void>, signal?: AbortSignal): Promise<void>;
}

/** A gate that spaces calls per app within this process. */
export function inProcessGate(minIntervalMs: number): CallGate {
  const perApp = new Map<number, () => Promise<void>>();
  // When each app's previous request was written to its socket, and the send in progress: one
  // send per app at a time, each at least an interval after the previous one's bytes. Real time,
  // as p-throttle's, never an injected clock.
  const lastSent = new Map<number, number>();
  const sending = new Map<number, Promise<void>>();
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
    send(sdkappid, write, signal) {
      const turn = (sending.get(sdkappid) ?? Promise.resolve()).then(async () => {
        // Asked again after each sleep: a timer can fire a millisecond or more before its delay
        // is up (Node counts it from the event loop's whole-millisecond clock), so a single sleep
        // could let a request out less than the interval after the previous one.
        for (;;) {
          const early = (lastSent.get(sdkappid) ?? -Infinity) + minIntervalMs - performance.now();
          if (early <= 0) break;
          await systemClock.sleep(early, signal);
        }
        try {
          await write();
        } finally {
          // Taken once the bytes are written: never earlier than the send.
          lastSent.set(sdkappid, performance.now());
        }
      });
      sending.set(
        sdkappid,
        turn.catch(() => {}),
      );
      return turn;
    },
  };
}
