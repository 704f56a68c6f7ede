import type { ParseArgsConfig } from 'node:util';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';

/** What every command gets: validated config, the process logger, and where to print. */
export interface CommandContext {
  config: Config;
  logger: Logger;
  /** Human output (reports, progress, tables) goes here; logs go to the logger. */
  out: (line: string) => void;
  /** Aborted on SIGTERM / SIGINT. */
  signal: AbortSignal;
}

export type OptionValues = Record<string, string | boolean | string[] | boolean[] | undefined>;

export interface Command {
  name: string;
  summary: string;
  /** Usage line and option help, printed by `pushloss <command> --help`. */
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  /** Resolves to the process exit code. */
  run(ctx: CommandContext, values: OptionValues, positionals: string[]): Promise<number>;
}

/** Bad command-line input: printed as one line, exit code 2. */
export class UsageError extends Error {
  readonly exitCode = 2;
}

/** Resolves once the signal is aborted (at once if it already is). */
export function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
