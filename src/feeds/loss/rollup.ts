import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import type { Database } from '../../db/database.ts';

/**
 * Sums over all apps the days that loads changed since the last refresh (`loss_all_day`,
 * migration 0010), and returns how many days it summed. Loads only mark the days they change;
 * this runs once after many (a pass, a backfill, a renormalize). The all-apps view is exact
 * without it (a marked day is summed when read), only slower.
 */
export async function refreshAllApps(db: Kysely<Database>): Promise<number> {
  const { rows } = await sql<{ days: number }>`select push_loss_all_apps_refresh() as days`.execute(db);
  return rows[0]!.days;
}
