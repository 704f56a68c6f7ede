import type { Kysely } from 'kysely';
import { isoSeconds, unixSeconds, type Clock } from '../clock.ts';
import type { AppConfig, Config, Feed } from '../config/config.ts';
import { FEED_TABLES, type CallTableName, type Database } from '../db/database.ts';
import { inTransaction } from '../db/transaction.ts';
import type { Logger } from '../log.ts';
import { createHttp, createTimClient, type TimClient } from '../tencent/client.ts';
import { TimApiError } from '../tencent/errors.ts';
import type { CallRecord, Window } from '../tencent/loss.ts';
import { inProcessGate, type CallGate } from '../tencent/callGate.ts';
import { archiveCall } from '../warehouse/archive.ts';
import { BucketMismatchError, loadBucket } from '../warehouse/load.ts';
import { listBucketStates, markBucketFinal, markBucketLost } from '../warehouse/state.ts';
import { loadStatsBucket } from '../warehouse/statsLoad.ts';
import { ensureAppState, recordAppPass } from './appState.ts';
import { acquireLease, newHolderId, releaseLease } from './leases.ts';
import { firstReachableBucket } from '../buckets.ts';
import { isSettled, planApp } from './planner.ts';
import { chainGates, sharedSlotGate } from './rateSlots.ts';

/**
 * Fetch → archive → normalize → load, for one bucket, one app, or every app (a pass).
 * Never throws for an app's API trouble: it is logged, recorded in app_state and counted, and
 * the other apps go on. Database failures do throw: without the database nothing can be kept.
 */

/** Hooks for metrics; every method is optional. */
export interface CollectObserver {
  call?(call: CallRecord): void;
  loaded?(sdkappid: number, facts: number): void;
  appPassed?(sdkappid: number, result: AppPassResult, atMs: number): void;
}

export interface CollectorDeps {
  db: Kysely<Database>;
  /** Where rate slots are reserved (see `OpenedDatabase.coordinationDb`); default `db`. */
  coordinationDb?: Kysely<Database>;
  /**
   * How long an app's lease is kept after its pass (default 0). The daemon keeps it a minute, so a
   * replica whose tick comes a little later counts as the same pass and skips the app; one-shot
   * commands release at once, as no later pass of theirs will come.
   */
  leaseGraceMs?: number;
  config: Config;
  logger: Logger;
  clock: Clock;
  observer?: CollectObserver;
  /** Where calls wait for their turn; default the in-process gate, then the database's rate slot. */
  gate?: CallGate;
}

export interface Collector {
  readonly holder: string;
  /** Fetches and loads one bucket of one API (default loss); throws TimApiError when the API cannot give it. */
  collectBucket(
    app: AppConfig,
    bucket: Window,
    signal?: AbortSignal,
    feed?: Feed,
  ): Promise<{ facts: number; final: boolean }>;
  /** The planner-driven pass for one app (leased, so replicas never collect it twice at once). */
  collectApp(app: AppConfig, signal?: AbortSignal): Promise<AppPassResult>;
  /** One pass over every configured app, concurrently. */
  runPass(signal?: AbortSignal): Promise<PassResult>;
}

export type AppPassResult =
  | { status: 'collected'; fetched: number; failed: number; lost: number; atRisk: number; error?: string }
  | { status: 'fatal'; fetched: number; error: string }
  | { status: 'paused'; error: string }
  | { status: 'leased_elsewhere'; heldBy: string }
  | { status: 'stopped'; fetched: number };

export interface PassResult {
  startedAtMs: number;
  durationMs: number;
  apps: Map<number, AppPassResult>;
}

/**
 * One app's result over its APIs. Fatal or paused only when every API is; an API stopped while
 * another went on counts as one failed bucket, its error reported.
 */
export function combineFeeds(results: readonly AppPassResult[]): AppPassResult {
  const [first] = results;
  if (results.length === 1 && first) return first;
  const fetched = results.reduce((sum, r) => sum + ('fetched' in r ? r.fetched : 0), 0);
  const handover = results.find((r) => r.status === 'leased_elsewhere');
  if (handover) return handover;
  if (results.some((r) => r.status === 'stopped')) return { status: 'stopped', fetched };
  const errors = results.flatMap((r) => ('error' in r && r.error ? [r.error] : []));
  if (results.every((r) => r.status === 'fatal' || r.status === 'paused')) {
    return results.some((r) => r.status === 'fatal')
      ? { status: 'fatal', fetched, error: errors.join('; ') }
      : { status: 'paused', error: errors.join('; ') };
  }
  let failed = 0;
  let lost = 0;
  let atRisk = 0;
  for (const r of results) {
    if (r.status === 'collected') {
      failed += r.failed;
      lost += r.lost;
      atRisk += r.atRisk;
    } else failed++;
  }
  return { status: 'collected', fetched, failed, lost, atRisk, ...(errors.length ? { error: errors.join('; ') } : {}) };
}

/** A fatal app (e.g. Push not enabled) is retried once an hour, so fixing the console is enough. */
const FATAL_RETRY_MS = 3_600_000;
const LEASE_TTL_MS = 10 * 60_000;
/**
 * Apps collected at once in a pass. Each spends most of its time waiting for its 1 call/second,
 * so a few hundred keep a pass short, while the database pools (10 and 2 connections) never
 * have more waiters than they serve within their 10 s wait.
 */
const PASS_CONCURRENCY = 200;

/**
 * How close to the horizon a bucket's start may be for a 90100 (invalid parameters) to mean
 * "too old by now" rather than a broken configuration: the time a call can queue for its rate
 * slot in a large pass, plus any difference between our clock and Tencent's.
 */
const HORIZON_EDGE_MS = 15 * 60_000;

function atHorizonEdge(bucket: Window, nowMs: number, horizonSeconds: number): boolean {
  return bucket.start * 1000 < nowMs - horizonSeconds * 1000 + HORIZON_EDGE_MS;
}

/**
 * A statement refused for the data it carried (SQLSTATE class 22, data exception, e.g. a text
 * PostgreSQL cannot hold; class 54, a value over a limit): this answer cannot be loaded, but the
 * database is fine, so the app goes on with its other buckets.
 */
function isDataRefusal(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^(22|54)[0-9A-Z]{3}$/.test(code);
}

/**
 * Archives an answer the warehouse would not load. Should even its row be refused, the answer is
 * kept as bytes only, with the envelope's texts left out: the raw answer is never lost.
 */
async function archiveSafely(db: Kysely<Database>, call: CallRecord, table: CallTableName): Promise<void> {
  try {
    await archiveCall(db, call, table);
  } catch (error) {
    if (!isDataRefusal(error)) throw error;
    const bodyRaw = call.bodyRaw ?? (call.body === null ? null : Buffer.from(call.body, 'utf8'));
    await archiveCall(
      db,
      { ...call, actionStatus: null, errorInfo: null, requestId: null, body: null, bodyRaw },
      table,
    );
  }
}

export function createCollector(deps: CollectorDeps): Collector {
  const { db, config, clock, observer } = deps;
  const holder = newHolderId();
  const gate =
    deps.gate ??
    chainGates(
      inProcessGate(config.api.minIntervalMs),
      sharedSlotGate(deps.coordinationDb ?? db, config.api.minIntervalMs),
    );
  // By default both APIs of an app wait at its one slot: whether Tencent caps calls per API or
  // per app is unconfirmed, and sharing is safe either way. STATS_OWN_RATE_SLOT opts out.
  const statisticsGate = config.statistics.ownRateSlot
    ? chainGates(
        inProcessGate(config.api.minIntervalMs),
        sharedSlotGate(deps.coordinationDb ?? db, config.api.minIntervalMs, undefined, 'stats_rate_slot'),
      )
    : gate;
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
          observer?.call?.(call);
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
    observer?.call?.(call);
    const final = isSettled(bucket, call.startedAt, config.daemon.settleAfterMs);
    let result;
    try {
      const target = { sdkappid: app.sdkappid, bucket, bucketSize: config.bucketSize, call };
      result =
        fetched.feed === 'loss'
          ? await loadBucket(db, { ...target, entries: fetched.entries, final })
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
    observer?.loaded?.(app.sdkappid, result.facts);
    return { facts: result.facts, final: result.replaced && final };
  }

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
      // One API after the other under one lease: their calls share the app's rate slot anyway.
      const results: AppPassResult[] = [];
      for (const feed of config.feeds) {
        const result = await collectFeed(app, feed, lease, signal);
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
    feed: Feed,
    lease: { renewedAt: number },
    signal?: AbortSignal,
  ): Promise<AppPassResult> {
    const log = deps.logger.child({ app: app.sdkappid, api: feed });
    const tables = FEED_TABLES[feed];
    const horizonSeconds = feed === 'loss' ? config.api.horizonSeconds : config.statistics.horizonSeconds;
    const nowMs = clock.now();
    const size = config.bucketSize;
    const reachable = firstReachableBucket(nowMs, horizonSeconds, size, config.bucketTz);
    const state = await ensureAppState(db, app.sdkappid, size, reachable.start * 1000, nowMs, tables.appState);
    if (state.fatal_at && nowMs - state.fatal_at.getTime() < FATAL_RETRY_MS) {
      return { status: 'paused', error: state.last_error ?? 'fatal error' };
    }
    const known = await listBucketStates(db, {
      sdkappid: app.sdkappid,
      bucketSize: size,
      from: Math.floor(state.covered_from.getTime() / 1000),
      table: tables.bucketState,
    });
    const plan = planApp({
      nowMs,
      coveredFromMs: state.covered_from.getTime(),
      horizonSeconds,
      bucketSize: size,
      timeZone: config.bucketTz,
      known: known.map((row) => ({
        start: row.bucket_start.getTime() / 1000,
        final: row.final,
        lost: row.lost_at !== null,
      })),
    });
    for (const bucket of plan.lost) {
      await markBucketLost(db, {
        sdkappid: app.sdkappid,
        bucket,
        bucketSize: size,
        at: new Date(nowMs),
        table: tables.bucketState,
      });
      log.warn({ bucket }, 'bucket lost: the API horizon passed it before it was final');
    }
    for (const bucket of plan.atRisk)
      log.warn({ bucket }, 'bucket leaves the API horizon within 24 h and is not final yet');

    let fetched = 0;
    let failed = 0;
    let lostAtEdge = 0;
    let lastError: TimApiError | undefined;
    for (const bucket of plan.fetch) {
      if (signal?.aborted) break;
      try {
        await collectBucket(app, bucket, signal, feed);
        fetched++;
      } catch (error) {
        if (signal?.aborted && !(error instanceof TimApiError)) break;
        if (!(error instanceof TimApiError)) throw error;
        if (error.tencentCode === 90100 && atHorizonEdge(bucket, clock.now(), horizonSeconds)) {
          // Planned while reachable, it reached Tencent after the horizon passed it (it queued
          // behind the rate slot, or Tencent's clock is ahead): lost, not a configuration error.
          const at = new Date(clock.now());
          await markBucketLost(db, { sdkappid: app.sdkappid, bucket, bucketSize: size, at, table: tables.bucketState });
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
          await recordAppPass(
            db,
            app.sdkappid,
            size,
            {
              coveredFromMs: plan.coveredFromMs,
              atMs: clock.now(),
              succeeded: fetched > 0,
              error: { code: error.code, message: error.message, fatal: true },
            },
            tables.appState,
          );
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
    await recordAppPass(
      db,
      app.sdkappid,
      size,
      {
        coveredFromMs: plan.coveredFromMs,
        atMs: clock.now(),
        succeeded: fetched > 0,
        ...(lastError ? { error: { code: lastError.code, message: lastError.message, fatal: false } } : {}),
      },
      tables.appState,
    );
    if (signal?.aborted) return { status: 'stopped', fetched };
    return {
      status: 'collected',
      fetched,
      failed,
      lost: plan.lost.length + lostAtEdge,
      atRisk: plan.atRisk.length,
      ...(lastError ? { error: lastError.message } : {}),
    };
  }

  async function runPass(signal?: AbortSignal): Promise<PassResult> {
    const startedAtMs = clock.now();
    const began = performance.now();
    // Apps run concurrently: each is bound by its own 1 call/second, so a pass takes about as
    // long as the app with the most pending buckets. At most PASS_CONCURRENCY at a time, so
    // thousands of apps queue here rather than for a pool connection (whose wait times out).
    const apps = [...config.apps];
    const results = new Array<readonly [number, AppPassResult] | undefined>(apps.length);
    let failure: { reason: unknown } | undefined;
    let next = 0;
    const worker = async () => {
      while (next < apps.length) {
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
    await Promise.all(Array.from({ length: Math.min(PASS_CONCURRENCY, apps.length) }, worker));
    // Only a database failure rejects; it is reported once every other app has finished.
    if (failure) throw failure.reason;
    return {
      startedAtMs,
      durationMs: Math.round(performance.now() - began),
      apps: new Map(results.filter((entry) => entry !== undefined)),
    };
  }

  return { holder, collectBucket, collectApp, runPass };
}
