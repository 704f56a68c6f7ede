/**
 * Fetch → archive → normalize → load for one bucket of one feed: the step every pass, backfill
 * and the demo repeat. An answer the warehouse refuses is archived and reported as the app's error.
 */
import { isoSeconds, unixSeconds } from '../clock.ts';
import type { AppConfig } from '../config/config.ts';
import { FEEDS } from '../feeds/index.ts';
import type { FeedName } from '../tencent/apis.ts';
import { createHttp, createTimClient, type TimClient } from '../tencent/client.ts';
import { TimApiError } from '../tencent/errors.ts';
import type { Window } from '../tencent/loss.ts';
import { inProcessGate, type CallGate } from '../tencent/callGate.ts';
import { archiveSafely, isDataRefusal } from '../warehouse/archive.ts';
import { BucketMismatchError } from '../warehouse/load.ts';
import { createLoadBatcher, loadSlotsFor } from '../warehouse/loadBatcher.ts';
import type { CollectorDeps } from './deps.ts';
import { isFinalFetch } from './planner.ts';
import { chainGates, sharedSlotGate } from './rateSlots.ts';

/** Fetches and loads one bucket of one feed; throws TimApiError when the API cannot give it. */
export type CollectBucket = (
  app: AppConfig,
  feed: FeedName,
  bucket: Window,
  signal?: AbortSignal,
) => Promise<{ facts: number; final: boolean }>;

export function createBucketCollector(deps: CollectorDeps): CollectBucket {
  const { db, config, clock, observer } = deps;
  // One gate per rate slot: the feeds given one slot (RATE_SLOTS; by default all of an app's
  // feeds, since whether Tencent caps calls per API or per app is unconfirmed) wait at it together.
  // The slot row is locked at the socket on PostgreSQL, where other processes may share it.
  const atSocket = deps.databaseKind !== 'pglite';
  const slotGates = new Map<string, CallGate>();
  const gateOf = (slot: string) => {
    let gate = slotGates.get(slot);
    if (!gate) {
      gate = chainGates(
        inProcessGate(config.api.minIntervalMs),
        sharedSlotGate(deps.coordinationDb ?? db, config.api.minIntervalMs, { atSocket, slot }),
      );
      slotGates.set(slot, gate);
    }
    return gate;
  };
  const gates = Object.fromEntries(
    Object.entries(config.rateSlots).map(([feed, slot]) => [feed, deps.gate ?? gateOf(slot)]),
  ) as Record<FeedName, CallGate>;
  // Answers of all apps are loaded together, a transaction for those of one feed that arrived
  // while the previous ones were loading (group commit, loadBatcher.ts).
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
        gates,
        windowLimits: config.limits,
        http,
        onFailedCall: async (call, feed) => {
          observer?.call?.(call, feed);
          await archiveSafely(db, feed, call);
        },
      });
      clients.set(app.sdkappid, client);
    }
    return client;
  }

  async function collectBucket(app: AppConfig, feedName: FeedName, bucket: Window, signal?: AbortSignal) {
    const feed = FEEDS[feedName];
    // The bucket in progress is asked up to now, never into the future: the documentation does
    // not say the API accepts a future EndTime, and a refusal (90100) would stop the app.
    const window = {
      start: bucket.start,
      end: Math.min(bucket.end, Math.max(bucket.start + 1, unixSeconds(clock.now()))),
    };
    const { call, answer } = await feed.fetch(clientFor(app), window, signal);
    observer?.call?.(call, feedName);
    // Final only when fetched in its final window: until then the counts may still move.
    const final = isFinalFetch(bucket, call.startedAt, config.limits[feedName].horizonSeconds, config.daemon.settle);
    let result;
    try {
      result = await batcher.load(feed, {
        sdkappid: app.sdkappid,
        bucket,
        bucketSize: config.bucketSize,
        call,
        answer,
        final,
      });
    } catch (error) {
      // Database trouble fails the pass; an answer the warehouse refuses (a bucket stored with
      // other edges, a count it cannot hold) is archived like any unreadable answer, and the
      // app goes on with its next bucket.
      if (!(error instanceof BucketMismatchError || error instanceof RangeError || isDataRefusal(error))) throw error;
      await archiveSafely(db, feedName, { ...call, outcome: 'invalid_response' });
      throw new TimApiError({
        message: `app ${app.sdkappid}: the ${feedName} answer for ${isoSeconds(window.start)} .. ${isoSeconds(window.end)} was archived but not loaded: ${(error as Error).message}`,
        code: 'LOAD_REFUSED',
        failure: 'invalid_response',
        sdkappid: app.sdkappid,
        window,
        attempt: call.attempt,
        advice: `the raw answer is in feed_call (feed ${feedName}); fix the cause, then run renormalize or backfill`,
        cause: error,
      });
    }
    observer?.loaded?.(app.sdkappid, result.facts, feedName);
    return { facts: result.facts, final: result.replaced && final };
  }

  return collectBucket;
}
