import { randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isoSeconds, systemClock } from '../../clock.ts';
import { createCollector } from '../../collect/collector.ts';
import { loopbackApp, type Config } from '../../config/config.ts';
import type { Database } from '../../db/database.ts';
import { createLogger } from '../../log.ts';
import { formatReport } from '../../report/formats.ts';
import { lossReport } from '../../report/lossReport.ts';
import { startSimulator } from '../../simulator/index.ts';
import { FEED_NAMES } from '../../tencent/apis.ts';
import type { Command } from '../command.ts';
import { withDatabase } from '../database.ts';

const DEMO_APP = 1400000000;

/** One line on the task pushes of the week, from their contract views. */
async function taskPushSummary(db: Kysely<Database>): Promise<string> {
  const { rows } = await sql<{ lost: string | null; sent: string | null }>`
    select (select sum(err_count) from all_member_push_loss where task_id is null and platform is null)::text as lost,
           (select sum(sent_count) from all_member_push_stats where task_id is null and platform is null)::text as sent`.execute(
    db,
  );
  return `task pushes (all_member_push_loss, all_member_push_stats): ${rows[0]?.sent ?? 0} sent, ${rows[0]?.lost ?? 0} lost over the week`;
}

export const demoCommand: Command = {
  name: 'demo',
  summary: 'simulator on loopback, a week of buckets into the embedded database, a loss and rate report',
  usage: `pushloss demo

Starts the API simulator on 127.0.0.1 for a demo app (${DEMO_APP}, random key), runs one
collection pass into the embedded database under PUSHLOSS_DATA_DIR/demo (at the real 1 call per
second, every API's last week, so about half a minute), and prints the top error
codes per stage and channel and the loss rates; writes the same as a page with charts to
PUSHLOSS_DATA_DIR/demo/report.html and prints its path.
Afterwards: PUSHLOSS_DATA_DIR=<dir>/demo npm run status (or npm run report).`,
  options: {},
  async run({ config, out, signal }) {
    const secretKey = randomBytes(24).toString('hex');
    const sim = await startSimulator({ apps: [{ sdkappid: DEMO_APP, secretKey }] });
    const demo: Config = {
      ...config,
      apps: [loopbackApp(DEMO_APP, secretKey, [sim.url])],
      databaseUrl: undefined,
      dataDir: join(config.dataDir, 'demo'),
      // Every API, each over the week of the loss report (statistics could reach 30 days back,
      // at 23 more calls each).
      feeds: FEED_NAMES,
      limits: Object.fromEntries(
        FEED_NAMES.map((feed) => [feed, { ...config.limits[feed], horizonSeconds: 7 * 86_400 }]),
      ) as Config['limits'],
    };
    // The demo prints its own progress; the JSON logs only show problems unless asked for more.
    const logger = createLogger(config.logLevel === 'info' ? 'error' : config.logLevel);
    try {
      out(
        `simulator on ${sim.url}; collecting app ${DEMO_APP} into ${demo.dataDir} (${demo.bucketSize} buckets, ${demo.bucketTz})`,
      );
      return await withDatabase(demo, logger, async (db, { coordinationDb }) => {
        const collector = createCollector({
          db,
          coordinationDb,
          config: demo,
          logger,
          clock: systemClock,
          observer: {
            call: (call) =>
              out(
                `  ${isoSeconds(call.window.start)} .. ${isoSeconds(call.window.end)}  ${call.outcome}  ${call.durationMs} ms`,
              ),
          },
        });
        const pass = await collector.runPass(signal);
        const result = pass.apps.get(DEMO_APP);
        out(`collected in ${(pass.durationMs / 1000).toFixed(1)} s: ${JSON.stringify(result)}`);
        const nowMs = systemClock.now();
        const report = await lossReport(db, { days: 7, nowMs, timeZone: demo.bucketTz, top: 2 });
        out('');
        out(formatReport(report, 'table', { sections: ['stages', 'topCodes', 'rates'] }).trimEnd());
        out('');
        out(await taskPushSummary(db));
        const page = join(demo.dataDir, 'report.html');
        const full = await lossReport(db, { days: 7, nowMs, timeZone: demo.bucketTz, daily: true });
        await writeFile(page, formatReport(full, 'html'));
        out('');
        out(`the same with charts: ${page} (open it in a browser)`);
        return result?.status === 'collected' && result.failed === 0 ? 0 : 1;
      });
    } finally {
      await sim.close();
    }
  },
};
