/**
 * Anomalies the simulator can inject into its normal data, so the demo can show one and tests can
 * make one: a loss spike, a new error code, or a failing channel, for one app, stage and channel,
 * from an instant on. The extra loss is added hour by hour on top of the normal data, and the
 * statistics grow by the same pushes (ready-to-send loss adds to TotalCount, post-send loss to
 * SentCount and TotalCount), so the two APIs stay consistent as they are without injection.
 */
import type { LossEntry, LossStage, Window } from '../tencent/loss.ts';
import type { PushCounts, PushStatistics } from '../tencent/statistics.ts';
import { defaultLossData, hourLossData, POST_CODES, sumLossEntries } from './lossData.ts';
import { defaultStatsData, hourStatsData } from './statsData.ts';

const HOUR = 3600;

export type AnomalyKind = 'spike' | 'new_code' | 'failing';

export interface InjectedAnomaly {
  kind: AnomalyKind;
  sdkappid: number;
  stage: LossStage;
  /** PushPlatform of the channel. */
  platform: number;
  /** From this instant (unix seconds) on: hours starting at or after it. */
  from: number;
  /**
   * The code the extra loss carries. Default: a spike or failure of ready-to-send `-1`
   * (certificate ID not set), after sending the channel's first normal code; a new code `NEW`.
   */
  code?: string;
  /** Share of the channel's pushes lost in each affected hour: default 0.3 (spike), 0.95 (failing). */
  rate?: number;
}

/** The defaults applied: what an injection does, spelled out. */
export function resolveAnomaly(anomaly: InjectedAnomaly): Required<InjectedAnomaly> {
  const code =
    anomaly.code ??
    (anomaly.kind === 'new_code'
      ? 'NEW'
      : anomaly.stage === 'ready_to_send'
        ? '-1'
        : (POST_CODES[anomaly.platform]?.[0] ?? '1'));
  return { ...anomaly, code, rate: anomaly.rate ?? (anomaly.kind === 'failing' ? 0.95 : 0.3) };
}

/** The extra loss of one hour: how many pushes of that hour the anomaly adds as lost. */
function extraLoss(anomaly: Required<InjectedAnomaly>, hourStart: number): number {
  if (hourStart < anomaly.from) return 0;
  if (anomaly.kind === 'new_code') {
    // A real share of the channel's loss: as much as all its normal codes together (at least 10).
    const normal = hourLossData(anomaly.sdkappid, hourStart)
      .filter((e) => e.platform === anomaly.platform && e.stage === anomaly.stage)
      .reduce((sum, e) => sum + e.errCount, 0);
    return Math.max(10, normal);
  }
  const line = hourStatsData(anomaly.sdkappid, hourStart).platforms.find((p) => p.platform === anomaly.platform);
  // Lost pushes come on top of the pushes that got through: loss / (base + loss) = rate.
  const base = (anomaly.stage === 'ready_to_send' ? line?.sent : line?.delivered) ?? 0;
  return Math.ceil((anomaly.rate * base) / (1 - anomaly.rate));
}

function hoursOf(window: Window): number[] {
  const hours = [];
  for (let hour = Math.ceil(window.start / HOUR) * HOUR; hour < window.end; hour += HOUR) hours.push(hour);
  return hours;
}

/**
 * The loss and statistics data with the anomalies added (the defaults when the list is empty).
 * Complete at once: the anomalies are added to the data as it is at the horizon, never to a
 * settling curve (the simulator command refuses --inject with --settling).
 */
export function withAnomalies(anomalies: readonly InjectedAnomaly[]): {
  lossData: (sdkappid: number, window: Window) => LossEntry[];
  statsData: (sdkappid: number, window: Window) => PushStatistics;
} {
  const resolved = anomalies.map(resolveAnomaly);
  const extras = (sdkappid: number, window: Window) =>
    resolved
      .filter((a) => a.sdkappid === sdkappid)
      .map((a) => ({ anomaly: a, count: hoursOf(window).reduce((sum, hour) => sum + extraLoss(a, hour), 0) }))
      .filter((e) => e.count > 0);

  const lossData = (sdkappid: number, window: Window): LossEntry[] => {
    const added: LossEntry[] = extras(sdkappid, window).flatMap(({ anomaly, count }) => {
      const entry = {
        stage: anomaly.stage,
        errCode: anomaly.code,
        errInfo: `injected ${anomaly.kind}`,
        errCount: count,
      };
      return [
        { ...entry, platform: anomaly.platform },
        { ...entry, platform: null },
      ];
    });
    return sumLossEntries([...defaultLossData(sdkappid, window), ...added]);
  };

  const statsData = (sdkappid: number, window: Window): PushStatistics => {
    const stats: PushStatistics = defaultStatsData(sdkappid, window);
    for (const { anomaly, count } of extras(sdkappid, window)) {
      const grow = (counts: PushCounts) => {
        counts.total = (counts.total ?? 0) + count;
        if (anomaly.stage === 'post_send_delivered') counts.sent = (counts.sent ?? 0) + count;
      };
      grow(stats.overall);
      const line = stats.platforms.find((p) => p.platform === anomaly.platform);
      if (line) grow(line);
    }
    return stats;
  };
  return { lossData, statsData };
}

/**
 * Parses `kind=spike,app=1400000001,stage=ready_to_send,platform=1[,from=<ISO instant>][,code=…][,rate=0.3]`
 * (the simulator command's `--inject`). `from` defaults to `nowSeconds`. Throws with one line naming what to fix.
 */
export function parseAnomaly(text: string, nowSeconds: number): InjectedAnomaly {
  const fields = new Map(
    text.split(',').map((part) => {
      const at = part.indexOf('=');
      return [at < 0 ? part : part.slice(0, at), at < 0 ? '' : part.slice(at + 1)] as const;
    }),
  );
  const fail = (what: string): never => {
    throw new Error(`--inject "${text}": ${what}; e.g. kind=spike,app=1400000001,stage=ready_to_send,platform=1`);
  };
  for (const key of fields.keys())
    if (!['kind', 'app', 'stage', 'platform', 'from', 'code', 'rate'].includes(key)) fail(`unknown field "${key}"`);
  const kind = fields.get('kind');
  if (kind !== 'spike' && kind !== 'new_code' && kind !== 'failing') fail('kind must be spike, new_code or failing');
  const sdkappid = Number(fields.get('app'));
  if (!Number.isSafeInteger(sdkappid) || sdkappid <= 0) fail('app must be an SDKAppID');
  const stage = fields.get('stage');
  if (stage !== 'ready_to_send' && stage !== 'post_send_delivered')
    fail('stage must be ready_to_send or post_send_delivered');
  const platform = Number(fields.get('platform'));
  if (!Number.isInteger(platform) || platform < 0 || platform > 32767) fail('platform must be a PushPlatform number');
  const fromText = fields.get('from');
  const from = fromText === undefined ? nowSeconds : Date.parse(fromText) / 1000;
  if (!Number.isFinite(from)) fail('from must be an ISO instant such as 2026-11-27T00:00:00+08:00');
  const rateText = fields.get('rate');
  const rate = rateText === undefined ? undefined : Number(rateText);
  if (rate !== undefined && !(rate > 0 && rate < 1)) fail('rate must be between 0 and 1');
  const code = fields.get('code');
  if (code === '') fail('code must not be empty');
  return {
    kind: kind as AnomalyKind,
    sdkappid,
    stage: stage as LossStage,
    platform,
    from: Math.floor(from),
    ...(code === undefined ? {} : { code }),
    ...(rate === undefined ? {} : { rate }),
  };
}
