/**
 * Grafana alerting, as far as this machine allows (Grafana itself cannot run here): the provisioned
 * rule parses and its SQL runs as pushloss_reader against real data, one row per anomaly with a
 * numeric value and the labels the annotations name; the contact-point generator leaves out every
 * destination that is unset and writes valid YAML for the others.
 */
import { lossFeed } from '../../src/feeds/loss/index.ts';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { withAnomalies } from '../../src/simulator/index.ts';
import { loadBucket } from '../../src/warehouse/load.ts';
import { statisticsFeed } from '../../src/feeds/statistics/index.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { okCall } from '../helpers/fixtures.ts';

const RULES = new URL('../../grafana/provisioning/alerting/pushloss-rules.yaml', import.meta.url);
const CONTACT_POINTS = new URL('../../grafana/alerting/contact-points.sh', import.meta.url);
const DAY = 86_400;
const APP = 1400000951;

interface Rule {
  uid: string;
  condition: string;
  data: Array<{ refId: string; datasourceUid: string; model: { rawSql?: string; format?: string } }>;
  annotations: Record<string, string>;
}

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
  // Ten days of the simulator's data, with an APNs spike from the start of the last one.
  const beijing = 8 * 3600;
  const last = Math.floor((Date.now() / 1000 + beijing) / DAY) * DAY - beijing - DAY; // yesterday, Beijing midnight
  const data = withAnomalies([{ kind: 'spike', sdkappid: APP, stage: 'ready_to_send', platform: 1, from: last }]);
  for (let day = 9; day >= 0; day--) {
    const bucket = { start: last - day * DAY, end: last - day * DAY + DAY };
    const call = okCall(APP, bucket);
    await loadBucket(t.db, lossFeed, {
      sdkappid: APP,
      bucket,
      bucketSize: '1d',
      call,
      answer: data.lossData(APP, bucket),
    });
    await loadBucket(t.db, statisticsFeed, {
      sdkappid: APP,
      bucket,
      bucketSize: '1d',
      call,
      answer: data.statsData(APP, bucket),
    });
  }
});
afterAll(() => t?.close());

describe('grafana/provisioning/alerting/pushloss-rules.yaml', () => {
  const file = parse(readFileSync(RULES, 'utf8')) as { apiVersion: number; groups: Array<{ rules: Rule[] }> };
  const rule = file.groups[0]!.rules[0]!;

  it('is provisioning YAML whose condition and queries refer to each other and to the pushloss data source', () => {
    expect(file.apiVersion).toBe(1);
    expect(rule.data.map((d) => d.refId)).toContain(rule.condition);
    expect(rule.data[0]).toMatchObject({ datasourceUid: 'pushloss', model: { format: 'table' } });
    for (const label of rule.annotations.description!.matchAll(/\$labels\.(\w+)/g))
      expect(rule.data[0]!.model.rawSql).toContain(label[1]);
  });

  it('its SQL runs as pushloss_reader: one row per anomaly, strings for labels and one number', async () => {
    const rows = await t.db.transaction().execute(async (trx) => {
      await sql`set local role pushloss_reader`.execute(trx);
      return (await sql.raw<Record<string, unknown>>(rule.data[0]!.model.rawSql!).execute(trx)).rows;
    });
    expect(rows).toHaveLength(1);
    const row = rows[0]!;
    expect(row).toMatchObject({ kind: 'spike', sdkappid: String(APP), platform_name: 'APNs', err_code: '-1' });
    expect(typeof row.value).toBe('number');
    for (const [column, value] of Object.entries(row)) if (column !== 'value') expect(typeof value).toBe('string');
  });
});

describe('grafana/alerting/contact-points.sh', () => {
  const run = (env: Record<string, string>) =>
    parse(
      execFileSync('sh', [CONTACT_POINTS.pathname], { env: { PATH: process.env.PATH ?? '', ...env } }).toString(),
    ) as {
      contactPoints: Array<{ name: string; receivers: Array<{ type: string; settings: { url: string } }> }>;
      policies?: Array<{ routes: Array<{ receiver: string }> }>;
    };

  it('disables every destination that is unset', () => {
    expect(run({})).toEqual({ apiVersion: 1, contactPoints: [] });
  });

  it('provisions WeCom, DingTalk, Slack and a webhook when set, each routed, URLs kept exactly', () => {
    const url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=x'y#z";
    const out = run({
      WECOM_ROBOT_URL: url,
      DINGTALK_ROBOT_URL: 'https://oapi.dingtalk.com/robot/send?access_token=t',
      SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/a/b/c',
      ALERT_WEBHOOK_URL: 'http://127.0.0.1:9095/',
    });
    expect(out.contactPoints.map((p) => p.receivers[0]!.type)).toEqual(['wecom', 'dingding', 'slack', 'webhook']);
    expect(out.contactPoints[0]!.receivers[0]!.settings.url).toBe(url);
    expect(out.policies![0]!.routes.map((r) => r.receiver)).toEqual(out.contactPoints.map((p) => p.name));
  });

  it('only the one set', () => {
    const out = run({ SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/a/b/c' });
    expect(out.contactPoints.map((p) => p.name)).toEqual(['pushloss-slack']);
  });
});
