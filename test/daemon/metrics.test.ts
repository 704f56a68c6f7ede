import { firstReachableBucket } from '../../src/buckets.ts';
import { inFinalWindow } from '../../src/collect/planner.ts';
/**
 * Every feed's Prometheus metrics in one family each, told apart by the `feed` label: the
 * statistics series beside the loss ones, a feed stopped by a fatal error while the other goes on.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.ts';
import { startDaemon, type Daemon } from '../../src/daemon/daemon.ts';
import { startSimulator, type Simulator } from '../../src/simulator/index.ts';
import { simulatorApps, simulatorConfig } from '../helpers/config.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { capturedLogger } from '../helpers/logs.ts';
import { eventually } from '../helpers/process.ts';

const A = 1400000421;
const B = 1400000422;
let t: TestDatabase;
let sim: Simulator;
let daemon: Daemon;
let text: string;
/** The metrics as they stood when the daemon logged its start-up pass finished. */
let atPassFinished: Promise<string> | undefined;
const log = capturedLogger('info', (line) => {
  // Read inside the logging call: whatever acts on the line (a log shipper, an operator, a test)
  // must find the gauges of that pass already set (issue 22: they were set after it).
  if (line.msg === 'collection pass finished') atPassFinished ??= daemon.registry.metrics();
});

beforeAll(async () => {
  t = await createTestDatabase();
  sim = await startSimulator({ apps: simulatorApps([A, B]), minIntervalMs: 25 });
  // App B's statistics are refused for good; its loss is collected.
  sim.fail({ kind: 'error', code: 90045, info: 'push not enabled' }, { sdkappid: B, api: 'statistics', times: 1000 });
  // Both APIs (the default); only the start-up pass (the next is a year away), so counts are exact.
  const config = simulatorConfig(sim.url, [A, B], { HTTP_PORT: '0', COLLECT_CRON: '0 0 1 1 *' });
  daemon = await startDaemon({ db: t.db, config, logger: log.logger, clock: systemClock });
  text = await eventually(() => atPassFinished, 60_000, 'the start-up pass');
  // What /metrics serves is the same registry.
  expect(await (await fetch(`http://127.0.0.1:${daemon.port}/metrics`)).text()).toContain(
    `pushloss_buckets{app="${A}",feed="statistics"`,
  );
}, 90_000);
afterAll(async () => {
  await daemon?.stop();
  await sim?.close();
  await t?.close();
});

/** The value of one series, by its exact labels; undefined when absent. */
function metric(name: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

const answered = (sdkappid: number, api: string) =>
  sim.calls.filter((c) => c.sdkappid === sdkappid && c.path.includes(api) && c.errorCode === 0).length;

async function count(table: 'loss_fact' | 'stats_fact', sdkappid: number): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    select count(*)::int8 as n from ${sql.table(table)} where sdkappid = ${sdkappid}`.execute(t.db);
  return rows[0]!.n;
}

describe('metrics by feed', () => {
  it('count statistics calls and rows apart; the loss metrics count loss only', async () => {
    const lossCalls = answered(A, 'normal_push_loss');
    const statsCalls = answered(A, 'normal_push_statistics');
    expect(lossCalls).toBeGreaterThanOrEqual(7);
    expect(statsCalls).toBeGreaterThanOrEqual(30);
    expect(metric('pushloss_calls_total', `app="${A}",feed="loss",outcome="ok",error_code="0"`)).toBe(lossCalls);
    expect(metric('pushloss_calls_total', `app="${A}",feed="statistics",outcome="ok",error_code="0"`)).toBe(statsCalls);
    // One pass, each bucket loaded once: rows loaded are the rows stored.
    expect(metric('pushloss_rows_loaded_total', `app="${A}",feed="loss"`)).toBe(await count('loss_fact', A));
    expect(metric('pushloss_rows_loaded_total', `app="${A}",feed="statistics"`)).toBe(await count('stats_fact', A));
  });

  it('show an app whose statistics feed stopped (fatal) while its loss is collected', () => {
    expect(metric('pushloss_calls_total', `app="${B}",feed="statistics",outcome="fatal",error_code="90045"`)).toBe(1);
    expect(metric('pushloss_calls_total', `app="${B}",feed="loss",outcome="fatal",error_code="90045"`)).toBeUndefined();
    expect(metric('pushloss_last_success_timestamp_seconds', `app="${B}",feed="loss"`)).toBeGreaterThan(1e9);
    expect(metric('pushloss_last_success_timestamp_seconds', `app="${B}",feed="statistics"`)).toBeUndefined();
    expect(metric('pushloss_last_success_timestamp_seconds', `app="${A}",feed="statistics"`)).toBeGreaterThan(1e9);
    // Which feed stopped: the fatal gauge is per feed, and the app's loss goes on.
    expect(metric('pushloss_app_fatal', `app="${B}",feed="statistics"`)).toBe(1);
    expect(metric('pushloss_app_fatal', `app="${B}",feed="loss"`)).toBe(0);
  });

  it('give statistics bucket gauges over their own 31 days; the loss gauges keep their 8', () => {
    const conditions = ['final', 'pending', 'missing', 'settled_early', 'lost'];
    const sum = (name: string, app: number, feed: string) =>
      conditions.reduce((total, c) => total + (metric(name, `app="${app}",feed="${feed}",condition="${c}"`) ?? NaN), 0);
    for (const app of [A, B]) {
      expect(sum('pushloss_buckets', app, 'loss')).toBeGreaterThanOrEqual(8);
      expect(sum('pushloss_buckets', app, 'loss')).toBeLessThanOrEqual(9);
      expect(sum('pushloss_buckets', app, 'statistics')).toBeGreaterThanOrEqual(31);
      expect(sum('pushloss_buckets', app, 'statistics')).toBeLessThanOrEqual(32);
    }
    // A: every statistics bucket within the horizon fetched; B: none.
    expect(metric('pushloss_buckets', `app="${A}",feed="statistics",condition="missing"`)).toBe(0);
    expect(metric('pushloss_buckets', `app="${B}",feed="statistics",condition="final"`)).toBe(0);
    expect(metric('pushloss_buckets', `app="${B}",feed="statistics",condition="pending"`)).toBe(0);
    expect(metric('pushloss_buckets', `app="${B}",feed="statistics",condition="missing"`)).toBeGreaterThanOrEqual(30);
    expect(metric('pushloss_buckets', `app="${B}",feed="loss",condition="missing"`)).toBe(0);
    // At risk: the oldest, missing, once inside its final window (from 18:00 Beijing time on).
    const nowMs = Date.now();
    const oldest = firstReachableBucket(nowMs, 30 * 86_400, '1d', 'Asia/Shanghai');
    const late = inFinalWindow(oldest, nowMs, 30 * 86_400, { scheduleMs: [], finalWindowMs: 6 * 3_600_000 });
    expect(metric('pushloss_buckets_at_risk', `app="${B}",feed="statistics"`)).toBe(late ? 1 : 0);
  });
});
