/**
 * The zone the feeds' daily rollups under the BI views count days in (each feed's `rollup`: loss
 * `loss_day_total`, `loss_code_week`, `loss_week`, `loss_day`, migrations 0004, 0007, 0009;
 * statistics `stats_day`, 0008).
 *
 * The rollups themselves are kept exact by each feed's `replaceFacts`, in the load's
 * transaction; the sum over all apps (`loss_all_day`, 0010) by the loss feed's `afterLoads`.
 */
import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.ts';
import { FEEDS } from '../feeds/index.ts';

/** Each rollup keeps the zone it counts days in apart, and is rebuilt by its own function. */
const ROLLUPS = Object.values(FEEDS).flatMap((feed) => (feed.rollup ? [feed.rollup] : []));

/** The zones the rollups count days in, in the feeds' order. */
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
