/**
 * The statistics side of `npm run bench -- bi`: a statistics history for the same apps and buckets
 * as the loss history (through `loadStatsBucket`, the collector's own path), then the statistics
 * and rate views and every panel of grafana/dashboards/pushloss-rates.json, for one app and for
 * all apps, over the last 30 days and the last year, medians.
 *
 * Each is timed twice: as it is, and as 0005 defined it (the same SQL over
 * `push_stats_daily_by_fact`, 0005's view over the facts, kept by 0008 for other zones), so one
 * run shows what the `stats_day` rollup changes. The "before" views are created for the run in
 * the bench database and dropped afterwards.
 */
import { readFileSync } from 'node:fs';
import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import type { BucketSize } from '../src/buckets.ts';
import type { Database } from '../src/db/database.ts';
import type { Window } from '../src/tencent/loss.ts';
import { expandMacros, interpolateVariables, type Selection, type Variable } from '../test/helpers/grafana.ts';
import { loadStatsHistory } from './statsHistory.ts';

interface Dashboard {
  panels: Array<{ title: string; targets: Array<{ rawSql: string }> }>;
  templating: { list: Variable[] };
}
const dashboard = JSON.parse(
  readFileSync(new URL('../grafana/dashboards/pushloss-rates.json', import.meta.url), 'utf8'),
) as Dashboard;

export interface RatesBenchOptions {
  kind: string;
  sdkappids: readonly number[];
  buckets: readonly Window[];
  bucketSize: BucketSize;
  now: number;
  /** The median time of a query, in ms (bi.ts's, so both halves measure alike). */
  median: (db: Kysely<Database>, text: string) => Promise<number>;
}

const VIEWS: Array<[string, string]> = [
  [
    'push_stats',
    `select platform, sum(sent_count)::int8 from push_stats where sdkappid in ($sdkappid) and $__timeFilter(bucket_start) group by 1`,
  ],
  [
    'push_stats_daily',
    `select day, sum(sent_count)::int8 from push_stats_daily where sdkappid in ($sdkappid) and $__timeFilter(day_start) and platform is null group by 1`,
  ],
  [
    'push_loss_rate',
    `select stage, platform, sum(loss_count)::int8, sum(denominator)::int8 from push_loss_rate
      where sdkappid in ($sdkappid) and $__timeFilter(day_start) and has_stats group by 1, 2`,
  ],
  [
    'push_loss_reconciliation',
    `select stage, platform, sum(difference)::int8 from push_loss_reconciliation
      where sdkappid in ($sdkappid) and $__timeFilter(day_start) group by 1, 2`,
  ],
];

/** The "before" views: 0005's push_loss_rate and reconciliation, over 0005's push_stats_daily. */
const BEFORE: Array<[string, string, Array<[RegExp, string]>]> = [
  ['push_loss_rate', 'bench_0005_push_loss_rate', [[/\bpush_stats_daily\b/g, 'push_stats_daily_by_fact']]],
  [
    'push_loss_reconciliation',
    'bench_0005_push_loss_reconciliation',
    [[/\bpush_loss_rate\b/g, 'bench_0005_push_loss_rate']],
  ],
];

/** The same query as 0005 would have run it. */
function asBefore(text: string): string {
  return text
    .replace(/\bpush_stats_daily\b/g, 'push_stats_daily_by_fact')
    .replace(/\bpush_loss_rate\b/g, 'bench_0005_push_loss_rate')
    .replace(/\bpush_loss_reconciliation\b/g, 'bench_0005_push_loss_reconciliation');
}

/** Generates the statistics history if missing, then prints the rates half of the BI bench. */
export async function benchRates(db: Kysely<Database>, options: RatesBenchOptions): Promise<void> {
  const { sdkappids, now, median } = options;
  const { rows: present } = await sql<{ n: number }>`select count(*)::int8 as n from stats_bucket_state`.execute(db);
  if (present[0]!.n === 0) {
    const began = performance.now();
    const buckets = await loadStatsHistory(db, options);
    const seconds = (performance.now() - began) / 1000;
    console.log(
      `\ngenerated         statistics for ${sdkappids.length} apps × ${options.buckets.length} buckets: ${buckets} buckets in ${seconds.toFixed(0)} s, ${Math.round(buckets / seconds)} buckets/s through loadStatsBucket (facts + stats_day)`,
    );
    if (options.kind === 'postgres') await sql`vacuum analyze`.execute(db);
  }
  const { rows: counted } = await sql<{ facts: number; days: number }>`
    select (select count(*) from stats_fact)::int8 as facts, (select count(*) from stats_day)::int8 as days`.execute(
    db,
  );
  console.log(`\nstatistics        ${counted[0]!.facts} stats_fact rows, ${counted[0]!.days} stats_day rows`);

  for (const [view, copy, replacements] of BEFORE) {
    const { rows } = await sql<{ definition: string }>`select pg_get_viewdef(${view}::regclass) as definition`.execute(
      db,
    );
    const definition = replacements.reduce((text, [from, to]) => text.replace(from, to), rows[0]!.definition);
    await sql.raw(`create or replace view ${copy} as ${definition}`).execute(db);
  }
  try {
    await timeAll(db, sdkappids, now, median);
  } finally {
    await sql
      .raw(
        `drop view if exists ${BEFORE.map(([, copy]) => copy)
          .reverse()
          .join(', ')}`,
      )
      .execute(db);
  }
}

async function timeAll(
  db: Kysely<Database>,
  sdkappids: readonly number[],
  now: number,
  median: RatesBenchOptions['median'],
): Promise<void> {
  const one = sdkappids[Math.floor(sdkappids.length / 2)]!;
  const selections: Selection[] = [{ values: [String(one)] }, { values: sdkappids.map(String) }];
  const ranges = [30, 365].map((days) => ({ from: new Date(now - days * 86_400_000), to: new Date(now) }));
  const ALL_STAGES: Selection = { values: ['ready_to_send', 'post_send_delivered'] };
  const queries: Array<[string, string]> = [
    ...VIEWS,
    ...dashboard.panels.map((p): [string, string] => [`rates panel: ${p.title}`, p.targets[0]!.rawSql]),
  ];
  console.log(
    `\nmedian, ms (0005: before stats_day)${['one app, 30 d', 'one app, 365 d', 'all apps, 30 d', 'all apps, 365 d'].map((c) => c.padStart(18)).join('')}`,
  );
  for (const [label, text] of queries) {
    for (const [suffix, query] of [
      ['', text],
      [' (0005)', asBefore(text)],
    ] as const) {
      if (suffix && query === text) continue; // push_stats: nothing changed
      const cells: string[] = [];
      for (const selection of selections) {
        for (const range of ranges) {
          const expanded = expandMacros(
            interpolateVariables(query, dashboard.templating.list, { sdkappid: selection, stage: ALL_STAGES }),
            range,
          );
          cells.push((await median(db, expanded)).toFixed(1).padStart(18));
        }
      }
      console.log(`${(label.slice(0, 35 - suffix.length) + suffix).padEnd(35)}${cells.join('')}`);
    }
  }
}
