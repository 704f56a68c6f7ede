import type { Window } from './loss.ts';

/** The API's limits on a window (configurable: the documentation's "7 days" is ambiguous). */
export interface WindowLimits {
  horizonSeconds: number;
  maxSpanSeconds: number;
}

/** The limits in words, for advice: `at most 30 days per call, within the last 30 days`. */
export function describeWindowLimits(limits: WindowLimits): string {
  const days = (seconds: number) => `${+(seconds / 86_400).toFixed(2)} days`;
  return `at most ${days(limits.maxSpanSeconds)} per call, within the last ${days(limits.horizonSeconds)}`;
}

/**
 * Why the API cannot answer this window, or null when it can. Checked before calling: a window
 * the API refuses would only burn one of the app's calls per second.
 */
export function windowProblem(window: Window, nowSeconds: number, limits: WindowLimits): string | null {
  if (!Number.isSafeInteger(window.start) || !Number.isSafeInteger(window.end))
    return 'StartTime and EndTime must be whole unix seconds';
  if (window.end <= window.start) return `EndTime ${window.end} is not after StartTime ${window.start}`;
  if (window.end - window.start > limits.maxSpanSeconds) {
    return `window of ${window.end - window.start} s is longer than the API's ${limits.maxSpanSeconds} s`;
  }
  const horizon = nowSeconds - limits.horizonSeconds;
  if (window.start < horizon) {
    return `StartTime ${new Date(window.start * 1000).toISOString()} is before the API's horizon ${new Date(horizon * 1000).toISOString()}`;
  }
  return null;
}
