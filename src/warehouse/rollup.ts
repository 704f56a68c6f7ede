/**
 * The daily rollup under the BI views (`loss_day_total`, `loss_code_week`, `loss_week`, and `loss_day` for
 * days summed from hours; migrations 0004, 0007, 0009).
 *
 * It is kept exact by whoever replaces facts, in the same transaction: `replaceFacts` calls
 * {@link refreshRollup} with the buckets it replaced, and the database recomputes those buckets'
 * days (and weeks) from the facts. Nothing else writes it.
 */
import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.ts';

/** One replaced bucket, by app and start (its local day is what gets recomputed). */
export interface RollupKey {
  sdkappid: number;
  bucketStart: Date;
}

/** Recomputes the rollup of the days holding these buckets. Call it inside the facts' transaction. */
export async function refreshRollup(trx: Kysely<Database>, keys: readonly RollupKey[]): Promise<void> {
  if (keys.length === 0) return;
  const buckets = keys.map((key) => ({ sdkappid: key.sdkappid, bucket_start: key.bucketStart.toISOString() }));
  await sql`select push_loss_rollup_refresh(${JSON.stringify(buckets)}::json)`.execute(trx);
}

/** The zone the rollup counts days in. */
export async function rollupZone(db: Kysely<Database>): Promise<string> {
  const { rows } = await sql<{ zone: string }>`select zone from loss_rollup_zone`.execute(db);
  return rows[0]!.zone;
}

/**
 * Rebuilds the whole rollup with days in `zone`, in one transaction (readers see the old rollup
 * until it commits). Takes time in proportion to the history: run it when the zone changes only.
 */
export async function rebuildRollup(db: Kysely<Database>, zone: string): Promise<void> {
  await sql`select push_loss_rollup_rebuild(${zone})`.execute(db);
}
