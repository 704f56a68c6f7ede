/** Reading the warehouse's tables directly, to check what a load left behind. */
import { sql, type Kysely } from 'kysely';
import { expect } from 'vitest';
import { parsePushLossBody } from '../../src/tencent/response.ts';
import { normalizeLoss } from '../../src/feeds/loss/normalize.ts';
import type { BucketState, Database, LossFact } from '../../src/db/database.ts';
import type { BucketKey } from '../../src/warehouse/state.ts';

const keyColumns = (key: BucketKey) => ({
  sdkappid: key.sdkappid,
  bucket_start: new Date(key.bucketStart * 1000),
  bucket_size: key.bucketSize,
});

/** The bookkeeping row of one bucket, or undefined if it was never fetched nor marked. */
export async function getBucketState(db: Kysely<Database>, key: BucketKey): Promise<BucketState | undefined> {
  return db
    .selectFrom('bucket_state')
    .selectAll()
    .where((eb) => eb.and(keyColumns(key)))
    .executeTakeFirst();
}

/** The facts stored for one bucket, in key order. */
export async function getBucketFacts(db: Kysely<Database>, key: BucketKey): Promise<LossFact[]> {
  return db
    .selectFrom('loss_fact')
    .selectAll()
    .where((eb) => eb.and(keyColumns(key)))
    .orderBy('scope')
    .orderBy('stage')
    .orderBy('platform')
    .orderBy('err_code')
    .execute();
}

/** Names of the existing `loss_fact` partitions, oldest first. */
export async function listLossFactPartitions(db: Kysely<Database>): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    select c.relname as name
      from pg_inherits i
      join pg_class c on c.oid = i.inhrelid
     where i.inhparent = 'loss_fact'::regclass
     order by c.relname`.execute(db);
  return rows.map((row) => row.name);
}

/**
 * Everything collection writes (every feed's facts; the archive and bookkeeping of every feed,
 * through their parents; leases, rate slots), facts first.
 */
const COLLECTED = [
  'loss_fact',
  'stats_fact',
  'all_member_loss_fact',
  'all_member_stats_fact',
  'feed_bucket_state',
  'feed_app_state',
  'feed_call',
  'app_lease',
  'rate_slot',
] as const;

/** Empties what collection wrote, so each test starts from a database that collected nothing. */
export async function clearCollected(db: Kysely<Database>): Promise<void> {
  for (const table of COLLECTED) await sql`delete from ${sql.table(table)}`.execute(db);
}

/**
 * Nothing half-written: every stored bucket's facts equal, exactly, what its archived answer says,
 * and no fact exists without the bookkeeping that names its answer.
 */
export async function expectFactsMatchArchive(db: Kysely<Database>) {
  const states = await db.selectFrom('bucket_state').selectAll().where('last_call_id', 'is not', null).execute();
  expect(states.length).toBeGreaterThan(0);
  const { rows: orphans } = await sql<{ n: number }>`
    select count(*)::int as n from loss_fact f
      left join bucket_state s using (sdkappid, bucket_start, bucket_size)
     where s.last_call_id is distinct from f.call_id`.execute(db);
  expect(orphans[0]!.n).toBe(0);
  for (const state of states) {
    const call = await db
      .selectFrom('tim_call')
      .selectAll()
      .where('sdkappid', '=', state.sdkappid)
      .where('id', '=', state.last_call_id!)
      .executeTakeFirstOrThrow();
    const parsed = parsePushLossBody(call.body!);
    if (parsed.kind !== 'ok') throw new Error('archived body unreadable');
    const facts = await db
      .selectFrom('loss_fact')
      .selectAll()
      .where('sdkappid', '=', state.sdkappid)
      .where('bucket_start', '=', state.bucket_start)
      .where('bucket_size', '=', state.bucket_size)
      .execute();
    const got = facts.map((f) => `${f.stage}|${f.platform}|${f.err_code}|${f.err_count}|${f.call_id}`).sort();
    const want = normalizeLoss(parsed.entries)
      .map((l) => `${l.stage}|${l.platform ?? -1}|${l.errCode}|${l.errCount}|${call.id}`)
      .sort();
    expect(got).toEqual(want);
  }
}
