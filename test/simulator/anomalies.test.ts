/**
 * The simulator's injected anomalies: `--inject` parsing (one line naming what to fix), and the
 * two APIs staying consistent with the extra loss (TotalCount − SentCount is still the
 * ready-to-send loss, per channel), which the rate views depend on.
 */
import { describe, expect, it } from 'vitest';
import { parseAnomaly, withAnomalies } from '../../src/simulator/index.ts';

const NOW = Date.parse('2026-12-04T00:00:00+08:00') / 1000;
const DAY = { start: NOW, end: NOW + 86_400 };

describe('parseAnomaly', () => {
  it('reads every field, from defaulting to now', () => {
    expect(parseAnomaly('kind=spike,app=1400000001,stage=ready_to_send,platform=1', NOW)).toEqual({
      kind: 'spike',
      sdkappid: 1400000001,
      stage: 'ready_to_send',
      platform: 1,
      from: NOW,
    });
    expect(
      parseAnomaly(
        'kind=new_code,app=7,stage=post_send_delivered,platform=3,from=2026-12-01T00:00:00Z,code=X,rate=0.5',
        NOW,
      ),
    ).toMatchObject({ from: Date.parse('2026-12-01T00:00:00Z') / 1000, code: 'X', rate: 0.5 });
  });

  it.each([
    ['kind=boom,app=1,stage=ready_to_send,platform=1', /kind must be spike, new_code or failing/],
    ['kind=spike,app=x,stage=ready_to_send,platform=1', /app must be an SDKAppID/],
    ['kind=spike,app=1,stage=later,platform=1', /stage must be/],
    ['kind=spike,app=1,stage=ready_to_send,platform=1,rate=2', /rate must be between 0 and 1/],
    ['kind=spike,app=1,stage=ready_to_send,platform=1,from=soon', /from must be an ISO instant/],
    ['kind=spike,app=1,stage=ready_to_send,platform=1,colour=red', /unknown field "colour"/],
  ])('refuses %s', (text, message) => {
    expect(() => parseAnomaly(text, NOW)).toThrow(message);
  });
});

describe('withAnomalies', () => {
  it('adds the loss to both APIs: a ready-to-send spike raises TotalCount by the loss added', () => {
    const normal = withAnomalies([]);
    const spiked = withAnomalies([{ kind: 'spike', sdkappid: 5, stage: 'ready_to_send', platform: 1, from: NOW }]);
    const lost = (data: typeof normal) =>
      data
        .lossData(5, DAY)
        .filter((e) => e.platform === 1 && e.stage === 'ready_to_send')
        .reduce((sum, e) => sum + e.errCount, 0);
    const apns = (data: typeof normal) => data.statsData(5, DAY).platforms.find((p) => p.platform === 1)!;
    expect(apns(spiked).total! - apns(spiked).sent!).toBe(lost(spiked));
    expect(apns(spiked).sent).toBe(apns(normal).sent);
    expect(lost(spiked) / apns(spiked).total!).toBeGreaterThan(0.3);
    // Another app is untouched.
    expect(spiked.lossData(6, DAY)).toEqual(normal.lossData(6, DAY));
  });
});
