/**
 * Writes the error-code catalogue into the database (table `error_code`), after every migrate.
 *
 * The catalogue changes more often than the schema, and a migration is frozen, so the data lives
 * in `catalogue.ts` and this upsert makes the table equal to it: entries added or changed are
 * written, entries removed are deleted, unchanged rows are not touched (no write, no dead tuple).
 * Safe when two processes migrate at once: upserts on the primary key, then deletes.
 */
import { sql, type Kysely } from 'kysely';
import { arrayLiteral } from '../db/arrayLiteral.ts';
import type { Database } from '../db/database.ts';
import { ERROR_CODES } from './catalogue.ts';

/** `channel` of Tencent's own codes, valid on every channel (a key column cannot be NULL). */
const EVERY_CHANNEL = -1;

/** `db` is untyped like the migrator's: it runs right after the migrations, on their connection. */
export async function syncErrorCodes(untyped: Kysely<any>): Promise<void> {
  const db = untyped as Kysely<Database>;
  const rows = ERROR_CODES.map((entry) => ({
    channel: entry.platform ?? EVERY_CHANNEL,
    err_code: entry.code,
    title: entry.title,
    meaning: entry.meaning,
    fix: entry.fix,
    token_invalid: entry.tokenInvalid,
    source_url: entry.source,
  }));
  await db.transaction().execute(async (trx) => {
    await trx
      .insertInto('error_code')
      .values(rows)
      .onConflict((conflict) =>
        conflict.columns(['channel', 'err_code']).doUpdateSet((eb) => ({
          title: eb.ref('excluded.title'),
          meaning: eb.ref('excluded.meaning'),
          fix: eb.ref('excluded.fix'),
          token_invalid: eb.ref('excluded.token_invalid'),
          source_url: eb.ref('excluded.source_url'),
        }))
          .where(sql<boolean>`(error_code.title, error_code.meaning, error_code.fix, error_code.token_invalid, error_code.source_url)
            is distinct from (excluded.title, excluded.meaning, excluded.fix, excluded.token_invalid, excluded.source_url)`),
      )
      .execute();
    // channel is a number, so "channel:code" names one entry whatever the code holds.
    const keys = arrayLiteral(rows.map((row) => `${row.channel}:${row.err_code}`));
    await trx
      .deleteFrom('error_code')
      .where(sql<boolean>`not (channel::text || ':' || err_code = any(${keys}::text[]))`)
      .execute();
  });
}
