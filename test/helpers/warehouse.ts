/** Reading the warehouse's tables directly, to check what a load left behind. */
import { sql, type Kysely } from 'kysely';
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

/** Everything collection writes (both APIs' archives, facts and bookkeeping, leases, rate slots). */
const COLLECTED = [
  'loss_fact',
  'bucket_state',
  'app_state',
  'tim_call',
  'stats_fact',
  'stats_bucket_state',
  'stats_app_state',
  'stats_call',
  'app_lease',
  'rate_slot',
] as const;

/** Empties what collection wrote, so each test starts from a database that collected nothing. */
export async function clearCollected(db: Kysely<Database>): Promise<void> {
  for (const table of COLLECTED) await db.deleteFrom(table).execute();
}
