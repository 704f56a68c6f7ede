import type { ParseArgsConfig } from 'node:util';
import { parseSdkAppId } from '../config/apps.ts';
import type { AppConfig, Config } from '../config/config.ts';
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
  /**
   * Its output is a credential the user asked for (`usersig`): printed as it is, where every other
   * command's output goes through the last-line secret scrub. Errors and logs are scrubbed anyway.
   */
  printsCredential?: boolean;
  /** Takes positional arguments (`migrate down`); any other command refuses them. */
  positionals?: boolean;
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

/** `--app`: an SDKAppID, or undefined when the option was not given. */
export function parseAppOption(value: OptionValues[string]): number | undefined {
  if (value === undefined) return undefined;
  const sdkappid = typeof value === 'string' ? parseSdkAppId(value) : undefined;
  if (sdkappid === undefined) {
    throw new UsageError(`--app: "${String(value)}" is not an SDKAppID; pass the app's number, e.g. --app 1400000001`);
  }
  return sdkappid;
}

/** `--app` among the configured apps: that one, or all of them when the option was not given. */
export function selectApps(apps: readonly AppConfig[], value: OptionValues[string]): readonly AppConfig[] {
  const sdkappid = parseAppOption(value);
  if (sdkappid === undefined) return apps;
  const app = apps.find((candidate) => candidate.sdkappid === sdkappid);
  if (!app)
    throw new UsageError(
      `--app: app ${sdkappid} is not configured; configured apps: ${apps.map((a) => a.sdkappid).join(', ')}`,
    );
  return [app];
}
