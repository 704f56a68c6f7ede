/**
 * The daily rollups under the BI views: loss (`loss_day_total`, `loss_code_week`, `loss_week`,
 * and `loss_day` for the days summed from hours; migrations 0004, 0007, 0009) and statistics
 * (`stats_day`, migration 0008).
 *
 * They are kept exact by whoever replaces facts, in the same transaction: `replaceFacts` calls
 * {@link refreshRollup} and the statistics loader {@link refreshStatsRollup} with the buckets
 * they replaced, and the database recomputes those buckets' days (and weeks) from the facts.
 * Nothing else writes them.
 *
 * The one rollup summed over all apps (`loss_all_day`, migration 0010) is not written by loads:
 * a load marks the days it changed, and {@link refreshAllApps} sums them once, after a pass (a
 * zone rebuild sums them itself).
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

/** Recomputes `stats_day` for the days holding these statistics buckets. Call it inside the facts' transaction. */
export async function refreshStatsRollup(trx: Kysely<Database>, keys: readonly RollupKey[]): Promise<void> {
  if (keys.length === 0) return;
  const buckets = keys.map((key) => ({ sdkappid: key.sdkappid, bucket_start: key.bucketStart.toISOString() }));
  await sql`select push_stats_rollup_refresh(${JSON.stringify(buckets)}::json)`.execute(trx);
}

/**
 * Sums over all apps the days that loads changed since the last refresh, and returns how many
 * days it summed. Run it after a batch of loads (a pass, a backfill, a renormalize): the
 * all-apps view is exact without it (a changed day is summed when read), only slower.
 */
export async function refreshAllApps(db: Kysely<Database>): Promise<number> {
  const { rows } = await sql<{ days: number }>`select push_loss_all_apps_refresh() as days`.execute(db);
  return rows[0]!.days;
}

/** Each rollup keeps the zone it counts days in apart, and is rebuilt by its own function. */
const ROLLUPS = [
  { zoneTable: 'loss_rollup_zone', rebuild: 'push_loss_rollup_rebuild' },
  { zoneTable: 'stats_rollup_zone', rebuild: 'push_stats_rollup_rebuild' },
] as const;

/** The zones the rollups count days in (loss first, then statistics). */
export async function rollupZones(db: Kysely<Database>): Promise<string[]> {
  const zones: string[] = [];
  for (const { zoneTable } of ROLLUPS) {
    const { rows } = await sql<{ zone: string }>`select zone from ${sql.table(zoneTable)}`.execute(db);
    zones.push(rows[0]!.zone);
  }
  return zones;
}

/**
 * Rebuilds each rollup not already in `zone` with days in `zone`, each in one transaction
 * (readers see the old rollup until it commits). Takes time in proportion to the history: run it
 * when the zone changes only.
 */
export async function rebuildRollups(db: Kysely<Database>, zone: string): Promise<void> {
  const zones = await rollupZones(db);
  for (const [i, { rebuild }] of ROLLUPS.entries()) {
    if (zones[i] !== zone) await sql`select ${sql.raw(rebuild)}(${zone})`.execute(db);
  }
}
