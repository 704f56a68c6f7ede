import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/config.ts';
import { CONFIG_VARIABLES } from '../config/env.ts';
import { misspeltVariables } from '../config/typos.ts';
import { createLogger } from '../log.ts';
import { scrubKnownSecrets } from '../redact.ts';
import { UsageError, type Command } from './command.ts';
import { commands } from './commands/index.ts';

/**
 * `pushloss <command> [options]`, loaded by main.ts once its early signal handlers are in place.
 * Every failure ends as one line on stderr and a non-zero exit code: 2 for bad input
 * (configuration or arguments), 1 for everything else.
 */

function helpText(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'usage: pushloss <command> [options]   (pushloss <command> --help for its options)',
    '',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'configuration: environment variables (defaults and meaning in .env.example and the README):',
    `  ${CONFIG_VARIABLES.join(' ')}`,
  ].join('\n');
}

/** Variables that look like misspelt ones of ours: warned about, and named with a configuration error. */
const misspelt = misspeltVariables(process.env);

async function main(argv: string[], stop: AbortSignal): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(helpText());
    return name === undefined ? 2 : 0;
  }
  const command: Command | undefined = commands.find((c) => c.name === name);
  if (!command) throw new UsageError(`unknown command "${name}"; run pushloss --help for the list`);

  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      options: { ...command.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
      tokens: true,
    });
  } catch (error) {
    throw new UsageError(`${name}: ${(error as Error).message.split('\n')[0]}; see pushloss ${name} --help`);
  }
  // parseArgs keeps the last of a repeated option; `--from a --from b` is a slip, not a choice.
  const given = new Set<string>();
  for (const token of parsed.tokens) {
    if (token.kind !== 'option') continue;
    if (given.has(token.name)) throw new UsageError(`${name}: --${token.name} is given twice; give it once`);
    given.add(token.name);
  }
  if (!command.positionals && parsed.positionals.length > 0) {
    throw new UsageError(
      `${name}: unexpected argument "${parsed.positionals[0]}" (options start with --); see pushloss ${name} --help`,
    );
  }
  if (parsed.values.help) {
    console.log(command.usage);
    return 0;
  }

  const config = loadConfig(process.env);
  const logger = createLogger(config.logLevel);
  for (const warning of misspelt) logger.warn(warning);
  const logStop = () =>
    logger.info({ signal: (stop.reason as { signal?: string }).signal }, 'stopping: finishing the call in flight');
  if (stop.aborted) logStop();
  else stop.addEventListener('abort', logStop, { once: true });
  const out = command.printsCredential
    ? (line: string) => console.log(line)
    : (line: string) => console.log(scrubKnownSecrets(line));
  return command.run({ config, logger, out, signal: stop }, parsed.values, parsed.positionals);
}

/** Runs the command line; `stop` is aborted by SIGTERM or SIGINT (handlers installed by main.ts). */
export function runCli(argv: string[], stop: AbortSignal): void {
  main(argv, stop).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      // Bad input (configuration, arguments, a range the API cannot answer) carries exitCode 2.
      const exitCode =
        typeof (error as { exitCode?: unknown })?.exitCode === 'number' ? (error as { exitCode: number }).exitCode : 1;
      const prefix = error instanceof ConfigError ? 'configuration error: ' : '';
      // A misspelt variable is the likely cause of a configuration error (TIM_SDKAPID: no app).
      const hint = error instanceof ConfigError && misspelt.length > 0 ? ` (note: ${misspelt.join('; ')})` : '';
      console.error(scrubKnownSecrets(`pushloss: ${prefix}${describeError(error).split('\n')[0]}${hint}`));
      process.exitCode = exitCode;
      // Once the command has failed nothing is left to finish: if a library left a handle open (a
      // half-started PGlite does), do not linger, and let a signal end the process at once.
      process.removeAllListeners('SIGTERM').removeAllListeners('SIGINT');
      setTimeout(() => process.exit(exitCode), 2_000).unref();
    },
  );
}

/** A thrown value as text: an Error's message, else its code or errno, never "[object Object]". */
function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === 'object' && error !== null) {
    const { code, errno, message } = error as { code?: unknown; errno?: unknown; message?: unknown };
    if (typeof message === 'string' && message !== '') return message;
    if (code !== undefined || errno !== undefined) return `error ${String(code ?? `errno ${String(errno)}`)}`;
    return JSON.stringify(error) ?? 'unknown error';
  }
  return String(error);
}
