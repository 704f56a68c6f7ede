import type { Kysely } from 'kysely';
import { dataDroppedByDown } from '../../db/downGuard.ts';
import { migrateDown, migrateToLatest, migrationStatus } from '../../db/migrate.ts';
import { UsageError, type Command } from '../command.ts';
import { withDatabase } from '../database.ts';

export const migrateCommand: Command = {
  name: 'migrate',
  summary: 'bring the database schema up to date (or `migrate down` one step)',
  usage: `pushloss migrate [up|down] [--drop-data]

  up            (default) apply every pending migration; safe to run from several processes at once
  down          revert the most recent migration; refused (exit 2) if that would drop stored
                answers or facts, which cannot be fetched again
  --drop-data   with down: revert even so, dropping them`,
  options: { 'drop-data': { type: 'boolean' } },
  positionals: true,
  async run({ config, logger, out }, values, positionals) {
    const direction = positionals[0] ?? 'up';
    if (positionals.length > 1 || (direction !== 'up' && direction !== 'down'))
      throw new UsageError(`migrate: expected "up" or "down", got "${positionals.join(' ')}"`);
    if (values['drop-data'] && direction !== 'down') throw new UsageError('migrate: --drop-data goes with down only');
    return withDatabase(
      config,
      logger,
      async (db) => {
        if (direction === 'down' && !values['drop-data']) await refuseDataLoss(db);
        const { migrated } = direction === 'up' ? await migrateToLatest(db) : await migrateDown(db);
        if (migrated.length === 0) out(direction === 'up' ? 'schema is up to date' : 'nothing to revert');
        for (const step of migrated) out(`${step.direction === 'Up' ? 'applied' : 'reverted'} ${step.name}`);
        return 0;
      },
      { migrate: false },
    );
  },
};

/** Throws (exit 2) if reverting the latest applied migration would drop stored answers or facts. */
async function refuseDataLoss(db: Kysely<any>): Promise<void> {
  const latest = (await migrationStatus(db)).filter((m) => m.executedAt !== undefined).at(-1);
  if (!latest) return;
  const lost = await dataDroppedByDown(db, latest.name);
  if (lost.length === 0) return;
  throw new UsageError(
    `migrate down: reverting ${latest.name} would drop ${lost.join(', ')}, which cannot be fetched again; ` +
      'back the database up and pass --drop-data to revert anyway',
  );
}
