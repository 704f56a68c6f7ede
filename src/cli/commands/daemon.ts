import { systemClock } from '../../clock.ts';
import { requireApps } from '../../config/config.ts';
import { startDaemon } from '../../daemon/daemon.ts';
import { untilAborted, type Command } from '../command.ts';
import { withDatabase } from '../database.ts';

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
    return withDatabase(config, logger, async (db, { coordinationDb }) => {
      const daemon = await startDaemon({ db, coordinationDb, config, logger, clock: systemClock });
      await untilAborted(signal);
      // Nothing is ever half-written (each bucket is one transaction), so a hard exit is safe.
      setTimeout(() => {
        logger.error('shutdown took too long; exiting');
        process.exit(1);
      }, HARD_EXIT_MS).unref();
      await daemon.stop();
      logger.info('daemon stopped');
      return 0;
    });
  },
};
