/**
 * push_loss_anomalies (migration 0012) on the simulator's data: 32 days of normal history for a
 * few apps fire nothing, judged at several hours of each day (a partial today included), and the
 * simulator's injected spike, new code and failing channel are each found, with the dominant
 * code's title and fix. The false-positive rate printed here is the one docs/bi.md quotes.
 */
import { lossFeed } from '../../src/feeds/loss/index.ts';
import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.ts';
import { withAnomalies, type InjectedAnomaly } from '../../src/simulator/index.ts';
import type { Window } from '../../src/tencent/loss.ts';
import { loadBucket } from '../../src/warehouse/load.ts';
import { statisticsFeed } from '../../src/feeds/statistics/index.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { dayBucket, okCall } from '../helpers/fixtures.ts';

const DAY = 86_400;
const FIRST = dayBucket('2025-02-01').start;
const DAYS = 32;
const NORMAL_APPS = [1400000801, 1400000802, 1400000803];
const TODAY = FIRST + (DAYS - 1) * DAY;

interface Anomaly {
  kind: string;
  sdkappid: number;
  stage: string;
  platform: number;
  platform_name: string;
  err_code: string;
  title: string;
  fix: string;
  measure: string;
  value: number;
  baseline: number | null;
}

let t: TestDatabase;

/** Loads day `start` of the app, cut at `until` (a partial day) when given, from the simulator's data. */
async function loadDay(
  db: Kysely<Database>,
  sdkappid: number,
  start: number,
  data: ReturnType<typeof withAnomalies>,
  until = start + DAY,
  withStats = true,
): Promise<void> {
  const bucket: Window = { start, end: start + DAY };
  const asked: Window = { start, end: until };
  await loadBucket(db, lossFeed, {
    sdkappid,
    bucket,
    bucketSize: '1d',
    call: okCall(sdkappid, bucket),
    answer: data.lossData(sdkappid, asked),
  });
  if (withStats)
    await loadBucket(db, statisticsFeed, {
      sdkappid,
      bucket,
      bucketSize: '1d',
      call: okCall(sdkappid, bucket),
      answer: data.statsData(sdkappid, asked),
    });
}

async function anomaliesAt(at: number, sdkappid?: number): Promise<Anomaly[]> {
  const { rows } = await sql<Anomaly>`
    select * from push_loss_anomalies_at(to_timestamp(${at}))
     where ${sdkappid ?? null}::int8 is null or sdkappid = ${sdkappid ?? null}::int8`.execute(t.db);
  return rows;
}

beforeAll(async () => {
  t = await createTestDatabase();
  const normal = withAnomalies([]);
  for (const sdkappid of NORMAL_APPS)
    for (let day = 0; day < DAYS; day++) await loadDay(t.db, sdkappid, FIRST + day * DAY, normal);
}, 120_000);
afterAll(() => t?.close());

describe('normal data', () => {
  it('fires nothing over 32 days, judged at 01:00, 06:00, 12:00 and 23:59 of each day (a partial today)', async () => {
    const normal = withAnomalies([]);
    let judged = 0;
    const fired: Anomaly[] = [];
    for (let day = 1; day < DAYS; day++) {
      const start = FIRST + day * DAY;
      for (const hours of [1, 6, 12, 24]) {
        const at = start + hours * 3600 - (hours === 24 ? 60 : 0);
        for (const sdkappid of NORMAL_APPS) await loadDay(t.db, sdkappid, start, normal, start + hours * 3600);
        fired.push(...(await anomaliesAt(at)));
        // Each judgement looks at apps × 2 stages × 10 channels, for today and yesterday.
        judged += NORMAL_APPS.length * 2 * 10;
      }
      for (const sdkappid of NORMAL_APPS) await loadDay(t.db, sdkappid, start, normal);
    }
    console.log(`normal data: ${fired.length} anomaly row(s) in ${judged} judged app/stage/channel/instants`);
    expect(fired).toEqual([]);
  }, 300_000);
});

describe('injected anomalies', () => {
  const inject = async (sdkappid: number, anomaly: Omit<InjectedAnomaly, 'sdkappid' | 'from'>, withStats = true) => {
    const data = withAnomalies([{ ...anomaly, sdkappid, from: TODAY }]);
    for (let day = 0; day < DAYS; day++) {
      const start = FIRST + day * DAY;
      await loadDay(t.db, sdkappid, start, data, day === DAYS - 1 ? start + 12 * 3600 : start + DAY, withStats);
    }
    return anomaliesAt(TODAY + 12 * 3600, sdkappid);
  };

  it('finds an APNs ready-to-send spike today by its rate, with the certificate fix', async () => {
    const rows = await inject(1400000811, { kind: 'spike', stage: 'ready_to_send', platform: 1 });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      kind: 'spike',
      stage: 'ready_to_send',
      platform: 1,
      platform_name: 'APNs',
      err_code: '-1',
      title: 'Certificate ID not set',
      measure: 'rate',
    });
    expect(rows[0]!.fix).toMatch(/certificate/);
    expect(rows[0]!.value).toBeGreaterThan(0.25);
  });

  it('finds a spike by loss counts alone where there are no statistics', async () => {
    const rows = await inject(
      1400000812,
      { kind: 'spike', stage: 'post_send_delivered', platform: 3, rate: 0.5 },
      false,
    );
    expect(rows.map((r) => [r.kind, r.platform, r.measure, r.err_code])).toEqual([['spike', 3, 'count', '80300007']]);
  });

  it('finds a new code on Huawei, explained by the catalogue', async () => {
    const rows = await inject(1400000813, {
      kind: 'new_code',
      stage: 'post_send_delivered',
      platform: 3,
      code: '80300002',
    });
    const found = rows.find((r) => r.kind === 'new_code');
    expect(found).toMatchObject({ platform: 3, err_code: '80300002', title: 'No permission' });
  });

  it('finds a failing vivo channel', async () => {
    const rows = await inject(1400000814, { kind: 'failing', stage: 'post_send_delivered', platform: 7 });
    expect(rows[0]).toMatchObject({ kind: 'failing_channel', platform: 7, err_code: '10302' });
    expect(rows[0]!.value).toBeGreaterThan(0.9);
  });
});
