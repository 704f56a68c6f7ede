import { FEEDS } from '../../feeds/index.ts';
import { FEED_NAMES } from '../../tencent/apis.ts';
import { renormalize } from '../../warehouse/renormalize.ts';
import { parseAppOption, type Command } from '../command.ts';
import { withDatabase } from '../database.ts';

export const renormalizeCommand: Command = {
  name: 'renormalize',
  summary: 'rebuild the fact table from the raw archive, without calling the API',
  usage: `pushloss renormalize [--app <sdkappid>]

Re-reads each bucket's archived answer and replaces its facts, a page of buckets per
transaction, for every API in turn (${FEED_NAMES.join(', ')}). Use it after a parser fix. Exit code 1 if some archived bodies
could not be read.`,
  options: { app: { type: 'string' } },
  async run({ config, logger, out }, values) {
    const sdkappid = parseAppOption(values.app);
    return withDatabase(config, logger, async (db) => {
      let failed = 0;
      for (const name of FEED_NAMES) {
        const report = await renormalize(db, FEEDS[name], sdkappid === undefined ? {} : { sdkappid });
        for (const bucket of report.failed)
          out(
            `${name}: app ${bucket.sdkappid} bucket ${bucket.bucketStart.toISOString()}: kept old facts, ${bucket.reason}`,
          );
        out(
          `${name}: renormalized ${report.rebuilt} of ${report.buckets} bucket(s) into ${report.facts} fact rows; ${report.failed.length} failed, ${report.skipped} skipped`,
        );
        failed += report.failed.length;
      }
      return failed > 0 ? 1 : 0;
    });
  },
};
