/**
 * The zone the daily rollups under the BI views count days in: loss (`loss_day_total`,
 * `loss_code_week`, `loss_week`, `loss_day`; migrations 0004, 0007, 0009) and statistics
 * (`stats_day`, migration 0008).
 *
 * The rollups themselves are kept exact by each feed's `replaceFacts`, in the load's
 * transaction; the sum over all apps (`loss_all_day`, 0010) by the loss feed's `afterLoads`.
 */
import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.ts';

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
