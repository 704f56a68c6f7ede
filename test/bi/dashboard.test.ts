/**
 * Every query of the Grafana dashboard, run the way Grafana's PostgreSQL data source would run it
 * (template variables interpolated, then macros expanded), as the read-only role Grafana logs in
 * through, against known data: the panels show the right numbers, not merely no error.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import pg from 'pg';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.ts';
import type { LossStage } from '../../src/tencent/loss.ts';
import { markBucketFinal, markBucketLost } from '../../src/warehouse/state.ts';
import { refreshAllApps } from '../../src/feeds/loss/rollup.ts';
import { createTestDatabase } from '../helpers/database.ts';
import type { TestDatabase } from '../helpers/database.ts';
import { dayBucket, hourBucket, load, loss } from '../helpers/fixtures.ts';
import {
  expandMacros,
  interpolateVariables,
  type Selection,
  type TimeRange,
  type Variable,
} from '../helpers/grafana.ts';

const dashboardPath = new URL('../../grafana/dashboards/pushloss.json', import.meta.url);
const datasourcePath = new URL('../../grafana/provisioning/datasources/pushloss.yaml', import.meta.url);

interface Target {
  refId: string;
  rawSql: string;
  format: 'table' | 'time_series';
  datasource: { type: string; uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource: { type: string; uid: string };
  targets: Target[];
}
const dashboard = JSON.parse(readFileSync(dashboardPath, 'utf8')) as {
  uid: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Variable[] };
};

// ---------------------------------------------------------------------------------------------
// What Grafana does to a query before PostgreSQL sees it.

/** A panel's or variable's SQL as PostgreSQL receives it from Grafana. */
function grafanaQuery(text: string, range: TimeRange, selected: Record<string, Selection>): string {
  return expandMacros(interpolateVariables(text, dashboard.templating.list, selected), range);
}

// ---------------------------------------------------------------------------------------------
// Known data (the same shape as views.test.ts, smaller).

const A = 1400000001;
const B = 1400000002;
const R: LossStage = 'ready_to_send';
const P: LossStage = 'post_send_delivered';
async function seed(db: Kysely<Database>): Promise<void> {
  await load(db, A, dayBucket('2025-03-05'), '1d', [
    loss(R, null, '-1', 10, 'unknown error'),
    loss(R, null, '410', 5, 'token invalid'),
    loss(P, null, '1001', 7, 'device offline'),
    loss(R, 3, '-1', 6, 'unknown error'),
    loss(R, 3, '410', 5, 'token invalid'),
    loss(R, 4, '-1', 4, 'unknown error'),
    loss(P, 3, '1001', 7, 'device offline'),
  ]);
  await markBucketFinal(db, {
    sdkappid: A,
    feed: 'loss',
    bucketStart: dayBucket('2025-03-05').start,
    bucketSize: '1d',
  });
  await load(db, A, dayBucket('2025-03-11'), '1d', [
    loss(R, null, '-1', 20, 'unknown error'),
    loss(R, null, '20001', 3, 'quota exceeded'),
    loss(P, null, '1001', 2, 'device offline'),
    loss(R, 3, '-1', 12, 'unknown error'),
    loss(R, 2, '-1', 8, 'unknown error'),
    loss(R, 2, '20001', 3, 'quota exceeded'),
    loss(P, 9, '1001', 2, 'device offline'),
  ]);
  await load(db, A, hourBucket('2025-03-11', 1), '1h', [loss(R, null, '-1', 100, 'hidden by the day bucket')]);
  await load(db, A, hourBucket('2025-03-12', 0), '1h', [
    loss(R, null, '-1', 1, 'unknown error'),
    loss(R, 3, '-1', 1, 'unknown error'),
  ]);
  await load(db, A, hourBucket('2025-03-12', 1), '1h', [
    loss(R, null, '-1', 2, 'unknown error'),
    loss(R, null, '410', 2, 'token invalid'),
  ]);
  await markBucketLost(db, {
    sdkappid: A,
    feed: 'loss',
    bucket: dayBucket('2025-03-04'),
    bucketSize: '1d',
    at: new Date('2025-03-12T00:00:00Z'),
  });
  // App B: a lot of loss that must never show when only A is selected.
  await load(db, B, dayBucket('2025-03-11'), '1d', [
    loss(R, null, '-1', 1000, 'unknown error'),
    loss(R, 3, '-1', 1000, 'unknown error'),
  ]);
}

// ---------------------------------------------------------------------------------------------

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
  await seed(t.db);
});
afterAll(() => t?.close());

/** Runs Grafana's final SQL as pushloss_reader (Grafana's login is a member of it, nothing more). */
async function run(text: string): Promise<Array<Record<string, unknown>>> {
  return t.db.transaction().execute(async (trx) => {
    await sql`set local role pushloss_reader`.execute(trx);
    return (await sql.raw<Record<string, unknown>>(text).execute(trx)).rows;
  });
}

function panel(title: string): Panel {
  const found = dashboard.panels.find((p) => p.title.startsWith(title));
  if (!found) throw new Error(`no panel titled ${title}`);
  return found;
}

async function runPanel(title: string, range: TimeRange, selected: Record<string, Selection>) {
  const [target] = panel(title).targets;
  return run(grafanaQuery(target!.rawSql, range, selected));
}

const MARCH: TimeRange = { from: new Date('2025-03-01T00:00:00Z'), to: new Date('2025-03-20T00:00:00Z') };
const ALL_STAGES: Selection = { values: [R, P] };
const ONLY_A: Record<string, Selection> = { sdkappid: { values: [String(A)] }, stage: ALL_STAGES };
const at = (date: string) => new Date(`${date}T00:00:00+08:00`);

describe('the dashboard file', () => {
  it('is a Grafana dashboard on the provisioned data source, with the panels ops need', () => {
    expect(dashboard.uid).toBe('pushloss-loss');
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    const provisioned = readFileSync(datasourcePath, 'utf8');
    const uid = /^\s+uid:\s*(\S+)/m.exec(provisioned)![1];
    const type = /^\s+type:\s*(\S+)/m.exec(provisioned)![1];
    for (const p of dashboard.panels) {
      expect(p.datasource, p.title).toEqual({ type, uid });
      expect(p.targets.length, p.title).toBeGreaterThan(0);
      for (const target of p.targets) {
        expect(target.datasource).toEqual({ type, uid });
        expect(target.format).toBe(p.type === 'timeseries' ? 'time_series' : 'table');
        // How counts settle is Tencent's behaviour, measured over every app and all time (its
        // panel says so in its title): the one panel the app and range do not narrow.
        if (p.title.includes('(all apps')) continue;
        expect(target.rawSql, p.title).toMatch(/\$sdkappid/);
        expect(target.rawSql, p.title).toMatch(/\$__time(Filter|To)\(/);
      }
    }
    for (const v of dashboard.templating.list) expect(v.datasource).toEqual({ type, uid });
    expect(dashboard.panels.map((p) => [p.type, p.title])).toEqual([
      ['timeseries', 'Loss per stage (all channels)'],
      ['timeseries', 'Loss per channel ($stage)'],
      ['table', 'Top error codes per stage and channel'],
      ['table', 'Week over week per error code'],
      ['table', 'Buckets not final yet, or lost'],
      ['table', 'How counts settle (all apps, final buckets)'],
    ]);
  });

  it('reads nothing but the BI views, the dimensions and the zone function', () => {
    const allowed = new Set([
      'push_loss',
      'push_loss_apps',
      'push_loss_daily',
      'push_loss_top_codes',
      'push_loss_bucket_share',
      'push_loss_code_periods',
      'push_loss_codes_all_apps',
      'push_loss_wow',
      'collection_status',
      'push_error_explain',
      'push_loss_revisions',
      'stage',
      'platform',
    ]);
    const queries = [
      ...dashboard.panels.flatMap((p) => p.targets.map((x) => x.rawSql)),
      ...dashboard.templating.list.map((v) => v.query),
    ];
    for (const query of queries) {
      for (const [, relation] of query.matchAll(/\b(?:from|join)\s+([a-z_]+)/gi)) {
        if (relation === 'epoch') continue; // extract(epoch from ...)
        expect(allowed, `${relation} in ${query}`).toContain(relation);
      }
    }
  });
});

describe('the emulation of Grafana', () => {
  it('expands macros and variables as the PostgreSQL data source does', () => {
    const range = { from: new Date('2025-03-01T00:00:00Z'), to: new Date('2025-03-20T12:30:00.250Z') };
    expect(expandMacros('where $__timeFilter(d.day_start) and x < $__timeTo() and y >= $__timeFrom()', range)).toBe(
      "where d.day_start BETWEEN '2025-03-01T00:00:00Z' AND '2025-03-20T12:30:00.25Z' and x < '2025-03-20T12:30:00.25Z' and y >= '2025-03-01T00:00:00Z'",
    );
    expect(expandMacros("select $__timeGroupAlias(coalesce(a, b), '1h')", range)).toBe(
      'select floor(extract(epoch from coalesce(a, b))/3600)*3600 AS "time"',
    );
    expect(() => expandMacros('select $__unknownMacro(x)', range)).toThrow(/not emulated/);
    expect(
      interpolateVariables('in ($sdkappid) and ${stage}', dashboard.templating.list, {
        sdkappid: { values: ['1', "2'"] },
        stage: { value: 'x' },
      }),
    ).toBe("in ('1','2''') and 'x'");
  });
});

describe('variables', () => {
  it('$sdkappid lists every app the collector knows', async () => {
    const variable = dashboard.templating.list.find((v) => v.name === 'sdkappid')!;
    expect(variable).toMatchObject({ type: 'query', multi: true, includeAll: true });
    expect(await run(grafanaQuery(variable.query, MARCH, {}))).toEqual([{ sdkappid: A }, { sdkappid: B }]);
  });

  it('$stage offers the stages by id, labelled by name', async () => {
    const variable = dashboard.templating.list.find((v) => v.name === 'stage')!;
    expect(await run(grafanaQuery(variable.query, MARCH, {}))).toEqual([
      { __value: R, __text: 'Ready to send' },
      { __value: P, __text: 'Sent, not delivered' },
    ]);
  });
});

describe('panels on known data', () => {
  it('loss per stage: one series per stage, a point per local day, only the chosen app', async () => {
    expect(await runPanel('Loss per stage', MARCH, ONLY_A)).toEqual([
      { time: at('2025-03-05'), metric: 'Ready to send', value: 15 },
      { time: at('2025-03-05'), metric: 'Sent, not delivered', value: 7 },
      { time: at('2025-03-11'), metric: 'Ready to send', value: 23 },
      { time: at('2025-03-11'), metric: 'Sent, not delivered', value: 2 },
      { time: at('2025-03-12'), metric: 'Ready to send', value: 5 },
    ]);
    // Both apps: B's 1000 joins A's 23 on 03-11.
    const both = await runPanel('Loss per stage', MARCH, { ...ONLY_A, sdkappid: { values: [String(A), String(B)] } });
    expect(
      both.find((r) => (r.time as Date).getTime() === at('2025-03-11').getTime() && r.metric === 'Ready to send'),
    ).toMatchObject({ value: 1023 });
    // The time filter: a range ending before 03-11 keeps only 03-05.
    const early = await runPanel('Loss per stage', { from: MARCH.from, to: new Date('2025-03-09T00:00:00Z') }, ONLY_A);
    expect(early.map((r) => r.value)).toEqual([15, 7]);
  });

  it('loss per channel: one series per channel for the chosen stages', async () => {
    expect(await runPanel('Loss per channel', MARCH, ONLY_A)).toEqual([
      { time: at('2025-03-05'), metric: 'Huawei', value: 18 }, // 11 ready to send + 7 sent, not delivered
      { time: at('2025-03-05'), metric: 'FCM', value: 4 },
      { time: at('2025-03-11'), metric: 'Xiaomi', value: 11 },
      { time: at('2025-03-11'), metric: 'Huawei', value: 12 },
      { time: at('2025-03-11'), metric: 'platform 9', value: 2 },
      { time: at('2025-03-12'), metric: 'Huawei', value: 1 },
    ]);
    expect(await runPanel('Loss per channel', MARCH, { ...ONLY_A, stage: { values: [P] } })).toEqual([
      { time: at('2025-03-05'), metric: 'Huawei', value: 7 },
      { time: at('2025-03-11'), metric: 'platform 9', value: 2 },
    ]);
  });

  it('top error codes: ranked over the whole range per stage and channel, with descriptions', async () => {
    // The catalogue's title and fix beside each code: only Tencent's -1 is catalogued on these
    // channels (410 and 1001 are not theirs, 20001 is nobody's); unknown codes stay, as unknown.
    const row = (Stage: string, Channel: string, rank: number, code: string, Description: string, Lost: number) => ({
      Stage,
      Channel,
      '#': rank,
      'Error code': code,
      Description,
      Lost,
      Title: code === '-1' ? 'Certificate ID not set' : 'unknown code',
      Fix: expect.stringMatching(code === '-1' ? /^Upload the vendor certificate/ : /^Look the code up/) as unknown,
    });
    expect(await runPanel('Top error codes', MARCH, ONLY_A)).toEqual([
      row('Ready to send', 'All channels', 1, '-1', 'unknown error', 33),
      row('Ready to send', 'All channels', 2, '410', 'token invalid', 7),
      row('Ready to send', 'All channels', 3, '20001', 'quota exceeded', 3),
      row('Ready to send', 'Xiaomi', 1, '-1', 'unknown error', 8),
      row('Ready to send', 'Xiaomi', 2, '20001', 'quota exceeded', 3),
      row('Ready to send', 'Huawei', 1, '-1', 'unknown error', 19),
      row('Ready to send', 'Huawei', 2, '410', 'token invalid', 5),
      row('Ready to send', 'FCM', 1, '-1', 'unknown error', 4),
      row('Sent, not delivered', 'All channels', 1, '1001', 'device offline', 9),
      row('Sent, not delivered', 'Huawei', 1, '1001', 'device offline', 7),
      row('Sent, not delivered', 'platform 9', 1, '1001', 'device offline', 2),
    ]);
  });

  it('top error codes: whole weeks plus edge days give what summing every day gives, for any range', async () => {
    // The day-by-day definition (the panel before push_loss_code_periods), as the reference.
    const byDays = `SELECT s.name AS "Stage", coalesce(t.platform_name, 'All channels') AS "Channel", t.rank AS "#",
        t.err_code AS "Error code", t.err_info AS "Description", t.err_count AS "Lost",
        x.title AS "Title", x.fix AS "Fix"
      FROM (SELECT stage, platform, platform_name, err_code, sum(err_count)::int8 AS err_count,
                   (array_agg(err_info ORDER BY err_count DESC, day DESC))[1] AS err_info,
                   row_number() OVER (PARTITION BY stage, platform ORDER BY sum(err_count) DESC, err_code) AS rank
              FROM push_loss_top_codes
             WHERE $__timeFilter(day_start) AND sdkappid IN ($sdkappid) AND stage IN ($stage)
             GROUP BY stage, platform, platform_name, err_code) t
      JOIN stage s ON s.stage = t.stage
      CROSS JOIN push_error_explain(t.platform, t.err_code) x
     WHERE t.rank <= 10
     ORDER BY s.sort_order, t.platform NULLS FIRST, t.rank`;
    // A and B are every app: that selection reads the days summed over all apps, first as loads
    // left them (each changed day summed when read), then as a pass leaves them (summed once).
    const both = { sdkappid: { values: [String(A), String(B)] }, stage: ALL_STAGES };
    let compared = 0;
    for (const summed of [false, true]) {
      if (summed) expect(await refreshAllApps(t.db)).toBeGreaterThan(0);
      for (let first = 1; first <= 11; first += 2) {
        for (let last = 10; last <= 22; last += 3) {
          const range = { from: at(`2025-03-${String(first).padStart(2, '0')}`), to: at(`2025-03-${last}`) };
          for (const selected of [ONLY_A, both]) {
            const panelRows = await runPanel('Top error codes', range, selected);
            expect(panelRows, `${range.from.toISOString()} .. ${range.to.toISOString()}`).toEqual(
              await run(grafanaQuery(byDays, range, selected)),
            );
            if (panelRows.length > 0) compared++;
          }
        }
      }
    }
    expect(compared).toBeGreaterThan(40);
  });

  it('week over week: the week holding the end of the range against the week before', async () => {
    const week11 = { from: MARCH.from, to: new Date('2025-03-14T00:00:00Z') };
    const rows = await runPanel('Week over week', week11, ONLY_A);
    expect(rows.map((r) => [r.Stage, r['Error code'], r['This week'], r['Previous week'], r.Change])).toEqual([
      ['Ready to send', '-1', 23, 10, 13],
      ['Sent, not delivered', '1001', 2, 7, -5],
      ['Ready to send', '20001', 3, 0, 3],
      ['Ready to send', '410', 2, 5, -3],
    ]);
    expect(rows.map((r) => r['Change ratio'])).toEqual([1.3, -5 / 7, null, -0.6]);
    expect(rows.every((r) => r.App === A && typeof r.Description === 'string')).toBe(true);
  });

  it('buckets not final yet, or lost: newest first, final ones left out', async () => {
    const rows = await runPanel('Buckets not final yet', MARCH, ONLY_A);
    expect(rows.map((r) => [r.App, (r['Bucket start'] as Date).toISOString(), r.Size, r.State, r.Fetches])).toEqual([
      [A, '2025-03-11T17:00:00.000Z', '1h', 'pending', 1],
      [A, '2025-03-11T16:00:00.000Z', '1h', 'pending', 1],
      [A, '2025-03-10T17:00:00.000Z', '1h', 'pending', 1],
      [A, '2025-03-10T16:00:00.000Z', '1d', 'pending', 1],
      [A, '2025-03-03T16:00:00.000Z', '1d', 'lost', 0],
    ]);
    expect(rows.at(-1)).toMatchObject({ 'Last fetched': null, 'Lost at': new Date('2025-03-12T00:00:00Z') });
    expect(rows[0]!['Last fetched']).toBeInstanceOf(Date);
  });
});

describe('grafana/init/01-grafana-reader.sh', () => {
  const script = fileURLToPath(new URL('../../grafana/init/01-grafana-reader.sh', import.meta.url));
  const exec = promisify(execFile);

  it('creates a read-only login, member of pushloss_reader, and sets the day zone (PostgreSQL with psql only)', async (ctx) => {
    const psql = await exec('psql', ['--version']).then(
      () => true,
      () => false,
    );
    if (!t.url || !psql) ctx.skip(); // PGlite has no server to log in to; no psql, no init step
    const url = new URL(t.url!);
    const login = `pushloss_t_grafana_${randomBytes(4).toString('hex')}`;
    const password = `p'a"s s;--${randomBytes(4).toString('hex')}`;
    const env = {
      ...process.env,
      PGHOST: url.hostname,
      PGPORT: url.port || '5432',
      PGPASSWORD: decodeURIComponent(url.password),
      POSTGRES_USER: decodeURIComponent(url.username) || 'postgres',
      POSTGRES_DB: decodeURIComponent(url.pathname.slice(1)),
      PUSHLOSS_READER_PASSWORD: password,
      PUSHLOSS_GRAFANA_USER: login,
      BUCKET_TZ: 'Europe/Berlin',
    };
    const grafanaUrl = new URL(t.url!);
    grafanaUrl.username = login;
    grafanaUrl.password = encodeURIComponent(password);
    const client = new pg.Client({ connectionString: grafanaUrl.toString() });
    try {
      await exec('bash', [script], { env });
      await exec('bash', [script], { env }); // running it again is harmless
      await client.connect();
      const one = async (text: string) => (await client.query(text)).rows[0] as Record<string, unknown>;
      expect(await one('select current_user as who')).toEqual({ who: login });
      expect(await one("select pg_has_role(current_user, 'pushloss_reader', 'member') as member")).toEqual({
        member: true,
      });
      expect(await one('show default_transaction_read_only')).toEqual({ default_transaction_read_only: 'on' });
      expect(await one('select push_loss_day_zone() as zone')).toEqual({ zone: 'Europe/Berlin' });
      expect(await one('select count(*)::int as n from push_loss_daily where sdkappid = 1400000001')).toEqual({
        n: expect.any(Number),
      });
      const denied = await client.query('select * from tim_call').then(
        () => 'allowed',
        (error: { code?: string }) => error.code,
      );
      expect(denied).toBe('42501');
      const [role] = (
        await sql<{ rolcanlogin: boolean; rolsuper: boolean; has_password: boolean }>`
        select rolcanlogin, rolsuper, rolpassword is not null as has_password from pg_authid where rolname = ${login}`.execute(
          t.db,
        )
      ).rows;
      expect(role).toEqual({ rolcanlogin: true, rolsuper: false, has_password: true });
    } finally {
      await client.end().catch(() => {});
      await sql`drop role if exists ${sql.id(login)}`.execute(t.db);
      // New sessions of this file's pool would count days in Berlin otherwise.
      await sql`alter database ${sql.id(env.POSTGRES_DB)} reset pushloss.bucket_tz`.execute(t.db);
    }
  });
});
