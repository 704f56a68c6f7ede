import type { Command } from '../command.ts';
import { usersigCommand } from './usersig.ts';

/** Every CLI command, in the order `pushloss --help` lists them. */
export const commands: Command[] = [usersigCommand];
