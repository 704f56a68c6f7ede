/**
 * The documented calling convention, checked the way Tencent answers: HTTP 200 and a FAIL
 * envelope with an error code. Pure functions, so the order of checks is readable in one place.
 */
import type { Window } from '../tencent/loss.ts';

/** The resources the simulator serves. */
export const API_PATH = '/v4/timpush/normal_push_loss';
export const STATISTICS_PATH = '/v4/timpush/normal_push_statistics';

/** The APIs the simulator serves, by the short names failure scopes use, and their resources. */
const PATHS = {
  loss: API_PATH,
  statistics: STATISTICS_PATH,
  all_member_loss: '/v4/timpush/all_member_push_loss',
  all_member_statistics: '/v4/timpush/all_member_push_statistics',
} as const;
export type SimApi = keyof typeof PATHS;

/** Which API a path names (null: none). */
export function apiOfPath(path: string): SimApi | null {
  return (Object.keys(PATHS) as SimApi[]).find((api) => PATHS[api] === path) ?? null;
}

/** The documented maximum of TaskIDs in one task-push request. */
const MAX_TASK_IDS = 5;

/** A refused request: the ErrorCode and ErrorInfo to answer with. */
export interface Rejection {
  code: number;
  info: string;
}

/** The URL parameters of a well-formed request. */
export interface RequestParams {
  sdkappid: number;
  identifier: string;
  usersig: string;
  random: number;
  /** Which API the path names. */
  api: SimApi;
}

export type Checked<T> = { ok: true; value: T } | { ok: false; rejection: Rejection };

const reject = (code: number, info: string): { ok: false; rejection: Rejection } => ({
  ok: false,
  rejection: { code, info },
});

const UINT32_MAX = 4294967295;
const REQUIRED = ['sdkappid', 'identifier', 'usersig', 'random', 'contenttype'] as const;

/** What the URL says, read leniently, for the call log. Never includes the usersig. */
export interface QueryPeek {
  path: string;
  sdkappid: number | null;
  identifier: string | null;
  random: string | null;
}

function parseUrl(rawUrl: string | undefined): URL | null {
  try {
    return new URL(rawUrl ?? '/', 'http://simulator.invalid');
  } catch {
    return null;
  }
}

/** Reads the loggable parts of a request URL without judging them. */
export function peekQuery(rawUrl: string | undefined): QueryPeek {
  const url = parseUrl(rawUrl);
  const q = url?.searchParams;
  const sdkappid = q?.get('sdkappid') ?? null;
  return {
    path: url?.pathname ?? '',
    sdkappid: sdkappid !== null && /^\d{1,15}$/.test(sdkappid) ? Number(sdkappid) : null,
    identifier: q?.get('identifier') ?? null,
    random: q?.get('random') ?? null,
  };
}

/**
 * Checks the request line, in order: method POST and a path served (60009);
 * `sdkappid` present (60012); `identifier`, `usersig`, `random`, `contenttype` present and not
 * repeated (60002); `contenttype` exactly `json` (60002); `random` a decimal integer in
 * [0, 4294967295] (60002); `sdkappid` a positive decimal integer (60006); `sdkappid` one of the
 * configured apps (70020).
 */
export function checkRequestLine(
  method: string | undefined,
  rawUrl: string | undefined,
  isKnownApp: (sdkappid: number) => boolean,
): Checked<RequestParams> {
  const url = parseUrl(rawUrl);
  if (url === null) return reject(60002, 'malformed URL');
  const api = apiOfPath(url.pathname);
  if (api === null) return reject(60009, `unknown resource ${url.pathname}`);
  if (method !== 'POST') return reject(60009, `method ${method ?? ''} not allowed, use POST`);
  const q = url.searchParams;
  if (!q.get('sdkappid')) return reject(60012, 'sdkappid missing');
  for (const name of REQUIRED) {
    const values = q.getAll(name);
    if (values.length === 0 || values[0] === '') return reject(60002, `${name} missing`);
    if (values.length > 1) return reject(60002, `${name} given more than once`);
  }
  if (q.get('contenttype') !== 'json') return reject(60002, 'contenttype must be json');
  const random = q.get('random') ?? '';
  if (!/^\d{1,10}$/.test(random) || Number(random) > UINT32_MAX) {
    return reject(60002, 'random must be an integer in [0, 4294967295]');
  }
  const sdkappidText = q.get('sdkappid') ?? '';
  if (!/^[1-9]\d{0,15}$/.test(sdkappidText) || !Number.isSafeInteger(Number(sdkappidText))) {
    return reject(60006, 'sdkappid invalid');
  }
  const sdkappid = Number(sdkappidText);
  if (!isKnownApp(sdkappid)) return reject(70020, `sdkappid ${sdkappid} not found`);
  return {
    ok: true,
    value: {
      sdkappid,
      identifier: q.get('identifier') ?? '',
      usersig: q.get('usersig') ?? '',
      random: Number(random),
      api,
    },
  };
}

/** The documented rules a query window must follow. */
export interface WindowRules {
  /** How far back StartTime may reach ("supports up to 7 days of data query"). */
  horizonSeconds: number;
  /** Longest allowed EndTime - StartTime, in seconds. */
  maxSpanSeconds: number;
}

/**
 * Checks the request body, in order: JSON (60003); an object with integer `StartTime` and
 * `EndTime` (90100); `EndTime > StartTime` (90100); span within `maxSpanSeconds` (90100);
 * `StartTime` no older than `now - horizonSeconds` (90100). Both readings of "up to 7 days" are
 * enforced, because a collector must cope with both.
 */
export function checkBody(text: string, nowMs: number, rules: WindowRules): Checked<Window> {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return reject(60003, 'request body is not valid JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return reject(90100, 'request body must be a JSON object');
  }
  const { StartTime: start, EndTime: end } = body as Record<string, unknown>;
  if (!Number.isSafeInteger(start) || (start as number) < 0)
    return reject(90100, 'StartTime must be a unix timestamp (integer seconds)');
  if (!Number.isSafeInteger(end) || (end as number) < 0)
    return reject(90100, 'EndTime must be a unix timestamp (integer seconds)');
  const window = { start: start as number, end: end as number };
  if (window.end <= window.start) return reject(90100, 'EndTime must be after StartTime');
  if (window.end - window.start > rules.maxSpanSeconds) {
    return reject(90100, `EndTime - StartTime exceeds ${rules.maxSpanSeconds} seconds`);
  }
  const oldest = Math.floor(nowMs / 1000) - rules.horizonSeconds;
  if (window.start < oldest) {
    return reject(
      90100,
      `StartTime is older than the ${rules.horizonSeconds / 86400}-day query horizon (oldest allowed ${oldest})`,
    );
  }
  return { ok: true, value: window };
}

/**
 * Checks a task-push request's body: the window as {@link checkBody}, then `TaskID` an array
 * (empty: the overall numbers) of at most 5 distinct non-empty strings (90100). The documentation
 * states only the array and its maximum; a duplicate or empty TaskID is refused here so that a
 * client sending one is caught, not answered in a way nobody documented.
 */
export function checkTaskBody(
  text: string,
  nowMs: number,
  rules: WindowRules,
): Checked<{ window: Window; taskIds: string[] }> {
  const window = checkBody(text, nowMs, rules);
  if (!window.ok) return window;
  const { TaskID: taskIds } = JSON.parse(text) as Record<string, unknown>;
  if (!Array.isArray(taskIds)) return reject(90100, 'TaskID must be an array of task IDs');
  if (taskIds.length > MAX_TASK_IDS) return reject(90100, `TaskID lists more than ${MAX_TASK_IDS} task IDs`);
  if (!taskIds.every((id) => typeof id === 'string' && id !== '')) {
    return reject(90100, 'TaskID must hold non-empty strings');
  }
  if (new Set(taskIds).size !== taskIds.length) return reject(90100, 'TaskID lists a task ID twice');
  return { ok: true, value: { window: window.value, taskIds: taskIds as string[] } };
}
