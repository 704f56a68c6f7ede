/**
 * The error-code catalogue (migration 0012 + src/errorCodes): the contract view's columns, every
 * code the simulator emits is explained on its channel, a handful of vendor codes against their
 * documents, unknown codes shown as unknown, and the sync making the table equal to the data file.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/errorCodes/catalogue.ts';
import { syncErrorCodes } from '../../src/errorCodes/sync.ts';
import { POST_CODES, READY_CODES } from '../../src/simulator/lossData.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { dayBucket, load, loss } from '../helpers/fixtures.ts';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(() => t?.close());

interface Explained {
  title: string;
  fix: string;
  token_invalid: boolean;
  source_url: string | null;
  catalogued: boolean;
}

async function explain(platform: number | null, code: string): Promise<Explained> {
  const { rows } = await sql<Explained>`select * from push_error_explain(${platform}::smallint, ${code})`.execute(t.db);
  return rows[0]!;
}

describe('push_error_codes', () => {
  it('has exactly the columns the issue gives, in order', async () => {
    const { rows } = await sql<{ name: string; type: string }>`
      select column_name as name, data_type as type from information_schema.columns
       where table_schema = current_schema() and table_name = 'push_error_codes' order by ordinal_position`.execute(
      t.db,
    );
    expect(rows).toEqual([
      { name: 'platform', type: 'smallint' },
      { name: 'platform_name', type: 'text' },
      { name: 'err_code', type: 'text' },
      { name: 'title', type: 'text' },
      { name: 'meaning', type: 'text' },
      { name: 'fix', type: 'text' },
      { name: 'token_invalid', type: 'boolean' },
      { name: 'source_url', type: 'text' },
    ]);
  });

  it('holds every entry of the data file once, Tencent codes with platform NULL', async () => {
    const { rows } = await sql<{ n: number; tencent: number }>`
      select count(*)::int as n, count(*) filter (where platform is null)::int as tencent from push_error_codes`.execute(
      t.db,
    );
    expect(rows[0]).toEqual({ n: ERROR_CODES.length, tencent: ERROR_CODES.filter((e) => e.platform === null).length });
    const keys = ERROR_CODES.map((e) => `${e.platform}:${e.code}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const entry of ERROR_CODES) expect(entry.source).toMatch(/^https:\/\//);
  });
});

describe('push_error_explain', () => {
  it('explains every code the simulator emits on a documented channel (1..8)', async () => {
    for (const [platform, codes] of Object.entries(POST_CODES)) {
      const p = Number(platform);
      if (p < 1 || p > 8) continue;
      for (const code of [...READY_CODES, ...codes]) {
        const x = await explain(p, code);
        expect(x.catalogued, `platform ${p} code ${code}`).toBe(true);
        expect(x.title).not.toBe('unknown code');
      }
    }
    // Overall rows: Tencent's ready-to-send reasons are explained without a channel.
    for (const code of READY_CODES) expect((await explain(null, code)).catalogued).toBe(true);
  });

  it('shows a code unknown on its channel as unknown, never drops it', async () => {
    // Code 1 is Xiaomi's regid_invalid; on the unknown vendor (0) and an undocumented one (9) it means nothing.
    for (const platform of [0, 9])
      expect(await explain(platform, '1')).toMatchObject({ title: 'unknown code', catalogued: false });
    expect(await explain(1, '1')).toMatchObject({ title: 'unknown code', catalogued: false });
    expect(await explain(null, '410')).toMatchObject({ title: 'unknown code', catalogued: false });
    await load(t.db, 1400000701, dayBucket('2025-03-11'), '1d', [
      loss('post_send_delivered', 9, '1', 3, 'x'),
      loss('post_send_delivered', 2, '1', 4, 'regid_invalid'),
    ]);
    const { rows } = await sql<{ platform: number; title: string; err_count: number }>`
      select platform, title, err_count from push_loss_explained
       where sdkappid = 1400000701 and platform is not null order by platform`.execute(t.db);
    expect(rows).toEqual([
      { platform: 2, title: 'RegID invalid', err_count: 4 },
      { platform: 9, title: 'unknown code', err_count: 3 },
    ]);
  });

  // Against the vendors' documents (see each entry's source_url).
  it.each([
    [1, '410', true, /no longer active/i],
    [1, 'BadDeviceToken', true, /bad device token/i],
    [1, '403', false, /certificate/i],
    [4, 'UNREGISTERED', true, /unregistered/i],
    [4, '404', true, /unregistered/i],
    [4, 'SENDER_ID_MISMATCH', false, /sender id mismatch/i],
    [3, '80300007', true, /all tokens invalid/i],
    [3, '80300008', false, /too large/i],
    [5, '110002', true, /pushid invalid/i],
    [7, '10302', true, /regid does not exist/i],
    [2, '1', true, /regid invalid/i],
    [null, '90045', false, /push not enabled/i],
  ])('platform %s code %s: token_invalid %s, title %s', async (platform, code, tokenInvalid, title) => {
    const x = await explain(platform, code);
    expect(x.token_invalid).toBe(tokenInvalid);
    expect(x.title).toMatch(title);
  });
});

describe('syncErrorCodes', () => {
  it('makes the table equal to the data file again: changed rows restored, unknown rows removed', async () => {
    await sql`update error_code set fix = 'stale' where channel = 1 and err_code = '410'`.execute(t.db);
    await sql`insert into error_code values (2, 'gone', 't', 'm', 'f', false, 'https://example.invalid')`.execute(t.db);
    await syncErrorCodes(t.db);
    expect((await explain(1, '410')).fix).not.toBe('stale');
    expect((await explain(2, 'gone')).catalogued).toBe(false);
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from error_code`.execute(t.db);
    expect(rows[0]!.n).toBe(ERROR_CODES.length);
  });
});
