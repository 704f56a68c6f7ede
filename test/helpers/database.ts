/**
 * A real, private database for each test file.
 *
 * Which engine, decided once per run (by test/globalSetup.ts) and printed once:
 * 1. `TEST_DB=pglite`                → in-memory PGlite per file, whatever else is set.
 * 2. `TEST_DATABASE_URL` set         → that PostgreSQL server: each file gets a fresh database
 *    copied from a template migrated once per run, dropped on close.
 * 3. a Docker engine answers         → the same, on a `@testcontainers/postgresql` container of
 *    `TEST_POSTGRES_IMAGE` (default the official postgres:15-alpine). When the engine answers but
 *    the container cannot start (no registry to pull from, say), one line says why and 4 follows.
 * 4. otherwise                       → in-memory PGlite per file.
 * `TEST_DB=postgres` makes 2 or 3 mandatory (fails instead of falling back to PGlite).
 *
 * Usage:
 *   let t: TestDatabase;
 *   beforeAll(async () => { t = await createTestDatabase(); });
 *   afterAll(() => t?.close());
 *   ... t.db.selectFrom('push_loss') ...
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import type { Kysely } from 'kysely';
import pg from 'pg';
import { describeUrl, MEMORY_DATA_DIR, openDatabase } from '../../src/db/connect.ts';
import type { DatabaseKind } from '../../src/db/connect.ts';
import type { Database } from '../../src/db/database.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';

/** How this run gets its databases; provided to test files by the global setup. */
export type TestDatabasePlan =
  | { mode: 'server'; url: string; template: string | null; label: string }
  | { mode: 'pglite'; label: string; snapshots?: PgliteSnapshots };

/**
 * Files holding `dumpDataDir()` snapshots of an empty and of a migrated in-memory PGlite, made
 * once per run by the global setup: a file's database loads one in about 1 s, where a fresh
 * cluster and its migrations take about 6 (most of a small test file's time on PGlite).
 */
export interface PgliteSnapshots {
  empty: string;
  migrated: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    pushlossTestDb: TestDatabasePlan;
  }
}

export interface TestDatabase {
  db: Kysely<Database>;
  /** Connection URL of this file's database (server mode only). */
  url?: string;
  kind: DatabaseKind;
  /** Closes the connection(s) and drops the database. */
  close(): Promise<void>;
}

export interface CreateTestDatabaseOptions {
  /** Apply all migrations (default true). False gives an empty database, e.g. for migration tests. */
  migrate?: boolean;
}

/** A fresh database for one test file, migrated unless `{ migrate: false }`. */
export async function createTestDatabase(options: CreateTestDatabaseOptions = {}): Promise<TestDatabase> {
  const migrate = options.migrate ?? true;
  const plan = await currentPlan();
  if (plan.mode === 'pglite') {
    const file = plan.snapshots?.[migrate ? 'migrated' : 'empty'];
    const snapshot = file === undefined ? undefined : new Blob([await readFile(file)]);
    const opened = await openDatabase({ dataDir: MEMORY_DATA_DIR, snapshot });
    try {
      if (migrate && !plan.snapshots) await migrateToLatest(opened.db);
    } catch (error) {
      await opened.close();
      throw error;
    }
    return { db: opened.db, kind: opened.kind, close: opened.close };
  }
  const name = uniqueName('pushloss_t');
  await createDatabaseOnServer(plan.url, name, migrate && plan.template ? plan.template : 'template0');
  const url = urlWithDatabase(plan.url, name);
  const opened = await openDatabase({ databaseUrl: url, dataDir: MEMORY_DATA_DIR, maxConnections: 5 });
  const close = async () => {
    await opened.close();
    await dropDatabaseOnServer(plan.url, name);
  };
  try {
    if (migrate && !plan.template) await migrateToLatest(opened.db);
  } catch (error) {
    await close();
    throw error;
  }
  return { db: opened.db, url, kind: opened.kind, close };
}

/**
 * A second, independent connection to a test database (server mode), e.g. to run two migrators
 * or loaders as two processes would. Returns null on PGlite (one connection per database).
 */
export async function openSecondConnection(
  test: TestDatabase,
): Promise<{ db: Kysely<Database>; close(): Promise<void> } | null> {
  if (!test.url) return null;
  return openDatabase({ databaseUrl: test.url, dataDir: MEMORY_DATA_DIR, maxConnections: 5 });
}

let planPromise: Promise<TestDatabasePlan> | undefined;

async function currentPlan(): Promise<TestDatabasePlan> {
  planPromise ??= (async (): Promise<TestDatabasePlan> => {
    const { inject } = await import('vitest');
    const provided = inject('pushlossTestDb') as TestDatabasePlan | undefined;
    if (provided) return provided;
    // No global setup ran (a config without it): decide here, without starting containers.
    const plan = await resolveTestDatabasePlan(process.env, { allowDocker: false });
    if (plan.mode === 'docker') throw new Error('unreachable: Docker was not asked for');
    console.log(`[pushloss tests] database: ${plan.label}`);
    return plan;
  })();
  return planPromise;
}

/** Chooses the engine from the environment (see the file comment). */
export async function resolveTestDatabasePlan(
  env: NodeJS.ProcessEnv,
  { allowDocker }: { allowDocker: boolean },
): Promise<TestDatabasePlan | { mode: 'docker'; required: boolean }> {
  const forced = env.TEST_DB?.trim().toLowerCase() || undefined;
  if (forced !== undefined && forced !== 'pglite' && forced !== 'postgres') {
    throw new Error(
      `TEST_DB=${env.TEST_DB} is not understood: use TEST_DB=pglite or TEST_DB=postgres, or leave it unset`,
    );
  }
  if (forced === 'pglite') return { mode: 'pglite', label: 'in-memory PGlite per test file (TEST_DB=pglite)' };
  if (env.TEST_DATABASE_URL) {
    return {
      mode: 'server',
      url: env.TEST_DATABASE_URL,
      template: null,
      label: `PostgreSQL at ${describeUrl(env.TEST_DATABASE_URL)} (TEST_DATABASE_URL)`,
    };
  }
  if (allowDocker && (await dockerAnswers(env))) return { mode: 'docker', required: forced === 'postgres' };
  if (forced === 'postgres') {
    throw new Error('TEST_DB=postgres but neither TEST_DATABASE_URL is set nor a Docker engine answers');
  }
  return { mode: 'pglite', label: 'in-memory PGlite per test file (no TEST_DATABASE_URL, no Docker)' };
}

/** The image of choice 3 unless `TEST_POSTGRES_IMAGE` names another. */
const DEFAULT_TEST_POSTGRES_IMAGE = 'postgres:15-alpine';

/**
 * Choice 3: a PostgreSQL container, started through testcontainers. When it cannot start, prints
 * why in one line and returns the PGlite plan, or throws when the container was `required`
 * (`TEST_DB=postgres`). `stop` removes the container.
 */
export async function startPostgresContainer(
  env: NodeJS.ProcessEnv,
  { required }: { required: boolean },
): Promise<{ plan: TestDatabasePlan; stop: () => Promise<void> }> {
  const image = env.TEST_POSTGRES_IMAGE?.trim() || DEFAULT_TEST_POSTGRES_IMAGE;
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  try {
    const container = await new PostgreSqlContainer(image).start();
    const url = container.getConnectionUri();
    return {
      plan: {
        mode: 'server',
        url,
        template: null,
        label: `PostgreSQL in a Docker container of ${image} at ${describeUrl(url)} (testcontainers)`,
      },
      stop: async () => {
        await container.stop();
      },
    };
  } catch (error) {
    // Docker's messages run over several lines (a pull's progress, a stack): the first one says it.
    const why = String((error as Error).message ?? error)
      .split('\n')[0]!
      .trim();
    const reason = `a Docker engine answers, but the PostgreSQL container (${image}) did not start: ${why}`;
    if (required) throw new Error(`TEST_DB=postgres: ${reason}`, { cause: error });
    console.log(`[pushloss tests] ${reason}`);
    return {
      plan: { mode: 'pglite', label: `in-memory PGlite per test file (the ${image} container did not start)` },
      stop: async () => {},
    };
  }
}

/** True if a Docker engine answers `/_ping` within a second and a half (DOCKER_HOST or the default socket). */
export async function dockerAnswers(env: NodeJS.ProcessEnv): Promise<boolean> {
  const host = env.DOCKER_HOST;
  let target: { socketPath: string } | { host: string; port: number };
  if (host?.startsWith('unix://')) target = { socketPath: host.slice('unix://'.length) };
  else if (host?.startsWith('tcp://')) {
    const url = new URL(host.replace(/^tcp:/, 'http:'));
    target = { host: url.hostname, port: Number(url.port || 2375) };
  } else if (!host && existsSync('/var/run/docker.sock')) target = { socketPath: '/var/run/docker.sock' };
  else return false;
  return new Promise((resolve) => {
    const req = request({ ...target, path: '/_ping', method: 'GET', timeout: 1500 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** Runs `CREATE DATABASE name TEMPLATE template` on the server of `adminUrl`. */
export async function createDatabaseOnServer(adminUrl: string, name: string, template: string): Promise<void> {
  await withAdminClient(adminUrl, async (client) => {
    for (let attempt = 1; ; attempt++) {
      try {
        await client.query(`create database ${quote(name)} template ${quote(template)}`);
        // CREATE DATABASE does not copy the template's ALTER DATABASE settings (0004's jit = off),
        // which a migrated database has: copy them, or the copy plans unlike production.
        const { rows } = await client.query<{ setting: string }>(
          `select unnest(s.setconfig) as setting from pg_db_role_setting s join pg_database d on d.oid = s.setdatabase
            where d.datname = $1 and s.setrole = 0`,
          [template],
        );
        for (const { setting } of rows) {
          const [key, value] = [setting.slice(0, setting.indexOf('=')), setting.slice(setting.indexOf('=') + 1)];
          await client.query(`alter database ${quote(name)} set ${quote(key)} = '${value.replaceAll("'", "''")}'`);
        }
        return;
      } catch (error) {
        // 55006: the template is briefly in use (e.g. autovacuum); try again shortly.
        if ((error as { code?: string }).code !== '55006' || attempt >= 20) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
      }
    }
  });
}

/** Drops a database, disconnecting whoever is still connected. */
export async function dropDatabaseOnServer(adminUrl: string, name: string): Promise<void> {
  await withAdminClient(adminUrl, (client) => client.query(`drop database if exists ${quote(name)} with (force)`));
}

/** The same server URL pointing at another database. */
export function urlWithDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

/** A database name unique across parallel runs and files. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${randomBytes(5).toString('hex')}`;
}

async function withAdminClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function quote(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`;
}
