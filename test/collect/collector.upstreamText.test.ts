/**
 * What an upstream says in its texts reaches the warehouse only as storable, scrubbed text: a
 * `\u0000` in an ErrorInfo (or in an identifier the upstream quotes back) does not stop the pass,
 * and a secret quoted back with JSON `\u` escapes is found and redacted like a verbatim one, in
 * every column of every table and view and in the CSV report a BI reader prints.
 */
import { writeFileSync } from 'node:fs';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createCollector } from '../../src/collect/collector.ts';
import { loadConfig, type Config } from '../../src/config/config.ts';
import { formatReport } from '../../src/report/formats.ts';
import { lossReport } from '../../src/report/lossReport.ts';
import { startSimulator, type Simulator } from '../../src/simulator/index.ts';
import { manualClock } from '../helpers/clock.ts';
import { simulatorApps, simulatorConfig, simulatorEnv, TEST_SECRET } from '../helpers/config.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { startHostileUpstream } from '../helpers/hostileUpstream.ts';
import { capturedLogger } from '../helpers/logs.ts';
import { clearCollected } from '../helpers/warehouse.ts';

const APP = 1400000801;
const NOW = Date.UTC(2026, 10, 26, 4); // 2026-11-26 12:00 Beijing time
const clock = manualClock(NOW);

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t?.close();
});
beforeEach(async () => {
  clock.set(NOW);
  await clearCollected(t.db);
});

const collect = (config: Config) =>
  createCollector({ db: t.db, config, logger: capturedLogger().logger, clock }).runPass();
const states = () =>
  Promise.all([
    t.db.selectFrom('app_state').selectAll().executeTakeFirstOrThrow(),
    t.db.selectFrom('stats_app_state').selectAll().executeTakeFirstOrThrow(),
  ]);

describe('U+0000 in what the upstream says', () => {
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startSimulator({ apps: simulatorApps([APP]), clock, minIntervalMs: 25 });
  });
  afterAll(() => sim?.close());
  beforeEach(() => sim.reset());

  it('an escaped NUL in a FAIL answer: the pass ends, each feed is paused with fatal_at and the reason', async () => {
    const body = '{"ActionStatus":"FAIL","ErrorCode":90045,"ErrorInfo":"push not enabled \\u0000"}';
    sim.fail({ kind: 'body', body }, { times: 2 });
    const pass = await collect(simulatorConfig(sim.url, [APP]));
    expect(pass.apps.get(APP)).toMatchObject({ status: 'fatal' });
    for (const state of await states()) {
      expect(state.fatal_at).not.toBeNull();
      expect(state.last_error).toContain('Tencent error 90045: push not enabled \uFFFD');
    }
    const archived = await t.db.selectFrom('tim_call').select(['error_info', 'body']).executeTakeFirstOrThrow();
    expect(archived).toEqual({ error_info: 'push not enabled \uFFFD', body });
  });

  it('an identifier holding U+0000 (apps file), quoted back by the upstream: recorded, not a crash', async () => {
    const env = simulatorEnv(sim.url, [APP]);
    writeFileSync(
      env.PUSHLOSS_APPS_FILE!,
      JSON.stringify([
        {
          sdkappid: APP,
          secretKey: `${TEST_SECRET}-${APP}`,
          region: 'china',
          baseUrl: sim.url,
          identifier: 'adm\u0000in',
        },
      ]),
    );
    const pass = await collect(loadConfig(env));
    expect(pass.apps.get(APP)).toMatchObject({ status: 'fatal' });
    const [loss] = await states();
    expect(loss.fatal_at).not.toBeNull();
    expect(loss.last_error).toContain('adm\uFFFDin is not an App administrator');
  });
});

describe('a secret quoted back with JSON \\u escapes', () => {
  const key = `${TEST_SECRET}-${APP}`;

  /** Every table and view cell (text or bytes) that holds `needle`, as `table.column`. */
  async function cellsHolding(needle: string): Promise<string[]> {
    const { rows: columns } = await sql<{ table_name: string; column_name: string; data_type: string }>`
      select table_name, column_name, data_type from information_schema.columns
      where table_schema = current_schema() and data_type in ('text', 'character varying', 'bytea', 'json', 'jsonb')
    `.execute(t.db);
    expect(columns.length).toBeGreaterThan(20);
    const found: string[] = [];
    for (const { table_name: table, column_name: column, data_type: type } of columns) {
      const cell = type === 'bytea' ? sql`encode(${sql.ref(column)}, 'escape')` : sql`${sql.ref(column)}::text`;
      const { rows } = await sql<{ n: number }>`
        select count(*)::int as n from ${sql.table(table)} where position(${needle} in ${cell}) > 0
      `.execute(t.db);
      if (rows[0]!.n > 0) found.push(`${table}.${column}`);
    }
    return found;
  }

  it('is found in no column of any table or view, nor in the CSV report', async () => {
    const upstream = await startHostileUpstream({ kind: 'echo_escaped', code: 0, secret: key });
    try {
      const config = simulatorConfig(upstream.url, [APP]);
      await collect(config); // loss answers quoting both secrets in an ErrInfo
      upstream.answer({ kind: 'echo_escaped', code: 90045, secret: key });
      clock.set(NOW + 3_600_000);
      await collect(config); // FAIL answers quoting them in the ErrorInfo, for both feeds
      const usersig = new URL(upstream.requests[0]!, 'http://x').searchParams.get('usersig')!;
      expect(usersig.length).toBeGreaterThan(100);

      // The answers did reach every place a text goes.
      expect(await t.db.selectFrom('loss_fact').select('err_info').execute()).toContainEqual({
        err_info: 'signed [redacted] with [redacted]',
      });
      for (const state of await states()) expect(state.last_error).toContain('signed [redacted] with [redacted]');
      const failed = await t.db.selectFrom('stats_call').select('error_info').where('error_code', '=', 90045).execute();
      expect(failed[0]).toEqual({ error_info: 'signed [redacted] with [redacted]' });

      expect(await cellsHolding(key)).toEqual([]);
      expect(await cellsHolding(usersig)).toEqual([]);
      const csv = formatReport(await lossReport(t.db, { days: 7, nowMs: clock.now() }), 'csv');
      expect(csv).toContain('signed [redacted] with [redacted]');
      expect(csv).not.toContain(key);
      expect(csv).not.toContain(usersig);
    } finally {
      await upstream.close();
    }
  });
});
