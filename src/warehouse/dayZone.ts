import { sql, type Kysely } from 'kysely';
import { rebuildRollups } from './rollup.ts';
import type { Database } from '../db/database.ts';

/**
 * The BI views count days in `push_loss_day_zone()`, which reads the database setting
 * `pushloss.bucket_tz` (a view cannot read our configuration). Keeping that setting equal to
 * BUCKET_TZ makes the dashboards' days the collector's days. Returns false when the setting
 * could not be changed (the role does not own the database): the views then keep their zone.
 *
 * The views' daily rollups count days in one zone too: one that is not in BUCKET_TZ is rebuilt
 * (once, when BUCKET_TZ changed; a long transaction on a big warehouse). Until then, readers in
 * another zone than the rollup's get exact answers from the facts, only slower.
 */
export async function syncDayZone(db: Kysely<Database>, timeZone: string): Promise<boolean> {
  // Validated as an IANA name by the config; checked again because it is inlined into SQL.
  if (!/^[A-Za-z0-9_+\-/]+$/.test(timeZone)) throw new RangeError(`not a time zone name: ${timeZone}`);
  const { rows } = await sql<{ zone: string }>`select push_loss_day_zone() as zone`.execute(db);
  if (rows[0]?.zone !== timeZone && !(await setDayZone(db, timeZone))) return false;
  await rebuildRollups(db, timeZone);
  return true;
}

async function setDayZone(db: Kysely<Database>, timeZone: string): Promise<boolean> {
  try {
    // Database-wide, for every future session (Grafana's included), and for this one.
    await sql
      .raw(
        `do $$ begin execute format('alter database %I set pushloss.bucket_tz = %L', current_database(), '${timeZone}'); end $$`,
      )
      .execute(db);
    await sql`select set_config('pushloss.bucket_tz', ${timeZone}, false)`.execute(db);
    return true;
  } catch {
    return false;
  }
}
