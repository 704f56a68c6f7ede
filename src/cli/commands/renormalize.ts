import { parsePushLossBody } from '../../tencent/response.ts';
import type { LossEntry } from '../../tencent/loss.ts';
import { renormalize } from '../../warehouse/renormalize.ts';
import { renormalizeStatistics } from '../../warehouse/statsLoad.ts';
import { parseAppOption, type Command } from '../command.ts';
import { withDatabase } from '../database.ts';

/** The archive's bodies, read by the same parser as live answers. */
function parseArchived(body: string): LossEntry[] | Error {
  const parsed = parsePushLossBody(body);
  return parsed.kind === 'ok'
    ? parsed.entries
    : new Error(parsed.kind === 'invalid' ? parsed.reason : `archived answer is error ${parsed.envelope.errorCode}`);
}

export const renormalizeCommand: Command = {
  name: 'renormalize',
  summary: 'rebuild the fact table from the raw archive, without calling the API',
  usage: `pushloss renormalize [--app <sdkappid>]

Re-reads each bucket's archived answer and replaces its facts, one transaction per bucket,
for loss and then statistics. Use it after a parser fix. Exit code 1 if some archived bodies
could not be read.`,
  options: { app: { type: 'string' } },
  async run({ config, logger, out }, values) {
    const sdkappid = parseAppOption(values.app);
    return withDatabase(config, logger, async (db) => {
      const report = await renormalize(db, parseArchived, { ...(sdkappid === undefined ? {} : { sdkappid }) });
      for (const failed of report.failed)
        out(`app ${failed.sdkappid} bucket ${failed.bucketStart.toISOString()}: kept old facts, ${failed.reason}`);
      out(
        `renormalized ${report.rebuilt} of ${report.buckets} bucket(s) into ${report.facts} fact rows; ${report.failed.length} failed, ${report.skipped} skipped`,
      );
      const stats = await renormalizeStatistics(db, { ...(sdkappid === undefined ? {} : { sdkappid }) });
      for (const failed of stats.failed)
        out(
          `app ${failed.sdkappid} statistics bucket ${failed.bucketStart.toISOString()}: kept old rows, ${failed.reason}`,
        );
      out(
        `renormalized ${stats.rebuilt} of ${stats.buckets} statistics bucket(s) into ${stats.facts} rows; ${stats.failed.length} failed, ${stats.skipped} skipped`,
      );
      return report.failed.length > 0 || stats.failed.length > 0 ? 1 : 0;
    });
  },
};
