import type { Server } from 'node:http';
import { sql, type Kysely } from 'kysely';
import cron from 'node-cron';
import type { Registry } from 'prom-client';
import type { Clock } from '../clock.ts';
import { listAppStates } from '../collect/appState.ts';
import { releaseLeasesOf } from '../collect/leases.ts';
import { recentBuckets } from '../collect/bucketStatus.ts';
import { createCollector, type CollectObserver } from '../collect/collector.ts';
import type { CallGate } from '../tencent/callGate.ts';
import type { Config } from '../config/config.ts';
import type { DatabaseKind } from '../db/connect.ts';
import type { Database } from '../db/database.ts';
import type { Logger } from '../log.ts';
import { startHttpServer, type Health } from './http.ts';
import { Metrics } from './metrics.ts';
import { currentAnomalies, latestLossRates } from '../report/anomalies.ts';

/**
 * The long-lived process: a pass at start-up, then one on every COLLECT_CRON tick (never two at
 * once), `/healthz` and `/metrics` on HTTP_PORT. `stop()` stops planning, lets the call in
 * flight finish and its bucket commit, then closes the HTTP server; the caller closes the db.
 */
export interface Daemon {
  readonly port: number;
  /** The metrics `/metrics` serves. */
  readonly registry: Registry;
  /** Resolves when the pass in progress (if any) has finished. */
  stop(): Promise<void>;
}

export interface DaemonDeps {
  db: Kysely<Database>;
  coordinationDb?: Kysely<Database>;
  config: Config;
  logger: Logger;
  clock: Clock;
  /**
   * Starts the schedule of passes: calls `run` on every tick; default node-cron on
   * `config.daemon.cron`. A soak drives ticks from its simulated clock instead.
   */
  schedule?: (run: () => Promise<void>) => { stop(): Promise<void> | void };
  /** Told of every app's pass result, beside the metrics. */
  observer?: CollectObserver;
  /** The collector's call gate (see `CollectorDeps.gate`); a soak on a warped clock spaces calls on it. */
  gate?: CallGate;
  /** What the database is (see `CollectorDeps.databaseKind`). */
  databaseKind?: DatabaseKind;
}

/** node-cron's messages (a missed tick, a skipped overlap) as JSON lines of our logger. */
function cronLogger(logger: Logger) {
  const log = logger.child({ component: 'node-cron' });
  const err = (message: string | Error, error?: Error) =>
    message instanceof Error ? { err: message } : error ? { err: error } : {};
  return {
    info: (message: string) => log.info(message),
    warn: (message: string) => log.warn(message),
    error: (message: string | Error, error?: Error) =>
      log.error(err(message, error), message instanceof Error ? message.message : message),
    debug: (message: string | Error, error?: Error) =>
      log.debug(err(message, error), message instanceof Error ? message.message : message),
  };
}

/** How long /healthz waits for the database (probes usually give up after 5 s or more). */
const HEALTH_DB_DEADLINE_MS = 3_000;

/** Replicas' ticks less than this apart count as one pass: the app is left to whoever took it. */
const LEASE_GRACE_MS = 60_000;

export async function startDaemon({
  db,
  coordinationDb,
  config,
  logger,
  clock,
  schedule,
  observer,
  gate,
  databaseKind,
}: DaemonDeps): Promise<Daemon> {
  const metrics = new Metrics(() => clock.now());
  const collector = createCollector({
    db,
    coordinationDb,
    config,
    logger,
    clock,
    observer: observer ? chainObservers(metrics, observer) : metrics,
    leaseGraceMs: LEASE_GRACE_MS,
    ...(gate ? { gate } : {}),
    ...(databaseKind ? { databaseKind } : {}),
  });
  const stopping = new AbortController();
  let lastPassError: string | null = null;
  /** Apps the last pass did not collect, and why: /healthz names them. */
  let skipped: string[] = [];
  let current: Promise<void> | null = null;

  for (const feed of config.feeds) {
    for (const state of await listAppStates(db, feed, config.bucketSize)) {
      if (state.last_success_at) metrics.lastSuccess(state.sdkappid, state.last_success_at, feed);
    }
  }

  async function refreshBucketMetrics() {
    for (const feed of config.feeds) {
      for (const app of config.apps) {
        metrics.bucketConditions(
          app.sdkappid,
          await recentBuckets(db, app.sdkappid, {
            feed,
            nowMs: clock.now(),
            horizonSeconds: config.limits[feed].horizonSeconds,
            bucketSize: config.bucketSize,
            timeZone: config.bucketTz,
            settle: config.daemon.settle,
          }),
          feed,
        );
      }
    }
  }

  /** The anomaly and loss-rate gauges; a failing query is logged and leaves the last values. */
  async function refreshDetection(log: Logger) {
    try {
      const nowMs = clock.now();
      metrics.detection(await currentAnomalies(db, nowMs), await latestLossRates(db, nowMs));
    } catch (error) {
      log.error({ err: error }, 'anomaly detection failed');
    }
  }

  async function pass(trigger: string) {
    const log = logger.child({ trigger });
    const began = performance.now();
    try {
      const result = await collector.runPass(stopping.signal);
      lastPassError = null;
      skipped = [...result.apps].flatMap(([sdkappid, r]) =>
        r.status === 'leased_elsewhere' ? [`${sdkappid} (leased by ${r.heldBy})`] : [],
      );
      // The bucket gauges first: whoever acts on "pass finished" (the log line, or
      // pushloss_passes_total going up) reads gauges that already describe this pass.
      await refreshBucketMetrics();
      await refreshDetection(log);
      metrics.passFinished(result.durationMs, 'ok');
      const counts: Record<string, number> = {};
      for (const r of result.apps.values()) counts[r.status] = (counts[r.status] ?? 0) + 1;
      log.info({ durationMs: result.durationMs, apps: counts }, 'collection pass finished');
    } catch (error) {
      // A pass fails as a whole only when the database does; /healthz reports it until a pass succeeds.
      lastPassError = (error as Error).message;
      metrics.passFinished(performance.now() - began, 'failed');
      log.error({ err: error }, 'collection pass failed');
    }
  }

  function runOnce(trigger: string): Promise<void> {
    if (current) return current;
    current = pass(trigger).finally(() => {
      current = null;
    });
    return current;
  }

  async function health(): Promise<Health> {
    // A frozen database (SIGSTOP, a full pool, a hung PGlite query) must not hang the probe.
    const probe = sql`select 1`.execute(db);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), HEALTH_DB_DEADLINE_MS);
    });
    try {
      if ((await Promise.race([probe, deadline])) === 'timeout') {
        probe.catch(() => {}); // it may still fail later; nobody waits for it any more
        return { ok: false, reason: `database does not answer within ${HEALTH_DB_DEADLINE_MS / 1000} s` };
      }
    } catch (error) {
      return { ok: false, reason: `database does not answer: ${(error as Error).message}` };
    } finally {
      clearTimeout(timer);
    }
    if (lastPassError !== null) return { ok: false, reason: `last collection pass failed: ${lastPassError}` };
    // Still 200: a live holder (another replica) collects the app; a gone one is taken over.
    if (skipped.length > 0)
      return {
        ok: true,
        reason: `ok; ${skipped.length} app(s) skipped in the last pass: ${skipped.slice(0, 5).join(', ')}${skipped.length > 5 ? ', ...' : ''}`,
      };
    return { ok: true, reason: 'ok' };
  }

  const server: Server = await startHttpServer(
    { port: config.daemon.httpPort, host: config.daemon.httpHost },
    health,
    metrics.registry,
  );
  const port = (server.address() as { port: number }).port;
  const task = (schedule ?? cronSchedule(config.daemon.cron, logger))(() => runOnce('schedule'));
  logger.info(
    {
      port,
      cron: config.daemon.cron,
      apps: config.apps.length,
      bucketSize: config.bucketSize,
      bucketTz: config.bucketTz,
    },
    'daemon started',
  );
  void runOnce('start-up');

  return {
    port,
    registry: metrics.registry,
    async stop() {
      stopping.abort(new Error('daemon stopping'));
      await task.stop();
      await current;
      // The leases' grace is for replicas' ticks of the same pass; a stopped daemon has no next
      // pass, and a restart (new holder) within the grace would otherwise skip every app.
      await releaseLeasesOf(db, collector.holder).catch((error: unknown) =>
        logger.warn({ err: error }, 'could not release the leases at stop; they expire by themselves'),
      );
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/** The default schedule: node-cron; noOverlap: a tick while a pass is still running is skipped, not queued. */
function cronSchedule(expression: string, logger: Logger) {
  return (run: () => Promise<void>) => {
    // noOverlap: a tick while a pass is still running is skipped, not queued. node-cron's own
    // logger would print coloured text lines into our JSON log stream.
    const task = cron.schedule(expression, run, {
      name: 'pushloss-collect',
      noOverlap: true,
      logger: cronLogger(logger),
    });
    return { stop: () => task.destroy() };
  };
}

/** Both observers, in turn. */
function chainObservers(first: CollectObserver, second: CollectObserver): CollectObserver {
  return {
    call: (call, feed) => (first.call?.(call, feed), second.call?.(call, feed)),
    loaded: (sdkappid, facts, feed) => (first.loaded?.(sdkappid, facts, feed), second.loaded?.(sdkappid, facts, feed)),
    appPassed: (sdkappid, result, atMs) => (
      first.appPassed?.(sdkappid, result, atMs),
      second.appPassed?.(sdkappid, result, atMs)
    ),
  };
}
