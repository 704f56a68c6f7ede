/**
 * The detection gauges on /metrics: an anomaly is a series while it lasts and disappears with it,
 * loss rates are one series per app, stage and channel, counts per kind are always exported.
 */
import { describe, expect, it } from 'vitest';
import { Metrics } from '../../src/daemon/metrics.ts';
import type { Anomaly } from '../../src/report/anomalies.ts';

const spike: Anomaly = {
  kind: 'spike',
  sdkappid: 1400000001,
  day: '2026-12-04',
  stage: 'ready_to_send',
  platform: 1,
  platformName: 'APNs',
  errCode: '-1',
  title: 'Certificate ID not set',
  fix: 'Upload the vendor certificate.',
  lossCount: 900,
  measure: 'rate',
  value: 0.3,
  baseline: 0.01,
  threshold: 0.06,
};

describe('Metrics.detection', () => {
  it('exports current anomalies and loss rates, and forgets an anomaly once it is gone', async () => {
    const metrics = new Metrics(() => 1_000_000);
    metrics.detection([spike], [{ sdkappid: 1400000001, stage: 'ready_to_send', platformName: 'APNs', lossRate: 0.3 }]);
    let text = await metrics.registry.metrics();
    expect(text).toContain(
      'pushloss_anomaly{sdkappid="1400000001",stage="ready_to_send",platform_name="APNs",kind="spike",err_code="-1",measure="rate",title="Certificate ID not set",fix="Upload the vendor certificate."} 0.3',
    );
    expect(text).toContain('pushloss_anomalies{kind="spike"} 1');
    expect(text).toContain('pushloss_loss_rate{sdkappid="1400000001",stage="ready_to_send",platform_name="APNs"} 0.3');
    expect(text).toContain('pushloss_detection_timestamp_seconds 1000');

    metrics.detection([], []);
    text = await metrics.registry.metrics();
    expect(text).not.toMatch(/^pushloss_anomaly\{/m);
    expect(text).not.toMatch(/^pushloss_loss_rate\{/m);
    expect(text).toContain('pushloss_anomalies{kind="spike"} 0');
  });
});
