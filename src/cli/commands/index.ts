import type { Command } from '../command.ts';
import { backfillCommand } from './backfill.ts';
import { collectCommand } from './collect.ts';
import { migrateCommand } from './migrate.ts';
import { renormalizeCommand } from './renormalize.ts';
import { usersigCommand } from './usersig.ts';

/** Every CLI command, in the order `pushloss --help` lists them. */
export const commands: Command[] = [collectCommand, backfillCommand, migrateCommand, renormalizeCommand, usersigCommand];
