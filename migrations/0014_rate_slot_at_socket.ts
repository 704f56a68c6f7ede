/**
 * The rate slot is taken at the socket (issue 17, break 1).
 *
 * 0011 recorded only the sends that reached the network later than their slot (`late_sent_at`),
 * and a caller checked it when it woke: a send that came later than that check still landed
 * within an interval of the next call. Now every call's bytes are written while its app's
 * `rate_slot` (or `stats_rate_slot`) row is locked FOR UPDATE, after checking the previous send
 * is an interval old, and the send is recorded in the same transaction: the column holds every
 * send, hence its new name. The values carry over (a late send is a send).
 *
 * The reader role has no privilege on these tables: it can neither read nor lock their rows.
 *
 * Frozen in time: never import application code here.
 */
import { sql } from 'kysely';
import type { Kysely } from 'kysely';

const RATE_SLOTS = ['rate_slot', 'stats_rate_slot'] as const;
const SENT_COMMENT =
  "When the app's latest call was written to its socket (database clock), recorded under the row's lock: the next call is written a full interval after it.";
/** 0011's comment, restored by `down`. */
const LATE_SENT_COMMENT =
  'When the latest call that reached the network later than its slot was sent (database clock): the next call waits a full interval from it.';

export async function up(db: Kysely<any>): Promise<void> {
  for (const table of RATE_SLOTS) {
    await sql`alter table ${sql.table(table)} rename column late_sent_at to sent_at`.execute(db);
    await sql`comment on column ${sql.raw(table)}.sent_at is ${sql.lit(SENT_COMMENT)}`.execute(db);
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of RATE_SLOTS) {
    await sql`alter table ${sql.table(table)} rename column sent_at to late_sent_at`.execute(db);
    await sql`comment on column ${sql.raw(table)}.late_sent_at is ${sql.lit(LATE_SENT_COMMENT)}`.execute(db);
  }
}
