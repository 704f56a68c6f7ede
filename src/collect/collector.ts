import type { AppConfig } from '../config/config.ts';
import type { DatabaseKind } from '../db/connect.ts';
import { FEEDS } from '../feeds/index.ts';
import type { FeedName } from '../tencent/apis.ts';
import { TimApiError } from '../tencent/errors.ts';
import { listBucketStates, markBucketLost } from '../warehouse/state.ts';
import { ensureAppState, recordAppPass, type PassOutcome } from './appState.ts';
import { acquireLease, newHolderId, releaseLease } from './leases.ts';
import { atHorizonEdge, firstReachableBucket } from '../buckets.ts';
import { planApp } from './planner.ts';
import { combineFeeds, type AppPassResult, type PassResult } from './passResult.ts';
import { createBucketCollector, type CollectBucket } from './bucketCollector.ts';

/**
 * Fetch → archive → normalize → load, for one bucket, one app, or every app (a pass).
 * Never throws for an app's API trouble: it is logged, recorded in app_state and counted, and
 * the other apps go on. Database failures do throw: without the database nothing can be kept.
 */

export type { AppPassResult, PassResult } from './passResult.ts';

import type { CollectorDeps } from './deps.ts';
export type { CollectObserver, CollectorDeps } from './deps.ts';

export interface Collector {
  readonly holder: string;
  /** Fetches and loads one bucket of one feed; throws TimApiError when the API cannot give it. */
  collectBucket: CollectBucket;
  /** The planner-driven pass for one app (leased, so replicas never collect it twice at once). */
  collectApp(app: AppConfig, signal?: AbortSignal): Promise<AppPassResult>;
  /** One pass over every configured app, concurrently; then {@link afterLoads}. */
  runPass(signal?: AbortSignal): Promise<PassResult>;
  /** Each collected feed's work after many loads, e.g. sums over all apps (a failure is logged, not thrown). */
  afterLoads(): Promise<void>;
}

/** A fatal app (e.g. Push not enabled) is retried once an hour, so fixing the console is enough. */
const FATAL_RETRY_MS = 3_600_000;
const LEASE_TTL_MS = 10 * 60_000;
/**
 * Apps collected at once in a pass. Each spends most of its time waiting for its 1 call/second,
 * and has at most one answer waiting for its load, so this also bounds what waits in memory.
 *
 * PostgreSQL: 500. The loads of all apps are batched (loadBatcher.ts), so a 500-app first pass
 * runs in one wave of one app's calls instead of three; on two cores a wave of 500 (about 400
 * answers a second) is about what the server keeps up with (README "Benchmarks"), and more apps
 * at once would only queue longer for it. Pool callers wait in order without a deadline
 * (poolQueue.ts), so at 10,000 apps the longer waits never fail the pass.
 *
 * PGlite: 200, as before. Its queries run on the daemon's own thread, between the answers, so
 * loads never overlap and batching gains nothing; 500 apps at once only held more requests up
 * on a blocked event loop (measured at 500 apps: 106 s and 682 calls timed out and retried,
 * against 93 s and 24 with 200).
 */
function passConcurrency(kind: DatabaseKind): number {
  return kind === 'postgres' ? 500 : 200;
}

export function createCollector(deps: CollectorDeps): Collector {
  const { db, config, clock, observer } = deps;
  const holder = newHolderId();
  const collectBucket = createBucketCollector(deps);

  async function collectApp(app: AppConfig, signal?: AbortSignal): Promise<AppPassResult> {
    const log = deps.logger.child({ app: app.sdkappid });
    const acquired = await acquireLease(db, app.sdkappid, holder, LEASE_TTL_MS);
    if (!acquired.acquired) {
      log.info({ heldBy: acquired.heldBy }, 'another process is collecting this app in this pass; skipped');
      return { status: 'leased_elsewhere', heldBy: acquired.heldBy };
    }
    if (acquired.tookOverFrom)
      log.warn({ from: acquired.tookOverFrom }, 'took over the lease of a process that is gone (killed or restarted)');
    const lease = { renewedAt: performance.now() };
    try {
      // One feed after the other under one lease: their calls share the app's rate slot anyway.
      const results: AppPassResult[] = [];
      for (const feed of config.feeds) {
        const result = await collectFeed(app, feed, lease, signal);
        observer?.feedPassed?.(app.sdkappid, feed, result);
        results.push(result);
        if (result.status === 'leased_elsewhere' || result.status === 'stopped') break;
      }
      return combineFeeds(results);
    } finally {
      await releaseLease(db, app.sdkappid, holder, signal?.aborted ? 0 : (deps.leaseGraceMs ?? 0));
    }
  }

  /** The planner-driven pass of one API for one app, which the caller holds the lease of. */
  async function collectFeed(
    app: AppConfig,
    feed: FeedName,
    lease: { renewedAt: number },
    signal?: AbortSignal,
  ): Promise<AppPassResult> {
    const log = deps.logger.child({ app: app.sdkappid, feed });
    const { horizonSeconds } = config.limits[feed];
    const nowMs = clock.now();
    const size = config.bucketSize;
    const reachable = firstReachableBucket(nowMs, horizonSeconds, size, config.bucketTz);
    const state = await ensureAppState(db, app.sdkappid, feed, size, reachable.start * 1000, nowMs);
    if (state.fatal_at && nowMs - state.fatal_at.getTime() < FATAL_RETRY_MS) {
      return { status: 'paused', error: state.last_error ?? 'fatal error' };
    }
    const known = await listBucketStates(db, {
      feed,
      sdkappid: app.sdkappid,
      bucketSize: size,
      from: Math.floor(state.covered_from.getTime() / 1000),
    });
    const plan = planApp({
      nowMs,
      coveredFromMs: state.covered_from.getTime(),
      horizonSeconds,
      bucketSize: size,
      timeZone: config.bucketTz,
      settle: config.daemon.settle,
      known: known.map((row) => ({
        start: row.bucket_start.getTime() / 1000,
        final: row.final,
        lost: row.lost_at !== null,
        lastFetchedAtMs: row.last_fetched_at?.getTime() ?? null,
      })),
    });
    for (const bucket of [...plan.lost, ...plan.settledEarly]) {
      await markBucketLost(db, { sdkappid: app.sdkappid, feed, bucket, bucketSize: size, at: new Date(nowMs) });
    }
    for (const bucket of plan.lost)
      log.warn({ bucket }, 'bucket lost: the API horizon passed it before it was fetched');
    for (const bucket of plan.settledEarly)
      log.warn(
        { bucket },
        'bucket settled early: the API horizon passed it before its final fetch; it keeps its last answer',
      );
    for (const bucket of plan.atRisk)
      log.warn({ bucket }, 'bucket is inside its final window and not final yet: it leaves the API horizon soon');

    let fetched = 0;
    let failed = 0;
    let lostAtEdge = 0;
    let lastError: TimApiError | undefined;
    // The app's bookkeeping after this pass: the new watermark, and the error that ended it if any.
    const recordPass = (error: PassOutcome['error']) =>
      recordAppPass(db, app.sdkappid, feed, size, {
        coveredFromMs: plan.coveredFromMs,
        atMs: clock.now(),
        succeeded: fetched > 0,
        ...(error ? { error } : {}),
      });
    for (const bucket of plan.fetch) {
      if (signal?.aborted) break;
      try {
        await collectBucket(app, feed, bucket, signal);
        fetched++;
      } catch (error) {
        if (signal?.aborted && !(error instanceof TimApiError)) break;
        if (!(error instanceof TimApiError)) throw error;
        if (error.tencentCode === 90100 && atHorizonEdge(bucket, clock.now(), horizonSeconds)) {
          // Planned while reachable, it reached Tencent after the horizon passed it (it queued
          // behind the rate slot, or Tencent's clock is ahead): lost, not a configuration error.
          const at = new Date(clock.now());
          await markBucketLost(db, { sdkappid: app.sdkappid, feed, bucket, bucketSize: size, at });
          lostAtEdge++;
          log.warn({ bucket }, 'bucket lost: the API horizon passed it before its call arrived (90100)');
          continue;
        }
        lastError = error;
        if (error.fatalForApp) {
          log.error(
            { code: error.code, tencentCode: error.tencentCode, advice: error.advice },
            `app stopped: ${error.message}`,
          );
          await recordPass({ code: error.code, message: error.message, fatal: true });
          return { status: 'fatal', fetched, error: error.message };
        }
        failed++;
        log.warn({ bucket, code: error.code }, `bucket not collected this pass: ${error.message}`);
      }
      if (performance.now() - lease.renewedAt > LEASE_TTL_MS / 4) {
        const renewed = await acquireLease(db, app.sdkappid, holder, LEASE_TTL_MS);
        if (!renewed.acquired) {
          log.warn('lease taken over by another process (this pass stalled too long); leaving the app to it');
          return { status: 'leased_elsewhere', heldBy: renewed.heldBy };
        }
        lease.renewedAt = performance.now();
      }
    }
    await recordPass(lastError && { code: lastError.code, message: lastError.message, fatal: false });
    if (signal?.aborted) return { status: 'stopped', fetched };
    return {
      status: 'collected',
      fetched,
      failed,
      lost: plan.lost.length + plan.settledEarly.length + lostAtEdge,
      atRisk: plan.atRisk.length,
      ...(lastError ? { error: lastError.message } : {}),
    };
  }

  async function runPass(signal?: AbortSignal): Promise<PassResult> {
    const startedAtMs = clock.now();
    const began = performance.now();
    // Apps run concurrently: each is bound by its own 1 call/second, so a pass takes about as
    // long as the app with the most pending buckets. At most passConcurrency() at a time, so
    // thousands of apps queue here rather than for a pool connection (whose wait times out).
    const apps = [...config.apps];
    const results = new Array<readonly [number, AppPassResult] | undefined>(apps.length);
    let failure: { reason: unknown } | undefined;
    let next = 0;
    const worker = async () => {
      // Stopped (SIGTERM): apps not begun yet are not touched at all; at 10,000 apps, visiting
      // each one (lease, state, plan) took minutes after the signal.
      while (next < apps.length && !signal?.aborted) {
        const index = next++;
        const app = apps[index]!;
        try {
          const result = await collectApp(app, signal);
          observer?.appPassed?.(app.sdkappid, result, clock.now());
          results[index] = [app.sdkappid, result];
        } catch (error) {
          failure ??= { reason: error };
        }
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(passConcurrency(deps.databaseKind ?? 'pglite'), apps.length) }, worker),
    );
    // Only a database failure rejects; it is reported once every other app has finished.
    if (failure) throw failure.reason;
    if (!signal?.aborted) await afterLoads();
    return {
      startedAtMs,
      durationMs: Math.round(performance.now() - began),
      apps: new Map(results.filter((entry) => entry !== undefined)),
    };
  }

  /** Each feed's work after the pass's loads; a failure leaves the readers exact, only slower. */
  async function afterLoads(): Promise<void> {
    for (const feed of config.feeds) {
      try {
        await FEEDS[feed].afterLoads?.(db);
      } catch (error) {
        deps.logger.warn(
          { err: error, feed },
          'the work after the loads failed (e.g. summing the changed days over all apps); the views stay exact, only slower',
        );
      }
    }
  }

  return { holder, collectBucket, collectApp, afterLoads, runPass };
}
