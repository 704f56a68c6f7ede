import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AppPassResult, CollectObserver } from '../collect/collector.ts';
import type { BucketCondition, BucketReport } from '../collect/bucketStatus.ts';
import type { CallRecord } from '../tencent/loss.ts';

/** The daemon's Prometheus metrics; also the collector's observer. */
export class Metrics implements CollectObserver {
  readonly registry = new Registry();
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
    help: 'Buckets not final that leave the API horizon within 24 h',
    labelNames: ['app'],
    registers: [this.registry],
  });

  call(call: CallRecord): void {
    this.#calls.inc({
      app: call.sdkappid,
      outcome: call.outcome,
      error_code: call.errorCode ?? (call.httpStatus === null ? 'network' : `http_${call.httpStatus}`),
    });
  }

  loaded(sdkappid: number, facts: number): void {
    this.#rows.inc({ app: sdkappid }, facts);
  }

  appPassed(sdkappid: number, result: AppPassResult, atMs: number): void {
    if (result.status === 'collected' && result.fetched > 0) this.#lastSuccess.set({ app: sdkappid }, atMs / 1000);
    if (result.status !== 'leased_elsewhere' && result.status !== 'stopped')
      this.#appFatal.set({ app: sdkappid }, result.status === 'fatal' || result.status === 'paused' ? 1 : 0);
  }

  passFinished(durationMs: number, result: 'ok' | 'failed'): void {
    this.#passDuration.observe(durationMs / 1000);
    this.#passes.inc({ result });
  }

  /** Restores last-success times after a restart, from app_state. */
  lastSuccess(sdkappid: number, at: Date): void {
    this.#lastSuccess.set({ app: sdkappid }, at.getTime() / 1000);
  }

  bucketConditions(sdkappid: number, buckets: readonly BucketReport[]): void {
    for (const condition of ['final', 'pending', 'missing', 'lost'] satisfies BucketCondition[]) {
      this.#buckets.set({ app: sdkappid, condition }, buckets.filter((b) => b.condition === condition).length);
    }
    this.#atRisk.set({ app: sdkappid }, buckets.filter((b) => b.atRisk).length);
  }
}
