import { systemClock } from '../../clock.ts';
import { requireApps } from '../../config/config.ts';
import { createCollector } from '../../collect/collector.ts';
import type { Command } from '../command.ts';
import { collectionDatabase, withDatabase } from '../database.ts';

export const collectCommand: Command = {
  name: 'collect',
  summary: 'one collection pass over the rolling 7-day window for every app, then exit',
  usage: `pushloss collect

Runs one pass of what the daemon does on its schedule: for every configured app, fetches each
bucket inside the API's horizon that is missing or not final yet, records buckets the horizon
passed by as lost, and exits. Exit code 0 when every app was collected, 1 otherwise.`,
  options: {},
  async run({ config, logger, out, signal }) {
    requireApps(config);
    return withDatabase(config, logger, async (_db, opened) => {
      const collector = createCollector({
        ...collectionDatabase(opened),
        config,
        logger,
        clock: systemClock,
      });
      const pass = await collector.runPass(signal);
      let ok = true;
      for (const [sdkappid, result] of pass.apps) {
        if (result.status === 'collected') {
          out(
            `app ${sdkappid}: ${result.fetched} bucket(s) fetched, ${result.failed} failed, ${result.lost} lost${result.error ? ` (last error: ${result.error})` : ''}`,
          );
          ok &&= result.failed === 0;
        } else {
          out(`app ${sdkappid}: ${result.status}${'error' in result ? `: ${result.error}` : ''}`);
          ok &&= result.status === 'leased_elsewhere';
        }
      }
      out(`pass finished in ${(pass.durationMs / 1000).toFixed(1)} s`);
      return ok ? 0 : 1;
    });
  },
};
