/**
 * Schema migrations (Kysely Migrator over the `migrations/` folder).
 *
 * Safe when two processes migrate at once: Kysely's PostgreSQL adapter holds a session advisory
 * lock while it migrates, and every migration runs in a transaction, so the second process waits,
 * then finds nothing left to do.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Kysely } from 'kysely';
import { FileMigrationProvider, Migrator } from 'kysely/migration';
import type { MigrationResult, MigrationResultSet } from 'kysely/migration';
import { syncErrorCodes } from '../errorCodes/sync.ts';

/**
 * The migrations folder, relative to this module: `<root>/migrations/` from `src/db/`, and
 * `dist/migrations/` (compiled `.js`) from a tsc build in `dist/src/db/`.
 */
export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../migrations/', import.meta.url));

/** What one migration call did. */
export interface MigrationReport {
  /** Migrations run by this call, in order (empty if there was nothing to do). */
  migrated: Array<{ name: string; direction: 'Up' | 'Down' }>;
}

/** A migration failed; the failed step was rolled back (each migration runs in a transaction). */
export class MigrationError extends Error {
  readonly code = 'MIGRATION_FAILED';
  readonly migration: string | undefined;
  readonly results: MigrationResult[];

  constructor(direction: string, results: MigrationResult[], cause: unknown) {
    const failed = results.find((result) => result.status === 'Error')?.migrationName;
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      failed
        ? `migration ${failed} (${direction.toLowerCase()}) failed: ${reason}`
        : `migrating ${direction.toLowerCase()} failed: ${reason}`,
      { cause },
    );
    this.name = 'MigrationError';
    this.migration = failed;
    this.results = results;
  }
}

/** Creates the Migrator for our folder; exported for tools that need `getMigrations()`. */
export function createMigrator(db: Kysely<any>, migrationFolder = MIGRATIONS_FOLDER): Migrator {
  return new Migrator({ db, provider: new FileMigrationProvider({ fs, path, migrationFolder }) });
}

/**
 * Applies every pending migration, then writes the error-code catalogue (data, not schema: see
 * `errorCodes/sync.ts`). Throws {@link MigrationError} on failure.
 */
export async function migrateToLatest(db: Kysely<any>): Promise<MigrationReport> {
  const done = report('Up', await createMigrator(db).migrateToLatest());
  await syncErrorCodes(db);
  return done;
}

/** Reverts the most recent migration (one step). Throws {@link MigrationError} on failure. */
export async function migrateDown(db: Kysely<any>): Promise<MigrationReport> {
  return report('Down', await createMigrator(db).migrateDown());
}

/** Every known migration and when it was applied (undefined: pending). */
export async function migrationStatus(db: Kysely<any>): Promise<Array<{ name: string; executedAt: Date | undefined }>> {
  const migrations = await createMigrator(db).getMigrations();
  return migrations.map(({ name, executedAt }) => ({ name, executedAt }));
}

function report(direction: 'Up' | 'Down', { error, results = [] }: MigrationResultSet): MigrationReport {
  if (error !== undefined) throw new MigrationError(direction, results, error);
  return {
    migrated: results
      .filter((result) => result.status === 'Success')
      .map((result) => ({ name: result.migrationName, direction: result.direction })),
  };
}
