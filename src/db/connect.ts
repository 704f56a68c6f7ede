/**
 * Opening the warehouse database: a PostgreSQL server when a URL is configured, otherwise an
 * embedded PGlite database in the data directory (one process at a time, see `dataDirLock.ts`).
 */
import { statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { Kysely, PGliteDialect, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './database.ts';
import { acquireDataDirLock } from './dataDirLock.ts';
import type { DataDirLock } from './dataDirLock.ts';
import { pgliteParsers, pgTypes } from './int8.ts';
import { durableStartParams, enableFsync } from './pgliteDurability.ts';
import { queuedPool } from './poolQueue.ts';

/** `dataDir` value for a throw-away in-memory PGlite database (tests): no files, no lock. */
export const MEMORY_DATA_DIR = 'memory://';

/** Sub-directory of the data directory that holds PGlite's cluster, beside `pushloss.lock`. */
export const PGLITE_SUBDIR = 'pgdata';

export type DatabaseKind = 'postgres' | 'pglite';

export interface OpenDatabaseOptions {
  /** PostgreSQL connection URL; when set, `dataDir` is not used. */
  databaseUrl?: string | undefined;
  /** Directory of the embedded database, or {@link MEMORY_DATA_DIR}. */
  dataDir: string;
  /** Pool size for PostgreSQL (default 10). */
  maxConnections?: number;
  /**
   * In memory only: start as a copy of this `PGlite.dumpDataDir()` snapshot instead of from an
   * empty cluster. Tests start each file's database from one migrated once per run: about 1 s
   * instead of the 6 s of a fresh cluster (initdb) and its migrations.
   */
  snapshot?: Blob | undefined;
  /** Errors of idle pooled connections (server restart...). Default: ignored, the pool reconnects. */
  onPoolError?: (error: Error) => void;
}

export interface OpenedDatabase {
  db: Kysely<Database>;
  /**
   * For short coordination queries (rate-slot reservations): its own two-connection pool on
   * PostgreSQL, so a reservation never queues behind bucket loads and its slot stays punctual.
   * The same connection as `db` on PGlite.
   */
  coordinationDb: Kysely<Database>;
  kind: DatabaseKind;
  /** Closes the pool or the embedded database, then releases the data-directory lock. Idempotent. */
  close(): Promise<void>;
}

/** The PostgreSQL server could not be reached (message names host and database, never the password). */
export class DatabaseUnreachableError extends Error {
  readonly code = 'DATABASE_UNREACHABLE';
  constructor(target: string, cause: unknown) {
    super(`cannot connect to PostgreSQL at ${target}: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
    this.name = 'DatabaseUnreachableError';
  }
}

/**
 * Opens the database. With `databaseUrl`: a pg pool, checked with one query so a wrong URL fails
 * here rather than at the first load. Without: PGlite under `dataDir`, after taking the data
 * directory's lock (throws `DataDirLockedError`, code 'DATA_DIR_LOCKED', at once if another live
 * process holds it). Does not migrate: call `migrateToLatest(db)`.
 */
export async function openDatabase(options: OpenDatabaseOptions): Promise<OpenedDatabase> {
  if (options.databaseUrl) return openPostgres(options.databaseUrl, options);
  return openPglite(options.dataDir, options.snapshot);
}

async function openPostgres(databaseUrl: string, options: OpenDatabaseOptions): Promise<OpenedDatabase> {
  const max = options.maxConnections ?? 10;
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    types: pgTypes,
    max,
    application_name: 'pushloss',
    // Never hang on an unreachable server.
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
  });
  // Without a listener an idle client's error (e.g. the server restarting) would crash the process.
  pool.on('error', options.onPoolError ?? (() => {}));
  keepClientErrors(pool, options.onPoolError);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: queuedPool(pool, max) }) });
  try {
    const client = await pool.connect();
    client.release();
  } catch (error) {
    await db.destroy().catch(() => {});
    throw new DatabaseUnreachableError(describeUrl(databaseUrl), error);
  }
  const coordinationPool = new pg.Pool({
    connectionString: databaseUrl,
    types: pgTypes,
    max: 2,
    application_name: 'pushloss-coordination',
    // A reservation commits without waiting for its WAL flush. Other sessions see it at commit
    // all the same (only durability is deferred, by at most a few hundred ms), and a reservation
    // lost in a server crash is worth nothing: recovery takes longer than an interval, and each
    // process's own gate still spaces its calls. Waiting for a flush per reservation capped a
    // 500-app pass at what two connections could fsync (hundreds of ms at each call's turn).
    options: '-c synchronous_commit=off',
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
  });
  coordinationPool.on('error', options.onPoolError ?? (() => {}));
  keepClientErrors(coordinationPool, options.onPoolError);
  const coordinationDb = new Kysely<Database>({
    dialect: new PostgresDialect({ pool: queuedPool(coordinationPool, 2) }),
  });
  return {
    db,
    coordinationDb,
    kind: 'postgres',
    close: once(async () => {
      await Promise.all([db.destroy(), coordinationDb.destroy()]);
    }),
  };
}

async function openPglite(dataDir: string, snapshot: Blob | undefined): Promise<OpenedDatabase> {
  if (snapshot && dataDir !== MEMORY_DATA_DIR) throw new Error('a snapshot starts in-memory databases only');
  // Loaded lazily: processes using PostgreSQL never load the WebAssembly build, and a refused
  // lock is reported before the multi-second PGlite start.
  let lock: DataDirLock | null = null;
  try {
    if (dataDir !== MEMORY_DATA_DIR) lock = await acquireDataDirLock(dataDir);
  } catch (error) {
    // Another process holding the directory says so itself; anything else (a full disk) is named.
    if ((error as { code?: unknown }).code === 'DATA_DIR_LOCKED') throw error;
    throw await embeddedOpenError(dataDir, error);
  }
  try {
    const { PGlite } = await import('@electric-sql/pglite');
    let pglite;
    try {
      pglite = lock
        ? await PGlite.create(join(dataDir, PGLITE_SUBDIR), {
            parsers: pgliteParsers,
            startParams: durableStartParams(PGlite.defaultStartParams),
          })
        : await PGlite.create({ parsers: pgliteParsers, ...(snapshot ? { loadDataDir: snapshot } : {}) });
    } catch (error) {
      throw await embeddedOpenError(dataDir, error);
    }
    if (lock) enableFsync(pglite);
    const db = new Kysely<Database>({ dialect: new PGliteDialect({ pglite }) });
    return {
      db,
      coordinationDb: db,
      kind: 'pglite',
      close: once(async () => {
        try {
          await db.destroy();
        } finally {
          await lock?.release();
        }
      }),
    };
  } catch (error) {
    await lock?.release();
    throw error;
  }
}

/**
 * A client checked out of the pool (in a transaction, between two queries) whose connection dies
 * emits 'error' with no listener of the pool's, which would crash the process: the soak found it
 * by cutting the database in the middle of a load. The error is noted; the next query on that
 * client fails, the transaction rolls back, and the pass fails as a database failure.
 */
function keepClientErrors(pool: pg.Pool, onError: ((error: Error) => void) | undefined): void {
  pool.on('connect', (client) => client.on('error', onError ?? (() => {})));
}

/** The embedded database could not start (a full disk, a damaged data directory). */
class EmbeddedDatabaseError extends Error {
  readonly code = 'EMBEDDED_DATABASE_FAILED';
}

/**
 * One clear line for a PGlite start that failed. PGlite throws Emscripten errno objects (printed
 * as "[object Object]") or "PGlite failed to initialize properly", neither of which says that the
 * usual cause is a full disk: the free space is checked and named.
 */
async function embeddedOpenError(dataDir: string, error: unknown): Promise<EmbeddedDatabaseError> {
  const errno = (error as { errno?: unknown } | null)?.errno;
  const what =
    error instanceof Error
      ? error.message.split('\n')[0]
      : typeof errno === 'number'
        ? `filesystem error (errno ${errno}${errno === WASI_ENOSPC ? ', no space left on device' : ''})`
        : String(error);
  const free = await statfs(dataDir).then(
    (stats) => stats.bavail * stats.bsize,
    () => undefined,
  );
  const hint =
    free !== undefined && free < LOW_DISK_BYTES
      ? `the disk holding it has only ${Math.floor(free / 1024 / 1024)} MB free: free some space (the data is kept) and start again`
      : 'check that the disk has free space and that the directory is not damaged; the data is kept as it is';
  return new EmbeddedDatabaseError(`cannot start the embedded database in ${dataDir}: ${what}; ${hint}`, {
    cause: error,
  });
}
const WASI_ENOSPC = 51;
const LOW_DISK_BYTES = 64 * 1024 * 1024;

/** `host:port/database` of a URL, without user or password. */
export function describeUrl(databaseUrl: string): string {
  try {
    const url = new URL(databaseUrl);
    return `${url.host || 'localhost'}${url.pathname || ''}`;
  } catch {
    return '(unparseable DATABASE_URL)';
  }
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= fn());
}
