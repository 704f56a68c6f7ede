/**
 * The BI side at scale: N apps × D days of history, then every BI view, every Grafana panel's
 * SQL and every template variable query (macros expanded as Grafana does), for one app and for
 * all apps, over the last 30 days and the last year (and one app over 2 years), medians of 5.
 *
 *   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench -- bi
 *   BENCH_APPS=500 BENCH_DAYS=365 BENCH_DB=pushloss_bench_bi_500 ... npm run bench -- bi
 *   BENCH_APPS=1 BENCH_DAYS=365 BENCH_SIZE=1h ... npm run bench -- bi
 *   BENCH_RANGES=30 ... npm run bench -- bi     # the last 30 days only
 *
 * Without BENCH_DATABASE_URL: the embedded database, in memory. BENCH_DB names a database to
 * keep (and reuse: generation is skipped when it already holds facts); otherwise a scratch
 * database is created and dropped.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import pg from 'pg';
import type { BucketSize } from '../src/buckets.ts';
import type { Database } from '../src/db/database.ts';
import { MEMORY_DATA_DIR, openDatabase } from '../src/db/connect.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { refreshAllApps } from '../src/feeds/loss/rollup.ts';
import { bucketContaining } from '../src/buckets.ts';
import type { Window } from '../src/tencent/loss.ts';
import { expandMacros, interpolateVariables, type Selection, type Variable } from '../test/helpers/grafana.ts';
import { benchRates } from './biRates.ts';
import { loadHistory } from './history.ts';

const apps = Number(process.env.BENCH_APPS ?? 20);
const days = Number(process.env.BENCH_DAYS ?? 365);
const size = (process.env.BENCH_SIZE ?? '1d') as BucketSize;
const serverUrl = process.env.BENCH_DATABASE_URL;
const keep = process.env.BENCH_DB;
const runs = Number(process.env.BENCH_RUNS ?? 5);
const TZ = 'Asia/Shanghai';

interface Dashboard {
  panels: Array<{ title: string; targets: Array<{ rawSql: string }> }>;
  templating: { list: Variable[] };
}
const dashboard = JSON.parse(
  readFileSync(new URL('../grafana/dashboards/pushloss.json', import.meta.url), 'utf8'),
) as Dashboard;

function historyBuckets(now: number): Window[] {
  const today = bucketContaining(now, '1d', TZ);
  const buckets: Window[] = [];
  for (let day = days; day >= 1; day--) {
    const bucket = bucketContaining((today.start - day * 86_400 + 43_200) * 1000, '1d', TZ);
    if (size === '1d') buckets.push(bucket);
    else for (let hour = bucket.start; hour < bucket.end; hour += 3600) buckets.push({ start: hour, end: hour + 3600 });
  }
  return buckets;
}

async function median(db: Kysely<Database>, text: string): Promise<number> {
  await sql.raw(text).execute(db); // warm
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const began = performance.now();
    await sql.raw(text).execute(db);
    times.push(performance.now() - began);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

async function main() {
  const sdkappids = Array.from({ length: apps }, (_, i) => 1_600_000_000 + i);
  const name = keep ?? `pushloss_bench_bi_${randomBytes(4).toString('hex')}`;
  let databaseUrl: string | undefined;
  if (serverUrl) {
    const admin = new pg.Client({ connectionString: serverUrl });
    await admin.connect();
    const exists = await admin.query('select 1 from pg_database where datname = $1', [name]);
    if (exists.rowCount === 0) await admin.query(`create database ${name}`);
    await admin.end();
    const url = new URL(serverUrl);
    url.pathname = `/${name}`;
    databaseUrl = url.toString();
  }
  let opened = await openDatabase({ databaseUrl, dataDir: MEMORY_DATA_DIR, maxConnections: 4 });
  try {
    await migrateToLatest(opened.db);
    if (opened.kind === 'postgres') {
      // The migrations set jit = off for the database's sessions: new sessions only. Without
      // reconnecting, every query below would pay seconds of JIT compilation.
      await opened.close();
      opened = await openDatabase({ databaseUrl, dataDir: MEMORY_DATA_DIR, maxConnections: 4 });
    }
    const { db } = opened;
    const now = Date.now();
    const { rows: present } = await sql<{ n: number }>`select count(*)::int8 as n from bucket_state`.execute(db);
    if (present[0]!.n === 0) {
      const began = performance.now();
      let shown = 0;
      const facts = await loadHistory(db, {
        sdkappids,
        buckets: historyBuckets(now),
        bucketSize: size,
        batch: Number(process.env.BENCH_BATCH ?? 200),
        onProgress: (n) => {
          if (n - shown >= 1_000_000) {
            shown = n;
            const seconds = (performance.now() - began) / 1000;
            console.error(`  ${(n / 1e6).toFixed(1)} M facts, ${Math.round(n / seconds / 1000)} k/s`);
          }
        },
      });
      const seconds = (performance.now() - began) / 1000;
      console.log(
        `generated         ${apps} apps × ${days} days (${size}): ${facts} facts in ${seconds.toFixed(0)} s, ${Math.round(facts / seconds / 1000)} k facts/s through loadBuckets (facts + rollup)`,
      );
      // What a pass does after its loads: sum the changed days over all apps (here every day).
      const summing = performance.now();
      const summed = await refreshAllApps(db);
      console.log(
        `summed over apps  ${summed} days in ${((performance.now() - summing) / 1000).toFixed(1)} s (push_loss_all_apps_refresh)`,
      );
      if (opened.kind === 'postgres') await sql`vacuum analyze`.execute(db);
    }
    await report(db, opened.kind, sdkappids, now);
    // BENCH_RATES=0: loss only (the statistics history doubles the generation time).
    if (process.env.BENCH_RATES !== '0')
      await benchRates(db, {
        kind: opened.kind,
        sdkappids,
        buckets: historyBuckets(now),
        bucketSize: size,
        now,
        median,
      });
  } finally {
    await opened.close();
    if (serverUrl && !keep) {
      const admin = new pg.Client({ connectionString: serverUrl });
      await admin.connect();
      await admin.query(`drop database if exists ${name} with (force)`);
      await admin.end();
    }
  }
}

async function report(db: Kysely<Database>, kind: string, sdkappids: number[], now: number) {
  const { rows: count } = await sql<{ n: number }>`select count(*)::int8 as n from loss_fact`.execute(db);
  const facts = count[0]!.n;
  console.log(`database          ${kind}${keep ? ` (${keep}, kept)` : ''}; ${facts} facts, ${apps} apps`);
  if (kind === 'postgres') {
    const { rows } = await sql<{ name: string; bytes: number }>`
      select 'loss_fact (all partitions, indexes)' as name, sum(pg_total_relation_size(inhrelid))::int8 as bytes
        from pg_inherits where inhparent = 'loss_fact'::regclass
      union all select r, pg_total_relation_size(r::regclass)::int8 from unnest(array['loss_day', 'loss_day_total', 'loss_week', 'loss_code_week', 'loss_all_day', 'bucket_state', 'tim_call']) r`.execute(
      db,
    );
    for (const { name, bytes } of rows) {
      console.log(
        `size              ${name.padEnd(36)} ${(bytes / 2 ** 20).toFixed(0).padStart(7)} MiB${name.startsWith('loss_fact') ? `, ${Math.round(bytes / facts)} bytes per fact` : ''}`,
      );
    }
  }
  const one = sdkappids[Math.floor(sdkappids.length / 2)]!;
  const selections: Array<[string, Selection]> = [
    ['one app', { values: [String(one)] }],
    ['all apps', { values: sdkappids.map(String) }],
  ];
  // BENCH_RANGES=30: the last 30 days only (the all-apps year reads the whole history, minutes at 500 apps).
  const ranges: Array<[string, { from: Date; to: Date }]> = (process.env.BENCH_RANGES ?? '30,365')
    .split(',')
    .map((days) => [`${days} d`, { from: new Date(now - Number(days) * 86_400_000), to: new Date(now) }]);
  const ALL_STAGES: Selection = { values: ['ready_to_send', 'post_send_delivered'] };
  const lastWeek = `date_trunc('week', (now() at time zone push_loss_day_zone()) - interval '7 days')::date`;
  const views: Array<[string, string]> = [
    [
      'push_loss',
      `select stage, sum(err_count)::int8 from push_loss where sdkappid in ($sdkappid) and $__timeFilter(bucket_start) group by 1`,
    ],
    [
      'push_loss_daily',
      `select day, stage, sum(err_count)::int8 from push_loss_daily where sdkappid in ($sdkappid) and $__timeFilter(day_start) and platform is null group by 1, 2`,
    ],
    [
      'push_loss_top_codes',
      `select err_code, sum(err_count)::int8 from push_loss_top_codes where sdkappid in ($sdkappid) and $__timeFilter(day_start) and rank <= 10 group by 1`,
    ],
    [
      'push_loss_code_periods',
      `select stage, platform, err_code, sum(err_count)::int8 from push_loss_code_periods
        where sdkappid in ($sdkappid) and stage in ($stage) and $__timeFilter(first_day_start) and $__timeFilter(last_day_start)
          and not (period = 'day' and $__timeFilter(week_first_day_start) and $__timeFilter(week_last_day_start))
          -- The edges as index bounds (as the dashboard panel does): days of whole weeks are not read.
          and (period = 'week'
            or first_day_start < (date_trunc('week', ($__timeFrom()::timestamptz at time zone push_loss_day_zone()) - interval '1 microsecond') + interval '7 days') at time zone push_loss_day_zone()
            or first_day_start >= (date_trunc('week', ($__timeTo()::timestamptz at time zone push_loss_day_zone()) - interval '6 days') + interval '7 days') at time zone push_loss_day_zone())
        group by 1, 2, 3`,
    ],
    [
      'push_loss_codes_all_apps',
      `select stage, platform, err_code, sum(err_count)::int8 from push_loss_codes_all_apps
        where stage in ($stage) and $__timeFilter(day_start) group by 1, 2, 3`,
    ],
    [
      'push_loss_bucket_share',
      `select platform, avg(share) from push_loss_bucket_share where sdkappid in ($sdkappid) and $__timeFilter(bucket_start) group by 1`,
    ],
    [
      'push_loss_wow (last week)',
      `select count(*), sum(change) from push_loss_wow where sdkappid in ($sdkappid) and week_start = ${lastWeek}`,
    ],
    [
      'collection_status',
      `select state, count(*) from collection_status where sdkappid in ($sdkappid) and $__timeFilter(bucket_start) group by 1`,
    ],
  ];
  const panels: Array<[string, string]> = dashboard.panels.map((p) => [`panel: ${p.title}`, p.targets[0]!.rawSql]);
  const columns = selections.flatMap(([who]) => ranges.map(([span]) => `${who}, ${span}`));
  console.log(`\nmedian of ${runs} runs, ms     ${columns.map((c) => c.padStart(18)).join('')}`);
  for (const [label, text] of [...views, ...panels]) {
    const cells: string[] = [];
    for (const [, selection] of selections) {
      for (const [, range] of ranges) {
        const query = expandMacros(
          interpolateVariables(text, dashboard.templating.list, { sdkappid: selection, stage: ALL_STAGES }),
          range,
        );
        cells.push((await median(db, query)).toFixed(1).padStart(18));
      }
    }
    console.log(`${label.slice(0, 30).padEnd(30)}${cells.join('')}`);
  }
  const twoYears = { from: new Date(now - 730 * 86_400_000), to: new Date(now) };
  const daily = expandMacros(
    interpolateVariables(dashboard.panels[0]!.targets[0]!.rawSql, dashboard.templating.list, {
      sdkappid: selections[0]![1],
      stage: ALL_STAGES,
    }),
    twoYears,
  );
  console.log(`\none app, 2 years of daily loss (panel 1): ${(await median(db, daily)).toFixed(1)} ms`);
  for (const variable of dashboard.templating.list) {
    const query = expandMacros(interpolateVariables(variable.query, dashboard.templating.list, {}), ranges[0]![1]);
    console.log(`variable $${variable.name}: ${(await median(db, query)).toFixed(1)} ms`);
  }
  // During a pass: every app has re-collected its last 7 days, not summed over apps yet, so the
  // all-apps top codes panel sums those days when read; then the pass ends and sums them.
  const topCodes = dashboard.panels.find((p) => p.title.startsWith('Top error codes'))!.targets[0]!.rawSql;
  const [span, range] = ranges[0]!;
  const allApps = expandMacros(
    interpolateVariables(topCodes, dashboard.templating.list, { sdkappid: selections[1]![1], stage: ALL_STAGES }),
    range,
  );
  await sql`insert into loss_all_stale (sdkappid, day)
            select distinct sdkappid, day from loss_day_total where day_start > ${new Date(now - 7 * 86_400_000)}
            on conflict do nothing`.execute(db);
  const duringPass = await median(db, allApps);
  const summing = performance.now();
  const days = await refreshAllApps(db);
  console.log(
    `during a pass (7 days of every app changed): top error codes, all apps, ${span}: ${duringPass.toFixed(1)} ms; ` +
      `summing the ${days} days over apps after it: ${(performance.now() - summing).toFixed(0)} ms`,
  );
}

await main();
