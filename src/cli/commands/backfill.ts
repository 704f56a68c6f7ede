import { systemClock } from '../../clock.ts';
import { requireApps } from '../../config/config.ts';
import { FEED_NAMES, isFeedName, type FeedName } from '../../tencent/apis.ts';
import { planBackfill, runBackfill, type BackfillSummary } from '../../collect/backfill.ts';
import { createCollector } from '../../collect/collector.ts';
import { parseRange } from '../range.ts';
import { selectApps, UsageError, type Command } from '../command.ts';
import { collectionDatabase, withDatabase } from '../database.ts';

export const backfillCommand: Command = {
  name: 'backfill',
  summary: 'fetch every bucket overlapping a date range (idempotent)',
  usage: `pushloss backfill --from <date|datetime> --to <date|datetime> [--app <sdkappid>] [--api <api>]

Fetches every bucket (BUCKET_SIZE in BUCKET_TZ) overlapping the range, final or not, and
replaces what is stored for it, so running it twice changes nothing.
  --from, --to   a bare date YYYY-MM-DD is a whole day in BUCKET_TZ, both ends inclusive
                 (--from 2026-11-20 --to 2026-11-25 is six days); a datetime with Z or an
                 offset (2026-11-20T08:00:00+08:00) is an instant, --to exclusive
  --app          only this configured app (default: every app)
  --api          only this API: ${FEED_NAMES.join(', ')}; default every API in COLLECT_APIS
Ranges older than an API's horizon (loss 7 days, statistics 30) are refused before any call:
a range from 20 days ago needs --api statistics.
Exit code 0 when every bucket loaded, 1 when some failed, 2 for a bad range.`,
  options: { from: { type: 'string' }, to: { type: 'string' }, app: { type: 'string' }, api: { type: 'string' } },
  async run({ config, logger, out, signal }, values) {
    const apps = requireApps(config);
    if (typeof values.from !== 'string' || typeof values.to !== 'string')
      throw new UsageError('backfill: --from and --to are required; see pushloss backfill --help');
    let range;
    try {
      range = parseRange(values.from, values.to, config.bucketTz);
    } catch (error) {
      throw new UsageError(`backfill: ${(error as Error).message}`);
    }
    const selected = selectApps(apps, values.app);
    let feeds: readonly FeedName[] = config.feeds;
    if (values.api !== undefined) {
      if (typeof values.api !== 'string' || !isFeedName(values.api))
        throw new UsageError(
          `backfill: --api ${String(values.api)} is not an API; use one of ${FEED_NAMES.join(', ')}`,
        );
      feeds = [values.api];
    }
    const nowMs = systemClock.now();
    const plans = feeds.map((feed) => planBackfill(config, range.fromMs, range.toMs, nowMs, feed));

    return withDatabase(config, logger, async (_db, opened) => {
      const collector = createCollector({
        ...collectionDatabase(opened),
        config,
        logger,
        clock: systemClock,
      });
      const summary: BackfillSummary = { loaded: 0, final: 0, failed: 0, facts: 0, stopped: false };
      for (const plan of plans) {
        out(
          `backfill${feeds.length > 1 || plan.feed !== 'loss' ? ` ${plan.feed}` : ''}: ${plan.buckets.length} ${config.bucketSize} bucket(s) × ${selected.length} app(s)${plan.future ? `, ${plan.future} future bucket(s) skipped` : ''}`,
        );
        const part = await runBackfill(collector, selected, plan, out, signal);
        summary.loaded += part.loaded;
        summary.final += part.final;
        summary.failed += part.failed;
        summary.facts += part.facts;
        summary.stopped ||= part.stopped;
        if (summary.stopped) break;
      }
      await collector.afterLoads();
      out(
        `backfill ${summary.stopped ? 'stopped' : 'done'}: ${summary.loaded} loaded (${summary.final} final), ${summary.failed} failed, ${summary.facts} fact rows`,
      );
      return summary.failed > 0 || summary.stopped ? 1 : 0;
    });
  },
};
