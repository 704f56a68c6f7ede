import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.ts';
import { bucketContaining, firstReachableBucket } from '../../src/buckets.ts';
import { inFinalWindow } from '../../src/collect/planner.ts';
import type { Config } from '../../src/config/config.ts';
import { startDaemon, type Daemon } from '../../src/daemon/daemon.ts';
import { startSimulator, type Simulator } from '../../src/simulator/index.ts';
import { startTimeOf } from '../helpers/simulator.ts';
import { simulatorApps, simulatorConfig } from '../helpers/config.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { capturedLogger } from '../helpers/logs.ts';
import { eventually } from '../helpers/process.ts';

const APPS = [1400000401, 1400000402];
let t: TestDatabase;
let sim: Simulator;
let config: Config;
let daemon: Daemon;
const log = capturedLogger('info');

const get = async (path: string) => {
  const response = await fetch(`http://127.0.0.1:${daemon.port}${path}`);
  return { status: response.status, text: await response.text() };
};

beforeAll(async () => {
  t = await createTestDatabase();
  sim = await startSimulator({ apps: simulatorApps(APPS), minIntervalMs: 25 });
  // A pass every second, so the test can watch health change between passes.
  // Counts loss calls and buckets; statistics go through the same pass (statistics.collect.test.ts).
  config = simulatorConfig(sim.url, APPS, { HTTP_PORT: '0', COLLECT_CRON: '* * * * * *', COLLECT_APIS: 'loss' });
  sim.fail({ kind: 'error', code: 90045, info: 'push not enabled' }, { sdkappid: APPS[1]! });
  daemon = await startDaemon({ db: t.db, config, logger: log.logger, clock: systemClock });
});
afterAll(async () => {
  await daemon?.stop();
  await sim?.close();
  await t?.close();
});

describe('the daemon', () => {
  it('collects at start-up and reports healthy', async () => {
    await eventually(
      () => (log.lines().some((l) => l.msg === 'collection pass finished') ? true : undefined),
      20_000,
      'first pass',
    );
    expect(await get('/healthz')).toEqual({ status: 200, text: 'ok\n' });
  });

  it('serves Prometheus metrics: calls by outcome and code, rows, pass duration, buckets, last success, fatal apps', async () => {
    const { status, text } = await get('/metrics');
    expect(status).toBe(200);
    const okCalls = Number(
      new RegExp(`pushloss_calls_total\\{app="${APPS[0]}",feed="loss",outcome="ok",error_code="0"\\} (\\d+)`).exec(
        text,
      )?.[1],
    );
    expect(okCalls).toBeGreaterThanOrEqual(7); // the start-up pass, and any steady-state pass since
    expect(text).toMatch(
      new RegExp(`pushloss_calls_total\\{app="${APPS[1]}",feed="loss",outcome="fatal",error_code="90045"\\} 1`),
    );
    expect(text).toMatch(new RegExp(`pushloss_rows_loaded_total\\{app="${APPS[0]}",feed="loss"\\} [1-9]\\d*`));
    expect(text).toMatch(/pushloss_pass_duration_seconds_count [1-9]/);
    expect(text).toMatch(
      new RegExp(`pushloss_last_success_timestamp_seconds\\{app="${APPS[0]}",feed="loss"\\} \\d{10}`),
    );
    expect(text).toMatch(new RegExp(`pushloss_app_fatal\\{app="${APPS[1]}",feed="loss"\\} 1`));
    expect(text).toMatch(new RegExp(`pushloss_app_fatal\\{app="${APPS[0]}",feed="loss"\\} 0`));
    // Final only in the final window: the oldest day is in it from 18:00 Beijing time on.
    const nowMs = Date.now();
    const oldest = firstReachableBucket(nowMs, config.limits.loss.horizonSeconds, '1d', config.bucketTz);
    const late = inFinalWindow(oldest, nowMs, config.limits.loss.horizonSeconds, config.daemon.settle) ? 1 : 0;
    expect(text).toMatch(new RegExp(`pushloss_buckets\\{app="${APPS[0]}",feed="loss",condition="final"\\} ${late}`));
    expect(text).toMatch(
      new RegExp(`pushloss_buckets\\{app="${APPS[0]}",feed="loss",condition="pending"\\} ${7 - late}`),
    );
    expect(text).toMatch(new RegExp(`pushloss_buckets\\{app="${APPS[1]}",feed="loss",condition="missing"\\} 7`));
    expect(text).toMatch(new RegExp(`pushloss_buckets_at_risk\\{app="${APPS[1]}",feed="loss"\\} ${late}`));
  });

  it("serves the process metrics every Node exporter has, under prom-client's standard names", async () => {
    const { text } = await get('/metrics');
    const value = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1]);
    expect(value('process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(value('process_resident_memory_bytes')).toBeGreaterThan(10_000_000);
    expect(value('process_start_time_seconds')).toBeGreaterThan(1_700_000_000);
    expect(value('nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(value('nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
    expect(value('nodejs_active_handles_total')).toBeGreaterThan(0);
    expect(text).toMatch(/^nodejs_version_info\{version="v\d+\.\d+\.\d+"/m);
  });

  it('logs the fatal app clearly and goes on with the others', () => {
    const fatal = log.lines().find((l) => l.level === 50 && l.app === APPS[1]);
    expect(fatal?.msg).toMatch(
      /^app stopped: app 1400000402: normal_push_loss failed after 1 attempt\(s\): Tencent error 90045: push not enabled; Push service not enabled: enable Push/,
    );
  });

  it('answers 503 with the reason when a pass fails, and 200 again once one succeeds', async () => {
    await sql`alter table feed_app_state rename to feed_app_state_away`.execute(t.db);
    try {
      const failing = await eventually(
        async () => {
          const health = await get('/healthz');
          return health.status === 503 ? health : undefined;
        },
        10_000,
        '503',
      );
      expect(failing.text).toMatch(/^last collection pass failed: .*feed_app_state/);
    } finally {
      await sql`alter table feed_app_state_away rename to feed_app_state`.execute(t.db);
    }
    await eventually(async () => ((await get('/healthz')).status === 200 ? true : undefined), 10_000, 'recovery');
  });

  it('steady-state passes fetch only the bucket in progress and the due ones', async () => {
    const before = sim.calls.filter((c) => c.sdkappid === APPS[0]).length;
    await eventually(
      () => (sim.calls.filter((c) => c.sdkappid === APPS[0]).length >= before + 2 ? true : undefined),
      10_000,
      'another pass',
    );
    const windows = new Set(
      sim.calls
        .filter((c) => c.sdkappid === APPS[0])
        .slice(7)
        .map((c) => startTimeOf(c)),
    );
    // Today's, every pass; the ended days only at their next age (hours away in this test).
    expect([...windows]).toEqual([bucketContaining(Date.now(), '1d', config.bucketTz).start]);
  });

  it('answers 503 within a deadline when the database is frozen, instead of hanging', async () => {
    // Every connection held for 6 s (PGlite has one, the test pool five): to the probe, a
    // database that does not answer.
    const hold = () =>
      t.db.transaction().execute(async (trx) => {
        await sql`select 1`.execute(trx);
        await new Promise((resolve) => setTimeout(resolve, 6_000));
      });
    const busy = Array.from({ length: t.kind === 'pglite' ? 1 : 6 }, hold);
    try {
      const began = Date.now();
      const health = await get('/healthz');
      expect(health).toEqual({ status: 503, text: 'database does not answer within 3 s\n' });
      expect(Date.now() - began).toBeLessThan(5_500);
    } finally {
      await Promise.all(busy);
    }
    await eventually(async () => ((await get('/healthz')).status === 200 ? true : undefined), 10_000, 'recovery');
  }, 30_000);

  it("routes node-cron's own warnings into the JSON log", async () => {
    // Block the event loop past a tick: node-cron warns about the missed execution.
    const until = Date.now() + 2_500;
    while (Date.now() < until);
    const line = await eventually(
      () => log.lines().find((l) => l.component === 'node-cron'),
      10_000,
      'a node-cron line',
    );
    expect(line).toMatchObject({
      level: 40,
      service: 'pushloss',
      msg: expect.stringMatching(/missed execution|overlap prevention/),
    });
  });

  it('answers 404 elsewhere', async () => {
    expect((await get('/')).status).toBe(404);
  });
});
