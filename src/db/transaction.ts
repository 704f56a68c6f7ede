import type { Kysely, Transaction } from 'kysely';

/**
 * Runs `fn` in a transaction: a new one on `db`, or the caller's own if `db` already is a
 * transaction (so warehouse functions compose into a larger unit of work).
 */
export async function inTransaction<DB, T>(db: Kysely<DB>, fn: (trx: Transaction<DB>) => Promise<T>): Promise<T> {
  if (db.isTransaction) return fn(db as Transaction<DB>);
  return db.transaction().execute(fn);
}
