/**
 * Once per test run: choose the database engine (see test/helpers/database.ts), prepare it, say
 * which one it is, and hand the plan to every test file through `inject('pushlossTestDb')`.
 *
 * On a server, one template database is migrated here so each test file's database is a cheap
 * `CREATE DATABASE ... TEMPLATE` copy instead of a migration run. On PGlite, the same idea: an
 * empty and a migrated in-memory database are dumped here, once for as long as the migrations do
 * not change, and each file's database loads one of the snapshots instead of running initdb (and
 * the migrations) again.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
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
      const { snapshots, cached } = await cachedPgliteSnapshots();
      plan = {
        ...plan,
        snapshots,
        label: `${plan.label}, each loaded from a snapshot${cached ? ' (cached: the migrations have not changed)' : ''}`,
      };
    }
    console.log(`[pushloss tests] database: ${plan.label}`);
    project.provide('pushlossTestDb', plan);
    return teardown;
  } catch (error) {
    await teardown();
    throw error;
  }
}

const ROOT = fileURLToPath(new URL('../', import.meta.url));

/**
 * The snapshots, made once and kept under node_modules/.cache/ for later runs (about 10 s of
 * initdb and migrations each run otherwise), keyed by everything that goes into them: the
 * migrations, the code that runs them, this file and the lockfile (PGlite's and Kysely's versions).
 * A new key makes new snapshots; `npm ci` starts afresh.
 */
async function cachedPgliteSnapshots(): Promise<{ snapshots: PgliteSnapshots; cached: boolean }> {
  const hash = createHash('sha256');
  const migrations = (await readdir(join(ROOT, 'migrations'))).sort().map((name) => `migrations/${name}`);
  for (const file of [...migrations, 'src/db/migrate.ts', 'src/db/int8.ts', 'test/globalSetup.ts', 'package-lock.json'])
    hash.update(`${file}\0`).update(await readFile(join(ROOT, file)));
  const cache = join(ROOT, 'node_modules', '.cache', 'pushloss-tests');
  const dir = join(cache, `pglite-snapshots-${hash.digest('hex').slice(0, 16)}`);
  const snapshots = { empty: join(dir, 'empty.tar'), migrated: join(dir, 'migrated.tar') };
  if (existsSync(snapshots.migrated)) return { snapshots, cached: true };
  // Made aside and renamed into place: two runs at once each make their own, one of them stays.
  await mkdir(cache, { recursive: true });
  const aside = await mkdtemp(join(cache, 'making-'));
  try {
    await pgliteSnapshots(aside);
    await rename(aside, dir).catch((error: unknown) => {
      if (!existsSync(snapshots.migrated)) throw error;
    });
    // Those of earlier migrations go (a few MB each).
    for (const name of await readdir(cache))
      if (name.startsWith('pglite-snapshots-') && join(cache, name) !== dir)
        await rm(join(cache, name), { recursive: true, force: true });
  } finally {
    await rm(aside, { recursive: true, force: true });
  }
  return { snapshots, cached: false };
}

/** Dumps an empty and a migrated in-memory PGlite into `dir`, opened as openDatabase opens one. */
async function pgliteSnapshots(dir: string): Promise<void> {
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
}
