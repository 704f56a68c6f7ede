/**
 * Time as a seam: everything that asks "what time is it" or waits goes through a Clock, so
 * horizon, expiry and schedule logic can be tested with an injected clock.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer = setTimeout(done, Math.max(0, ms));
      function done() {
        signal?.removeEventListener('abort', abort);
        resolve();
      }
      function abort() {
        clearTimeout(timer);
        reject(signal?.reason);
      }
      signal?.addEventListener('abort', abort, { once: true });
    }),
};

export const unixSeconds = (ms: number): number => Math.floor(ms / 1000);

/** An instant as ISO 8601 in UTC without milliseconds, for messages: `2026-11-20T16:00:00Z`. */
export const isoMs = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
export const isoSeconds = (unixSecondsValue: number): string => isoMs(unixSecondsValue * 1000);
