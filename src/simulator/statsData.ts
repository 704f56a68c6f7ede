/**
 * The simulator's push statistics, consistent with its loss data (lossData.ts): per app, unix hour
 * and channel, the pushes sent are those delivered plus the post-send loss, and the pushes that
 * could be sent are those sent plus the ready-to-send loss. So TotalCount - SentCount equals the
 * loss API's ready-to-send loss, channel by channel; SentCount - DeliveredCount equals the
 * post-send loss except for FCM, which (as documented) reports no delivery or click counts.
 * The top-level counts add online pushes (delivered without a vendor) to the channels' sums, as
 * the real API may: they are never the sum of the channels.
 */
import { createHash } from 'node:crypto';
import type { Window } from '../tencent/loss.ts';
import type { PushCounts, PushStatistics } from '../tencent/statistics.ts';
import { hourLossData } from './lossData.ts';
import { settledCount, type SettleModel } from './settling.ts';

const HOUR = 3600;
/** Channels with traffic every hour (the documented vendors); 0 and 9 only when they lose pushes. */
const ALWAYS = [1, 2, 3, 4, 5, 6, 7, 8];
/** FCM does not report push statistics: its delivered and click counts are always 0. */
export const FCM = 4;

function seeded(sdkappid: number, hourStart: number, stream: string): () => number {
  const seed = stream
    ? `pushloss-simulator-stats:${stream}:${sdkappid}:${hourStart}`
    : `pushloss-simulator-stats:${sdkappid}:${hourStart}`;
  const digest = createHash('sha256').update(seed).digest();
  let index = 0;
  return () => digest.readUInt16LE((index++ % 16) * 2) / 65536;
}

/**
 * The statistics of one unix hour for one app (of one task push's, with `stream`, as lossData.ts);
 * with `settle`, as reported at `settle.nowMs`:
 * delivered and click counts grow along the model's curves (TotalCount and SentCount are known
 * at send time), so SentCount - DeliveredCount equals the post-send loss once both settled.
 */
export function hourStatsData(
  sdkappid: number,
  hourStart: number,
  settle?: { nowMs: number; model: SettleModel },
  stream = '',
): PushStatistics {
  const endMs = (hourStart + HOUR) * 1000;
  const grown = (full: number, kind: 'delivered' | 'click') =>
    settle ? settledCount(full, settle.model[kind], endMs, settle.nowMs) : full;
  const random = seeded(sdkappid, hourStart, stream);
  const ready = new Map<number, number>();
  const post = new Map<number, number>();
  for (const entry of hourLossData(sdkappid, hourStart, stream)) {
    const into = entry.stage === 'ready_to_send' ? ready : post;
    into.set(entry.platform!, (into.get(entry.platform!) ?? 0) + entry.errCount);
  }
  const channels = [...new Set([...ALWAYS, ...ready.keys(), ...post.keys()])].sort((a, b) => a - b);
  const overall: PushCounts = { total: 0, sent: 0, delivered: 0, click: 0 };
  const platforms = channels.map((platform) => {
    const delivered = 100 + Math.floor(random() * 4000);
    const click = Math.floor((delivered * random()) / 8);
    const sent = delivered + (post.get(platform) ?? 0);
    const total = sent + (ready.get(platform) ?? 0);
    const reported =
      platform === FCM
        ? { delivered: 0, click: 0 }
        : { delivered: grown(delivered, 'delivered'), click: grown(click, 'click') };
    overall.total! += total;
    overall.sent! += sent;
    overall.delivered! += reported.delivered;
    overall.click! += reported.click;
    return { platform, total, sent, ...reported };
  });
  const online = Math.floor(random() * 300);
  overall.total! += online;
  overall.sent! += online;
  overall.delivered! += online;
  return { overall, platforms };
}

/** The answer for one app and window: the sum of the hours starting in it (like the loss data). */
export function defaultStatsData(
  sdkappid: number,
  window: Window,
  settle?: { nowMs: number; model: SettleModel },
): PushStatistics {
  const overall: PushCounts = { total: 0, sent: 0, delivered: 0, click: 0 };
  const platforms = new Map<number, PushCounts & { platform: number }>();
  for (let hour = Math.ceil(window.start / HOUR) * HOUR; hour < window.end; hour += HOUR) {
    const stats = hourStatsData(sdkappid, hour, settle);
    addCounts(overall, stats.overall);
    for (const line of stats.platforms) {
      const seen = platforms.get(line.platform);
      if (seen) addCounts(seen, line);
      else platforms.set(line.platform, { ...line });
    }
  }
  return { overall, platforms: [...platforms.values()].sort((a, b) => a.platform - b.platform) };
}

function addCounts(into: PushCounts, from: PushCounts): void {
  for (const key of ['total', 'sent', 'delivered', 'click'] as const) into[key] = (into[key] ?? 0) + (from[key] ?? 0);
}

/** The success body of `normal_push_statistics`: flat, as documented. */
export function toStatsResponseBody(stats: PushStatistics): string {
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
    ...counts(stats.overall),
    PlatformStatistics: stats.platforms.map((line) => ({ PushPlatform: line.platform, ...counts(line) })),
  });
}
