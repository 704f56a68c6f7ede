import { migrateDown, migrateToLatest } from '../../db/migrate.ts';
import { UsageError, type Command } from '../command.ts';
import { withDatabase } from '../database.ts';

export const migrateCommand: Command = {
  name: 'migrate',
  summary: 'bring the database schema up to date (or `migrate down` one step)',
  usage: `pushloss migrate [up|down]

  up     (default) apply every pending migration; safe to run from several processes at once
  down   revert the most recent migration`,
  options: {},
  positionals: true,
  async run({ config, logger, out }, _values, positionals) {
    const direction = positionals[0] ?? 'up';
    if (positionals.length > 1 || (direction !== 'up' && direction !== 'down'))
      throw new UsageError(`migrate: expected "up" or "down", got "${positionals.join(' ')}"`);
    return withDatabase(
      config,
      logger,
      async (db) => {
        const { migrated } = direction === 'up' ? await migrateToLatest(db) : await migrateDown(db);
        if (migrated.length === 0) out(direction === 'up' ? 'schema is up to date' : 'nothing to revert');
        for (const step of migrated) out(`${step.direction === 'Up' ? 'applied' : 'reverted'} ${step.name}`);
        return 0;
      },
      { migrate: false },
    );
  },
};
