/**
 * Migration 0015 (issue 16) on a database holding data: every row of the per-API bookkeeping of
 * 0014 (tim_call and stats_call, bucket_state and stats_bucket_state, app_state and
 * stats_app_state, rate_slot and stats_rate_slot) reads the same through the feed-keyed parents,
 * the facts and the BI views do not move, new call ids go on after both archives' ids, and `down`
 * gives back the old tables, keys and identities with every row.
 *
 * The calls of both archives share ids (each had its own identity starting at 1): the parents'
 * keys lead with `feed` so that they can.
 */
import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createMigrator, migrateToLatest } from '../../src/db/migrate.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';

const BEFORE = '0014_rate_slot_at_socket';
const APPS = [1400000001, 1400000002, 1400000003] as const;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Far enough back that no bucket is near today; the same loss_fact month for every fact. */
const T0 = Date.UTC(2026, 10, 2);
const at = (ms: number) => new Date(T0 + ms);

type Row = Record<string, unknown>;

/** The tables 0015 touches, each with the columns that order its rows (its key at 0014). */
const TABLES = {
  tim_call: 'sdkappid, id',
  stats_call: 'sdkappid, id',
  bucket_state: 'sdkappid, bucket_start, bucket_size',
  stats_bucket_state: 'sdkappid, bucket_start, bucket_size',
  app_state: 'sdkappid, bucket_size',
  stats_app_state: 'sdkappid, bucket_size',
  rate_slot: 'sdkappid',
  stats_rate_slot: 'sdkappid',
  loss_fact: 'sdkappid, bucket_start, bucket_size, scope, stage, platform, err_code',
  stats_fact: 'sdkappid, bucket_start, bucket_size, platform',
} as const;
type Table = keyof typeof TABLES;

/** Each parent of 0015, its key's order, and the 0014 table of each feed. */
const PARENTS = {
  feed_call: { order: 'sdkappid, id', loss: 'tim_call', statistics: 'stats_call' },
  feed_bucket_state: {
    order: 'sdkappid, bucket_start, bucket_size',
    loss: 'bucket_state',
    statistics: 'stats_bucket_state',
  },
  feed_app_state: { order: 'sdkappid, bucket_size', loss: 'app_state', statistics: 'stats_app_state' },
} as const;

/** The views a BI reader queries, which must read the same rows before and after. */
const VIEWS = ['push_loss', 'push_stats', 'collection_status'] as const;

let t: TestDatabase;
let db: Kysely<any>;

async function select(from: string, order: string, where = 'true'): Promise<Row[]> {
  return (await sql.raw<Row>(`select * from ${from} where ${where} order by ${order}`).execute(db)).rows;
}

async function snapshot(): Promise<Record<Table, Row[]>> {
  const entries = [];
  for (const [table, order] of Object.entries(TABLES)) entries.push([table, await select(table, order)] as const);
  return Object.fromEntries(entries) as Record<Table, Row[]>;
}

async function views(): Promise<Record<string, Row[]>> {
  const entries = [];
  for (const view of VIEWS) entries.push([view, await select(`${view} v`, 'v::text')] as const);
  return Object.fromEntries(entries);
}

/** Columns, indexes and constraints (with their definitions) of the whole schema. */
async function schema() {
  const columns = await sql`
    select table_name, column_name,
           row_number() over (partition by table_name order by ordinal_position) as position,
           data_type, is_nullable, column_default, is_identity, identity_generation
      from information_schema.columns
     where table_schema = current_schema() order by table_name, ordinal_position`.execute(db);
  const indexes = await sql`
    select tablename, indexname, indexdef from pg_indexes
     where schemaname = current_schema() order by tablename, indexname`.execute(db);
  const constraints = await sql`
    select conrelid::regclass::text as table_name, conname, pg_get_constraintdef(oid) as definition
      from pg_constraint where connamespace = current_schema()::regnamespace order by 1, 2`.execute(db);
  const sequences = await sql`
    select sequence_name from information_schema.sequences
     where sequence_schema = current_schema() order by 1`.execute(db);
  return {
    columns: columns.rows,
    indexes: indexes.rows,
    constraints: constraints.rows,
    sequences: sequences.rows,
  };
}

async function exists(name: string): Promise<boolean> {
  const { rows } = await sql<{ found: boolean }>`select to_regclass(${name}) is not null as found`.execute(db);
  return rows[0]!.found;
}

async function insert(table: string, row: Row): Promise<Row> {
  return (await db.insertInto(table).values(row).returningAll().executeTakeFirstOrThrow()) as Row;
}

function call(sdkappid: number, bucket: number, size: '1d' | '1h', extra: Row = {}): Row {
  const length = size === '1d' ? DAY : HOUR;
  return {
    sdkappid,
    window_start: at(bucket),
    window_end: at(bucket + length),
    started_at: at(bucket + length + 10 * HOUR),
    duration_ms: 120,
    attempt: 1,
    host: 'adminapisgp.im.qcloud.com',
    http_status: 200,
    action_status: 'OK',
    error_code: 0,
    error_info: '',
    request_id: `req-${sdkappid}-${bucket}`,
    body: '{"ActionStatus":"OK","ErrorCode":0,"Data":[]}',
    outcome: 'ok',
    ...extra,
  };
}

/** The calls each archive gets, in order: failed, successful, the odd bodies of 0006. */
function calls(feed: 'loss' | 'statistics'): Row[] {
  const [a, b, c] = APPS;
  const rows = [
    call(a, 0, '1d', {
      http_status: null,
      action_status: null,
      error_code: null,
      error_info: null,
      request_id: null,
      body: null,
      outcome: 'retryable',
      attempt: 0,
    }),
    call(a, 0, '1d', { attempt: 2 }),
    call(a, DAY, '1d', {
      // 0006: an answer holding U+0000 is kept byte for byte; body is its readable copy.
      body: '{"ActionStatus":"OK","ErrorInfo":"\uFFFD","Data":[]}',
      body_raw: Buffer.from('{"ActionStatus":"OK","ErrorInfo":"\u0000","Data":[]}'),
      outcome: 'invalid_response',
    }),
    call(a, 3 * DAY, '1d', {
      // Not UTF-8 at all, and cut off.
      body: '{"Data":[\uFFFD\uFFFD',
      body_raw: Buffer.from([0x7b, 0x22, 0x44, 0x61, 0x74, 0x61, 0x22, 0x3a, 0x5b, 0xff, 0xfe]),
      body_bytes: 1_048_577,
      body_truncated: true,
      outcome: 'invalid_response',
    }),
    call(b, 0, '1d', {
      http_status: 200,
      action_status: 'FAIL',
      error_code: 70001,
      error_info: 'sdkappid invalid',
      body: '{"ActionStatus":"FAIL","ErrorCode":70001,"ErrorInfo":"sdkappid invalid"}',
      outcome: 'fatal',
    }),
    call(c, 2 * HOUR, '1h', {
      http_status: 502,
      action_status: null,
      error_code: null,
      body: 'Bad Gateway',
      outcome: 'retryable',
    }),
    call(c, 2 * HOUR, '1h', { attempt: 2 }),
  ];
  // The statistics archive has more calls, so its ids go further than the loss archive's.
  if (feed === 'statistics') {
    rows.push(call(c, 3 * HOUR, '1h'), call(a, 2 * DAY, '1d', { outcome: 'rate_limited', error_code: 20003 }));
  }
  return rows;
}

/** Fills the 0014 tables as the collector of 0014 would have; returns nothing, the rows are read back. */
async function fill(): Promise<void> {
  const [a, b, c] = APPS;
  await sql`create table loss_fact_y2026m11 partition of loss_fact
              for values from ('2026-11-01T00:00:00Z') to ('2026-12-01T00:00:00Z')`.execute(db);
  for (const feed of ['loss', 'statistics'] as const) {
    const old =
      feed === 'loss'
        ? { call: 'tim_call', bucket: 'bucket_state', app: 'app_state' }
        : {
            call: 'stats_call',
            bucket: 'stats_bucket_state',
            app: 'stats_app_state',
          };
    // Ids from each archive's own identity: both run 1, 2, 3, ... for the same apps.
    const ids: number[] = [];
    for (const row of calls(feed)) ids.push((await insert(old.call, row)).id as number);
    const [, okA, rawA, truncatedA, , , okC] = ids;
    const bucket = (sdkappid: number, start: number, size: '1d' | '1h', state: Row) =>
      insert(old.bucket, {
        sdkappid,
        bucket_start: at(start),
        bucket_size: size,
        bucket_end: at(start + (size === '1d' ? DAY : HOUR)),
        ...state,
      });
    const fetched = (callId: number, count: number, start: number) => ({
      first_fetched_at: at(start + 26 * HOUR),
      last_fetched_at: at(start + 34 * HOUR),
      fetch_count: count,
      last_call_id: callId,
    });
    await bucket(a, 0, '1d', { ...fetched(okA!, 2, 0), final: true }); // final
    await bucket(a, DAY, '1d', fetched(rawA!, 1, DAY)); // pending: fetched, not final
    await bucket(a, 2 * DAY, '1d', { lost_at: at(40 * DAY) }); // lost: never fetched
    await bucket(a, 3 * DAY, '1d', { ...fetched(truncatedA!, 3, 3 * DAY), lost_at: at(40 * DAY) }); // settled early
    await bucket(b, 0, '1d', {}); // planned, never fetched (the app is fatal)
    await bucket(c, 2 * HOUR, '1h', { ...fetched(okC!, 1, 2 * HOUR), final: true });

    await insert(old.app, {
      sdkappid: a,
      bucket_size: '1d',
      covered_from: at(-30 * DAY),
      first_seen_at: at(-30 * DAY),
      last_pass_at: at(5 * DAY),
      last_success_at: at(5 * DAY),
      last_error_at: at(4 * DAY),
      last_error_code: 'RETRYABLE',
      last_error: 'HTTP 502 Bad Gateway',
    });
    await insert(old.app, {
      sdkappid: b,
      bucket_size: '1d',
      covered_from: at(-DAY),
      first_seen_at: at(-DAY),
      last_pass_at: at(DAY),
      last_error_at: at(DAY),
      last_error_code: 'FATAL',
      last_error: `70001 sdkappid invalid (${feed})`,
      fatal_at: at(DAY),
    });
    await insert(old.app, { sdkappid: c, bucket_size: '1h', covered_from: at(0), first_seen_at: at(HOUR) });
    // A 1d state for the same app in one archive only.
    if (feed === 'statistics') {
      await insert(old.app, { sdkappid: c, bucket_size: '1d', covered_from: at(-DAY), first_seen_at: at(HOUR) });
    }

    if (feed === 'loss') {
      for (const [stage, platform, code, count] of [
        ['ready_to_send', -1, '-1', 9],
        ['post_send_delivered', 4, '30001', 5],
        ['post_send_delivered', 1, '40001', 2],
      ] as const) {
        await insert('loss_fact', {
          sdkappid: a,
          bucket_start: at(0),
          bucket_size: '1d',
          scope: platform === -1 ? 'overall' : 'platform',
          stage,
          platform,
          err_code: code,
          bucket_end: at(DAY),
          err_count: count,
          err_info: `info ${code}`,
          fetched_at: at(34 * HOUR),
          call_id: okA,
        });
      }
    } else {
      for (const [platform, total] of [
        [-1, 100],
        [1, 60],
        [4, 40],
      ] as const) {
        await insert('stats_fact', {
          sdkappid: a,
          bucket_start: at(0),
          bucket_size: '1d',
          platform,
          bucket_end: at(DAY),
          total_count: total,
          sent_count: total - 1,
          delivered_count: platform === 4 ? null : total - 2,
          click_count: 1,
          fetched_at: at(34 * HOUR),
          call_id: okA,
        });
      }
    }
  }
  await insert('rate_slot', { sdkappid: a, next_at: at(50 * DAY), sent_at: at(50 * DAY - 1100) });
  await insert('rate_slot', { sdkappid: b, next_at: at(50 * DAY + 7) });
  await insert('stats_rate_slot', { sdkappid: a, next_at: at(51 * DAY), sent_at: at(51 * DAY - 1100) });
  await insert('stats_rate_slot', { sdkappid: c, next_at: at(52 * DAY), sent_at: null });
}

const withFeed = (rows: Row[], feed: string) => rows.map((row) => ({ ...row, feed }));
const without = (rows: Row[], column: string) => rows.map(({ [column]: _dropped, ...rest }) => rest);
const maxId = (rows: Row[]) => Math.max(...rows.map((row) => row.id as number));

let old: Record<Table, Row[]>;
let oldViews: Record<string, Row[]>;
let oldSchema: Awaited<ReturnType<typeof schema>>;
/** The calls written through `feed_call` after the migration, one per feed. */
const added: Record<'loss' | 'statistics', Row> = {} as Record<'loss' | 'statistics', Row>;

beforeAll(async () => {
  t = await createTestDatabase({ migrate: false });
  db = t.db as Kysely<any>;
  const { error } = await createMigrator(db).migrateTo(BEFORE);
  if (error !== undefined) throw error;
  await fill();
  old = await snapshot();
  oldViews = await views();
  oldSchema = await schema();
}, 60_000);
afterAll(() => t?.close());

it('filled every table of 0014, with the same call ids in both archives', () => {
  for (const [table, rows] of Object.entries(old)) expect(rows.length, table).toBeGreaterThan(1);
  const ids = (table: 'tim_call' | 'stats_call') => old[table].map((row) => row.id);
  expect(ids('stats_call')).toEqual(expect.arrayContaining(ids('tim_call')));
  expect(old.tim_call.find((row) => row.outcome === 'invalid_response')?.body_raw).toContain(0);
  expect(oldViews.collection_status!.map((row) => row.state).sort()).toEqual(
    ['final', 'final', 'lost', 'pending', 'pending', 'settled early'].sort(),
  );
});

it('up: every row reads the same through the parents, under its feed, and nothing else appeared', async () => {
  await migrateToLatest(db);
  for (const [parent, { order, loss, statistics }] of Object.entries(PARENTS)) {
    const byFeed = { loss: old[loss], statistics: old[statistics] };
    for (const feed of ['loss', 'statistics'] as const) {
      expect(await select(parent, order, `feed = '${feed}'`), `${parent} ${feed}`).toEqual(
        withFeed(byFeed[feed], feed),
      );
    }
    expect(await select(parent, `feed, ${order}`), parent).toHaveLength(byFeed.loss.length + byFeed.statistics.length);
    // The old tables, now partitions, read their own rows as before (views and rollups read them by name).
    expect(await select(loss, order), loss).toEqual(withFeed(old[loss], 'loss'));
    expect(await select(statistics, order), statistics).toEqual(withFeed(old[statistics], 'statistics'));
  }
  expect(await select('loss_fact', TABLES.loss_fact)).toEqual(old.loss_fact);
  expect(await select('stats_fact', TABLES.stats_fact)).toEqual(old.stats_fact);
  // One rate slot table: the loss slots as 'loss', statistics' own as 'statistics'.
  expect(await select('rate_slot', 'slot, sdkappid')).toEqual([
    ...old.rate_slot.map((row) => ({ ...row, slot: 'loss' })),
    ...old.stats_rate_slot.map((row) => ({ ...row, slot: 'statistics' })),
  ]);
  expect(await exists('stats_rate_slot')).toBe(false);
  expect(await views()).toEqual(oldViews);
});

it('up: a new call of either feed gets an id past every id of both archives; an unknown feed is refused', async () => {
  const past = Math.max(maxId(old.tim_call), maxId(old.stats_call));
  for (const feed of ['loss', 'statistics'] as const) {
    // Of the last app, so that it sorts after every old call (sdkappid, id).
    added[feed] = await insert('feed_call', { ...call(APPS[2], 10 * DAY, '1d'), feed });
    expect(added[feed].id as number, feed).toBeGreaterThan(past);
  }
  expect(added.statistics.id as number).toBeGreaterThan(added.loss.id as number);
  await expect(insert('feed_call', { ...call(APPS[0], 10 * DAY, '1d'), feed: 'nonesuch' })).rejects.toThrow(
    /no partition/,
  );
});

it('down: the old tables, keys and identities come back with every row', async () => {
  const { error } = await createMigrator(db).migrateTo(BEFORE);
  if (error !== undefined) throw error;
  for (const parent of Object.keys(PARENTS)) expect(await exists(parent), parent).toBe(false);
  expect(await snapshot()).toEqual({
    ...old,
    tim_call: [...old.tim_call, ...without([added.loss], 'feed')],
    stats_call: [...old.stats_call, ...without([added.statistics], 'feed')],
  });
  // Keys, foreign keys, identity columns, indexes: as 0014 made them.
  expect(await schema()).toEqual(oldSchema);
  // Each archive's identity goes on after every id it holds.
  for (const table of ['tim_call', 'stats_call'] as const) {
    const held = maxId(await select(table, 'id'));
    const { id } = await insert(table, call(APPS[1], 11 * DAY, '1d'));
    expect(id as number, table).toBeGreaterThan(held);
  }
});

it('up again after down succeeds and keeps every row', async () => {
  const calls = (await select('tim_call', 'id')).length + (await select('stats_call', 'id')).length;
  await migrateToLatest(db);
  expect(await select('feed_call', 'feed, sdkappid, id')).toHaveLength(calls);
  expect(await select('rate_slot', 'slot, sdkappid')).toHaveLength(old.rate_slot.length + old.stats_rate_slot.length);
  expect(await views()).toEqual(oldViews);
});
