import type { Kysely } from 'kysely';
import type { Config } from '../config/config.ts';
import { openDatabase, type OpenedDatabase } from '../db/connect.ts';
import type { Database } from '../db/database.ts';
import { syncDayZone } from '../warehouse/dayZone.ts';
import { migrateToLatest } from '../db/migrate.ts';
import type { Logger } from '../log.ts';

/**
 * Opens the configured database (PostgreSQL with DATABASE_URL, else the embedded one), brings
 * the schema up to date unless MIGRATE_ON_START=false, runs `fn`, and always closes it.
 */
export async function withDatabase<T>(
  config: Config,
  logger: Logger,
  fn: (db: Kysely<Database>, opened: OpenedDatabase) => Promise<T>,
  options: { migrate?: boolean } = {},
): Promise<T> {
  const opened = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    onPoolError: (error) => logger.warn({ err: error }, 'idle database connection failed'),
  });
  try {
    if (options.migrate ?? config.migrateOnStart) {
      const { migrated } = await migrateToLatest(opened.db);
      if (migrated.length > 0) logger.info({ migrations: migrated.map((m) => m.name) }, 'database schema migrated');
      if (!(await syncDayZone(opened.db, config.bucketTz))) {
        logger.warn(
          { bucketTz: config.bucketTz },
          'could not set pushloss.bucket_tz on the database (not its owner): the BI views count days in their default zone',
        );
      }
    }
    return await fn(opened.db, opened);
  } finally {
    await opened.close();
  }
}

/** What collection needs of an opened database: it, where rate slots live, and its kind. */
export function collectionDatabase(opened: OpenedDatabase) {
  return { db: opened.db, coordinationDb: opened.coordinationDb, databaseKind: opened.kind };
}
