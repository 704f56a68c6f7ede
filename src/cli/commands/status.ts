import { isoMs, systemClock } from '../../clock.ts';
import { listAppStates } from '../../collect/appState.ts';
import { holderIsGone } from '../../collect/leases.ts';
import { recentBuckets, statusDays, type BucketReport } from '../../collect/bucketStatus.ts';
import type { AppState } from '../../db/database.ts';
import { FEED_NAMES, type FeedName } from '../../tencent/apis.ts';
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

/** The feed whose buckets are listed one by one; the others are counted on a line each. */
const [LISTED, ...COUNTED] = FEED_NAMES as [FeedName, ...FeedName[]];

export const statusCommand: Command = {
  name: 'status',
  summary: 'what is collected, missing, lost, and about to fall out of reach',
  usage: `pushloss status [--json]

First the current anomalies (push_loss_anomalies: failing channels, loss spikes, new error codes,
each with the code's title and fix). Then, for each configured app (and any app collected into
this database before), the last ${statusDays(LISTED)} days' ${LISTED} buckets: final (collected for good),
pending (collected, may still change), missing (not collected yet, still reachable), settled
early (the API's horizon passed it before its final fetch: it keeps its last answer, which may be
short) or lost (the horizon passed it before it was ever fetched); the last error; and a WARNING
line for every bucket inside its final window (SETTLE_FINAL_WINDOW) that is not final yet. Each
other API collected (COLLECT_APIS) gets one more line per app counting its buckets by state over
its own horizon, with its last error (a feed stopped by a fatal error says FATAL), and the same
warnings.
  --json   the same as one JSON document, for scripts (the other APIs under "feeds")`,
  options: { json: { type: 'boolean' } },
  async run({ config, logger, out }, values) {
    return withDatabase(config, logger, async (db) => {
      const nowMs = systemClock.now();
      const states = new Map<FeedName, Map<number, AppState>>();
      for (const feed of FEED_NAMES)
        states.set(
          feed,
          new Map((await listAppStates(db, feed, config.bucketSize)).map((state) => [state.sdkappid, state])),
        );
      // Configured apps, and any app collected into this database before (e.g. the demo's).
      const sdkappids = [
        ...new Set([...config.apps.map((app) => app.sdkappid), ...[...states.values()].flatMap((m) => [...m.keys()])]),
      ].sort((a, b) => a - b);
      // The other feeds shown: those collected, and those with anything collected before.
      const shown = COUNTED.filter((feed) => config.feeds.includes(feed) || states.get(feed)!.size > 0);
      const leases = new Map(
        (
          await db
            .selectFrom('app_lease')
            .select(['sdkappid', 'holder', 'expires_at'])
            .where('expires_at', '>', new Date(nowMs))
            .execute()
        ).map((lease) => [lease.sdkappid, lease]),
      );
      const feedStatus = async (feed: FeedName, sdkappid: number) => {
        const state = states.get(feed)!.get(sdkappid);
        return {
          lastSuccessAt: state?.last_success_at ?? null,
          lastError: state?.last_error
            ? {
                at: state.last_error_at,
                code: state.last_error_code,
                message: state.last_error,
                fatal: state.fatal_at !== null,
              }
            : null,
          buckets: await recentBuckets(db, sdkappid, {
            feed,
            nowMs,
            horizonSeconds: config.limits[feed].horizonSeconds,
            bucketSize: config.bucketSize,
            timeZone: config.bucketTz,
            settle: config.daemon.settle,
          }),
        };
      };
      const apps = [];
      for (const sdkappid of sdkappids) {
        const lease = leases.get(sdkappid);
        const feeds: Partial<Record<FeedName, Awaited<ReturnType<typeof feedStatus>>>> = {};
        for (const feed of shown) feeds[feed] = await feedStatus(feed, sdkappid);
        apps.push({
          sdkappid,
          // Who holds the app now: other processes skip it until the lease ends (or at once if
          // its holder is gone: see leases.ts).
          lease: lease
            ? { holder: lease.holder, until: lease.expires_at, holderGone: holderIsGone(lease.holder) }
            : null,
          ...(await feedStatus(LISTED, sdkappid)),
          feeds,
        });
      }
      const atRisk = (sdkappid: number, feed: FeedName, buckets: readonly BucketReport[]) =>
        buckets
          .filter((bucket) => bucket.atRisk)
          .map(
            (bucket) =>
              `WARNING app ${sdkappid}: ${feed === LISTED ? '' : `${feed} `}bucket ${label(bucket, config.bucketTz, config.bucketSize)} leaves the ${feed} API horizon at ${isoMs(bucket.start * 1000 + config.limits[feed].horizonSeconds * 1000)} and is ${bucket.condition}, not final`,
          );
      const warnings = apps.flatMap((app) => [
        ...atRisk(app.sdkappid, LISTED, app.buckets),
        ...shown.flatMap((feed) => atRisk(app.sdkappid, feed, app.feeds[feed]!.buckets)),
      ]);

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
        for (const feed of shown) {
          const status = app.feeds[feed]!;
          const count = (condition: string) => status.buckets.filter((b) => b.condition === condition).length;
          out(
            `  ${feed} (last ${statusDays(feed)} days): ${count('final')} final, ${count('pending')} pending, ${count('missing')} missing, ${count('settled_early')} settled early, ${count('lost')} lost; last success: ${status.lastSuccessAt ? isoMs(status.lastSuccessAt.getTime()) : 'never'}${status.lastError ? `; last error: ${status.lastError.fatal ? 'FATAL ' : ''}${status.lastError.message}` : ''}`,
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
