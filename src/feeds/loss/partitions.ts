/**
 * Monthly partitions of `loss_fact`, created on demand.
 *
 * `loss_fact` is range-partitioned on `bucket_start` by calendar month in UTC (a bucket belongs to
 * the month its start falls in, whatever the bucket's own zone). A partition is created by the
 * loader inside its transaction, right before the first fact of that month is written, so a crash
 * leaves no half-made month and no job has to pre-create months ahead.
 */
import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import type { Database } from '../../db/database.ts';

/** One month's partition: its table name and bounds (`from` inclusive, `to` exclusive). */
export interface MonthPartition {
  name: string;
  from: Date;
  to: Date;
}

/** The partition that holds facts of a bucket starting at `bucketStart` (unix seconds). */
export function lossFactPartitionFor(bucketStart: number): MonthPartition {
  const start = new Date(bucketStart * 1000);
  const year = start.getUTCFullYear();
  const month = start.getUTCMonth();
  return {
    name: `loss_fact_y${String(year).padStart(4, '0')}m${String(month + 1).padStart(2, '0')}`,
    from: new Date(Date.UTC(year, month, 1)),
    to: new Date(Date.UTC(year, month + 1, 1)),
  };
}

/**
 * Makes sure the partition for `bucketStart` exists; returns true if this call created it.
 *
 * Call it BEFORE touching `loss_fact` in the transaction. Creating a partition locks the parent
 * table exclusively; two transactions creating partitions at once are serialized by a row lock of
 * `coordination_lock` (plain `IF NOT EXISTS` can still fail on a race; not an advisory lock, which
 * any login, the BI reader too, could take and hold), and doing it first means a
 * transaction never waits for that lock while holding locks on `loss_fact` (no deadlock).
 */
export async function ensureLossFactPartition(db: Kysely<Database>, bucketStart: number): Promise<boolean> {
  const partition = lossFactPartitionFor(bucketStart);
  if (await partitionExists(db, partition.name)) return false;
  await sql`select coordination_lock(array['loss_fact partitions'])`.execute(db);
  if (await partitionExists(db, partition.name)) return false;
  await sql`create table if not exists ${sql.id(partition.name)} partition of loss_fact
    for values from (${sql.lit(partition.from.toISOString())}) to (${sql.lit(partition.to.toISOString())})`.execute(db);
  return true;
}

/**
 * {@link ensureLossFactPartition} for many buckets: one query finds the months that are missing
 * (usually none), so a load costs one round trip here, not one per bucket.
 */
export async function ensureLossFactPartitions(db: Kysely<Database>, bucketStarts: readonly number[]): Promise<void> {
  const byName = new Map(bucketStarts.map((start) => [lossFactPartitionFor(start).name, start]));
  if (byName.size === 0) return;
  const { rows } = await sql<{ name: string }>`
    select name from json_array_elements_text(${JSON.stringify([...byName.keys()])}::json) as name
     where to_regclass(name) is null`.execute(db);
  for (const { name } of rows) await ensureLossFactPartition(db, byName.get(name)!);
}

async function partitionExists(db: Kysely<Database>, name: string): Promise<boolean> {
  const { rows } = await sql<{ found: boolean }>`select to_regclass(${name}) is not null as found`.execute(db);
  return rows[0]?.found === true;
}
