import { isoMs, systemClock } from '../../clock.ts';
import { listAppStates } from '../../collect/appState.ts';
import { holderIsGone } from '../../collect/leases.ts';
import { recentBuckets, STATS_STATUS_DAYS, STATUS_DAYS, type BucketReport } from '../../collect/bucketStatus.ts';

import { formatLocalDate, formatLocalMinute } from '../../buckets.ts';
import { currentAnomalies, describeAnomaly } from '../../report/anomalies.ts';
import { textTable, type TextColumn } from '../../report/textTable.ts';
import type { Command } from '../command.ts';
import { withDatabase } from '../database.ts';

const BUCKET_COLUMNS: TextColumn[] = [
  { header: 'bucket' },
  { header: 'state' },
  { header: 'fetches', align: 'right' },
  { header: 'last fetched' },
];

export const statusCommand: Command = {
  name: 'status',
  summary: 'what is collected, missing, lost, and about to fall out of reach',
  usage: `pushloss status [--json]

First the current anomalies (push_loss_anomalies: failing channels, loss spikes, new error codes,
each with the code's title and fix). Then, for each configured app (and any app collected into this database before), the last
${STATUS_DAYS} days' buckets: final (collected for good), pending (collected, may still change),
missing (not collected yet, still reachable), settled early (the API's horizon passed it before
its final fetch: it keeps its last answer, which may be short) or lost (the horizon passed it
before it was ever fetched); the last error; and a WARNING line for every bucket inside its final
window (SETTLE_FINAL_WINDOW) that is not final yet. With statistics collected (COLLECT_APIS), one more line per app
counts the statistics buckets of the last 31 days by state, with the same warnings.
  --json   the same as one JSON document, for scripts`,
  options: { json: { type: 'boolean' } },
  async run({ config, logger, out }, values) {
    return withDatabase(config, logger, async (db) => {
      const nowMs = systemClock.now();
      const states = new Map((await listAppStates(db, config.bucketSize)).map((state) => [state.sdkappid, state]));
      // Configured apps, and any app collected into this database before (e.g. the demo's).
      const sdkappids = [...new Set([...config.apps.map((app) => app.sdkappid), ...states.keys()])].sort(
        (a, b) => a - b,
      );
      const statsStates = new Map(
        (await listAppStates(db, config.bucketSize, 'stats_app_state')).map((state) => [state.sdkappid, state]),
      );
      const withStats = config.feeds.includes('statistics') || statsStates.size > 0;
      const leases = new Map(
        (
          await db
            .selectFrom('app_lease')
            .select(['sdkappid', 'holder', 'expires_at'])
            .where('expires_at', '>', new Date(nowMs))
            .execute()
        ).map((lease) => [lease.sdkappid, lease]),
      );
      const apps = [];
      for (const sdkappid of sdkappids) {
        const app = { sdkappid };
        const buckets = await recentBuckets(db, app.sdkappid, {
          nowMs,
          days: STATUS_DAYS,
          horizonSeconds: config.api.horizonSeconds,
          bucketSize: config.bucketSize,
          timeZone: config.bucketTz,
          settle: config.daemon.settle,
        });
        const state = states.get(app.sdkappid);
        const statsState = statsStates.get(app.sdkappid);
        const statistics = withStats
          ? {
              lastSuccessAt: statsState?.last_success_at ?? null,
              lastError: statsState?.last_error
                ? { at: statsState.last_error_at, message: statsState.last_error, fatal: statsState.fatal_at !== null }
                : null,
              buckets: await recentBuckets(db, app.sdkappid, {
                nowMs,
                days: STATS_STATUS_DAYS,
                horizonSeconds: config.statistics.horizonSeconds,
                bucketSize: config.bucketSize,
                timeZone: config.bucketTz,
                settle: config.daemon.settle,
                table: 'stats_bucket_state',
              }),
            }
          : null;
        const lease = leases.get(app.sdkappid);
        apps.push({
          sdkappid: app.sdkappid,
          // Who holds the app now: other processes skip it until the lease ends (or at once if
          // its holder is gone: see leases.ts).
          lease: lease
            ? { holder: lease.holder, until: lease.expires_at, holderGone: holderIsGone(lease.holder) }
            : null,
          lastSuccessAt: state?.last_success_at ?? null,
          lastError: state?.last_error
            ? {
                at: state.last_error_at,
                code: state.last_error_code,
                message: state.last_error,
                fatal: state.fatal_at !== null,
              }
            : null,
          buckets,
          statistics,
        });
      }
      const warnings = apps.flatMap((app) =>
        app.buckets
          .filter((bucket) => bucket.atRisk)
          .map(
            (bucket) =>
              `WARNING app ${app.sdkappid}: bucket ${label(bucket, config.bucketTz, config.bucketSize)} leaves the API horizon at ${isoMs(bucket.start * 1000 + config.api.horizonSeconds * 1000)} and is ${bucket.condition}, not final`,
          )
          .concat(
            (app.statistics?.buckets ?? [])
              .filter((bucket) => bucket.atRisk)
              .map(
                (bucket) =>
                  `WARNING app ${app.sdkappid}: statistics bucket ${label(bucket, config.bucketTz, config.bucketSize)} leaves the statistics API horizon at ${isoMs(bucket.start * 1000 + config.statistics.horizonSeconds * 1000)} and is ${bucket.condition}, not final`,
              ),
          ),
      );

      // What went wrong with the pushes comes first: that is what an operator acts on.
      const anomalies = await currentAnomalies(db, nowMs);
      if (values.json) {
        out(
          JSON.stringify(
            {
              now: new Date(nowMs),
              bucketSize: config.bucketSize,
              timeZone: config.bucketTz,
              anomalies,
              apps,
              warnings,
            },
            null,
            2,
          ),
        );
        return 0;
      }
      for (const anomaly of anomalies) out(describeAnomaly(anomaly));
      for (const app of apps) {
        out(
          `app ${app.sdkappid}  (${config.bucketSize} buckets, ${config.bucketTz})  last success: ${app.lastSuccessAt ? isoMs(app.lastSuccessAt.getTime()) : 'never'}`,
        );
        out(
          `  last error: ${app.lastError ? `${app.lastError.fatal ? 'FATAL ' : ''}${app.lastError.message} (${isoMs(app.lastError.at!.getTime())})` : 'none'}`,
        );
        if (app.lease)
          out(
            `  leased by ${app.lease.holder} until ${isoMs(app.lease.until.getTime())}${app.lease.holderGone ? ' (that process is gone: the next pass takes the app over)' : ': other processes skip this app until then'}`,
          );
        const rows = app.buckets.map((bucket) => [
          label(bucket, config.bucketTz, config.bucketSize),
          bucket.condition.replace('_', ' '),
          String(bucket.fetchCount),
          bucket.lastFetchedAt ? isoMs(bucket.lastFetchedAt.getTime()) : '-',
        ]);
        for (const line of textTable(BUCKET_COLUMNS, rows)) out(`  ${line}`);
        if (app.statistics) {
          const count = (condition: string) => app.statistics!.buckets.filter((b) => b.condition === condition).length;
          out(
            `  statistics (last ${STATS_STATUS_DAYS} days): ${count('final')} final, ${count('pending')} pending, ${count('missing')} missing, ${count('settled_early')} settled early, ${count('lost')} lost; last success: ${app.statistics.lastSuccessAt ? isoMs(app.statistics.lastSuccessAt.getTime()) : 'never'}${app.statistics.lastError ? `; last error: ${app.statistics.lastError.fatal ? 'FATAL ' : ''}${app.statistics.lastError.message}` : ''}`,
          );
        }
      }
      if (apps.length === 0) out('no app is configured or collected yet');
      for (const warning of warnings) out(warning);
      return 0;
    });
  },
};

/** The bucket as the operator thinks of it: its local day (or local day and hour). */
function label(bucket: BucketReport, timeZone: string, size: string): string {
  return size === '1d'
    ? formatLocalDate(bucket.start * 1000, timeZone)
    : formatLocalMinute(bucket.start * 1000, timeZone);
}
