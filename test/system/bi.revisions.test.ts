/**
 * push_loss_revisions shows how counts settle, measured from the raw archive: against the
 * simulator whose counts settle over days (SETTLING_OVER_DAYS), a month of passes on the default
 * schedule gives back the simulator's curve, computed here by the simulator's own functions at
 * the instants its calls arrived.
 */
import { readFileSync } from 'node:fs';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock } from '../helpers/clock.ts';
import { createCollector } from '../../src/collect/collector.ts';
import { formatReport } from '../../src/report/formats.ts';
import { lossReport } from '../../src/report/lossReport.ts';
import { SETTLING_OVER_DAYS, startSimulator, type Simulator } from '../../src/simulator/index.ts';
import { defaultLossData, defaultStatsData, startTimeOf } from '../helpers/simulator.ts';
import { simulatorApps, simulatorConfig } from '../helpers/config.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { capturedLogger } from '../helpers/logs.ts';

const APP = 1400000701;
// 2026-11-26 00:30 Beijing time.
const NOW = Date.UTC(2026, 10, 25, 16, 30);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

let t: TestDatabase;
let sim: Simulator;
const clock = manualClock(NOW);

beforeAll(async () => {
  t = await createTestDatabase();
  sim = await startSimulator({ apps: simulatorApps([APP]), clock, minIntervalMs: 25, settle: SETTLING_OVER_DAYS });
  const collector = createCollector({
    db: t.db,
    config: simulatorConfig(sim.url, [APP]),
    logger: capturedLogger().logger,
    clock,
  });
  // Every 2 hours for 8 days (loss: every day's final fetch), then every 4 hours to day 31.
  for (let at = NOW; at <= NOW + 31 * DAY; at += at < NOW + 8 * DAY ? 2 * HOUR : 4 * HOUR) {
    clock.set(at);
    await collector.runPass();
  }
}, 300_000);
afterAll(async () => {
  await sim?.close();
  await t?.close();
});

interface Revision {
  feed: string;
  stage: string;
  platform: number | null;
  buckets: string;
  share_6h: string | null;
  share_1d: string | null;
  share_5d: string | null;
  share_7d: string | null;
  share_20d: string | null;
  changed_after_48h: string;
}
/**
 * The view, read once: the tests only read after the month of passes, and each read of it costs
 * seconds on PGlite.
 */
let read: Promise<Revision[]> | undefined;
const revisions = () =>
  (read ??= sql<Revision>`select * from push_loss_revisions order by feed, stage, platform nulls first`
    .execute(t.db)
    .then((result) => result.rows));
const overall = (rows: Revision[], feed: string, stage: string) =>
  rows.find((r) => r.feed === feed && r.stage === stage && r.platform === null)!;

/**
 * The share of the final value at `ageMs` (since each bucket's end) over the final buckets, from
 * the simulator's answers: the first answer at that age or later, against the last one.
 */
async function expectedShare(
  feed: 'loss' | 'statistics',
  count: (window: { start: number; end: number }, atMs: number) => number,
  ageMs: number,
) {
  const table = feed === 'loss' ? 'bucket_state' : 'stats_bucket_state';
  const path = feed === 'loss' ? '/normal_push_loss' : '/normal_push_statistics';
  const finals = await t.db.selectFrom(table).selectAll().where('final', '=', true).execute();
  let reached = 0;
  let final = 0;
  let changed = 0;
  for (const bucket of finals) {
    const window = { start: bucket.bucket_start.getTime() / 1000, end: bucket.bucket_end.getTime() / 1000 };
    const answers = sim.calls
      .filter(
        (c) => c.path.endsWith(path) && c.errorCode === 0 && c.injected === null && startTimeOf(c) === window.start,
      )
      .filter((c) => (JSON.parse(c.body) as { EndTime: number }).EndTime === window.end)
      .map((c) => c.receivedAt);
    const finalCount = count(window, answers.at(-1)!);
    const at48h = answers.find((a) => a - window.end * 1000 >= 48 * HOUR);
    if (at48h !== undefined && count(window, at48h) !== finalCount) changed++;
    const at = answers.find((a) => a - window.end * 1000 >= ageMs);
    if (at === undefined) continue;
    reached += count(window, at);
    final += finalCount;
  }
  return { share: Math.round((reached / final) * 10_000) / 10_000, changed };
}

describe('push_loss_revisions', () => {
  it('gives back the simulator curve of the post-send loss; the ready-to-send loss never moves', async () => {
    const rows = await revisions();
    const post = overall(rows, 'loss', 'post_send_delivered');
    const loss = (stage: string) => (window: { start: number; end: number }, atMs: number) =>
      defaultLossData(APP, window, { nowMs: atMs, model: SETTLING_OVER_DAYS })
        .filter((e) => e.platform === null && e.stage === stage)
        .reduce((sum, e) => sum + e.errCount, 0);
    expect(Number(post.buckets)).toBeGreaterThanOrEqual(20);
    const at6h = await expectedShare('loss', loss('post_send_delivered'), 6 * HOUR);
    expect(Number(post.share_6h)).toBe(at6h.share);
    expect(Number(post.share_1d)).toBe((await expectedShare('loss', loss('post_send_delivered'), DAY)).share);
    // Changed after 48 h: every bucket first fetched before 48 h (the first pass found older ones).
    expect(Number(post.changed_after_48h)).toBe(at6h.changed);
    expect(Number(post.changed_after_48h)).toBeGreaterThanOrEqual(Number(post.buckets) - 7);
    // The curve: about 0.65 at 6 h (plus the day's later hours), 0.8 at 1 d, all at 5 d.
    expect(Number(post.share_6h)).toBeGreaterThan(0.6);
    expect(Number(post.share_6h)).toBeLessThan(Number(post.share_1d));
    expect(Number(post.share_1d)).toBeLessThan(0.9);
    expect(Number(post.share_5d)).toBe(1);
    expect(post.share_7d).toBeNull(); // a loss day bucket leaves its horizon 6 days after its end
    const ready = overall(rows, 'loss', 'ready_to_send');
    expect([ready.share_6h, ready.share_1d, ready.share_5d].map(Number)).toEqual([1, 1, 1]);
    expect(Number(ready.changed_after_48h)).toBe(0);
  });

  it('statistics: delivery settles over 5 days, clicks over 10, totals never move', async () => {
    const rows = await revisions();
    const stats = (kind: 'delivered' | 'click') => (window: { start: number; end: number }, atMs: number) =>
      defaultStatsData(APP, window, { nowMs: atMs, model: SETTLING_OVER_DAYS }).overall[kind] ?? 0;
    const delivered = overall(rows, 'statistics', 'delivered');
    const click = overall(rows, 'statistics', 'click');
    expect(Number(delivered.buckets)).toBeGreaterThanOrEqual(1);
    expect(Number(delivered.share_1d)).toBe((await expectedShare('statistics', stats('delivered'), DAY)).share);
    const clickAt1d = await expectedShare('statistics', stats('click'), DAY);
    expect(Number(click.share_1d)).toBe(clickAt1d.share);
    expect(Number(click.changed_after_48h)).toBe(clickAt1d.changed);
    expect(Number(click.share_1d)).toBeLessThan(Number(delivered.share_1d));
    expect(Number(delivered.share_7d)).toBe(1);
    expect(Number(click.share_7d)).toBeLessThan(1);
    expect(Number(click.share_20d)).toBe(1);
    expect(Number(click.changed_after_48h)).toBeGreaterThan(0);
    expect(Number(overall(rows, 'statistics', 'total').changed_after_48h)).toBe(0);
  });

  it('the Grafana panel shows them, with stage and channel names', async () => {
    const dashboard = JSON.parse(
      readFileSync(new URL('../../grafana/dashboards/pushloss.json', import.meta.url), 'utf8'),
    ) as { panels: Array<{ title: string; targets: Array<{ rawSql: string }> }> };
    const panel = dashboard.panels.find((p) => p.title.startsWith('How counts settle'))!;
    const { rows } = await sql.raw<Record<string, unknown>>(panel.targets[0]!.rawSql).execute(t.db);
    const post = overall(await revisions(), 'loss', 'post_send_delivered');
    const line = rows.find((r) => r.API === 'loss' && r.Channel === 'all channels' && r.Stage !== 'Ready to send')!;
    expect(Number(line['1 d'])).toBe(Number(post.share_1d));
    expect(Number(line['Changed after 48 h'])).toBe(Number(post.changed_after_48h));
    expect(rows.some((r) => r.API === 'statistics' && r.Channel === 'Huawei')).toBe(true);
  });

  it('the report prints them: a line per API, stage and channel, a share per age', async () => {
    const report = await lossReport(t.db, { days: 1, nowMs: clock.now(), timeZone: 'Asia/Shanghai' });
    const post = overall(await revisions(), 'loss', 'post_send_delivered');
    const line = report.revisions.find(
      (r) => r.feed === 'loss' && r.stage === 'post_send_delivered' && r.platform === null,
    );
    expect(line).toMatchObject({ buckets: Number(post.buckets), changedAfter48h: Number(post.changed_after_48h) });
    expect(line!.shares['1d']).toBe(Number(post.share_1d));
    const text = formatReport(report, 'table', { sections: ['revisions'] });
    const percent = (share: string | null) => `${(Number(share) * 100).toFixed(1)}%`;
    expect(text).toMatch(
      new RegExp(
        `loss +post_send_delivered +all channels +${post.buckets} +${percent(post.share_6h)} +${percent(post.share_1d)} .* ${post.changed_after_48h}\n`,
      ),
    );
  });
});
