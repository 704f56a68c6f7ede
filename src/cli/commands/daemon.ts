import { systemClock } from '../../clock.ts';
import { requireApps } from '../../config/config.ts';
import { startDaemon } from '../../daemon/daemon.ts';
import { untilAborted, type Command } from '../command.ts';
import { collectionDatabase, withDatabase } from '../database.ts';

/** After SIGTERM the call in flight finishes (its timeout bounds it); past this we exit anyway. */
const HARD_EXIT_MS = 9_500;

export const daemonCommand: Command = {
  name: 'daemon',
  summary: 'run as a daemon: scheduled collection passes, /healthz and /metrics (npm start)',
  usage: `pushloss daemon

Runs a collection pass at start-up and on every COLLECT_CRON tick (default every 30 minutes),
serves /healthz and /metrics on HTTP_PORT (default 9464). Migrates the schema first unless
MIGRATE_ON_START=false. SIGTERM / SIGINT: no new calls, the call in flight finishes and its
bucket commits, exit 0.`,
  options: {},
  async run({ config, logger, signal }) {
    requireApps(config);
    // Armed by the signal whenever it comes: during start-up too (opening the database, a
    // migration waiting for another process's lock), not only once the daemon runs. Nothing is
    // ever half-written (each bucket and each migration is one transaction), so a hard exit is safe.
    // Already aborted: the signal came while pushloss was still loading (main.ts).
    const armHardExit = () =>
      setTimeout(() => {
        logger.error('shutdown took too long; exiting');
        process.exit(1);
      }, HARD_EXIT_MS).unref();
    if (signal.aborted) armHardExit();
    else signal.addEventListener('abort', armHardExit, { once: true });
    return withDatabase(config, logger, async (_db, opened) => {
      if (signal.aborted) {
        // Stopped while migrating: the migrations finished, no pass starts.
        logger.info('daemon stopped before its first pass');
        return 0;
      }
      const daemon = await startDaemon({
        ...collectionDatabase(opened),
        config,
        logger,
        clock: systemClock,
      });
      await untilAborted(signal);
      await daemon.stop();
      logger.info('daemon stopped');
      return 0;
    });
  },
};
