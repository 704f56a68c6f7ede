import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syncDayZone } from '../../src/warehouse/dayZone.ts';
import { createTestDatabase, openSecondConnection, type TestDatabase } from '../helpers/database.ts';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(() => t?.close());

const zone = async (db = t.db) =>
  (await sql<{ zone: string }>`select push_loss_day_zone() as zone`.execute(db)).rows[0]!.zone;

describe('the BI views follow BUCKET_TZ', () => {
  it('defaults to Asia/Shanghai and follows the configured zone, in new sessions too', async () => {
    expect(await zone()).toBe('Asia/Shanghai');
    expect(await syncDayZone(t.db, 'America/New_York')).toBe(true);
    expect(await zone()).toBe('America/New_York');
    const second = await openSecondConnection(t);
    if (second) {
      try {
        expect(await zone(second.db)).toBe('America/New_York');
      } finally {
        await second.close();
      }
    }
  });

  it('refuses anything that is not a zone name', async () => {
    await expect(syncDayZone(t.db, "UTC'; drop table loss_fact; --")).rejects.toThrow(/not a time zone name/);
  });
});
