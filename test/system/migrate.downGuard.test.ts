/**
 * `pushloss migrate down` as an operator runs it on a database holding answers: a step that would
 * drop stored answers or facts (which the API cannot give again) is refused with one line naming
 * them and exit 2, and the data stays; `--drop-data` reverts it anyway. Steps that drop nothing
 * stored (views, rollups) go through as before.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { openDatabase } from '../../src/db/connect.ts';
import type { Database } from '../../src/db/database.ts';
import { migrateDown, migrateToLatest, migrationStatus } from '../../src/db/migrate.ts';
import { archiveCall } from '../../src/warehouse/archive.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { dayBucket, load, loadStats, loss, okCall } from '../helpers/fixtures.ts';
import { runCli } from '../helpers/process.ts';

const APP = 1400000001;
const RAW = { bodyRaw: Buffer.from('{"ErrorInfo":"\u0000"}') };

/** The database as a URL (PostgreSQL) or a data directory (PGlite), opened only between CLI runs. */
let env: Record<string, string>;
let withDb: <T>(fn: (db: Kysely<Database>) => Promise<T>) => Promise<T>;
let close: () => Promise<void>;

beforeAll(async () => {
  if (inject('pushlossTestDb').mode === 'server') {
    const t: TestDatabase = await createTestDatabase();
    env = { DATABASE_URL: t.url! };
    withDb = (fn) => fn(t.db);
    close = () => t.close();
  } else {
    const dir = await mkdtemp(join(tmpdir(), 'pushloss-down-'));
    env = { PUSHLOSS_DATA_DIR: dir };
    withDb = async (fn) => {
      const opened = await openDatabase({ dataDir: dir });
      try {
        return await fn(opened.db);
      } finally {
        await opened.close();
      }
    };
    close = () => rm(dir, { recursive: true, force: true });
    await withDb((db) => migrateToLatest(db));
  }
  await withDb(async (db) => {
    await load(db, APP, dayBucket('2026-11-20'), '1d', [loss('ready_to_send', null, '-1', 9, 'x')]);
    await load(db, APP, dayBucket('2026-11-21'), '1d', [loss('ready_to_send', null, '-1', 4, 'x')]);
    await loadStats(db, APP, dayBucket('2026-11-20'), '1d', [10, 9, 8, 1]);
    for (const feed of ['loss', 'statistics'] as const)
      await archiveCall(db, feed, okCall(APP, dayBucket('2026-11-22'), { outcome: 'invalid_response', ...RAW }));
  });
}, 60_000);
afterAll(() => close?.());

const latest = () => withDb(async (db) => (await migrationStatus(db)).filter((m) => m.executedAt).at(-1)?.name);
/** Reverts in-process down to (not including) `name`: the steps that drop nothing stored. */
const downTo = (name: string) =>
  withDb(async (db) => {
    while ((await migrationStatus(db)).filter((m) => m.executedAt).at(-1)?.name !== name) await migrateDown(db);
  });
const migrate = (...args: string[]) => runCli(['migrate', ...args], { ...env, LOG_LEVEL: 'silent' });

it('reverts a step that drops only derived data (the all-apps rollup)', async () => {
  await downTo('0010_all_apps');
  expect(await migrate('down')).toMatchObject({ code: 0, stdout: 'reverted 0010_all_apps\n', stderr: '' });
}, 60_000);

it('refuses to drop the exact bytes of answers (0006), keeps them, and drops them with --drop-data', async () => {
  await downTo('0006_raw_body');
  expect(await migrate('down')).toEqual({
    code: 2,
    stdout: '',
    stderr:
      'pushloss: migrate down: reverting 0006_raw_body would drop tim_call.body_raw (1 row), stats_call.body_raw (1 row), ' +
      'which cannot be fetched again; back the database up and pass --drop-data to revert anyway\n',
  });
  expect(await latest()).toBe('0006_raw_body');
  expect(await migrate('down', '--drop-data')).toMatchObject({ code: 0, stdout: 'reverted 0006_raw_body\n' });
}, 60_000);

it('refuses to drop the statistics answers and facts (0005), and everything (0001)', async () => {
  expect(await migrate('down')).toMatchObject({
    code: 2,
    stderr: expect.stringContaining(
      'reverting 0005_push_statistics would drop stats_call (2 rows), stats_fact (1 row),',
    ),
  });
  expect(await latest()).toBe('0005_push_statistics');
  await withDb(async (db) => {
    await migrateDown(db); // 0005, as --drop-data would
  });
  await downTo('0001_warehouse');
  const refused = await migrate('down');
  expect(refused).toMatchObject({
    code: 2,
    stderr: expect.stringContaining('reverting 0001_warehouse would drop tim_call (3 rows), loss_fact (2 rows),'),
  });
  expect(refused.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(await withDb((db) => db.selectFrom('loss_fact').select('err_count').execute())).toHaveLength(2);
}, 60_000);

it('takes --drop-data only with down', async () => {
  expect(await migrate('up', '--drop-data')).toMatchObject({
    code: 2,
    stderr: 'pushloss: migrate: --drop-data goes with down only\n',
  });
});
