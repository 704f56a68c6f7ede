/**
 * Synthetic push statistics history for the BI bench, written through the project's own
 * statistics loading path (`loadStatsBucket`: archive, bookkeeping, facts and the `stats_day`
 * rollup, one transaction per bucket, as the collector loads them).
 *
 * Consistent with the loss history of history.ts: per channel, SentCount = DeliveredCount + the
 * bucket's post-send loss and TotalCount = SentCount + its ready-to-send loss, so the rates and the
 * reconciliation views have real work to do. Nine channels plus the top-level row per bucket.
 */
import type { Kysely } from 'kysely';
import type { BucketSize } from '../src/buckets.ts';
import type { Database } from '../src/db/database.ts';
import type { Window } from '../src/tencent/loss.ts';
import type { PushCounts, PushStatistics } from '../src/tencent/statistics.ts';
import { loadBucket } from '../src/warehouse/load.ts';
import { statisticsFeed } from '../src/feeds/statistics/index.ts';
import { settledCall, syntheticEntries } from './history.ts';

/** FCM reports no delivery or click counts. */
const FCM = 4;

/** One bucket's statistics, derived from the same bucket's synthetic loss. */
function syntheticStats(sdkappid: number, bucketStart: number): PushStatistics {
  const lost = new Map<string, number>();
  for (const e of syntheticEntries(sdkappid, bucketStart)) {
    if (e.platform !== null)
      lost.set(`${e.stage} ${e.platform}`, (lost.get(`${e.stage} ${e.platform}`) ?? 0) + e.errCount);
  }
  const overall: PushCounts = { total: 0, sent: 0, delivered: 0, click: 0 };
  const platforms = [];
  for (let platform = 1; platform <= 9; platform++) {
    const delivered = 20_000 + ((sdkappid * 31 + bucketStart / 3600 + platform * 977) % 50_000);
    const sent = delivered + (lost.get(`post_send_delivered ${platform}`) ?? 0);
    const total = sent + (lost.get(`ready_to_send ${platform}`) ?? 0);
    const reported = platform === FCM ? { delivered: 0, click: 0 } : { delivered, click: Math.floor(delivered / 9) };
    platforms.push({ platform, total, sent, ...reported });
    overall.total! += total;
    overall.sent! += sent;
    overall.delivered! += reported.delivered;
    overall.click! += reported.click;
  }
  return { overall, platforms };
}

/** Loads statistics for every app and bucket (oldest first); returns the number of buckets. */
export async function loadStatsHistory(
  db: Kysely<Database>,
  options: { sdkappids: readonly number[]; buckets: readonly Window[]; bucketSize: BucketSize; concurrency?: number },
): Promise<number> {
  const pairs = options.buckets.flatMap((bucket) => options.sdkappids.map((sdkappid) => ({ sdkappid, bucket })));
  let next = 0;
  const worker = async () => {
    while (next < pairs.length) {
      const { sdkappid, bucket } = pairs[next++]!;
      await loadBucket(db, statisticsFeed, {
        sdkappid,
        bucket,
        bucketSize: options.bucketSize,
        call: settledCall(sdkappid, bucket),
        answer: syntheticStats(sdkappid, bucket.start),
      });
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 4 }, worker));
  return pairs.length;
}
