/**
 * The loss report on a small known data set: which days count, the numbers, and each format's
 * exact output.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatReport } from '../../src/report/formats.ts';
import { lossReport } from '../../src/report/lossReport.ts';
import type { LossReport } from '../../src/report/lossReport.ts';
import type { LossStage } from '../../src/tencent/loss.ts';
import { createTestDatabase } from '../helpers/database.ts';
import type { TestDatabase } from '../helpers/database.ts';
import { dayBucket, hourBucket, load, loss } from '../helpers/fixtures.ts';

const A = 1400000001;
const B = 1400000002;
const R: LossStage = 'ready_to_send';
const P: LossStage = 'post_send_delivered';

const TOKEN = 'token invalid, "re-register"'; // a comma and quotes, for CSV
const OFFLINE = '设备离线'; // wide characters, for the table

/** Now: 2025-03-12 10:00 in Shanghai; 7 days are 03-06 .. 03-12. */
const NOW = Date.parse('2025-03-12T10:00:00+08:00');

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
  await load(t.db, A, dayBucket('2025-03-05'), '1d', [loss(R, null, '-1', 100, 'outside the period')]);
  await load(t.db, A, dayBucket('2025-03-10'), '1d', [
    loss(R, null, '-1', 30, 'unknown error'),
    loss(R, null, '410', 5, TOKEN),
    loss(P, null, '1001', 4, OFFLINE),
    loss(R, 3, '-1', 20, 'unknown error'),
    loss(R, 2, '-1', 10, 'unknown error'),
    loss(R, 2, '410', 5, TOKEN),
    loss(P, 3, '1001', 4, OFFLINE),
  ]);
  await load(t.db, A, hourBucket('2025-03-12', 0), '1h', [loss(R, null, '-1', 2, 'unknown error')]);
  await load(t.db, B, dayBucket('2025-03-11'), '1d', [loss(R, null, '-1', 1, 'unknown error')]);
});
afterAll(() => t?.close());

const about = (sdkappid: number, s: LossStage) => ({
  sdkappid,
  stage: s,
  stageName: s === R ? 'Ready to send' : 'Sent, not delivered',
});
const stage = (sdkappid: number, s: LossStage, errCount: number) => ({ ...about(sdkappid, s), errCount });

const CERTIFICATE_FIX =
  'Upload the vendor certificate in the Tencent console and set its certificate ID in the client SDK (offline push configuration).';
const UNKNOWN_FIX =
  'Look the code up in the channel\'s documents and add it to the catalogue (docs/bi.md, "Error-code catalogue").';

describe('lossReport', () => {
  it('covers the days ending today in the zone, one app, every stage', async () => {
    const report = await lossReport(t.db, { sdkappid: A, days: 7, nowMs: NOW });
    expect(report).toMatchObject({
      sdkappid: A,
      timeZone: 'Asia/Shanghai',
      from: '2025-03-06',
      to: '2025-03-12',
      days: 7,
      top: 5,
    });
    // 30 + 5 on 03-10 and 2 in an hour of 03-12; the 100 of 03-05 is before the period.
    expect(report.stages).toEqual([stage(A, R, 37), stage(A, P, 4)]);
    expect(report.channels.map((c) => [c.stage, c.platformName, c.errCount, c.share])).toEqual([
      [R, 'Huawei', 20, 20 / 35],
      [R, 'Xiaomi', 15, 15 / 35],
      [P, 'Huawei', 4, 1],
    ]);
  });

  it('lists all apps when none is asked for, with zeros for stages without loss', async () => {
    const report = await lossReport(t.db, { days: 2, nowMs: NOW });
    expect(report.sdkappid).toBeNull();
    expect([report.from, report.to]).toEqual(['2025-03-11', '2025-03-12']);
    expect(report.stages).toEqual([stage(A, R, 2), stage(A, P, 0), stage(B, R, 1), stage(B, P, 0)]);
    expect(report.channels).toEqual([]);
  });

  it('an app without loss in the period still gets its stages, at 0', async () => {
    const report = await lossReport(t.db, { sdkappid: 1400009999, days: 7, nowMs: NOW });
    expect(report.stages).toEqual([stage(1400009999, R, 0), stage(1400009999, P, 0)]);
    expect(report.topCodes).toEqual([]);
  });

  it('counts days in the zone it is given, for its own queries only', async () => {
    // UTC: today is 03-12 (02:00 UTC); A's Shanghai day 03-10 began on 03-09 UTC and drops out,
    // the Shanghai hour 03-12 00:00 is 03-11 16:00 UTC and stays, B's 03-11 is 03-10 UTC.
    const report = await lossReport(t.db, { days: 3, nowMs: NOW, timeZone: 'UTC', top: 1 });
    expect(report).toMatchObject({ timeZone: 'UTC', from: '2025-03-10', to: '2025-03-12' });
    expect(report.stages).toEqual([stage(A, R, 2), stage(A, P, 0), stage(B, R, 1), stage(B, P, 0)]);
    const [{ zone }] = (await sql<{ zone: string }>`select push_loss_day_zone() as zone`.execute(t.db)).rows as [
      { zone: string },
    ];
    expect(zone).toBe('Asia/Shanghai');
  });

  it("restores the zone setting inside a caller's transaction", async () => {
    const zones = await t.db.transaction().execute(async (trx) => {
      await sql`set local pushloss.bucket_tz = 'Europe/Berlin'`.execute(trx);
      const report = await lossReport(trx, { days: 1, nowMs: NOW, timeZone: 'UTC' });
      const after = (await sql<{ zone: string }>`select push_loss_day_zone() as zone`.execute(trx)).rows[0]!.zone;
      return [report.timeZone, after];
    });
    expect(zones).toEqual(['UTC', 'Europe/Berlin']);
  });

  it('ranks the top codes over the period per stage and channel, overall first', async () => {
    const report = await lossReport(t.db, { sdkappid: A, days: 7, nowMs: NOW, top: 1 });
    expect(report.topCodes.map((c) => [c.stage, c.platformName, c.rank, c.errCode, c.errCount])).toEqual([
      [R, null, 1, '-1', 32],
      [R, 'Xiaomi', 1, '-1', 10],
      [R, 'Huawei', 1, '-1', 20],
      [P, null, 1, '1001', 4],
      [P, 'Huawei', 1, '1001', 4],
    ]);
  });

  it('rejects options that cannot make a period', async () => {
    await expect(lossReport(t.db, { days: 0, nowMs: NOW })).rejects.toThrow(/days 0/);
    await expect(lossReport(t.db, { days: 1.5, nowMs: NOW })).rejects.toThrow(/days 1.5/);
    await expect(lossReport(t.db, { sdkappid: -1, days: 1, nowMs: NOW })).rejects.toThrow(/sdkappid -1/);
    await expect(lossReport(t.db, { days: 1, nowMs: NOW, top: 0 })).rejects.toThrow(/top 0/);
  });
});

describe('formats of the report of app A, last 7 days', () => {
  let report: LossReport;
  beforeAll(async () => {
    report = await lossReport(t.db, { sdkappid: A, days: 7, nowMs: NOW });
  });

  it('table: aligned columns, numbers to the right, wide characters counted twice', () => {
    expect(formatReport(report, 'table')).toBe(
      [
        'Push loss report: app 1400000001, 2025-03-06 to 2025-03-12 (7 days, Asia/Shanghai)',
        '',
        'Anomalies now (push_loss_anomalies)',
        '(none)',
        '',
        'Loss per stage (all channels)',
        'app         stage                lost',
        '----------  -------------------  ----',
        '1400000001  Ready to send          37',
        '1400000001  Sent, not delivered     4',
        '',
        'Loss per stage and channel',
        'app         stage                channel  lost   share',
        '----------  -------------------  -------  ----  ------',
        '1400000001  Ready to send        Huawei     20   57.1%',
        '1400000001  Ready to send        Xiaomi     15   42.9%',
        '1400000001  Sent, not delivered  Huawei      4  100.0%',
        '',
        'Top 5 error codes per stage and channel',
        'app         stage                channel       #  code  lost  description                   title                   fix',
        '----------  -------------------  ------------  -  ----  ----  ----------------------------  ----------------------  -------------------------------------------------------------------------------------------------------------------------------',
        '1400000001  Ready to send        all channels  1  -1      32  unknown error                 Certificate ID not set  Upload the vendor certificate in the Tencent console and set its certificate ID in the client SDK (offline push configuration).',
        '1400000001  Ready to send        all channels  2  410      5  token invalid, "re-register"  unknown code            Look the code up in the channel\'s documents and add it to the catalogue (docs/bi.md, "Error-code catalogue").',
        '1400000001  Ready to send        Xiaomi        1  -1      10  unknown error                 Certificate ID not set  Upload the vendor certificate in the Tencent console and set its certificate ID in the client SDK (offline push configuration).',
        '1400000001  Ready to send        Xiaomi        2  410      5  token invalid, "re-register"  unknown code            Look the code up in the channel\'s documents and add it to the catalogue (docs/bi.md, "Error-code catalogue").',
        '1400000001  Ready to send        Huawei        1  -1      20  unknown error                 Certificate ID not set  Upload the vendor certificate in the Tencent console and set its certificate ID in the client SDK (offline push configuration).',
        '1400000001  Sent, not delivered  all channels  1  1001     4  设备离线                      unknown code            Look the code up in the channel\'s documents and add it to the catalogue (docs/bi.md, "Error-code catalogue").',
        '1400000001  Sent, not delivered  Huawei        1  1001     4  设备离线                      unknown code            Look the code up in the channel\'s documents and add it to the catalogue (docs/bi.md, "Error-code catalogue").',
        '',
        'Loss rate per stage and channel (loss / pushes that could be sent, or were sent)',
        '(no statistics collected)',
        '',
        'How counts settled: share of the final value by age after the bucket end (all apps, final buckets)',
        '(no final bucket with archived answers yet)',
        '',
      ].join('\n'),
    );
  });

  it('csv: RFC 4180, CRLF, quoted only where needed, one section column', () => {
    expect(formatReport(report, 'csv')).toBe(
      [
        'section,sdkappid,stage,platform,platform_name,rank,err_code,err_info,err_count,share,denominator,loss_rate,delivery_rate,click_rate,statistics_incomplete',
        'stage,1400000001,ready_to_send,,,,,,37,,,,,,',
        'stage,1400000001,post_send_delivered,,,,,,4,,,,,,',
        'channel,1400000001,ready_to_send,3,Huawei,,,,20,0.5714285714285714,,,,,',
        'channel,1400000001,ready_to_send,2,Xiaomi,,,,15,0.42857142857142855,,,,,',
        'channel,1400000001,post_send_delivered,3,Huawei,,,,4,1,,,,,',
        'top_code,1400000001,ready_to_send,,,1,-1,unknown error,32,,,,,,',
        'top_code,1400000001,ready_to_send,,,2,410,"token invalid, ""re-register""",5,,,,,,',
        'top_code,1400000001,ready_to_send,2,Xiaomi,1,-1,unknown error,10,,,,,,',
        'top_code,1400000001,ready_to_send,2,Xiaomi,2,410,"token invalid, ""re-register""",5,,,,,,',
        'top_code,1400000001,ready_to_send,3,Huawei,1,-1,unknown error,20,,,,,,',
        'top_code,1400000001,post_send_delivered,,,1,1001,设备离线,4,,,,,,',
        'top_code,1400000001,post_send_delivered,3,Huawei,1,1001,设备离线,4,,,,,,',
        '',
      ].join('\r\n'),
    );
  });

  it('json: the report object, indented', () => {
    const top = (
      s: LossStage,
      platform: number | null,
      platformName: string | null,
      rank: number,
      errCode: string,
      errInfo: string,
      errCount: number,
    ) => ({
      ...about(A, s),
      platform,
      platformName,
      rank,
      errCode,
      errInfo,
      errCount,
      // Only Tencent's -1 is catalogued on every channel; 410 and 1001 mean nothing on these.
      ...(errCode === '-1'
        ? { title: 'Certificate ID not set', fix: CERTIFICATE_FIX }
        : { title: 'unknown code', fix: UNKNOWN_FIX }),
    });
    const expected = {
      sdkappid: A,
      timeZone: 'Asia/Shanghai',
      from: '2025-03-06',
      to: '2025-03-12',
      days: 7,
      top: 5,
      anomalies: [],
      stages: [stage(A, R, 37), stage(A, P, 4)],
      channels: [
        { ...about(A, R), platform: 3, platformName: 'Huawei', errCount: 20, share: 20 / 35 },
        { ...about(A, R), platform: 2, platformName: 'Xiaomi', errCount: 15, share: 15 / 35 },
        { ...about(A, P), platform: 3, platformName: 'Huawei', errCount: 4, share: 1 },
      ],
      topCodes: [
        top(R, null, null, 1, '-1', 'unknown error', 32),
        top(R, null, null, 2, '410', TOKEN, 5),
        top(R, 2, 'Xiaomi', 1, '-1', 'unknown error', 10),
        top(R, 2, 'Xiaomi', 2, '410', TOKEN, 5),
        top(R, 3, 'Huawei', 1, '-1', 'unknown error', 20),
        top(P, null, null, 1, '1001', OFFLINE, 4),
        top(P, 3, 'Huawei', 1, '1001', OFFLINE, 4),
      ],
      rates: [], // no statistics were collected for these days
      revisions: [], // no bucket is final yet
    };
    const text = formatReport(report, 'json');
    expect(text).toBe(JSON.stringify(expected, null, 2) + '\n');
    expect(text).toContain('\n  "stages": [\n    {\n      "sdkappid": 1400000001,');
  });
});
