/**
 * Builders for the known data sets of the BI and report tests: bucket windows, loss entries, a
 * successful fake API call, and loading one bucket through the real loader.
 *
 * The fake clock is module state: each test file gets its own (vitest isolates files), starting at
 * 2025-03-20T00:00:00Z and advancing a minute per call.
 */
import type { Kysely } from 'kysely';
import type { BucketSize } from '../../src/buckets.ts';
import type { Database } from '../../src/db/database.ts';
import type { CallRecord, LossEntry, LossStage, Window } from '../../src/tencent/loss.ts';
import { loadBucket } from '../../src/warehouse/load.ts';
import { lossFeed } from '../../src/feeds/loss/index.ts';
import { statisticsFeed } from '../../src/feeds/statistics/index.ts';

/** A local day in Asia/Shanghai (UTC+8, no DST), `YYYY-MM-DD`, as a bucket. */
export const dayBucket = (date: string): Window => {
  const start = Date.parse(`${date}T00:00:00+08:00`) / 1000;
  return { start, end: start + 86_400 };
};

/** Hour `hour` (0-23) of a local day in Asia/Shanghai, as a bucket. */
export const hourBucket = (date: string, hour: number): Window => {
  const start = Date.parse(`${date}T00:00:00+08:00`) / 1000 + hour * 3600;
  return { start, end: start + 3600 };
};

/** One loss entry; `platform` null is the all-channels total. */
export const loss = (
  stage: LossStage,
  platform: number | null,
  errCode: string,
  errCount: number,
  errInfo: string,
): LossEntry => ({
  stage,
  platform,
  errCode,
  errCount,
  errInfo,
});

let clock = Date.parse('2025-03-20T00:00:00Z');

/**
 * A successful call for `window`. Unless `overrides.startedAt` is given, it starts a minute after
 * the previous one on the fake clock.
 */
export function okCall(sdkappid: number, window: Window, overrides: Partial<CallRecord> = {}): CallRecord {
  return {
    sdkappid,
    window,
    startedAt: overrides.startedAt ?? (clock += 60_000),
    durationMs: 50,
    attempt: 1,
    host: '127.0.0.1:9',
    httpStatus: 200,
    actionStatus: 'OK',
    errorCode: 0,
    errorInfo: 'sucess',
    requestId: null,
    body: '{}',
    outcome: 'ok',
    ...overrides,
  };
}

/** Loads `entries` as one bucket with {@link loadBucket}, as fetched by {@link okCall} (with `call` overrides). */
export async function load(
  db: Kysely<Database>,
  sdkappid: number,
  bucket: Window,
  bucketSize: BucketSize,
  entries: LossEntry[],
  call: Partial<CallRecord> = {},
): Promise<void> {
  await loadBucket(db, lossFeed, {
    sdkappid,
    bucket,
    bucketSize,
    call: okCall(sdkappid, bucket, call),
    answer: entries,
  });
}

/** Push statistics counts for {@link loadStats}: `[total, sent, delivered, click]`, null = not given. */
export type Counts = [number | null, number | null, number | null, number | null];

/**
 * Loads one statistics bucket with {@link loadBucket}: `overall` the top-level counts,
 * `platforms` one line per channel (`call` overrides as for {@link load}).
 */
export async function loadStats(
  db: Kysely<Database>,
  sdkappid: number,
  bucket: Window,
  bucketSize: BucketSize,
  overall: Counts,
  platforms: Record<number, Counts> = {},
  call: Partial<CallRecord> = {},
): Promise<void> {
  const counts = ([total, sent, delivered, click]: Counts) => ({ total, sent, delivered, click });
  await loadBucket(db, statisticsFeed, {
    sdkappid,
    bucket,
    bucketSize,
    call: okCall(sdkappid, bucket, call),
    answer: {
      overall: counts(overall),
      platforms: Object.entries(platforms).map(([platform, c]) => ({ platform: Number(platform), ...counts(c) })),
    },
  });
}
