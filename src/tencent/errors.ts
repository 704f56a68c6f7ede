import type { CallOutcome, Window } from './loss.ts';
import { describeWindowLimits, type WindowLimits } from './window.ts';

/**
 * The ONE table that decides what a failed call means. Everything that is not listed is fatal for
 * the app: guessing that an unknown code is transient would hammer the API with a broken config.
 */
export type FailureClass = Exclude<CallOutcome, 'ok' | 'invalid_response'>;

interface Rule {
  failure: FailureClass;
  /** What the operator should do, printed with the code. */
  advice: string;
}

const retry = (advice = 'transient; retried with backoff'): Rule => ({ failure: 'retryable', advice });
const rateLimited = (advice = 'over the 1 call/second cap; backing off'): Rule => ({ failure: 'rate_limited', advice });
const fatal = (advice: string): Rule => ({ failure: 'fatal', advice });

/** A rule, or one whose advice names the limits of the API that was called. */
type RuleFor = Rule | ((limits: WindowLimits) => Rule);

const TENCENT_CODES: Readonly<Record<number, RuleFor>> = {
  60002: fatal('malformed URL: a pushloss bug, please report it'),
  60003: fatal('request JSON rejected: a pushloss bug, please report it'),
  60004: fatal('account or signature error in the URL: check the identifier and secret key'),
  60005: fatal('account or signature error in the URL: check the identifier and secret key'),
  60006: fatal('SDKAppID invalid: check the sdkappid and region'),
  60007: rateLimited(),
  60008: retry(),
  60009: fatal('wrong resource URL: check the base URL'),
  60010: fatal('an App administrator is required: set the identifier to an admin account'),
  60011: rateLimited(),
  60012: fatal('sdkappid missing: a pushloss bug, please report it'),
  60013: retry(),
  60014: retry(),
  60015: fatal('account type error: check the identifier'),
  60016: fatal('SDKAppID disabled: re-enable the app in the Chat console'),
  60017: fatal('request disabled for this app: check the Chat console'),
  60018: rateLimited(),
  60019: rateLimited(),
  60020: fatal('paid package expired: renew it, calls work again ~5 minutes later'),
  60021: fatal("caller IP not allowed: add this host to the app's IP allowlist"),
  70001: {
    failure: 'renew_signature',
    advice: 'UserSig expired: renewed and retried once; check the host clock if it repeats',
  },
  70003: fatal('UserSig invalid: check the secret key'),
  70009: fatal('UserSig invalid (wrong key): check the secret key'),
  70013: fatal('UserSig does not match the identifier or app: check identifier and sdkappid'),
  70014: fatal('UserSig does not match the app: check sdkappid and secret key'),
  70016: fatal('secret key not found: check the region and the secret key'),
  70020: fatal('app not found: check the sdkappid and the region'),
  70050: rateLimited('signature verification failed too often, locked for about a minute'),
  90009: fatal('no permission: call as an App administrator (set the identifier)'),
  90045: fatal('Push service not enabled: enable Push for this app in the Chat console'),
  // Each API has its own horizon (loss 7 days, statistics 30): the advice names the called one's.
  90100: (limits) => fatal(`invalid request parameters: check the window (${describeWindowLimits(limits)})`),
  90102: retry(),
  90103: fatal('failed to switch accounts: check that the identifier is a valid UserID'),
  91000: retry(),
};

/** Classifies a Tencent ErrorCode (non-zero) of a call to the API with these window `limits`. */
export function classifyTencentCode(code: number, limits: WindowLimits): Rule {
  const rule = TENCENT_CODES[code] ?? fatal(`unknown error code ${code}: see the Tencent Chat error code list`);
  return typeof rule === 'function' ? rule(limits) : rule;
}

/** Classifies an HTTP status other than 200 (gateway failures are transient). */
export function classifyHttpStatus(status: number): Rule {
  if (status >= 500) return retry(`HTTP ${status} from the gateway; retried with backoff`);
  if (status === 429) return rateLimited(`HTTP 429; backing off`);
  return fatal(`HTTP ${status}: check the base URL`);
}

/** Network errors and timeouts are transient, and move retries to the backup domain. */
export const NETWORK_FAILURE: Rule = retry('network error or timeout; retried, on the backup domain if there is one');

/** Rate-limit answers wait much longer than ordinary retries; 70050 locks for about a minute. */
export function backoffMs(
  failure: FailureClass,
  tencentCode: number | null,
  attempt: number,
  random: () => number = Math.random,
): number {
  // 70050 locks signature checks for a minute: waiting less only meets the lock again.
  if (tencentCode === 70050) return Math.round(60_000 + random() * 30_000);
  const base = failure === 'rate_limited' ? 5_000 : 1_000;
  const cap = 60_000;
  const exponential = Math.min(cap, base * 2 ** (attempt - 1));
  // Full jitter on the upper half keeps replicas from retrying in lockstep.
  return Math.round(exponential / 2 + random() * (exponential / 2));
}

/** A failed fetch, carrying what the operator needs and no secret. */
export class TimApiError extends Error {
  readonly code: string;
  readonly failure: FailureClass | 'invalid_response' | 'window_rejected';
  readonly sdkappid: number;
  readonly window: Window;
  readonly attempt: number;
  readonly tencentCode: number | null;
  readonly advice: string;

  constructor(fields: {
    message: string;
    code: string;
    failure: TimApiError['failure'];
    sdkappid: number;
    window: Window;
    attempt: number;
    tencentCode?: number | null;
    advice: string;
    cause?: unknown;
  }) {
    super(fields.message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.name = 'TimApiError';
    this.code = fields.code;
    this.failure = fields.failure;
    this.sdkappid = fields.sdkappid;
    this.window = fields.window;
    this.attempt = fields.attempt;
    this.tencentCode = fields.tencentCode ?? null;
    this.advice = fields.advice;
  }

  /** Fatal for the app (as opposed to a bad window or an unreadable answer). */
  get fatalForApp(): boolean {
    return this.failure === 'fatal' || this.failure === 'renew_signature';
  }
}
