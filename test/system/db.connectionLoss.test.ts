import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MEMORY_DATA_DIR, openDatabase, type OpenedDatabase } from '../../src/db/connect.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { startDbProxy, type DbProxy } from '../soak/dbProxy.ts';

/** Needs a PostgreSQL server to put a relay in front of; skipped on PGlite. */
const serverMode = inject('pushlossTestDb').mode === 'server';
let t: TestDatabase;
let proxy: DbProxy;
let opened: OpenedDatabase;

beforeAll(async () => {
  if (!serverMode) return;
  t = await createTestDatabase();
  const url = new URL(t.url!);
  proxy = await startDbProxy({ host: url.hostname, port: Number(url.port || 5432) });
  url.hostname = '127.0.0.1';
  url.port = String(proxy.port);
  opened = await openDatabase({ databaseUrl: url.toString(), dataDir: MEMORY_DATA_DIR, maxConnections: 2 });
});
afterAll(async () => {
  await opened?.close();
  await proxy?.close();
  await t?.close();
});

describe.skipIf(!serverMode)('PostgreSQL lost between two queries of a transaction (found by the soak)', () => {
  it('fails the transaction instead of crashing the process, and the pool recovers', async () => {
    const transaction = opened.db.transaction().execute(async (trx) => {
      await sql`select 1`.execute(trx);
      // The connection dies while the client is checked out and idle in the transaction: pg emits
      // 'error' on the client, which crashed the process when nothing listened.
      proxy.cut();
      await new Promise((resolve) => setTimeout(resolve, 200));
      await sql`select 2`.execute(trx);
    });
    await expect(transaction).rejects.toThrow();
    proxy.restore();
    const { rows } = await sql<{ one: number }>`select 1 as one`.execute(opened.db);
    expect(rows).toEqual([{ one: 1 }]);
  });
});
