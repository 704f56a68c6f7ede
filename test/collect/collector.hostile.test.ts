/**
 * Answers the warehouse cannot store as they are (U+0000, broken UTF-8, a secret echoed back): the
 * raw answer is always archived, one bad bucket never blocks the app's other buckets, the app's
 * state says what happened, and the pass goes on.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createCollector } from '../../src/collect/collector.ts';
import type { Config } from '../../src/config/config.ts';
import { startSimulator, type Simulator } from '../../src/simulator/index.ts';
import { manualClock } from '../helpers/clock.ts';
import { simulatorApps, simulatorConfig, TEST_SECRET } from '../helpers/config.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { capturedLogger } from '../helpers/logs.ts';
import { clearCollected } from '../helpers/warehouse.ts';

const APP = 1400000801;
const NOW = Date.UTC(2026, 10, 26, 4); // 2026-11-26 12:00 Beijing time
const ok = (errInfo: string) =>
  `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","RequestId":"r1","ReadyToSendLoss":[{"ErrCode":20001,"ErrCount":3,"ErrInfo":${errInfo}}]}`;

let t: TestDatabase;
let sim: Simulator;
let config: Config;
const clock = manualClock(NOW);

beforeAll(async () => {
  t = await createTestDatabase();
  sim = await startSimulator({ apps: simulatorApps([APP]), clock, minIntervalMs: 25 });
  config = simulatorConfig(sim.url, [APP], { COLLECT_APIS: 'loss' }); // counts loss's 7 buckets
});
afterAll(async () => {
  await sim?.close();
  await t?.close();
});
beforeEach(async () => {
  clock.set(NOW);
  sim.reset();
  await clearCollected(t.db);
});

const collector = () => createCollector({ db: t.db, config, logger: capturedLogger().logger, clock });
const calls = () => t.db.selectFrom('tim_call').selectAll().orderBy('id').execute();

describe('an answer holding U+0000', () => {
  it('escaped in an ErrInfo: archived exactly, loaded with U+FFFD, and the other buckets follow', async () => {
    const body = ok('"bad\\u0000text"');
    sim.fail({ kind: 'body', body });
    const pass = await collector().runPass();
    expect(pass.apps.get(APP)).toMatchObject({ status: 'collected', fetched: 7, failed: 0 });
    const archived = await calls();
    expect(archived).toHaveLength(7);
    expect(archived[0]).toMatchObject({ body, outcome: 'ok', body_raw: null, body_truncated: false });
    const facts = await t.db
      .selectFrom('loss_fact')
      .select(['err_code', 'err_info', 'err_count'])
      .where('call_id', '=', archived[0]!.id)
      .execute();
    expect(facts).toEqual([{ err_code: '20001', err_info: 'bad\uFFFDtext', err_count: 3 }]);
  });

  it('as a raw byte: kept byte for byte in body_raw, the bucket retried later, the app not blocked', async () => {
    const body = ok('"bad\u0000byte"');
    sim.fail({ kind: 'body', body });
    const pass = await collector().runPass();
    expect(pass.apps.get(APP)).toMatchObject({ status: 'collected', fetched: 6, failed: 1 });
    const [first] = await calls();
    expect(first).toMatchObject({ outcome: 'invalid_response', body: body.replace('\u0000', '\uFFFD') });
    expect(Buffer.from(first!.body_raw!).equals(Buffer.from(body, 'utf8'))).toBe(true);
    const state = await t.db.selectFrom('app_state').selectAll().where('sdkappid', '=', APP).executeTakeFirstOrThrow();
    expect(state.last_error).toMatch(/unreadable answer: body is not JSON/);
    expect(state.fatal_at).toBeNull();
    // The next pass fetches the bucket again and heals it.
    const next = await collector().runPass();
    expect(next.apps.get(APP)).toMatchObject({ status: 'collected', failed: 0 });
    expect(await t.db.selectFrom('bucket_state').select('bucket_start').execute()).toHaveLength(7);
  });
});

describe('an answer that echoes a secret', () => {
  it('is archived with the secret key replaced by [redacted]', async () => {
    const key = `${TEST_SECRET}-${APP}`;
    sim.fail({ kind: 'body', body: ok(JSON.stringify(`signed with ${key}`)) });
    await collector().runPass();
    const rows = await calls();
    const stored = JSON.stringify(rows) + JSON.stringify(await t.db.selectFrom('loss_fact').selectAll().execute());
    expect(stored).not.toContain(key);
    expect(stored).toContain('signed with [redacted]');
  });
});

describe("the horizon's edge", () => {
  it('a bucket that reaches Tencent after the horizon passed it (90100) is lost, not fatal for the app', async () => {
    // 23:59:30 Beijing: the oldest bucket planned starts 7 days minus 30 s ago. Tencent's clock is
    // a minute ahead, so for it the bucket is already too old.
    const edge = Date.UTC(2026, 10, 26, 15, 59, 30);
    clock.set(edge);
    sim.fail({ kind: 'error', code: 90100, info: 'StartTime is out of range' });
    const pass = await collector().runPass();
    expect(pass.apps.get(APP)).toMatchObject({ status: 'collected', fetched: 6, failed: 0, lost: 1 });
    const oldest = await t.db
      .selectFrom('bucket_state')
      .select(['bucket_start', 'lost_at'])
      .orderBy('bucket_start')
      .executeTakeFirstOrThrow();
    expect(oldest.bucket_start.getTime()).toBe(Date.UTC(2026, 10, 19, 16));
    expect(oldest.lost_at).not.toBeNull();
    const state = await t.db.selectFrom('app_state').selectAll().executeTakeFirstOrThrow();
    expect(state.fatal_at).toBeNull();
  });

  it('a 90100 for a bucket well inside the horizon still stops the app: the configuration is wrong', async () => {
    sim.fail({ kind: 'error', code: 90100 });
    const pass = await collector().runPass();
    expect(pass.apps.get(APP)).toMatchObject({ status: 'fatal' });
  });
});
