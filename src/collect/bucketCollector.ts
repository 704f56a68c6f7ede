/**
 * Fetch → archive → normalize → load for one bucket of one API: the step every pass, backfill and
 * the demo repeat. An answer the warehouse refuses is archived and reported as the app's error.
 */
import { isoSeconds, unixSeconds } from '../clock.ts';
import type { AppConfig, Feed } from '../config/config.ts';
import { FEED_TABLES } from '../db/database.ts';
import { inTransaction } from '../db/transaction.ts';
import { createHttp, createTimClient, type TimClient } from '../tencent/client.ts';
import { TimApiError } from '../tencent/errors.ts';
import type { Window } from '../tencent/loss.ts';
import { inProcessGate } from '../tencent/callGate.ts';
import { archiveSafely, isDataRefusal } from '../warehouse/archive.ts';
import { BucketMismatchError } from '../warehouse/load.ts';
import { createLoadBatcher, loadSlotsFor } from '../warehouse/loadBatcher.ts';
import { markBucketFinal } from '../warehouse/state.ts';
import { loadStatsBucket } from '../warehouse/statsLoad.ts';
import type { CollectorDeps } from './collector.ts';
import { isFinalFetch } from './planner.ts';
import { chainGates, sharedSlotGate } from './rateSlots.ts';

/** Fetches and loads one bucket of one API (default loss); throws TimApiError when the API cannot give it. */
export type CollectBucket = (
  app: AppConfig,
  bucket: Window,
  signal?: AbortSignal,
  feed?: Feed,
) => Promise<{ facts: number; final: boolean }>;

export function createBucketCollector(deps: CollectorDeps): CollectBucket {
  const { db, config, clock, observer } = deps;
  // The slot row is locked at the socket on PostgreSQL, where other processes may share it.
  const atSocket = deps.databaseKind !== 'pglite';
  const gate =
    deps.gate ??
    chainGates(
      inProcessGate(config.api.minIntervalMs),
      sharedSlotGate(deps.coordinationDb ?? db, config.api.minIntervalMs, { atSocket }),
    );
  // By default both APIs of an app wait at its one slot: whether Tencent caps calls per API or
  // per app is unconfirmed, and sharing is safe either way. STATS_OWN_RATE_SLOT opts out.
  const statisticsGate = config.statistics.ownRateSlot
    ? chainGates(
        inProcessGate(config.api.minIntervalMs),
        sharedSlotGate(deps.coordinationDb ?? db, config.api.minIntervalMs, { atSocket, table: 'stats_rate_slot' }),
      )
    : gate;
  // Loss answers of all apps are loaded together, a transaction for those that arrived while the
  // previous ones were loading (group commit, loadBatcher.ts).
  const batcher = createLoadBatcher(db, { slots: loadSlotsFor(deps.databaseKind ?? 'pglite') });
  const http = createHttp(config.api.timeoutMs);
  const clients = new Map<number, TimClient>();

  function clientFor(app: AppConfig): TimClient {
    let client = clients.get(app.sdkappid);
    if (!client) {
      client = createTimClient(app, {
        api: config.api,
        logger: deps.logger,
        clock,
        gate,
        statisticsGate,
        statistics: config.statistics,
        http,
        onFailedCall: async (call, api) => {
          observer?.call?.(call, api === 'normal_push_statistics' ? 'statistics' : 'loss');
          await archiveSafely(db, call, api === 'normal_push_statistics' ? 'stats_call' : 'tim_call');
        },
      });
      clients.set(app.sdkappid, client);
    }
    return client;
  }

  async function collectBucket(app: AppConfig, bucket: Window, signal?: AbortSignal, feed: Feed = 'loss') {
    const tables = FEED_TABLES[feed];
    // The bucket in progress is asked up to now, never into the future: the documentation does
    // not say the API accepts a future EndTime, and a refusal (90100) would stop the app.
    const window = {
      start: bucket.start,
      end: Math.min(bucket.end, Math.max(bucket.start + 1, unixSeconds(clock.now()))),
    };
    const client = clientFor(app);
    const fetched =
      feed === 'loss'
        ? { feed, ...(await client.normalPushLoss(window, { signal })) }
        : { feed, ...(await client.normalPushStatistics(window, { signal })) };
    const { call } = fetched;
    observer?.call?.(call, feed);
    // Final only when fetched in its final window: until then the counts may still move.
    const horizonSeconds = feed === 'loss' ? config.api.horizonSeconds : config.statistics.horizonSeconds;
    const final = isFinalFetch(bucket, call.startedAt, horizonSeconds, config.daemon.settle);
    let result;
    try {
      const target = { sdkappid: app.sdkappid, bucket, bucketSize: config.bucketSize, call };
      result =
        fetched.feed === 'loss'
          ? await batcher.load({ ...target, entries: fetched.entries, final })
          : await inTransaction(db, async (trx) => {
              const loaded = await loadStatsBucket(trx, { ...target, stats: fetched.stats });
              const key = { sdkappid: app.sdkappid, bucketStart: bucket.start, bucketSize: config.bucketSize };
              if (loaded.replaced && final) await markBucketFinal(trx, key, tables.bucketState);
              return loaded;
            });
    } catch (error) {
      // Database trouble fails the pass; an answer the warehouse refuses (a bucket stored with
      // other edges, a count it cannot hold) is archived like any unreadable answer, and the
      // app goes on with its next bucket.
      if (!(error instanceof BucketMismatchError || error instanceof RangeError || isDataRefusal(error))) throw error;
      await archiveSafely(db, { ...call, outcome: 'invalid_response' }, tables.call);
      throw new TimApiError({
        message: `app ${app.sdkappid}: the answer for ${isoSeconds(window.start)} .. ${isoSeconds(window.end)} was archived but not loaded: ${(error as Error).message}`,
        code: 'LOAD_REFUSED',
        failure: 'invalid_response',
        sdkappid: app.sdkappid,
        window,
        attempt: call.attempt,
        advice: `the raw answer is in ${tables.call}; fix the cause, then run renormalize or backfill`,
        cause: error,
      });
    }
    observer?.loaded?.(app.sdkappid, result.facts, feed);
    return { facts: result.facts, final: result.replaced && final };
  }

  return collectBucket;
}
