/**
 * Once per test run: choose the database engine (see test/helpers/database.ts), prepare it, say
 * which one it is, and hand the plan to every test file through `inject('pushlossTestDb')`.
 *
 * On a server, one template database is migrated here so each test file's database is a cheap
 * `CREATE DATABASE ... TEMPLATE` copy instead of a migration run. On PGlite, the same idea: an
 * empty and a migrated in-memory database are dumped here once, and each file's database loads
 * one of the snapshots instead of running initdb (and the migrations) again.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PGliteDialect } from 'kysely';
import type { TestProject } from 'vitest/node';
import { MEMORY_DATA_DIR, openDatabase } from '../src/db/connect.ts';
import type { Database } from '../src/db/database.ts';
import { pgliteParsers } from '../src/db/int8.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import {
  createDatabaseOnServer,
  dropDatabaseOnServer,
  resolveTestDatabasePlan,
  startPostgresContainer,
  uniqueName,
  urlWithDatabase,
} from './helpers/database.ts';
import type { PgliteSnapshots, TestDatabasePlan } from './helpers/database.ts';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const cleanups: Array<() => Promise<void>> = [];
  const teardown = async () => {
    for (const cleanup of cleanups.reverse())
      await cleanup().catch((error) => console.error('[pushloss tests] cleanup failed:', error));
  };
  try {
    const choice = await resolveTestDatabasePlan(process.env, { allowDocker: true });
    let plan: TestDatabasePlan;
    if (choice.mode === 'docker') {
      const started = await startPostgresContainer(process.env, choice);
      cleanups.push(started.stop);
      plan = started.plan;
    } else {
      plan = choice;
    }
    if (plan.mode === 'server') {
      const { url } = plan;
      const template = uniqueName('pushloss_tpl');
      await createDatabaseOnServer(url, template, 'template0');
      cleanups.push(() => dropDatabaseOnServer(url, template));
      const opened = await openDatabase({
        databaseUrl: urlWithDatabase(url, template),
        dataDir: MEMORY_DATA_DIR,
        maxConnections: 1,
      });
      try {
        await migrateToLatest(opened.db);
      } finally {
        await opened.close();
      }
      plan = {
        ...plan,
        template,
        label: `${plan.label}, one database per test file copied from migrated template ${template}`,
      };
    }
    if (plan.mode === 'pglite') {
      const dir = await mkdtemp(join(tmpdir(), 'pushloss-pglite-snapshots-'));
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      plan = { ...plan, snapshots: await pgliteSnapshots(dir), label: `${plan.label}, each loaded from a snapshot` };
    }
    console.log(`[pushloss tests] database: ${plan.label}`);
    project.provide('pushlossTestDb', plan);
    return teardown;
  } catch (error) {
    await teardown();
    throw error;
  }
}

/** Dumps an empty and a migrated in-memory PGlite into `dir`, opened as openDatabase opens one. */
async function pgliteSnapshots(dir: string): Promise<PgliteSnapshots> {
  const snapshots = { empty: join(dir, 'empty.tar'), migrated: join(dir, 'migrated.tar') };
  const pglite = await PGlite.create({ parsers: pgliteParsers });
  const db = new Kysely<Database>({ dialect: new PGliteDialect({ pglite }) });
  const dump = async (file: string) =>
    writeFile(file, Buffer.from(await (await pglite.dumpDataDir('none')).arrayBuffer()));
  try {
    await dump(snapshots.empty);
    await migrateToLatest(db);
    await dump(snapshots.migrated);
  } finally {
    await db.destroy();
  }
  return snapshots;
}
