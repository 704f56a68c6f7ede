/**
 * What `migrate down` would destroy that cannot be fetched again. The raw archive and the facts
 * are the only copy of answers the API has long forgotten (its horizon is 7 or 30 days), so a
 * down step that drops them is refused unless the operator says so (`--drop-data`). Rollups and
 * coordination state are not listed: they are rebuilt from the facts, or by the next pass.
 *
 * Kept here, not in the migrations: a migration is frozen, and this list is the app's judgement
 * of what each one's `down` drops.
 */
import { sql, type Kysely } from 'kysely';

interface StoredData {
  table: string;
  /** Only rows where this column holds something (a dropped column); the whole table otherwise. */
  column?: string;
}

const DROPPED_BY_DOWN: Readonly<Record<string, readonly StoredData[]>> = {
  '0001_warehouse': [{ table: 'tim_call' }, { table: 'loss_fact' }],
  '0005_push_statistics': [{ table: 'stats_call' }, { table: 'stats_fact' }],
  '0006_raw_body': [
    { table: 'tim_call', column: 'body_raw' },
    { table: 'stats_call', column: 'body_raw' },
  ],
  '0016_all_member_feeds': [
    { table: 'feed_call_all_member_loss' },
    { table: 'feed_call_all_member_statistics' },
    { table: 'all_member_loss_fact' },
    { table: 'all_member_stats_fact' },
  ],
};

/**
 * What reverting `migration` would drop, as `tim_call (188 rows)` items; empty when it drops no
 * stored answer or fact (or they are empty).
 */
export async function dataDroppedByDown(db: Kysely<any>, migration: string): Promise<string[]> {
  const lost: string[] = [];
  for (const { table, column } of DROPPED_BY_DOWN[migration] ?? []) {
    const { rows } = await sql<{ n: string }>`
      select count(*)::text as n from ${sql.table(table)} ${column ? sql`where ${sql.ref(column)} is not null` : sql``}
    `.execute(db);
    const count = Number(rows[0]!.n);
    if (count > 0) lost.push(`${column ? `${table}.${column}` : table} (${count} ${count === 1 ? 'row' : 'rows'})`);
  }
  return lost;
}
