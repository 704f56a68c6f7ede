#!/usr/bin/env node
/**
 * The one entry point: `pushloss <command> [options]`; npm scripts are thin aliases for it.
 *
 * The stop handlers come first, before the rest of pushloss is loaded (PostgreSQL and PGlite
 * drivers, Kysely, axios: about half a second). A SIGTERM or SIGINT in that time is then a stop
 * request like any other, which the command sees as already made (the daemon exits 0 before its
 * first pass), instead of Node's default death by signal, exit 143, which an orchestrator
 * reports as a crash.
 */
const controller = new AbortController();
const stop = (signal: NodeJS.Signals) => {
  if (!controller.signal.aborted) controller.abort(Object.assign(new Error(`stopped by ${signal}`), { signal }));
};
process.once('SIGTERM', stop).once('SIGINT', stop);

const { runCli } = await import('./run.ts');
runCli(process.argv.slice(2), controller.signal);
