/**
 * The archive keeps every answer, whatever it holds. A PostgreSQL text cannot hold U+0000, and an
 * answer that is not valid UTF-8 cannot be kept exactly as text: `body_raw` holds such answers
 * byte for byte (`body` keeps a readable copy). An answer refused for its size or cut off by a
 * broken connection is archived by its beginning: `body_truncated` marks it, and `body_bytes` says
 * how much was received.
 *
 * Both archives get the columns: `tim_call` (loss) and `stats_call` (statistics, same shape).
 *
 * Frozen in time: never import application code here.
 */
import { sql } from 'kysely';
import type { Kysely } from 'kysely';

const ARCHIVES = ['tim_call', 'stats_call'];

export async function up(db: Kysely<any>): Promise<void> {
  for (const table of ARCHIVES) {
    await sql`alter table ${sql.id(table)}
                add column body_raw bytea,
                add column body_bytes bigint,
                add column body_truncated boolean not null default false`.execute(db);
  }
  await sql`comment on column tim_call.body_raw is
   'The exact bytes of the answer when body cannot hold them exactly (U+0000, invalid UTF-8); else null.'`.execute(db);
  await sql`comment on column tim_call.body_truncated is
   'True when the answer was refused for its size or cut off: body holds only its beginning (body_bytes were received).'`.execute(
    db,
  );
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ARCHIVES) {
    await sql`alter table ${sql.id(table)} drop column body_raw, drop column body_bytes, drop column body_truncated`.execute(
      db,
    );
  }
}
