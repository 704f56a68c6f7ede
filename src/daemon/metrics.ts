import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AppPassResult, CollectObserver } from '../collect/collector.ts';
import type { BucketCondition, BucketReport } from '../collect/bucketStatus.ts';
import type { FeedName } from '../tencent/apis.ts';
import type { Anomaly } from '../report/anomalies.ts';
import type { CallRecord } from '../tencent/loss.ts';

/**
 * The daemon's Prometheus metrics; also the collector's observer.
 *
 * Every collection metric carries a `feed` label (loss, statistics, ...): one family per idea,
 * whatever the number of APIs. The bucket gauges count each feed over its own horizon (loss 8
 * days, statistics 31), so an alert on them covers every feed; `feed="loss"` narrows it. Until
 * the feeds (migration 0015) statistics had twin families (`pushloss_stats_*`); docs/operating.md
 * maps the old names.
 */
export class Metrics implements CollectObserver {
  readonly registry = new Registry();
  readonly #now: () => number;
  readonly #calls = new Counter({
    name: 'pushloss_calls_total',
    help: 'API calls by app, feed (API), outcome and Tencent error code',
    labelNames: ['app', 'feed', 'outcome', 'error_code'],
    registers: [this.registry],
  });
  readonly #rows = new Counter({
    name: 'pushloss_rows_loaded_total',
    help: 'Fact rows written by bucket loads, by app and feed',
    labelNames: ['app', 'feed'],
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
    help: 'When a bucket of the app and feed was last loaded',
    labelNames: ['app', 'feed'],
    registers: [this.registry],
  });
  readonly #appFatal = new Gauge({
    name: 'pushloss_app_fatal',
    help: '1 while the feed of the app is stopped by a fatal API error (e.g. 90045); its other feeds go on',
    labelNames: ['app', 'feed'],
    registers: [this.registry],
  });
  readonly #buckets = new Gauge({
    name: 'pushloss_buckets',
    help: "Buckets of the feed's horizon and one day more, by condition",
    labelNames: ['app', 'feed', 'condition'],
    registers: [this.registry],
  });
  readonly #atRisk = new Gauge({
    name: 'pushloss_buckets_at_risk',
    help: 'Buckets not final inside their final window (SETTLE_FINAL_WINDOW): they leave the API horizon soon',
    labelNames: ['app', 'feed'],
    registers: [this.registry],
  });

  // Detection (issue 20). Label `sdkappid` like the alerts, not `app`: these series are new, and
  // the alerts' labels are the contract. Cardinality: loss rates apps × 2 stages × channels
  // (10 in practice); anomalies only while one is active, one series per anomaly.
  readonly #lossRate = new Gauge({
    name: 'pushloss_loss_rate',
    help: "Today's loss rate so far (loss / pushes) per app, stage and channel, where statistics exist",
    labelNames: ['sdkappid', 'stage', 'platform_name'],
    registers: [this.registry],
  });
  readonly #anomaly = new Gauge({
    name: 'pushloss_anomaly',
    help: 'A current anomaly of push_loss_anomalies: its measured value (a loss rate, or lost pushes when measure="count")',
    labelNames: ['sdkappid', 'stage', 'platform_name', 'kind', 'err_code', 'measure', 'title', 'fix'],
    registers: [this.registry],
  });
  readonly #anomalies = new Gauge({
    name: 'pushloss_anomalies',
    help: 'Number of current anomalies by kind (failing_channel, spike, new_code)',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  readonly #lastDetection = new Gauge({
    name: 'pushloss_detection_timestamp_seconds',
    help: 'When the anomaly and loss-rate gauges were last computed',
    registers: [this.registry],
  });

  /** `now`: the clock success times are read from (the daemon's, so tests can move it). */
  constructor(now: () => number = Date.now) {
    this.#now = now;
    // CPU, memory, event-loop lag, open handles, GC: what every Node exporter offers, under
    // prom-client's standard names (process_*, nodejs_*), so stock Node dashboards work as they are.
    collectDefaultMetrics({ register: this.registry });
  }

  call(call: CallRecord, feed: FeedName): void {
    this.#calls.inc({
      app: call.sdkappid,
      feed,
      outcome: call.outcome,
      error_code: call.errorCode ?? (call.httpStatus === null ? 'network' : `http_${call.httpStatus}`),
    });
  }

  /** A bucket was fetched and loaded: the API works for the app. */
  loaded(sdkappid: number, facts: number, feed: FeedName): void {
    this.#rows.inc({ app: sdkappid, feed }, facts);
    this.#lastSuccess.set({ app: sdkappid, feed }, this.#now() / 1000);
  }

  feedPassed(sdkappid: number, feed: FeedName, result: AppPassResult): void {
    if (result.status !== 'leased_elsewhere' && result.status !== 'stopped')
      this.#appFatal.set({ app: sdkappid, feed }, result.status === 'fatal' || result.status === 'paused' ? 1 : 0);
  }

  passFinished(durationMs: number, result: 'ok' | 'failed'): void {
    this.#passDuration.observe(durationMs / 1000);
    this.#passes.inc({ result });
  }

  /** Restores last-success times after a restart, from feed_app_state. */
  lastSuccess(sdkappid: number, at: Date, feed: FeedName): void {
    this.#lastSuccess.set({ app: sdkappid, feed }, at.getTime() / 1000);
  }

  bucketConditions(sdkappid: number, buckets: readonly BucketReport[], feed: FeedName): void {
    for (const condition of ['final', 'pending', 'missing', 'settled_early', 'lost'] satisfies BucketCondition[]) {
      this.#buckets.set({ app: sdkappid, feed, condition }, buckets.filter((b) => b.condition === condition).length);
    }
    this.#atRisk.set({ app: sdkappid, feed }, buckets.filter((b) => b.atRisk).length);
  }

  /** Replaces the detection gauges: what is not listed any more is gone from /metrics. */
  detection(anomalies: readonly Anomaly[], rates: readonly LossRateLine[]): void {
    this.#anomaly.reset();
    this.#lossRate.reset();
    for (const kind of ['failing_channel', 'spike', 'new_code'] as const)
      this.#anomalies.set({ kind }, anomalies.filter((a) => a.kind === kind).length);
    for (const a of anomalies) {
      this.#anomaly.set(
        {
          sdkappid: a.sdkappid,
          stage: a.stage,
          platform_name: a.platformName,
          kind: a.kind,
          err_code: a.errCode ?? '',
          measure: a.measure,
          title: a.title,
          fix: a.fix,
        },
        a.value,
      );
    }
    for (const r of rates)
      this.#lossRate.set({ sdkappid: r.sdkappid, stage: r.stage, platform_name: r.platformName }, r.lossRate);
    this.#lastDetection.set(this.#now() / 1000);
  }
}

/** The latest loss rate of one app, stage and channel (see `latestLossRates`). */
export interface LossRateLine {
  sdkappid: number;
  stage: string;
  platformName: string;
  lossRate: number;
}
