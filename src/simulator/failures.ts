/**
 * Failure injection: rules that replace the simulator's normal answer for the next calls, so
 * client tests can meet gateways, hangs and odd bodies on purpose.
 */
import type { SimApi } from './requestChecks.ts';

/** One way to fail a call. */
export type FailureRule =
  /** Answer with this HTTP status and a gateway-style HTML page. */
  | { kind: 'http'; status: number }
  /** Accept the request and never answer, until the simulator closes or about 30 s pass. */
  | { kind: 'timeout' }
  /** HTTP 200 with a body that is not JSON. */
  | { kind: 'malformed' }
  /** HTTP 200 with a Tencent FAIL envelope carrying this ErrorCode. */
  | { kind: 'error'; code: number; info?: string }
  /** Wait this long, then answer normally (all checks run, as of the arrival time). */
  | { kind: 'slow'; ms: number }
  /** HTTP 200 with exactly this body. */
  | { kind: 'body'; body: string };

/** Which calls a rule applies to. */
export interface FailureScope {
  /**
   * How many calls the rule fails before it is used up; default 1. `Infinity`: every matching
   * call until `reset()`, e.g. an app that never sent a task push (90045 on the task-push APIs).
   */
  times?: number;
  /** Only calls whose URL names this sdkappid; default any call. */
  sdkappid?: number;
  /** Only calls to this API, or to one of these; default any. */
  api?: SimApi | readonly SimApi[];
}

/** Pending rules, consumed first-in first-out among those that match a call. */
export interface FailureQueue {
  add(rule: FailureRule, scope?: FailureScope): void;
  /** The rule for a call naming `sdkappid` (null if none could be read) to `api`, using one of its times. */
  take(sdkappid: number | null, api?: SimApi | null): FailureRule | undefined;
  clear(): void;
}

/** An empty queue of failure rules. */
export function createFailureQueue(): FailureQueue {
  const pending: Array<{
    rule: FailureRule;
    sdkappid: number | undefined;
    apis: readonly SimApi[] | undefined;
    remaining: number;
  }> = [];
  return {
    add(rule, scope = {}) {
      const times = scope.times ?? 1;
      if (!(Number.isInteger(times) || times === Infinity) || times < 1) {
        throw new RangeError(`times must be a positive integer or Infinity, got ${times}`);
      }
      if (rule.kind === 'http' && !(Number.isInteger(rule.status) && rule.status >= 100 && rule.status <= 599)) {
        throw new RangeError(`http status must be in 100..599, got ${rule.status}`);
      }
      if (rule.kind === 'slow' && !(rule.ms >= 0)) throw new RangeError(`slow ms must be >= 0, got ${rule.ms}`);
      const apis = scope.api === undefined ? undefined : typeof scope.api === 'string' ? [scope.api] : [...scope.api];
      pending.push({ rule, sdkappid: scope.sdkappid, apis, remaining: times });
    },
    take(sdkappid, api) {
      const index = pending.findIndex(
        (p) =>
          (p.sdkappid === undefined || p.sdkappid === sdkappid) &&
          (p.apis === undefined || (api !== null && api !== undefined && p.apis.includes(api))),
      );
      const match = pending[index];
      if (!match) return undefined;
      match.remaining -= 1;
      if (match.remaining === 0) pending.splice(index, 1);
      return match.rule;
    },
    clear() {
      pending.length = 0;
    },
  };
}
