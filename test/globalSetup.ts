/**
 * Once per test run: choose the database engine (see test/helpers/database.ts), prepare it, say
 * which one it is, and hand the plan to every test file through `inject('pushlossTestDb')`.
 *
 * On a server, one template database is migrated here so each test file's database is a cheap
 * `CREATE DATABASE ... TEMPLATE` copy instead of a migration run.
 */
import type { TestProject } from 'vitest/node';
import { MEMORY_DATA_DIR, openDatabase } from '../src/db/connect.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import {
  createDatabaseOnServer,
  dropDatabaseOnServer,
  resolveTestDatabasePlan,
  startPostgresContainer,
  uniqueName,
  urlWithDatabase,
} from './helpers/database.ts';
import type { TestDatabasePlan } from './helpers/database.ts';

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
    console.log(`[pushloss tests] database: ${plan.label}`);
    project.provide('pushlossTestDb', plan);
    return teardown;
  } catch (error) {
    await teardown();
    throw error;
  }
}
