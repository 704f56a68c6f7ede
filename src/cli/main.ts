#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/config.ts';
import { CONFIG_VARIABLES } from '../config/env.ts';
import { createLogger } from '../log.ts';
import { scrubKnownSecrets } from '../redact.ts';
import { UsageError, type Command } from './command.ts';
import { commands } from './commands/index.ts';

/**
 * The one entry point: `pushloss <command> [options]`. npm scripts are thin aliases for it.
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

async function main(argv: string[]): Promise<number> {
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
    });
  } catch (error) {
    throw new UsageError(`${name}: ${(error as Error).message.split('\n')[0]}; see pushloss ${name} --help`);
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
  const controller = new AbortController();
  const stop = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) return;
    logger.info({ signal }, 'stopping: finishing the call in flight');
    controller.abort(new Error(`stopped by ${signal}`));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  const out = command.printsCredential
    ? (line: string) => console.log(line)
    : (line: string) => console.log(scrubKnownSecrets(line));
  return command.run({ config, logger, out, signal: controller.signal }, parsed.values, parsed.positionals);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    // Bad input (configuration, arguments, a range the API cannot answer) carries exitCode 2.
    const exitCode =
      typeof (error as { exitCode?: unknown })?.exitCode === 'number' ? (error as { exitCode: number }).exitCode : 1;
    const prefix = error instanceof ConfigError ? 'configuration error: ' : '';
    console.error(scrubKnownSecrets(`pushloss: ${prefix}${describeError(error).split('\n')[0]}`));
    process.exitCode = exitCode;
    // Once the command has failed nothing is left to finish: if a library left a handle open (a
    // half-started PGlite does), do not linger, and let a signal end the process at once.
    process.removeAllListeners('SIGTERM').removeAllListeners('SIGINT');
    setTimeout(() => process.exit(exitCode), 2_000).unref();
  },
);

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
