import { lossFeed } from '../../src/feeds/loss/index.ts';
import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.ts';
import { LOSS_ARRAYS } from '../../src/tencent/loss.ts';
import type { CallRecord, LossEntry, Window } from '../../src/tencent/loss.ts';
import { archiveCall } from '../../src/warehouse/archive.ts';
import { bucketContaining } from '../../src/buckets.ts';
import { loadBucket, BucketMismatchError } from '../../src/warehouse/load.ts';
import { renormalize } from '../../src/warehouse/renormalize.ts';
import { markBucketLost } from '../../src/warehouse/state.ts';
import { getBucketFacts, getBucketState, listLossFactPartitions } from '../helpers/warehouse.ts';
import { createTestDatabase, openSecondConnection } from '../helpers/database.ts';
import type { TestDatabase } from '../helpers/database.ts';

const APP = 1400000001;
const day = (date: string): Window => bucketContaining(Date.parse(`${date}T12:00:00+08:00`), '1d', 'Asia/Shanghai');

/** An API answer in the documented (flattened) shape. */
function apiBody(entries: readonly LossEntry[]): string {
  const body: Record<string, unknown> = { ActionStatus: 'OK', ErrorCode: 0, ErrorInfo: 'sucess' };
  for (const array of LOSS_ARRAYS) {
    body[array.field] = entries
      .filter((e) => e.stage === array.stage && (e.platform !== null) === array.perPlatform)
      .map((e) => ({
        ...(e.platform !== null && { PushPlatform: e.platform }),
        ErrCode: e.errCode,
        ErrCount: e.errCount,
        ErrInfo: e.errInfo,
      }));
  }
  return JSON.stringify(body);
}

/** A trivial parser of that shape, standing in for the client's parser. */
function parseBody(body: string): LossEntry[] | Error {
  let json: Record<string, Array<Record<string, unknown>>>;
  try {
    json = JSON.parse(body);
  } catch (error) {
    return error as Error;
  }
  return LOSS_ARRAYS.flatMap((array) =>
    (json[array.field] ?? []).map((item) => ({
      stage: array.stage,
      platform: array.perPlatform ? Number(item.PushPlatform) : null,
      errCode: String(item.ErrCode),
      errInfo: String(item.ErrInfo),
      errCount: Number(item.ErrCount),
    })),
  );
}

let clock = Date.parse('2025-03-13T02:00:00Z');
function okCall(bucket: Window, entries: readonly LossEntry[], overrides: Partial<CallRecord> = {}): CallRecord {
  clock += 60_000;
  return {
    sdkappid: APP,
    window: bucket,
    startedAt: clock,
    durationMs: 85,
    attempt: 1,
    host: 'console.tim.qq.com',
    httpStatus: 200,
    actionStatus: 'OK',
    errorCode: 0,
    errorInfo: 'sucess',
    requestId: null,
    body: apiBody(entries),
    outcome: 'ok',
    ...overrides,
  };
}

const sample: LossEntry[] = [
  { stage: 'ready_to_send', platform: null, errCode: '-1', errInfo: 'certificate id not set', errCount: 167 },
  { stage: 'ready_to_send', platform: null, errCode: '-2', errInfo: 'token not uploaded', errCount: 125 },
  { stage: 'post_send_delivered', platform: null, errCode: '1', errInfo: 'regid_invalid', errCount: 217 },
  { stage: 'post_send_delivered', platform: null, errCode: '410', errInfo: 'Unregistered', errCount: 35 },
  { stage: 'ready_to_send', platform: 1, errCode: '-1', errInfo: 'certificate id not set', errCount: 5 },
  { stage: 'ready_to_send', platform: 2, errCode: '-1', errInfo: 'certificate id not set', errCount: 123 },
  { stage: 'post_send_delivered', platform: 1, errCode: '1', errInfo: 'regid_invalid', errCount: 217 },
  { stage: 'post_send_delivered', platform: 9, errCode: '410', errInfo: 'Unregistered', errCount: 35 },
];

async function load(
  db: Kysely<Database>,
  bucket: Window,
  entries: readonly LossEntry[],
  overrides: Partial<CallRecord> = {},
) {
  return loadBucket(db, lossFeed, {
    sdkappid: APP,
    bucket,
    bucketSize: '1d',
    call: okCall(bucket, entries, overrides),
    answer: entries,
  });
}

/** Facts of a bucket as (stage, platform, code) → count, for readable assertions. */
async function counts(db: Kysely<Database>, bucket: Window): Promise<Record<string, number>> {
  const facts = await getBucketFacts(db, { sdkappid: APP, feed: 'loss', bucketStart: bucket.start, bucketSize: '1d' });
  return Object.fromEntries(
    facts.map((f) => [`${f.stage}/${f.scope === 'overall' ? 'all' : f.platform}/${f.err_code}`, f.err_count]),
  );
}

async function countRows(db: Kysely<Database>, table: 'tim_call' | 'loss_fact' | 'bucket_state'): Promise<number> {
  const { rows } = await sql<{ n: number }>`select count(*)::int8 as n from ${sql.table(table)}`.execute(db);
  return rows[0]!.n;
}

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(() => t?.close());

describe('loadBucket', () => {
  it('stores the facts, the raw call and the bucket state in one go', async () => {
    const bucket = day('2025-03-12');
    const result = await load(t.db, bucket, sample);
    expect(result).toMatchObject({ replaced: true, facts: 8, fetchCount: 1 });

    const call = await t.db
      .selectFrom('tim_call')
      .selectAll()
      .where('id', '=', result.callId)
      .executeTakeFirstOrThrow();
    expect(call).toMatchObject({
      sdkappid: APP,
      host: 'console.tim.qq.com',
      outcome: 'ok',
      body: apiBody(sample),
      http_status: 200,
    });
    expect(call.window_start).toEqual(new Date(bucket.start * 1000));

    const state = await getBucketState(t.db, {
      sdkappid: APP,
      feed: 'loss',
      bucketStart: bucket.start,
      bucketSize: '1d',
    });
    expect(state).toMatchObject({ fetch_count: 1, last_call_id: result.callId, final: false, lost_at: null });
    expect(state!.bucket_end).toEqual(new Date(bucket.end * 1000));
    expect(state!.last_fetched_at).toEqual(new Date(call.started_at.getTime() + 85));

    expect(await counts(t.db, bucket)).toEqual({
      'post_send_delivered/all/1': 217,
      'post_send_delivered/all/410': 35,
      'post_send_delivered/1/1': 217,
      'post_send_delivered/9/410': 35,
      'ready_to_send/all/-1': 167,
      'ready_to_send/all/-2': 125,
      'ready_to_send/1/-1': 5,
      'ready_to_send/2/-1': 123,
    });
  });

  it('replaces a bucket exactly on re-fetch: new counts, vanished codes removed, nothing added twice', async () => {
    const bucket = day('2025-03-14');
    await load(t.db, bucket, sample);
    const refetched: LossEntry[] = [
      { stage: 'ready_to_send', platform: null, errCode: '-1', errInfo: 'certificate id not set', errCount: 170 },
      { stage: 'post_send_delivered', platform: null, errCode: '1', errInfo: 'regid_invalid', errCount: 220 },
      { stage: 'ready_to_send', platform: 2, errCode: '-1', errInfo: 'certificate id not set', errCount: 125 },
    ];
    const result = await load(t.db, bucket, refetched);
    expect(result).toMatchObject({ replaced: true, facts: 3, fetchCount: 2 });
    expect(await counts(t.db, bucket)).toEqual({
      'ready_to_send/all/-1': 170,
      'post_send_delivered/all/1': 220,
      'ready_to_send/2/-1': 125,
    });
    const facts = await getBucketFacts(t.db, {
      sdkappid: APP,
      feed: 'loss',
      bucketStart: bucket.start,
      bucketSize: '1d',
    });
    expect(new Set(facts.map((f) => f.call_id))).toEqual(new Set([result.callId]));

    // The same answer again changes nothing but the bookkeeping.
    await load(t.db, bucket, refetched);
    expect(await counts(t.db, bucket)).toEqual({
      'ready_to_send/all/-1': 170,
      'post_send_delivered/all/1': 220,
      'ready_to_send/2/-1': 125,
    });
    expect(
      (await getBucketState(t.db, { sdkappid: APP, feed: 'loss', bucketStart: bucket.start, bucketSize: '1d' }))!
        .fetch_count,
    ).toBe(3);

    // An empty answer empties the bucket.
    await load(t.db, bucket, []);
    expect(await counts(t.db, bucket)).toEqual({});
  });

  it('keeps the newer facts when an older answer arrives late', async () => {
    const bucket = day('2025-03-15');
    const older = okCall(bucket, sample);
    const newer = okCall(bucket, sample.slice(0, 2));
    await loadBucket(t.db, lossFeed, {
      sdkappid: APP,
      bucket,
      bucketSize: '1d',
      call: newer,
      answer: sample.slice(0, 2),
    });
    const late = await loadBucket(t.db, lossFeed, {
      sdkappid: APP,
      bucket,
      bucketSize: '1d',
      call: older,
      answer: sample,
    });
    expect(late).toMatchObject({ replaced: false, facts: 0, fetchCount: 2 });
    expect(Object.keys(await counts(t.db, bucket))).toHaveLength(2);
  });

  it('leaves the previous version intact when the load fails half-way', async () => {
    const bucket = day('2025-03-16');
    await load(t.db, bucket, sample);
    const before = await counts(t.db, bucket);
    const calls = await countRows(t.db, 'tim_call');
    // Make the database reject one row of the next load, after the old facts were deleted.
    await sql
      .raw(
        `create function pushloss_test_crash() returns trigger language plpgsql as $$
      begin
        if new.err_code = 'boom' then raise exception 'simulated crash mid-load'; end if;
        return new;
      end $$`,
      )
      .execute(t.db);
    await sql
      .raw(
        `create trigger pushloss_test_crash before insert on loss_fact for each row execute function pushloss_test_crash()`,
      )
      .execute(t.db);
    try {
      const broken: LossEntry[] = [
        { stage: 'ready_to_send', platform: null, errCode: '-1', errInfo: 'x', errCount: 999 },
        { stage: 'ready_to_send', platform: 3, errCode: 'boom', errInfo: 'x', errCount: 1 },
      ];
      await expect(load(t.db, bucket, broken)).rejects.toThrow(/simulated crash mid-load/);
    } finally {
      await sql.raw('drop trigger pushloss_test_crash on loss_fact').execute(t.db);
      await sql.raw('drop function pushloss_test_crash()').execute(t.db);
    }
    expect(await counts(t.db, bucket)).toEqual(before);
    expect(await countRows(t.db, 'tim_call')).toBe(calls);
    expect(
      (await getBucketState(t.db, { sdkappid: APP, feed: 'loss', bucketStart: bucket.start, bucketSize: '1d' }))!
        .fetch_count,
    ).toBe(1);
  });

  it('refuses data it cannot store exactly before writing anything', async () => {
    const bucket = day('2025-03-17');
    const calls = await countRows(t.db, 'tim_call');
    await expect(load(t.db, bucket, [{ ...sample[0]!, errCount: -5 }])).rejects.toThrow(/non-negative/);
    await expect(
      loadBucket(t.db, lossFeed, {
        sdkappid: APP,
        bucket,
        bucketSize: '1d',
        call: okCall(bucket, [], { outcome: 'retryable' }),
        answer: [],
      }),
    ).rejects.toThrow(/archiveCall/);
    expect(await countRows(t.db, 'tim_call')).toBe(calls);
  });

  it('refuses a bucket that overlaps the same start stored with another end (zone changed)', async () => {
    const bucket = day('2025-03-18');
    await load(t.db, bucket, sample);
    await expect(load(t.db, { start: bucket.start, end: bucket.end + 3600 }, sample)).rejects.toBeInstanceOf(
      BucketMismatchError,
    );
  });

  it('clears lost_at when data arrives for a bucket marked lost', async () => {
    const bucket = day('2025-03-19');
    await markBucketLost(t.db, {
      sdkappid: APP,
      feed: 'loss',
      bucket,
      bucketSize: '1d',
      at: new Date('2025-03-27T00:00:00Z'),
    });
    expect(
      (await getBucketState(t.db, { sdkappid: APP, feed: 'loss', bucketStart: bucket.start, bucketSize: '1d' }))!,
    ).toMatchObject({ fetch_count: 0, last_call_id: null });
    await load(t.db, bucket, sample);
    expect(
      (await getBucketState(t.db, { sdkappid: APP, feed: 'loss', bucketStart: bucket.start, bucketSize: '1d' }))!,
    ).toMatchObject({ fetch_count: 1, lost_at: null });
  });
});

describe('partitions', () => {
  it('are created on demand, one per UTC month of bucket_start', async () => {
    const before = await listLossFactPartitions(t.db);
    // 2025-06-01 on Beijing time starts 2025-05-31T16:00Z: it belongs to May's partition.
    await load(t.db, day('2025-06-01'), sample);
    await load(t.db, day('2025-06-02'), sample);
    const after = await listLossFactPartitions(t.db);
    expect(after.filter((name) => !before.includes(name))).toEqual(['loss_fact_y2025m05', 'loss_fact_y2025m06']);
    const { rows } = await sql<{ partition: string; n: number }>`
      select tableoid::regclass::text as partition, count(*)::int8 as n
        from loss_fact where bucket_start >= '2025-05-31T16:00:00Z' and bucket_start < '2025-06-02T16:00:00Z'
       group by 1 order by 1`.execute(t.db);
    expect(rows).toEqual([
      { partition: 'loss_fact_y2025m05', n: 8 },
      { partition: 'loss_fact_y2025m06', n: 8 },
    ]);
  });

  it('survive concurrent loads into a new month, and concurrent loads of one bucket stay exact', async () => {
    const second = await openSecondConnection(t);
    const other = second?.db ?? t.db;
    try {
      const buckets = ['2025-08-03', '2025-08-04', '2025-08-05'].map(day);
      const results = await Promise.all([
        ...buckets.map((bucket, i) => load(i % 2 ? other : t.db, bucket, sample)),
        load(other, buckets[0]!, sample.slice(0, 3)),
        load(t.db, buckets[0]!, sample.slice(0, 3)),
      ]);
      expect(results.every((r) => r.callId > 0)).toBe(true);
      expect((await listLossFactPartitions(t.db)).filter((name) => name.startsWith('loss_fact_y2025m08'))).toEqual([
        'loss_fact_y2025m08',
      ]);
      const state = await getBucketState(t.db, {
        sdkappid: APP,
        feed: 'loss',
        bucketStart: buckets[0]!.start,
        bucketSize: '1d',
      });
      expect(state!.fetch_count).toBe(3);
      // Whatever the interleaving, the bucket holds exactly the answer of its latest call.
      const facts = await getBucketFacts(t.db, {
        sdkappid: APP,
        feed: 'loss',
        bucketStart: buckets[0]!.start,
        bucketSize: '1d',
      });
      expect(new Set(facts.map((f) => f.call_id))).toEqual(new Set([state!.last_call_id]));
      const latest = results.find((r) => r.callId === state!.last_call_id)!;
      expect(facts).toHaveLength(latest.facts);
    } finally {
      await second?.close();
    }
  });
});

describe('the push_loss view (BI contract)', () => {
  it('has exactly the promised columns, in order, with their types', async () => {
    const { rows } = await sql<{ column_name: string; data_type: string }>`
      select column_name, data_type from information_schema.columns
       where table_schema = current_schema() and table_name = 'push_loss' order by ordinal_position`.execute(t.db);
    expect(rows.map((r) => `${r.column_name} ${r.data_type}`)).toEqual([
      'sdkappid bigint',
      'bucket_start timestamp with time zone',
      'bucket_end timestamp with time zone',
      'stage text',
      'platform smallint',
      'platform_name text',
      'err_code text',
      'err_info text',
      'err_count bigint',
      'fetched_at timestamp with time zone',
    ]);
  });

  it('keeps overall and per-channel rows apart and names unknown platforms', async () => {
    const bucket = day('2025-03-12');
    const rows = await t.db
      .selectFrom('push_loss')
      .selectAll()
      .where('sdkappid', '=', APP)
      .where('bucket_start', '=', new Date(bucket.start * 1000))
      .execute();
    expect(rows).toHaveLength(8);
    const overall = rows.filter((r) => r.platform === null);
    expect(overall.every((r) => r.platform_name === null)).toBe(true);
    expect(overall.reduce((sum, r) => sum + r.err_count, 0)).toBe(167 + 125 + 217 + 35);
    const channels = rows.filter((r) => r.platform !== null);
    expect(channels.reduce((sum, r) => sum + r.err_count, 0)).toBe(5 + 123 + 217 + 35);
    expect(Object.fromEntries(channels.map((r) => [r.platform, r.platform_name]))).toEqual({
      1: 'APNs',
      2: 'Xiaomi',
      9: 'platform 9',
    });
    expect(rows[0]!.bucket_end).toEqual(new Date(bucket.end * 1000));

    const { rows: types } = await sql<Record<string, string>>`
      select pg_typeof(sdkappid)::text as sdkappid, pg_typeof(platform)::text as platform, pg_typeof(err_count)::text as err_count,
             pg_typeof(stage)::text as stage, pg_typeof(fetched_at)::text as fetched_at
        from push_loss limit 1`.execute(t.db);
    expect(types[0]).toEqual({
      sdkappid: 'bigint',
      platform: 'smallint',
      err_count: 'bigint',
      stage: 'text',
      fetched_at: 'timestamp with time zone',
    });
  });
});

describe('archiveCall', () => {
  it('archives a failed call without facts', async () => {
    const bucket = day('2025-03-20');
    const id = await archiveCall(
      t.db,
      'loss',
      okCall(bucket, [], {
        outcome: 'rate_limited',
        httpStatus: 200,
        actionStatus: 'FAIL',
        errorCode: 60007,
        body: '{"ActionStatus":"FAIL","ErrorCode":60007}',
      }),
    );
    const row = await t.db
      .selectFrom('tim_call')
      .selectAll()
      .where('sdkappid', '=', APP)
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({ outcome: 'rate_limited', error_code: 60007 });
    expect(
      await getBucketState(t.db, { sdkappid: APP, feed: 'loss', bucketStart: bucket.start, bucketSize: '1d' }),
    ).toBeUndefined();
  });

  it('refuses a URL in the host column (the query string would carry the UserSig)', async () => {
    const call = okCall(day('2025-03-20'), [], {
      host: 'https://console.tim.qq.com/v4/timpush/normal_push_loss?usersig=secret',
      outcome: 'fatal',
    });
    await expect(archiveCall(t.db, 'loss', call)).rejects.toThrow(/tim_call_host_check/);
  });
});

describe('renormalize', () => {
  /** Every stored fact, in key order. */
  const allFacts = () =>
    t.db
      .selectFrom('loss_fact')
      .selectAll()
      .orderBy('sdkappid')
      .orderBy('bucket_start')
      .orderBy('bucket_size')
      .orderBy('scope')
      .orderBy('stage')
      .orderBy('platform')
      .orderBy('err_code')
      .execute();

  it('rebuilds every bucket from the archive exactly as loaded, without the API', async () => {
    const snapshot = await allFacts();
    expect(snapshot.length).toBeGreaterThan(0);
    // Damage the facts: one bucket emptied, one count wrong.
    await t.db
      .deleteFrom('loss_fact')
      .where('bucket_start', '=', new Date(day('2025-03-12').start * 1000))
      .execute();
    await t.db
      .updateTable('loss_fact')
      .set({ err_count: 1 })
      .where('bucket_start', '=', new Date(day('2025-06-01').start * 1000))
      .execute();

    const report = await renormalize(t.db, { ...lossFeed, parseArchived: parseBody });
    expect(report.failed).toEqual([]);
    const states = await t.db
      .selectFrom('bucket_state')
      .select('last_call_id')
      .where('last_call_id', 'is not', null)
      .execute();
    expect(report.buckets).toBe(states.length);
    expect(report.rebuilt).toBe(states.length);

    const rebuilt = await allFacts();
    expect(rebuilt).toEqual(snapshot);
  });

  it('keeps the facts of a bucket whose archived body it cannot parse, and reports it', async () => {
    const bucket = day('2025-09-01');
    await loadBucket(t.db, lossFeed, {
      sdkappid: APP,
      bucket,
      bucketSize: '1d',
      call: okCall(bucket, sample, { body: 'not json' }),
      answer: sample,
    });
    const before = await counts(t.db, bucket);
    const report = await renormalize(
      t.db,
      { ...lossFeed, parseArchived: parseBody },
      { sdkappid: APP, from: bucket.start, to: bucket.end },
    );
    expect(report).toMatchObject({ buckets: 1, rebuilt: 0 });
    expect(report.failed).toHaveLength(1);
    expect(report.failed[0]).toMatchObject({ sdkappid: APP, status: 'failed' });
    expect(await counts(t.db, bucket)).toEqual(before);
  });
});
