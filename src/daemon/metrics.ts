import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AppPassResult, CollectObserver } from '../collect/collector.ts';
import type { BucketCondition, BucketReport } from '../collect/bucketStatus.ts';
import type { Feed } from '../config/config.ts';
import type { CallRecord } from '../tencent/loss.ts';

/**
 * The daemon's Prometheus metrics; also the collector's observer.
 *
 * The statistics API has metrics of its own, named `pushloss_stats_*` with the same labels as
 * their loss counterparts, rather than an `api` label on the existing ones: a new label would
 * change every existing series' identity (one-to-one matches in alerts and recording rules, and
 * exact selectors, would stop matching), and the bucket gauges of the two APIs do not mean the
 * same (their horizons are 7 and 30 days), so an alert such as `pushloss_buckets_at_risk > 0`
 * must keep meaning loss. The `pushloss_*` call, row and last-success metrics count loss only.
 */
export class Metrics implements CollectObserver {
  readonly registry = new Registry();
  readonly #now: () => number;
  readonly #calls = new Counter({
    name: 'pushloss_calls_total',
    help: 'API calls by app, outcome and Tencent error code',
    labelNames: ['app', 'outcome', 'error_code'],
    registers: [this.registry],
  });
  readonly #rows = new Counter({
    name: 'pushloss_rows_loaded_total',
    help: 'Fact rows written by bucket loads',
    labelNames: ['app'],
    registers: [this.registry],
  });
  readonly #passDuration = new Histogram({
    name: 'pushloss_pass_duration_seconds',
    help: 'Wall time of collection passes',
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800],
    registers: [this.registry],
  });
  readonly #passes = new Counter({
    name: 'pushloss_passes_total',
    help: 'Collection passes by result',
    labelNames: ['result'],
    registers: [this.registry],
  });
  readonly #lastSuccess = new Gauge({
    name: 'pushloss_last_success_timestamp_seconds',
    help: 'When a bucket of the app was last loaded',
    labelNames: ['app'],
    registers: [this.registry],
  });
  readonly #appFatal = new Gauge({
    name: 'pushloss_app_fatal',
    help: '1 while the app is stopped by a fatal API error (e.g. 90045)',
    labelNames: ['app'],
    registers: [this.registry],
  });
  readonly #buckets = new Gauge({
    name: 'pushloss_buckets',
    help: 'Buckets of the last 8 days by condition',
    labelNames: ['app', 'condition'],
    registers: [this.registry],
  });
  readonly #atRisk = new Gauge({
    name: 'pushloss_buckets_at_risk',
    help: 'Buckets not final inside their final window (SETTLE_FINAL_WINDOW): they leave the API horizon soon',
    labelNames: ['app'],
    registers: [this.registry],
  });
  readonly #statsCalls = new Counter({
    name: 'pushloss_stats_calls_total',
    help: 'Statistics API calls by app, outcome and Tencent error code',
    labelNames: ['app', 'outcome', 'error_code'],
    registers: [this.registry],
  });
  readonly #statsRows = new Counter({
    name: 'pushloss_stats_rows_loaded_total',
    help: 'Statistics fact rows written by bucket loads',
    labelNames: ['app'],
    registers: [this.registry],
  });
  readonly #statsLastSuccess = new Gauge({
    name: 'pushloss_stats_last_success_timestamp_seconds',
    help: 'When a statistics bucket of the app was last loaded',
    labelNames: ['app'],
    registers: [this.registry],
  });
  readonly #statsBuckets = new Gauge({
    name: 'pushloss_stats_buckets',
    help: 'Statistics buckets of the last 31 days by condition',
    labelNames: ['app', 'condition'],
    registers: [this.registry],
  });
  readonly #statsAtRisk = new Gauge({
    name: 'pushloss_stats_buckets_at_risk',
    help: 'Statistics buckets not final inside their final window: they leave the statistics horizon soon',
    labelNames: ['app'],
    registers: [this.registry],
  });

  /** `now`: the clock success times are read from (the daemon's, so tests can move it). */
  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  call(call: CallRecord, feed: Feed = 'loss'): void {
    (feed === 'loss' ? this.#calls : this.#statsCalls).inc({
      app: call.sdkappid,
      outcome: call.outcome,
      error_code: call.errorCode ?? (call.httpStatus === null ? 'network' : `http_${call.httpStatus}`),
    });
  }

  /** A bucket was fetched and loaded: the API works for the app. */
  loaded(sdkappid: number, facts: number, feed: Feed = 'loss'): void {
    (feed === 'loss' ? this.#rows : this.#statsRows).inc({ app: sdkappid }, facts);
    (feed === 'loss' ? this.#lastSuccess : this.#statsLastSuccess).set({ app: sdkappid }, this.#now() / 1000);
  }

  appPassed(sdkappid: number, result: AppPassResult): void {
    if (result.status !== 'leased_elsewhere' && result.status !== 'stopped')
      this.#appFatal.set({ app: sdkappid }, result.status === 'fatal' || result.status === 'paused' ? 1 : 0);
  }

  passFinished(durationMs: number, result: 'ok' | 'failed'): void {
    this.#passDuration.observe(durationMs / 1000);
    this.#passes.inc({ result });
  }

  /** Restores last-success times after a restart, from app_state (or stats_app_state). */
  lastSuccess(sdkappid: number, at: Date, feed: Feed = 'loss'): void {
    (feed === 'loss' ? this.#lastSuccess : this.#statsLastSuccess).set({ app: sdkappid }, at.getTime() / 1000);
  }

  bucketConditions(sdkappid: number, buckets: readonly BucketReport[], feed: Feed = 'loss'): void {
    const [byCondition, atRisk] =
      feed === 'loss' ? [this.#buckets, this.#atRisk] : [this.#statsBuckets, this.#statsAtRisk];
    for (const condition of ['final', 'pending', 'missing', 'settled_early', 'lost'] satisfies BucketCondition[]) {
      byCondition.set({ app: sdkappid, condition }, buckets.filter((b) => b.condition === condition).length);
    }
    atRisk.set({ app: sdkappid }, buckets.filter((b) => b.atRisk).length);
  }
}
