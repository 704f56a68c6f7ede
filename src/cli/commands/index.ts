import type { Command } from '../command.ts';
import { backfillCommand } from './backfill.ts';
import { collectCommand } from './collect.ts';
import { daemonCommand } from './daemon.ts';
import { demoCommand } from './demo.ts';
import { migrateCommand } from './migrate.ts';
import { renormalizeCommand } from './renormalize.ts';
import { reportCommand } from './report.ts';
import { simulatorCommand } from './simulator.ts';
import { statusCommand } from './status.ts';
import { usersigCommand } from './usersig.ts';

/** Every CLI command, in the order `pushloss --help` lists them. */
export const commands: Command[] = [
  daemonCommand,
  collectCommand,
  backfillCommand,
  statusCommand,
  reportCommand,
  migrateCommand,
  renormalizeCommand,
  demoCommand,
  usersigCommand,
  simulatorCommand,
];
