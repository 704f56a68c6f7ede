/**
 * The simulator's made-up but reproducible push-loss history.
 *
 * Every (sdkappid, unix hour) gets its own set of per-platform counts, derived from a sha256 of
 * the pair, so any process computes the same numbers without shared state. A window's answer is
 * the sum of the hours it covers; this is what lets an hour-bucket collector and a day-bucket
 * collector be checked against each other, and lets a test compute expected totals on its own.
 */
import { createHash } from 'node:crypto';
import type { LossEntry, LossStage, Window } from '../tencent/loss.ts';
import { settledCount, type SettleModel } from './settling.ts';

const HOUR = 3600;

/**
 * ErrInfo per ErrCode. One text per code keeps the overall arrays (summed over platforms)
 * unambiguous. The codes look like the vendors' but are illustrative, not authoritative.
 */
const ERR_INFO: Readonly<Record<string, string>> = {
  '-1': 'certificate id not set',
  '-2': 'token not uploaded',
  '-3': 'offline push disabled by receiver',
  '-4': 'message excluded from offline push',
  '1': 'regid_invalid',
  '400': 'BadDeviceToken',
  '403': 'InvalidProviderToken',
  '410': 'Unregistered',
  '404': 'UNREGISTERED',
  '80300007': 'all the tokens are invalid',
  '80100003': 'illegal payload',
  '110002': 'pushId invalid',
  '10000': 'invalid registration_id',
  '10302': 'regId not exist',
};

/** Losses before handing to a vendor do not depend on the vendor. */
export const READY_CODES = ['-1', '-2', '-3', '-4'] as const;

/** Vendor answers after sending, per PushPlatform (0 = unknown, 9 = a vendor newer than the docs). */
export const POST_CODES: Readonly<Record<number, readonly string[]>> = {
  0: ['1'],
  1: ['400', '410', '403'],
  2: ['1'],
  3: ['80300007', '80100003'],
  4: ['404', '400'],
  5: ['110002'],
  6: ['10000'],
  7: ['10302'],
  8: ['80300007'],
  9: ['1'],
};

/**
 * Chance (in %) that a platform has any loss in a given hour. The documented vendors are common;
 * 0 (unknown) is rare and 9 (undocumented) rarer still, so parsers meet them but not every hour.
 */
const PRESENCE: Readonly<Record<number, number>> = {
  0: 8,
  1: 80,
  2: 70,
  3: 75,
  4: 70,
  5: 40,
  6: 60,
  7: 60,
  8: 55,
  9: 3,
};

/**
 * Traffic weight (in %) per hour of the day, Beijing time, so day totals look like a real app's:
 * quiet at night, busy in the evening. Integers keep the numbers identical on every machine.
 */
const HOURLY_WEIGHT = [
  30, 20, 15, 10, 10, 15, 25, 45, 65, 75, 80, 85, 90, 85, 80, 80, 85, 90, 95, 100, 100, 95, 75, 50,
] as const;

/**
 * sfc32: small, fast and good enough; seeded from sha256 so nearby hours look unrelated. A
 * `stream` other than '' (a task push's) draws numbers of its own for the same app and hour.
 */
function seededRandom(sdkappid: number, hourStart: number, stream = ''): () => number {
  const seed = stream
    ? `pushloss-simulator:${stream}:${sdkappid}:${hourStart}`
    : `pushloss-simulator:${sdkappid}:${hourStart}`;
  const digest = createHash('sha256').update(seed).digest();
  let a = digest.readUInt32LE(0);
  let b = digest.readUInt32LE(4);
  let c = digest.readUInt32LE(8);
  let d = digest.readUInt32LE(12);
  return () => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
}

function entry(stage: LossStage, platform: number | null, errCode: string, errCount: number): LossEntry {
  return { stage, platform, errCode, errInfo: ERR_INFO[errCode] ?? '', errCount };
}

/**
 * The per-platform losses of one unix hour (`hourStart` a multiple of 3600) for one app, of its
 * chat pushes or (`stream`) of one of its task pushes. Overall arrays are not included: they are
 * sums of these, see {@link defaultLossData}.
 */
export function hourLossData(sdkappid: number, hourStart: number, stream = ''): LossEntry[] {
  const random = seededRandom(sdkappid, hourStart, stream);
  const beijingHour = (Math.floor(hourStart / HOUR) + 8) % 24;
  const weight = HOURLY_WEIGHT[beijingHour] ?? 100;
  const count = (max: number) => 1 + Math.floor((random() * max * weight) / 100);
  const entries: LossEntry[] = [];
  for (const [platformKey, codes] of Object.entries(POST_CODES)) {
    const platform = Number(platformKey);
    // Draw the same number of values whatever the branches, so one platform's presence
    // does not reshuffle every platform after it.
    const present = random() * 100 < (PRESENCE[platform] ?? 0);
    for (const code of READY_CODES) {
      const pick = random() < 0.5;
      const n = count(40);
      if (present && pick) entries.push(entry('ready_to_send', platform, code, n));
    }
    for (const code of codes) {
      const pick = random() < 0.6;
      const n = count(60);
      if (present && pick) entries.push(entry('post_send_delivered', platform, code, n));
    }
  }
  return entries;
}

/**
 * Sums entries by (stage, platform, code), in a stable order: overall arrays first, then per
 * platform; within each, by platform then code.
 */
export function sumLossEntries(entries: Iterable<LossEntry>): LossEntry[] {
  const totals = new Map<string, LossEntry>();
  for (const e of entries) {
    const key = `${e.stage}|${e.platform ?? ''}|${e.errCode}`;
    const seen = totals.get(key);
    if (seen) seen.errCount += e.errCount;
    else totals.set(key, { ...e });
  }
  return [...totals.values()].sort(compareEntries);
}

function compareEntries(x: LossEntry, y: LossEntry): number {
  const group = (e: LossEntry) => (e.platform === null ? 0 : 2) + (e.stage === 'ready_to_send' ? 0 : 1);
  return (
    group(x) - group(y) ||
    (x.platform ?? -1) - (y.platform ?? -1) ||
    (x.errCode < y.errCode ? -1 : x.errCode > y.errCode ? 1 : 0)
  );
}

/**
 * The simulator's default answer for one app and window: all four arrays' entries.
 *
 * An hour counts when its start lies in `[window.start, window.end)`; windows need not be
 * hour-aligned. The overall entries (`platform: null`) are the per-platform entries summed over
 * platforms, as a real pipeline would report them.
 *
 * With `settle`, each hour's counts are those reported at `settle.nowMs`: grown along the model's
 * curves with the hour's age (settling.ts); an entry not reported yet (0) is absent. Without it,
 * every hour is complete.
 */
export function defaultLossData(
  sdkappid: number,
  window: Window,
  settle?: { nowMs: number; model: SettleModel },
): LossEntry[] {
  const perPlatform: LossEntry[] = [];
  for (let hour = Math.ceil(window.start / HOUR) * HOUR; hour < window.end; hour += HOUR) {
    for (const entry of hourLossData(sdkappid, hour)) {
      if (!settle) {
        perPlatform.push(entry);
        continue;
      }
      const curve = entry.stage === 'ready_to_send' ? settle.model.readyToSend : settle.model.postSend;
      const errCount = settledCount(entry.errCount, curve, (hour + HOUR) * 1000, settle.nowMs);
      if (errCount > 0) perPlatform.push({ ...entry, errCount });
    }
  }
  const overall = perPlatform.map((e) => ({ ...e, platform: null }));
  return sumLossEntries([...overall, ...perPlatform]);
}
