/**
 * The simulator's task pushes (`v4/timpush/push` / `batch`, each with a TaskID) and what
 * `all_member_push_loss` and `all_member_push_statistics` report about them.
 *
 * Each task of an app has numbers of its own per unix hour, drawn like the chat pushes'
 * (lossData.ts, statsData.ts) from a stream seeded with the TaskID, and consistent the same way:
 * per channel, TotalCount - SentCount is the ready-to-send loss and SentCount - DeliveredCount the
 * post-send loss (FCM aside). Vendor channels carry EventType 1 (offline push); online pushes are a
 * line of their own, PushPlatform 0 with EventType 2, whose few losses show as an online
 * post-send loss. The overall numbers (an empty TaskID list) are the sums over the app's tasks.
 */
import { createHash } from 'node:crypto';
import type { TaskLossEntry, TaskPlatformCounts } from '../tencent/allMember.ts';
import type { Window } from '../tencent/loss.ts';
import type { PushCounts } from '../tencent/statistics.ts';
import { hourLossData } from './lossData.ts';
import { toLossArrays } from './responseBody.ts';
import { settledCount, type SettleModel } from './settling.ts';
import { hourStatsData } from './statsData.ts';

const HOUR = 3600;
/** EventType of a push through a vendor channel. */
const OFFLINE = 1;
/** EventType of a push over the app's own connection (PushPlatform 0). */
const ONLINE = 2;
/** The online post-send loss; illustrative, like the vendor codes in lossData.ts. */
const ONLINE_LOSS = { errCode: '-10', errInfo: 'online push not acknowledged by the device' } as const;

type Settle = { nowMs: number; model: SettleModel };

/** The statistics of some task pushes in a window. */
export interface TaskStats {
  overall: PushCounts;
  platforms: TaskPlatformCounts[];
}

/** The TaskIDs of an app that configures none: three, stable per app, shaped like UUIDs. */
export function defaultTaskIds(sdkappid: number): string[] {
  return [1, 2, 3].map((n) => {
    const hex = createHash('sha256').update(`pushloss-simulator-task:${sdkappid}:${n}`).digest('hex');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
  });
}

/** One task's per-channel losses and statistics in one unix hour, as reported at `settle.nowMs`. */
function hourTaskData(sdkappid: number, taskId: string, hourStart: number, settle?: Settle) {
  const stream = `task:${taskId}`;
  const endMs = (hourStart + HOUR) * 1000;
  const loss: TaskLossEntry[] = [];
  for (const entry of hourLossData(sdkappid, hourStart, stream)) {
    const curve = entry.stage === 'ready_to_send' ? 'readyToSend' : 'postSend';
    const errCount = settle ? settledCount(entry.errCount, settle.model[curve], endMs, settle.nowMs) : entry.errCount;
    if (errCount > 0) loss.push({ ...entry, errCount, eventType: OFFLINE });
  }
  const stats = hourStatsData(sdkappid, hourStart, settle, stream);
  // statsData.ts adds online pushes to the top-level counts only; here they get their own line.
  const online = stats.overall.total! - stats.platforms.reduce((n, line) => n + line.total!, 0);
  const lost = online % 17;
  if (lost > 0) {
    loss.push({ stage: 'post_send_delivered', platform: 0, eventType: ONLINE, ...ONLINE_LOSS, errCount: lost });
  }
  const platforms: TaskPlatformCounts[] = stats.platforms.map((line) => ({ ...line, eventType: OFFLINE }));
  platforms.push({ platform: 0, eventType: ONLINE, total: online, sent: online, delivered: online - lost, click: 0 });
  const overall = { ...stats.overall, delivered: stats.overall.delivered! - lost };
  return { loss, stats: { overall, platforms } };
}

/** Every (task, hour starting in the window) pair, as lossData.ts counts hours. */
function* taskHours(sdkappid: number, taskIds: readonly string[], window: Window, settle?: Settle) {
  for (let hour = Math.ceil(window.start / HOUR) * HOUR; hour < window.end; hour += HOUR) {
    for (const taskId of taskIds) yield hourTaskData(sdkappid, taskId, hour, settle);
  }
}

/**
 * The `all_member_push_loss` entries of these tasks together in a window (one task: its result;
 * all the app's tasks: the overall result): the per-channel entries summed by stage, channel,
 * EventType and code, and the overall arrays (platform and EventType null) summed over channels.
 */
export function allMemberLossData(
  sdkappid: number,
  taskIds: readonly string[],
  window: Window,
  settle?: Settle,
): TaskLossEntry[] {
  const totals = new Map<string, TaskLossEntry>();
  const add = (entry: TaskLossEntry) => {
    const key = `${entry.stage}|${entry.platform}|${entry.eventType}|${entry.errCode}`;
    const seen = totals.get(key);
    if (seen) seen.errCount += entry.errCount;
    else totals.set(key, { ...entry });
  };
  for (const { loss } of taskHours(sdkappid, taskIds, window, settle)) {
    for (const entry of loss) {
      add({ ...entry, platform: null, eventType: null });
      add(entry);
    }
  }
  const group = (e: TaskLossEntry) => (e.platform === null ? 0 : 2) + (e.stage === 'ready_to_send' ? 0 : 1);
  return [...totals.values()].sort(
    (x, y) =>
      group(x) - group(y) ||
      (x.platform ?? -1) - (y.platform ?? -1) ||
      (x.eventType ?? 0) - (y.eventType ?? 0) ||
      (x.errCode < y.errCode ? -1 : x.errCode > y.errCode ? 1 : 0),
  );
}

/**
 * The `all_member_push_statistics` counts of these tasks together in a window: the top-level
 * counts and one line per (channel, EventType), by channel then EventType. No task, no hours:
 * zero counts and no lines.
 */
export function allMemberStatsData(
  sdkappid: number,
  taskIds: readonly string[],
  window: Window,
  settle?: Settle,
): TaskStats {
  const overall: PushCounts = { total: 0, sent: 0, delivered: 0, click: 0 };
  const platforms = new Map<string, TaskPlatformCounts>();
  for (const { stats } of taskHours(sdkappid, taskIds, window, settle)) {
    addCounts(overall, stats.overall);
    for (const line of stats.platforms) {
      const key = `${line.platform}|${line.eventType}`;
      const seen = platforms.get(key);
      if (seen) addCounts(seen, line);
      else platforms.set(key, { ...line });
    }
  }
  const lines = [...platforms.values()].sort((a, b) => a.platform - b.platform || a.eventType! - b.eventType!);
  return { overall, platforms: lines };
}

function addCounts(into: PushCounts, from: PushCounts): void {
  for (const key of ['total', 'sent', 'delivered', 'click'] as const) into[key] = (into[key] ?? 0) + (from[key] ?? 0);
}

/**
 * The success body of `all_member_push_loss`: `Results[]`, one object per task with `TaskID` and
 * the four arrays. The overall result (taskId null) echoes the empty TaskID as `""`: the
 * documentation does not show it, and pushloss reads "", null or a missing field alike.
 */
export function toTaskLossResponseBody(
  results: ReadonlyArray<{ taskId: string | null; entries: readonly TaskLossEntry[] }>,
): string {
  return JSON.stringify({
    ActionStatus: 'OK',
    ErrorCode: 0,
    ErrorInfo: '',
    Results: results.map(({ taskId, entries }) => ({ TaskID: taskId ?? '', ...toLossArrays(entries) })),
  });
}

/** The success body of `all_member_push_statistics`: `Results[]` of counts per task, as above. */
export function toTaskStatsResponseBody(results: ReadonlyArray<{ taskId: string | null } & TaskStats>): string {
  const counts = (c: PushCounts) => ({
    TotalCount: c.total,
    SentCount: c.sent,
    DeliveredCount: c.delivered,
    ClickCount: c.click,
  });
  return JSON.stringify({
    ActionStatus: 'OK',
    ErrorCode: 0,
    ErrorInfo: '',
    Results: results.map(({ taskId, overall, platforms }) => ({
      TaskID: taskId ?? '',
      ...counts(overall),
      PlatformStatistics: platforms.map((line) => ({
        EventType: line.eventType,
        PushPlatform: line.platform,
        ...counts(line),
      })),
    })),
  });
}
