/**
 * The simulator's normal answer to one request, once its URL has been read and its body
 * received: every documented check in order, then the loss data. No I/O here.
 */
import type { LossEntry, Window } from '../tencent/loss.ts';
import type { PushStatistics } from '../tencent/statistics.ts';
import { toStatsResponseBody } from './statsData.ts';
import type { Checked, RequestParams, WindowRules } from './requestChecks.ts';
import { checkBody, checkTaskBody } from './requestChecks.ts';
import {
  allMemberLossData,
  allMemberStatsData,
  toTaskLossResponseBody,
  toTaskStatsResponseBody,
} from './allMemberData.ts';
import type { SettleModel } from './settling.ts';
import { failureBody, toResponseBody, type ResponseShape } from './responseBody.ts';
import { verifyUserSig } from './usersigCheck.ts';

/** An app the simulator serves. */
export interface SimulatorApp {
  sdkappid: number;
  /** The console secret key UserSigs are signed with. */
  secretKey: string;
  /** The administrator account the app accepts; default `administrator`. */
  identifier?: string;
  /**
   * The TaskIDs of the app's task pushes (`v4/timpush/push`), which the task-push APIs report on;
   * default `defaultTaskIds(sdkappid)` (three). Empty: an app that never sent a task push.
   */
  taskIds?: readonly string[];
}

/**
 * How the task-push APIs answer a TaskID the app does not know. The documentation does not say;
 * `empty` (default) is the most plausible: "one object per TaskID", with nothing to report. `omit`
 * leaves it out of `Results`; an error code answers the whole call with that code.
 */
export type UnknownTaskAnswer = 'empty' | 'omit' | { code: number; info?: string };

/** Produces the loss entries (all four arrays) for one app and window, as reported at `nowMs`. */
export type LossDataFn = (sdkappid: number, window: Window, nowMs: number) => LossEntry[];

/** Produces the push statistics for one app and window, as reported at `nowMs`. */
export type StatsDataFn = (sdkappid: number, window: Window, nowMs: number) => PushStatistics;

/** What the answer depends on besides the request. */
export interface AnswerContext {
  apps: ReadonlyMap<number, Required<SimulatorApp>>;
  lossData: LossDataFn;
  statsData: StatsDataFn;
  shape: ResponseShape;
  windowRules: WindowRules;
  /** The statistics API's rules (30 days), also all_member_push_statistics'. */
  statsWindowRules: WindowRules;
  /** How the task pushes' counts settle (the chat pushes' settle inside `lossData`/`statsData`). */
  settle: SettleModel;
  unknownTaskIds: UnknownTaskAnswer;
}

/** One request as the server saw it. */
export interface Arrival {
  /** The verdict on the request line (see `checkRequestLine`). */
  line: Checked<RequestParams>;
  /** Whether the rate gate let this arrival through; decided on arrival. */
  rateOk: boolean;
  body: string;
  /** The injectable clock's time at arrival, epoch ms: used for expiry and the horizon. */
  nowMs: number;
}

/** An HTTP answer in Tencent's style. */
export interface Answer {
  status: number;
  body: string;
  errorCode: number;
  errorInfo: string;
}

const fail = (code: number, info: string): Answer => ({
  status: 200,
  body: failureBody(code, info),
  errorCode: code,
  errorInfo: info,
});

/**
 * Hours that have not finished yet hold no data: the window handed to the loss data ends at the
 * start of the current hour. This way a collector that archives an unfinished window sees
 * different numbers later, as it would against the real API.
 */
export function finishedPart(window: Window, nowMs: number): Window {
  const currentHour = Math.floor(nowMs / 3_600_000) * 3600;
  return { start: window.start, end: Math.max(window.start, Math.min(window.end, currentHour)) };
}

/**
 * Answers one request. Order: request line; UserSig (70003/70013/70009/70001); identifier is the
 * app's administrator (60010); rate (60011); body (60003/90100); then success. A loss-data
 * function that throws becomes 90102, the API's "internal error, try again later".
 */
export function answerRequest(arrival: Arrival, ctx: AnswerContext): Answer {
  if (!arrival.line.ok) return fail(arrival.line.rejection.code, arrival.line.rejection.info);
  const params = arrival.line.value;
  const app = ctx.apps.get(params.sdkappid);
  if (!app) return fail(70020, `sdkappid ${params.sdkappid} not found`);
  const sig = verifyUserSig(params.usersig, {
    sdkappid: params.sdkappid,
    identifier: params.identifier,
    secretKey: app.secretKey,
    nowMs: arrival.nowMs,
  });
  if (!sig.ok) return fail(sig.code, sig.info);
  if (params.identifier !== app.identifier) return fail(60010, `${params.identifier} is not an App administrator`);
  if (!arrival.rateOk) return fail(60011, 'SDKAppID request frequency over limit, retry later');
  if (params.api === 'all_member_loss' || params.api === 'all_member_statistics') {
    return answerTaskRequest(params.api === 'all_member_loss', app, arrival, ctx);
  }
  const statistics = params.api === 'statistics';
  const window = checkBody(arrival.body, arrival.nowMs, statistics ? ctx.statsWindowRules : ctx.windowRules);
  if (!window.ok) return fail(window.rejection.code, window.rejection.info);
  if (statistics) {
    let stats: PushStatistics;
    try {
      stats = ctx.statsData(params.sdkappid, finishedPart(window.value, arrival.nowMs), arrival.nowMs);
    } catch {
      return fail(90102, 'internal error, please try again later');
    }
    return { status: 200, body: toStatsResponseBody(stats), errorCode: 0, errorInfo: '' };
  }
  let entries: LossEntry[];
  try {
    entries = ctx.lossData(params.sdkappid, finishedPart(window.value, arrival.nowMs), arrival.nowMs);
  } catch {
    return fail(90102, 'internal error, please try again later');
  }
  return { status: 200, body: toResponseBody(entries, ctx.shape), errorCode: 0, errorInfo: '' };
}

/**
 * The task-push APIs, once the request line, UserSig and rate passed: the body (60003/90100, the
 * loss API's window rules or the statistics API's), then one result per asked TaskID in the order
 * asked, or the overall numbers (the sums over the app's tasks) for an empty list.
 */
function answerTaskRequest(loss: boolean, app: Required<SimulatorApp>, arrival: Arrival, ctx: AnswerContext): Answer {
  const checked = checkTaskBody(arrival.body, arrival.nowMs, loss ? ctx.windowRules : ctx.statsWindowRules);
  if (!checked.ok) return fail(checked.rejection.code, checked.rejection.info);
  const { window, taskIds } = checked.value;
  const known = new Set(app.taskIds);
  const policy = ctx.unknownTaskIds;
  const unknown = taskIds.find((id) => !known.has(id));
  if (unknown !== undefined && typeof policy === 'object') {
    return fail(policy.code, policy.info ?? `TaskID ${unknown} not found`);
  }
  // Which of the app's tasks each result sums: an unknown task none (an empty result).
  const results =
    taskIds.length === 0
      ? [{ taskId: null, tasks: app.taskIds }]
      : taskIds
          .filter((id) => known.has(id) || policy !== 'omit')
          .map((id) => ({ taskId: id, tasks: known.has(id) ? [id] : [] }));
  const finished = finishedPart(window, arrival.nowMs);
  const settle = { nowMs: arrival.nowMs, model: ctx.settle };
  const body = loss
    ? toTaskLossResponseBody(
        results.map(({ taskId, tasks }) => ({
          taskId,
          entries: allMemberLossData(app.sdkappid, tasks, finished, settle),
        })),
      )
    : toTaskStatsResponseBody(
        results.map(({ taskId, tasks }) => ({ taskId, ...allMemberStatsData(app.sdkappid, tasks, finished, settle) })),
      );
  return { status: 200, body, errorCode: 0, errorInfo: '' };
}
