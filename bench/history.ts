/**
 * Synthetic loss history for the BI and load benchmarks, written through the project's own
 * loading path (`loadBuckets`: archive, bookkeeping, facts and rollup, set-based).
 *
 * About 200 facts per bucket (2 stages × 9 channels × ~10 error codes, plus the overall sums),
 * the density the figures assume (36 M facts for 500 apps × 365 days).
 */
import { lossFeed } from '../src/feeds/loss/index.ts';
import type { Kysely } from 'kysely';
import type { BucketSize } from '../src/buckets.ts';
import type { Database } from '../src/db/database.ts';
import { toResponseBody } from '../src/simulator/responseBody.ts';
import type { CallRecord, LossEntry, LossStage, Window } from '../src/tencent/loss.ts';
import { loadBuckets, type LoadBucketInput } from '../src/warehouse/load.ts';

const CODES = ['-1', '-2', '-3', '-4', '1', '400', '403', '404', '410', '10000', '10302', '110002', '80100003'];
const STAGES: LossStage[] = ['ready_to_send', 'post_send_delivered'];

/** mulberry32: a small deterministic generator, so every run writes the same history. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One bucket's answer: per-channel entries and their overall sums. */
export function syntheticEntries(sdkappid: number, bucketStart: number): LossEntry[] {
  const next = random(sdkappid * 7919 + bucketStart);
  const perChannel: LossEntry[] = [];
  const overall = new Map<string, LossEntry>();
  for (const stage of STAGES) {
    for (let platform = 1; platform <= 9; platform++) {
      for (const code of CODES) {
        if (next() >= 0.8) continue;
        const errCount = 1 + Math.floor(next() * 500);
        const errInfo = `description of ${code}`;
        perChannel.push({ stage, platform, errCode: code, errCount, errInfo });
        const sum = overall.get(`${stage} ${code}`);
        if (sum) sum.errCount += errCount;
        else overall.set(`${stage} ${code}`, { stage, platform: null, errCode: code, errCount, errInfo });
      }
    }
  }
  return [...overall.values(), ...perChannel];
}

/**
 * A successful call for a bucket, answered after the data settled, with `body` archived. The BI
 * bench leaves bodies out ('{}'): 36 M facts' worth of JSON would only measure the disk.
 */
export function settledCall(sdkappid: number, bucket: Window, body = '{}'): CallRecord {
  return {
    sdkappid,
    window: bucket,
    startedAt: bucket.end * 1000 + 3 * 3_600_000,
    durationMs: 80,
    attempt: 1,
    host: 'bench.invalid',
    httpStatus: 200,
    actionStatus: 'OK',
    errorCode: 0,
    errorInfo: '',
    requestId: null,
    body,
    outcome: 'ok',
  };
}

export interface HistoryOptions {
  sdkappids: readonly number[];
  /** Buckets, oldest first (as a collector meets them). */
  buckets: readonly Window[];
  bucketSize: BucketSize;
  /** Archive the real answer bodies (for renormalize); default false. */
  withBody?: boolean;
  /** Buckets per transaction. */
  batch?: number;
  /** Transactions in flight at once. */
  concurrency?: number;
  onProgress?: (facts: number) => void;
}

/** Loads the history through `loadBuckets`; returns the number of facts written. */
export async function loadHistory(db: Kysely<Database>, options: HistoryOptions): Promise<number> {
  const { sdkappids, buckets, bucketSize } = options;
  const batch = options.batch ?? 200;
  // App by app, oldest bucket first; `batch` (app, bucket) pairs per transaction. A transaction
  // then holds whole weeks of one app, so the rollup recomputes each week about once (bucket by
  // bucket across apps, every day of a week would recompute its week again).
  const pairs = sdkappids.flatMap((sdkappid) => buckets.map((bucket) => ({ sdkappid, bucket })));
  const jobs: Array<() => LoadBucketInput[]> = [];
  for (let i = 0; i < pairs.length; i += batch) {
    const chunk = pairs.slice(i, i + batch);
    jobs.push(() =>
      chunk.map(({ sdkappid, bucket }) => {
        const entries = syntheticEntries(sdkappid, bucket.start);
        return {
          sdkappid,
          bucket,
          bucketSize,
          call: settledCall(sdkappid, bucket, options.withBody ? toResponseBody(entries) : undefined),
          answer: entries,
          final: true,
        };
      }),
    );
  }
  let facts = 0;
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const results = await loadBuckets(db, lossFeed, jobs[next++]!());
      facts += results.reduce((sum, r) => sum + r.facts, 0);
      options.onProgress?.(facts);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 2 }, worker));
  return facts;
}
