/**
 * Group commit of loads (src/warehouse/loadBatcher.ts): answers that arrive while a load runs
 * are loaded together in the next transaction, each with exactly the result a lone load gives;
 * a refused bucket fails alone; a bucket given twice is loaded twice, in arrival order; two
 * batches of the same buckets never deadlock. Transactions are counted by the database itself:
 * every row a transaction writes carries its id (`xmin`).
 */
import { lossFeed } from '../../src/feeds/loss/index.ts';
import { setTimeout as delay } from 'node:timers/promises';
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCollector } from '../../src/collect/collector.ts';
import type { Database } from '../../src/db/database.ts';
import { startSimulator, type Simulator } from '../../src/simulator/index.ts';
import type { LossEntry, LossStage, Window } from '../../src/tencent/loss.ts';
import {
  BucketMismatchError,
  loadBucket,
  loadBuckets,
  type LoadBucketInput,
  type LoadBucketResult,
} from '../../src/warehouse/load.ts';
import { createLoadBatcher } from '../../src/warehouse/loadBatcher.ts';
import { manualClock } from '../helpers/clock.ts';
import { simulatorApps, simulatorConfig } from '../helpers/config.ts';
import { createTestDatabase, openSecondConnection, type TestDatabase } from '../helpers/database.ts';
import { dayBucket, hourBucket, loss, okCall } from '../helpers/fixtures.ts';
import { capturedLogger } from '../helpers/logs.ts';

const R: LossStage = 'ready_to_send';
const P: LossStage = 'post_send_delivered';
const T0 = Date.parse('2025-04-20T00:00:00Z');
const MINUTE = 60_000;

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(() => t?.close());

function input(
  sdkappid: number,
  bucket: Window,
  entries: LossEntry[],
  startedAt: number,
  extra: Partial<LoadBucketInput> = {},
): LoadBucketInput {
  const bucketSize = bucket.end - bucket.start === 3600 ? '1h' : '1d';
  return { sdkappid, bucket, bucketSize, call: okCall(sdkappid, bucket, { startedAt }), answer: entries, ...extra };
}

/** The transaction (xmin) that archived each call, by call id. */
async function transactionsOf(db: Kysely<Database>, callIds: number[]): Promise<string[]> {
  const { rows } = await sql<{ id: number; trx: string }>`
    select id, xmin::text as trx from tim_call where id = any(${callIds}::int8[])`.execute(db);
  const byId = new Map(rows.map((row) => [Number(row.id), row.trx]));
  return callIds.map((id) => byId.get(id)!);
}

/**
 * Everything stored for one app, without the app and the archive ids (which differ between two
 * apps loaded alike): a call is named by its start instead.
 */
async function stored(db: Kysely<Database>, sdkappid: number) {
  const rows = async (query: ReturnType<typeof sql<{ row: unknown }>>) =>
    (await query.execute(db)).rows.map((r) => r.row);
  const table = (name: string) =>
    rows(sql<{ row: unknown }>`
      select to_jsonb(x) - 'sdkappid' as row from ${sql.table(name)} x
       where x.sdkappid = ${sdkappid} order by to_jsonb(x)::text`);
  return {
    calls: await rows(sql<{ row: unknown }>`
      select to_jsonb(c) - 'id' - 'sdkappid' as row from tim_call c where c.sdkappid = ${sdkappid}
       order by c.started_at`),
    state: await rows(sql<{ row: unknown }>`
      select to_jsonb(b) - 'sdkappid' - 'last_call_id' || jsonb_build_object('last_call', c.started_at) as row
        from bucket_state b join tim_call c on c.id = b.last_call_id
       where b.sdkappid = ${sdkappid} order by b.bucket_start, b.bucket_size`),
    facts: await rows(sql<{ row: unknown }>`
      select to_jsonb(f) - 'sdkappid' - 'call_id' || jsonb_build_object('call', c.started_at) as row
        from loss_fact f join tim_call c on c.id = f.call_id
       where f.sdkappid = ${sdkappid} order by to_jsonb(f)::text`),
    lossDay: await table('loss_day'),
    lossDayOverride: await table('loss_day_override'),
    lossDayTotal: await table('loss_day_total'),
    lossCodeWeek: await table('loss_code_week'),
    lossWeek: await table('loss_week'),
  };
}

const without = ({ callId: _, ...rest }: LoadBucketResult) => rest;

describe('group commit of loads', () => {
  it('loads answers that arrive together in fewer transactions, each exactly as a lone load would', async () => {
    // Two rounds of answers for three apps (day buckets across two ISO weeks, hours of one day):
    // first fetches, then re-fetches with new counts and a vanished code, a final one, an empty
    // one, and a slow answer overtaken by the round-1 call of its bucket.
    const rounds = (apps: [number, number, number]): LoadBucketInput[][] => {
      const [a, b, c] = apps;
      return [
        [
          input(a, dayBucket('2025-04-07'), [loss(R, null, '-1', 10, 'unknown'), loss(R, 3, '410', 4, 'token')], T0),
          input(a, dayBucket('2025-04-08'), [loss(P, null, '1001', 7, 'offline')], T0 + MINUTE),
          input(b, dayBucket('2025-04-07'), [loss(R, null, '-1', 3, 'unknown')], T0 + 2 * MINUTE),
          input(b, dayBucket('2025-04-14'), [loss(R, 4, '20', 2, 'quota')], T0 + 3 * MINUTE),
          input(c, hourBucket('2025-04-07', 3), [loss(R, null, '-1', 1, 'unknown')], T0 + 4 * MINUTE),
          input(c, hourBucket('2025-04-07', 4), [loss(R, null, '-1', 5, 'unknown')], T0 + 5 * MINUTE),
        ],
        [
          input(a, dayBucket('2025-04-07'), [loss(R, null, '-1', 12, 'unknown')], T0 + 10 * MINUTE, { final: true }),
          input(b, dayBucket('2025-04-07'), [loss(R, null, '-1', 99, 'stale')], T0 + MINUTE, { final: true }),
          input(b, dayBucket('2025-04-14'), [loss(R, 4, '20', 2, 'quota')], T0 + 11 * MINUTE, { final: true }),
          input(c, hourBucket('2025-04-07', 3), [], T0 + 12 * MINUTE),
          input(a, dayBucket('2025-04-09'), [loss(P, 7, '1001', 1, 'offline')], T0 + 13 * MINUTE),
        ],
      ];
    };
    const batchedApps: [number, number, number] = [1400002001, 1400002002, 1400002003];
    const loneApps: [number, number, number] = [1400002011, 1400002012, 1400002013];

    const batches: number[] = [];
    const batcher = createLoadBatcher(t.db, { slots: 1, onBatch: (size) => batches.push(size) });
    const batched: LoadBucketResult[] = [];
    for (const round of rounds(batchedApps))
      batched.push(...(await Promise.all(round.map((one) => batcher.load(lossFeed, one)))));
    const lone: LoadBucketResult[] = [];
    for (const round of rounds(loneApps)) for (const one of round) lone.push(await loadBucket(t.db, lossFeed, one));

    // 11 buckets in 4 transactions: each round's first alone (nothing was running), the rest together.
    const transactions = new Set(
      await transactionsOf(
        t.db,
        batched.map((r) => r.callId),
      ),
    );
    expect(transactions.size).toBe(4);
    expect(batches).toEqual([5, 4]);

    expect(batched.map(without)).toEqual(lone.map(without));
    expect(batched.map((r) => r.replaced)).toContain(false); // the overtaken answer
    for (const [i, app] of batchedApps.entries())
      expect(await stored(t.db, app)).toEqual(await stored(t.db, loneApps[i]!));
  });

  it('a refused bucket fails alone: the others of its batch are loaded, its call can be archived', async () => {
    const app = 1400002101;
    await loadBucket(t.db, lossFeed, input(app, dayBucket('2025-04-07'), [loss(R, null, '-1', 1, 'unknown')], T0));
    const batches: Array<[number, boolean]> = [];
    const batcher = createLoadBatcher(t.db, { slots: 1, onBatch: (size, ok) => batches.push([size, ok]) });
    const good = (day: string, count: number) =>
      input(app, dayBucket(day), [loss(R, null, '-1', count, 'unknown')], T0 + count * MINUTE);
    const day = dayBucket('2025-04-07');
    const settled = await Promise.allSettled([
      batcher.load(lossFeed, good('2025-04-10', 10)), // alone: nothing was running
      batcher.load(lossFeed, good('2025-04-11', 11)),
      // Stored with another end (the zone changed): refused inside the transaction.
      batcher.load(lossFeed, input(app, { start: day.start, end: day.end + 3600 }, [], T0 + 20 * MINUTE)),
      batcher.load(lossFeed, good('2025-04-12', 12)),
      // A count PostgreSQL cannot hold exactly: refused before the transaction.
      batcher.load(
        lossFeed,
        input(app, dayBucket('2025-04-13'), [loss(R, null, '-1', 2 ** 60, 'x')], T0 + 21 * MINUTE),
      ),
      // A duration the archive's int column cannot hold: refused by the database (22003).
      batcher.load(
        lossFeed,
        input(app, dayBucket('2025-04-15'), [], T0 + 22 * MINUTE, {
          call: okCall(app, dayBucket('2025-04-15'), { startedAt: T0 + 22 * MINUTE, durationMs: 2 ** 40 }),
        }),
      ),
      // A host the archive's check constraint refuses (23514).
      batcher.load(
        lossFeed,
        input(app, dayBucket('2025-04-17'), [], T0 + 23 * MINUTE, {
          call: okCall(app, dayBucket('2025-04-17'), { startedAt: T0 + 23 * MINUTE, host: 'evil.example/path' }),
        }),
      ),
      batcher.load(lossFeed, good('2025-04-16', 16)),
    ]);
    expect(batches).toEqual([[7, false]]);
    expect(settled.map((s) => s.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'rejected',
      'fulfilled',
      'rejected',
      'rejected',
      'rejected',
      'fulfilled',
    ]);
    expect((settled[2] as PromiseRejectedResult).reason).toBeInstanceOf(BucketMismatchError);
    expect((settled[4] as PromiseRejectedResult).reason).toBeInstanceOf(RangeError);
    const code = (i: number) => ((settled[i] as PromiseRejectedResult).reason as { code?: string }).code;
    expect([code(5), code(6)]).toEqual(['22003', '23514']);
    const { rows } = await sql<{ day: Date; err_count: number }>`
      select bucket_start as day, err_count from loss_fact where sdkappid = ${app} order by bucket_start`.execute(t.db);
    expect(rows.map((r) => Number(r.err_count))).toEqual([1, 10, 11, 12, 16]);
  });

  it('loads the same bucket twice in two transactions, in arrival order', async () => {
    const app = 1400002201;
    const x = dayBucket('2025-04-07');
    const batcher = createLoadBatcher(t.db, { slots: 1 });
    const [, first, other, second] = await Promise.all([
      batcher.load(lossFeed, input(app, dayBucket('2025-04-01'), [], T0)), // alone: nothing was running
      batcher.load(lossFeed, input(app, x, [loss(R, null, '-1', 5, 'newer')], T0 + 2 * MINUTE)),
      batcher.load(lossFeed, input(app, dayBucket('2025-04-08'), [], T0 + 3 * MINUTE)),
      // An older answer for the same bucket, arriving after the newer one: it must not win.
      batcher.load(lossFeed, input(app, x, [loss(R, null, '-1', 3, 'older')], T0 + MINUTE)),
    ]);
    const [trxFirst, trxOther, trxSecond] = await transactionsOf(t.db, [first!.callId, other!.callId, second!.callId]);
    expect(trxFirst).toBe(trxOther);
    expect(trxSecond).not.toBe(trxFirst);
    expect(second!.callId).toBeGreaterThan(first!.callId);
    expect(first).toMatchObject({ replaced: true, fetchCount: 1 });
    expect(second).toMatchObject({ replaced: false, fetchCount: 2, facts: 0 });
    const { rows } = await sql<{ err_info: string }>`
      select err_info from loss_fact where sdkappid = ${app} and bucket_start = ${new Date(x.start * 1000)}`.execute(
      t.db,
    );
    expect(rows).toEqual([{ err_info: 'newer' }]);
  });

  it('two batches of the same buckets in opposite orders, on two connections, never deadlock', async () => {
    const second = await openSecondConnection(t);
    if (!second) return; // PGlite: one connection, one transaction at a time
    try {
      const apps = [1400002301, 1400002302, 1400002303, 1400002304];
      const days = Array.from({ length: 30 }, (_, i) => dayBucket(`2025-05-${String(i + 1).padStart(2, '0')}`));
      let at = T0;
      const inputs = () =>
        apps.flatMap((app) => days.map((day) => input(app, day, [loss(R, null, '-1', 1, 'unknown')], (at += 1000))));
      for (let round = 0; round < 3; round++) {
        const forward = inputs();
        const backward = inputs().reverse();
        await Promise.all([loadBuckets(t.db, lossFeed, forward), loadBuckets(second.db, lossFeed, backward)]);
      }
      const { rows } = await sql<{ n: number }>`
        select count(*)::int8 as n from bucket_state where sdkappid = any(${apps}::int8[]) and fetch_count = 6`.execute(
        t.db,
      );
      expect(Number(rows[0]!.n)).toBe(apps.length * days.length);
    } finally {
      await second.close();
    }
  });
});

describe('a pass', () => {
  const APPS = Array.from({ length: 12 }, (_, i) => 1400002401 + i);
  const NOW = Date.UTC(2026, 10, 26, 4);
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startSimulator({ apps: simulatorApps(APPS), clock: manualClock(NOW), minIntervalMs: 25 });
  });
  afterAll(() => sim?.close());

  it('commits the answers of many apps in fewer load transactions than buckets', async () => {
    // A second connection holds the rollup's zone lock (as a rezone would) until every app's
    // first answer is in: the first load waits for it at its rollup refresh, so the others
    // surely arrive while it runs. (PGlite has one connection to hold nothing with; there, at
    // this scale, each load ended before the next answer arrived.)
    const second = await openSecondConnection(t);
    if (!second) return;
    try {
      const config = simulatorConfig(sim.url, APPS, { COLLECT_APIS: 'loss' });
      let answered = 0;
      let allAnswered!: () => void;
      const firstAnswers = new Promise<void>((resolve) => (allAnswered = resolve));
      const collector = createCollector({
        db: t.db,
        config,
        logger: capturedLogger().logger,
        clock: manualClock(NOW),
        observer: { call: () => ++answered === APPS.length && allAnswered() },
      });
      const zone = sql`hashtextextended('pushloss rollup zone', 0)`;
      const held = second.db.connection().execute(async (connection) => {
        await sql`select pg_advisory_lock(${zone})`.execute(connection);
        return async () => void (await sql`select pg_advisory_unlock(${zone})`.execute(connection));
      });
      const release = await held;
      const passing = collector.runPass();
      // Waiting longer would not help: loads that do not share a transaction each hold a pooled
      // connection while they wait for the lock, and the apps behind them never get to call.
      await Promise.race([firstAnswers, delay(5_000)]);
      await release();
      const pass = await passing;
      for (const sdkappid of APPS) expect(pass.apps.get(sdkappid)).toMatchObject({ status: 'collected', fetched: 7 });
      const { rows } = await sql<{ calls: number; transactions: number }>`
        select count(*)::int8 as calls, count(distinct xmin::text)::int8 as transactions
          from tim_call where sdkappid = any(${APPS}::int8[]) and outcome = 'ok'`.execute(t.db);
      expect(Number(rows[0]!.calls)).toBe(APPS.length * 7);
      // At least the 11 first answers that queued behind the first load went in one transaction.
      expect(Number(rows[0]!.transactions)).toBeLessThanOrEqual(APPS.length * 7 - (APPS.length - 2));
    } finally {
      await second.close();
    }
  });
});
