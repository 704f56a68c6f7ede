import { systemClock } from '../../clock.ts';
import { requireApps } from '../../config/config.ts';
import { planBackfill, runBackfill } from '../../collect/backfill.ts';
import { createCollector } from '../../collect/collector.ts';
import { parseRange } from '../range.ts';
import { selectApps, UsageError, type Command } from '../command.ts';
import { withDatabase } from '../database.ts';

export const backfillCommand: Command = {
  name: 'backfill',
  summary: 'fetch every bucket overlapping a date range (idempotent)',
  usage: `pushloss backfill --from <date|datetime> --to <date|datetime> [--app <sdkappid>]

Fetches every bucket (BUCKET_SIZE in BUCKET_TZ) overlapping the range, final or not, and
replaces what is stored for it, so running it twice changes nothing.
  --from, --to   a bare date YYYY-MM-DD is a whole day in BUCKET_TZ, both ends inclusive
                 (--from 2026-11-20 --to 2026-11-25 is six days); a datetime with Z or an
                 offset (2026-11-20T08:00:00+08:00) is an instant, --to exclusive
  --app          only this configured app (default: every app)
Ranges older than the API's 7-day horizon are refused before any call.
Exit code 0 when every bucket loaded, 1 when some failed, 2 for a bad range.`,
  options: { from: { type: 'string' }, to: { type: 'string' }, app: { type: 'string' } },
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
    const plan = planBackfill(config, range.fromMs, range.toMs, systemClock.now());

    return withDatabase(config, logger, async (db, { coordinationDb }) => {
      const collector = createCollector({ db, coordinationDb, config, logger, clock: systemClock });
      out(
        `backfill: ${plan.buckets.length} ${config.bucketSize} bucket(s) × ${selected.length} app(s)${plan.future ? `, ${plan.future} future bucket(s) skipped` : ''}`,
      );
      const summary = await runBackfill(collector, selected, plan, out, signal);
      out(
        `backfill ${summary.stopped ? 'stopped' : 'done'}: ${summary.loaded} loaded (${summary.final} final), ${summary.failed} failed, ${summary.facts} fact rows`,
      );
      return summary.failed > 0 || summary.stopped ? 1 : 0;
    });
  },
};
